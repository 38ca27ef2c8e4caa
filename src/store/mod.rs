//! Where a group keeps its members and its history, and the directory its
//! registrations: behind traits that any backend can fill.
//!
//! [`GroupStore`] is the one interface the group server uses,
//! [`HostStore`] holds many groups' stores that commit together (a host's),
//! and [`RegistrationStore`] is the directory's; [`SqliteStore`],
//! [`SqliteDatabase`] and [`SqliteRegistrations`] implement them today, and a backend such as
//! PostgreSQL can come later behind the same traits, chosen by a
//! [`StoreConfig`]. Every backend runs the same [`conformance`] checks.
//!
//! The group server drives its store in batches: [`GroupStore::begin`], any
//! number of operations, then [`GroupStore::commit`]. Nothing a batch did is
//! visible after a restart unless `commit` returned `Ok`, and the server
//! acknowledges nothing before that. Errors are the backend's own only
//! inside [`StoreError::Backend`]; every error a user can act on has a
//! variant of its own.

pub mod conformance;
mod registrations;
mod sqlite;

pub use registrations::{RegistrationStore, SavedRegistration, SqliteRegistrations};
pub use sqlite::{
    BACKWARD_SQL, DUPLICATE_SQL, FIRST_SEQ_SINCE_SQL, FORWARD_SQL, HOST_DATABASE_FILE, SCHEMA_VERSION, SqliteDatabase,
    SqliteStore,
};

use crate::protocol::timestamp::Micros;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which backend keeps a server's data, and where.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    /// SQLite files in `dir`, growing to at most `max_bytes` (`None`: no
    /// bound but the disk's).
    Sqlite { dir: PathBuf, max_bytes: Option<u64> },
}

impl StoreConfig {
    /// SQLite in `dir`, bounded only by the disk.
    pub fn sqlite(dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig::Sqlite { dir: dir.into(), max_bytes: None }
    }

    /// Opens a group's store.
    pub fn open_group(&self) -> Result<Box<dyn GroupStore + Send>, StoreError> {
        match self {
            StoreConfig::Sqlite { dir, max_bytes } => Ok(Box::new(SqliteStore::open_with_limit(dir, *max_bytes)?)),
        }
    }

    /// Opens a host's store of all its groups.
    pub fn open_host(&self) -> Result<Box<dyn HostStore + Send>, StoreError> {
        match self {
            StoreConfig::Sqlite { dir, max_bytes } => Ok(Box::new(SqliteDatabase::open_host(dir, *max_bytes)?)),
        }
    }

    /// Opens a directory's registrations.
    pub fn open_registrations(&self) -> Result<Box<dyn RegistrationStore + Send>, StoreError> {
        match self {
            StoreConfig::Sqlite { dir, .. } => Ok(Box::new(SqliteRegistrations::open(dir)?)),
        }
    }
}

impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Sqlite { dir, .. } => write!(f, "{}", dir.display()),
        }
    }
}

/// A message as stored: its place in the group, author, text and time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub seq: u64,
    pub user_uuid: String,
    pub body: String,
    pub at: Micros,
}

/// Which part of the history to read. Times and seqs agree in order (see
/// [`GroupStore::append`]), so every part is a range of seqs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Only messages at or after this time.
    pub since: Option<Micros>,
    /// Only messages after this seq; the page then runs forward from it.
    pub after_seq: Option<u64>,
    /// Only messages before this seq.
    pub before_seq: Option<u64>,
    /// At most this many: the first ones after `after_seq` when that is
    /// given, otherwise the latest ones. `None`: all of them.
    pub limit: Option<usize>,
    /// Stop reading once the messages read hold more than this many bytes
    /// of author, text and time (`more` then says the rest is there), so
    /// that what a request reads into memory has a bound it does not choose.
    pub max_bytes: Option<usize>,
}

/// A page of history, in seq order.
#[derive(Debug, Default, PartialEq)]
pub struct History {
    pub messages: Vec<StoredMessage>,
    /// More messages lie beyond the page, in the direction it was read.
    pub more: bool,
}

/// What [`GroupStore::append`] did.
#[derive(Debug, PartialEq)]
pub enum Appended {
    New(StoredMessage),
    /// The message id was already stored with the same text (a retry):
    /// nothing new was written.
    Duplicate {
        seq: u64,
    },
    /// The message id was already stored with other text: nothing was
    /// written, and the sender must pick a new id.
    Conflict {
        seq: u64,
    },
}

