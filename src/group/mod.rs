//! The group server: members, messages and history for one group, on one
//! ROUTER socket, kept durable in a [`crate::store::GroupStore`].
//!
//! [`server`] runs the socket and the batches; [`handlers`] holds one file
//! per action; [`registration`] keeps the group listed with the directory.

pub mod handlers;
pub mod registration;
pub mod server;

pub use server::{GroupConfig, GroupError, GroupServer, RunningGroup};

/// The largest `message` accepted by default, in bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
