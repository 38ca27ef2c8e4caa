//! huddle: group messaging over ZeroMQ.
//!
//! Three roles, as in the system huddle replaces, and one binary for all:
//!
//! - the **directory** ([`directory`]) lists the groups: groups register
//!   their name and address, users ask for the list;
//! - a **group server** ([`group`]) holds one group's members and history,
//!   durably, in a [`store`]: a message is acknowledged only once it is on
//!   disk, and requests that arrive together are committed together;
//! - the **client** ([`client`]) talks to both with a deadline on every
//!   request, as a REPL or from scripts; [`up`] starts all three at once;
//! - `bench` (the default feature `bench`) measures it all, beside the code
//!   it measures; [`spawn`] starts servers as processes for it and the tests.
//!
//! What crosses the wire is defined once, in [`protocol`]: the seed's JSON
//! shapes byte for byte, with huddle's extensions as optional fields. Every
//! socket is made in [`transport`], which speaks plaintext on loopback and
//! CURVE elsewhere, with the key pairs of [`keys`]: over CURVE a user is
//! their key. Both servers serve through huddle's own ZMTP engine ([`zmtp`]): one
//! thread, one poll loop, the [`serve`] shape; they stop cleanly through
//! [`shutdown`]; what they keep is behind the
//! traits of [`store`].

#[cfg(feature = "bench")]
pub mod bench;
pub mod client;
pub mod directory;
pub mod group;
pub mod host;
pub mod identity;
pub mod keys;
#[cfg(test)]
mod mutation;
pub mod paths;
pub mod protocol;
pub mod serve;
pub mod service;
pub mod shutdown;
pub mod spawn;
pub mod store;
pub mod transport;
pub mod up;
pub mod web;
pub mod zmtp;