/// Who may use a group and change who may: kept with the group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Access {
    /// The user who created it (on a host), who alone may invite, remove
    /// and delete; `None` for a group nobody owns (a lone group, the lobby).
    pub owner: Option<String>,
    /// Only the owner and the users in `allowed` may use it.
    pub private: bool,
    pub allowed: std::collections::BTreeSet<String>,
}

impl Access {
    /// Whether `user_uuid` may use the group.
    pub fn admits(&self, user_uuid: &str) -> bool {
        !self.private || self.owner.as_deref() == Some(user_uuid) || self.allowed.contains(user_uuid)
    }
}

/// A backend's own error, kept as the cause of a [`StoreError`].
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong with the store, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}; pass --data with a writable directory")]
    CreateDir { path: String, source: std::io::Error },
    #[error(
        "the database {path} is in use by another process (another `huddle group` with the same data?): \
         stop it, or pass --data with another directory"
    )]
    Locked { path: String },
    #[error("cannot open the database {path}; check that the directory is writable, or pass --data")]
    Open { path: String, source: BackendError },
    #[error(
        "the database {path} is damaged or not a huddle database: move it aside to start afresh, \
         or pass --data with another directory"
    )]
    Damaged { path: String, source: BackendError },
    #[error(
        "the database {path} was written by a newer huddle (schema {found}; this one reads up to {known}): \
         run the newer huddle, or pass --data with another directory"
    )]
    Newer { path: String, found: i64, known: i64 },
    #[error("the group's storage is full (disk full or --max-data-bytes reached): nothing was stored")]
    Full,
    #[error("the group's storage is read-only: nothing was stored; make its directory writable")]
    ReadOnly,
    #[error("storage failed: {0}")]
    Backend(BackendError),
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

    /// How many members the group has.
    fn member_count(&mut self) -> Result<u64, StoreError>;

    /// Sets the name a member is shown by; `false` when not a member.
    /// Leaving forgets it.
    fn set_nick(&mut self, user_uuid: &str, nick: &str) -> Result<bool, StoreError>;
    /// Every member's chosen name.
    fn nicks(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    /// Appends a message and gives it the next sequence number. Its time is
    /// `at`, or the latest stored time if that is later, so that time order
    /// and sequence order always agree. A `msg_id` this user already stored
    /// stores nothing and reports the duplicate (the same text) or the
    /// conflict (other text).
    fn append(&mut self, user_uuid: &str, body: &str, msg_id: Option<&str>, at: Micros)
    -> Result<Appended, StoreError>;
    /// The seq of the latest committed or batched message, 0 when there is
    /// none. Seqs run from 1 without gaps: a batch rolled back gives its
    /// seqs to the next one, whatever the backend's own sequences do.
    fn latest_seq(&mut self) -> Result<u64, StoreError>;
    /// A page of the history, in seq order.
    fn messages(&mut self, page: &Page) -> Result<History, StoreError>;

    /// Who may use the group.
    fn access(&mut self) -> Result<Access, StoreError>;
    /// Sets who may use the group.
    fn set_access(&mut self, access: &Access) -> Result<(), StoreError>;
}

/// The stores of many groups kept together (a host's), so that one commit
/// makes the work of every group in a turn durable.
///
/// Between [`HostStore::begin`] and [`HostStore::commit`] the groups'
/// stores join the host's batch: their own `begin` and `commit` do not end
/// it, and nothing any of them did survives a crash unless the host's
/// `commit` returned `Ok`. After the host's `rollback`, each group that took
/// part must be rolled back too ([`GroupStore::rollback`]), to forget what
/// it kept in memory of the batch.
pub trait HostStore {
    /// The store of group `name`, made empty when new.
    fn group(&mut self, name: &str) -> Result<Box<dyn GroupStore + Send>, StoreError>;
    /// Forgets group `name` and everything it held.
    fn delete(&mut self, name: &str) -> Result<(), StoreError>;
    /// Takes a lone group's data kept in `dir` (from before its group was
    /// hosted) into group `name`; `false` when `dir` holds none.
    fn import(&mut self, name: &str, dir: &Path) -> Result<bool, StoreError>;
    /// Opens a batch across groups.
    fn begin(&mut self);
    /// Makes the batch durable, for every group at once.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Drops the batch, for every group.
    fn rollback(&mut self);
}
