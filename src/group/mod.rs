//! The group server: members, messages and history for one group, on one
//! ROUTER socket, kept durable in a [`crate::store::GroupStore`].
//!
//! [`server`] runs the socket and the batches; [`handlers`] holds one file
//! per action; [`limits`] bounds what a peer may ask; [`subscriptions`] says
//! who gets new messages pushed; [`registration`] keeps the group listed with
//! the directory.

pub mod handlers;
pub mod limits;
pub mod registration;
pub mod server;
pub mod subscriptions;

pub use limits::Limits;
pub use server::{Group, GroupConfig, GroupError, GroupServer, RunningGroup};
