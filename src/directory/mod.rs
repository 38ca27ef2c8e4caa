//! The directory (the seed's "message server"): groups register their name
//! and address; users ask for the list.
//!
//! It listens on a ROUTER socket, not the seed's REP: a REP socket that does
//! not answer a request can answer nobody else, whereas here every request,
//! however malformed, gets its own answer and the others are served on.
//!
//! Only living groups are listed ([`Registry`]): huddle's groups heartbeat,
//! the seed's are probed. Registrations are kept on disk.

mod prober;
pub mod registry;
mod server;

pub use registry::{Admission, Registry};
pub use server::{DirectoryConfig, DirectoryError, DirectoryServer};
