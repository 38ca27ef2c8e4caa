//! Where a group keeps its members and its history.
//!
//! [`GroupStore`] is the one interface the group server uses; [`SqliteStore`]
//! implements it today, and another backend can come later behind the same
//! trait. The server drives it in batches: [`GroupStore::begin`], any number
//! of operations, then [`GroupStore::commit`]. Nothing a batch did is visible
//! after a restart unless `commit` returned `Ok`, and the server acknowledges
//! nothing before that.

mod sqlite;

pub use sqlite::{MESSAGES_SINCE_SQL, SqliteStore};

use crate::protocol::timestamp::Micros;

/// A message as stored: its place in the group, author, text and time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub seq: u64,
    pub user_uuid: String,
    pub body: String,
    pub at: Micros,
}

/// What went wrong with the store, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}; pass --data with a writable directory")]
    CreateDir { path: String, source: std::io::Error },
    #[error(
        "the database {path} is in use by another process (another `huddle group` with the same data?): \
         stop it, or pass --data with another directory"
    )]
    Locked { path: String },
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("storage failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A group's durable state.
pub trait GroupStore {
    /// Starts a batch of operations.
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Makes the batch durable: when this returns `Ok`, it survives a crash.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Drops the batch.
    fn rollback(&mut self);

    fn is_member(&mut self, user_uuid: &str) -> Result<bool, StoreError>;
    /// Adds a member; `false` when already one.
    fn add_member(&mut self, user_uuid: &str, at: Micros) -> Result<bool, StoreError>;
    /// Removes a member; `false` when not one.
    fn remove_member(&mut self, user_uuid: &str) -> Result<bool, StoreError>;

    /// Appends a message and gives it the next sequence number. Its time is
    /// `at`, or the latest stored time if that is later, so that time order
    /// and sequence order always agree.
    fn append(&mut self, user_uuid: &str, body: &str, at: Micros) -> Result<StoredMessage, StoreError>;
    /// Every message at or after `since` (all of them for `None`), in order.
    fn messages_since(&mut self, since: Option<Micros>) -> Result<Vec<StoredMessage>, StoreError>;
}
