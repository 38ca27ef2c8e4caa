//! [`GroupStore`](super::GroupStore) and [`HostStore`](super::HostStore) on SQLite: one database file for a lone
//! group, or one for all of a host's groups ([`SqliteDatabase`]); WAL
//! journal, `synchronous=FULL` so that a commit is on disk when it returns,
//! and an exclusive lock so that two servers never share one database.
//!
//! Every row carries its group's id, so a host's thousand groups share one
//! connection, one page cache and one commit: a turn of the host's loop
//! makes every group's work durable with one `fsync`, not one per group.
//!
//! The schema's version lives in `PRAGMA user_version` and is read before
//! anything is written: a database from an older huddle is brought up to
//! date by [`MIGRATIONS`], one from a newer huddle is refused. Seqs are given
//! by the store itself, from the latest one it holds, never by SQLite's rowid.

mod database;
mod group;
#[cfg(test)]
mod tests;

pub use database::{HOST_DATABASE_FILE, SqliteDatabase};
pub use group::SqliteStore;

use super::{BackendError, StoreError};
use rusqlite::{Connection, ErrorCode};
use std::path::Path;

/// Each entry brings a database from the version of its index to the next:
/// a new database runs them all, an older one those it lacks.
const MIGRATIONS: &[&str] = &[
    // 1: members and messages, with a time index and an index of message ids.
    "CREATE TABLE members (
         user_uuid TEXT PRIMARY KEY,
         joined_at INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE messages (
         seq INTEGER PRIMARY KEY,
         user_uuid TEXT NOT NULL,
         body TEXT NOT NULL,
         at INTEGER NOT NULL,
         msg_id TEXT
     );
     CREATE INDEX messages_by_time ON messages (at);
     CREATE INDEX messages_by_id ON messages (msg_id) WHERE msg_id IS NOT NULL;",
    // 2: a message id is unique per sender, as the database itself now
    // enforces; the index answers the duplicate check on both columns. Its
    // first column is the id, which is time-ordered (UUID v7): new entries
    // land at one end of the index, not on one page per sender per commit.
    "DROP INDEX messages_by_id;
     CREATE UNIQUE INDEX messages_by_id_and_sender ON messages (msg_id, user_uuid) WHERE msg_id IS NOT NULL;",
    // 3: the name a member chose to be shown by.
    "ALTER TABLE members ADD COLUMN nick TEXT;",
    // 4: many groups in one database (a host's): every row names its
    // group. A lone group's file holds one, the group named "" (id 1).
    // A message's rowid is its group and seq in one integer (see
    // [`message_key`]): the table stays keyed by a rising integer, which
    // SQLite appends to fastest, and a group's history is one rowid range.
    "CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
     INSERT INTO groups (id, name) VALUES (1, '');
     CREATE TABLE members_by_group (
         group_id INTEGER NOT NULL,
         user_uuid TEXT NOT NULL,
         joined_at INTEGER NOT NULL,
         nick TEXT,
         PRIMARY KEY (group_id, user_uuid)
     ) WITHOUT ROWID;
     INSERT INTO members_by_group SELECT 1, user_uuid, joined_at, nick FROM members;
     DROP TABLE members;
     ALTER TABLE members_by_group RENAME TO members;
     CREATE TABLE messages_by_group (
         key INTEGER PRIMARY KEY,
         group_id INTEGER NOT NULL,
         user_uuid TEXT NOT NULL,
         body TEXT NOT NULL,
         at INTEGER NOT NULL,
         msg_id TEXT
     );
     INSERT INTO messages_by_group SELECT (1 << 40) + seq, 1, user_uuid, body, at, msg_id FROM messages;
     DROP TABLE messages;
     ALTER TABLE messages_by_group RENAME TO messages;
     CREATE INDEX messages_by_time ON messages (group_id, at);
     CREATE UNIQUE INDEX messages_by_id_and_sender ON messages (msg_id, user_uuid, group_id) WHERE msg_id IS NOT NULL;",
    // 5: a group's owner (who created it on a host), whether it is
    // private, and who its owner let in.
    "ALTER TABLE groups ADD COLUMN owner TEXT;
     ALTER TABLE groups ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE allowed (
         group_id INTEGER NOT NULL,
         user_uuid TEXT NOT NULL,
         PRIMARY KEY (group_id, user_uuid)
     ) WITHOUT ROWID;",
];

/// The schema this huddle writes, in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The bits of a message's key that hold its seq; the bits above hold its
/// group's id. A group holds up to 2^40 messages (a thousand a second for
/// thirty years), a database up to 2^23 groups.
pub const SEQ_BITS: u32 = 40;

/// The rowid of message `seq` of group `group`: keys of one group are one
/// range, in seq order.
pub fn message_key(group: i64, seq: u64) -> i64 {
    (group << SEQ_BITS) | seq.min((1 << SEQ_BITS) - 1) as i64
}

/// The seq a message key holds.
pub fn seq_of(key: i64) -> u64 {
    key as u64 & ((1 << SEQ_BITS) - 1)
}

/// The key of the first message at or after a time in a group: one step
/// down the time index. Times never go backwards as seq grows, so every
/// later message qualifies too and a time filter becomes a key range.
pub const FIRST_SEQ_SINCE_SQL: &str =
    "SELECT key FROM messages WHERE group_id = ?1 AND at >= ?2 ORDER BY at, key LIMIT 1";
pub const FORWARD_SQL: &str =
    "SELECT key, user_uuid, body, at FROM messages WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3";
pub const BACKWARD_SQL: &str =
    "SELECT key, user_uuid, body, at FROM messages WHERE key >= ?1 AND key < ?2 ORDER BY key DESC LIMIT ?3";

/// A message id this sender already used in the group: its key, and
/// whether its text was the same.
pub const DUPLICATE_SQL: &str =
    "SELECT key, body = ?4 FROM messages WHERE msg_id = ?3 AND user_uuid = ?2 AND group_id = ?1";

/// The database file inside a lone group's data directory.
pub const DATABASE_FILE: &str = "group.sqlite3";

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full,
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly,
            _ => StoreError::Backend(Box::new(error)),
        }
    }
}

/// The database file `name` in `dir`, made private first: the directory
/// 0700 and the file 0600 (SQLite gives its WAL and shared-memory files the
/// same mode), whether they are new or were made by an older huddle.
pub(super) fn private_database(dir: &Path, name: &str) -> Result<std::path::PathBuf, StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let create_error = |source| StoreError::CreateDir { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(create_error)?;
    crate::keys::restrict_dir(dir).map_err(create_error)?;
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(&path);
    let made_private = file.and_then(|file| file.set_permissions(std::fs::Permissions::from_mode(0o600)));
    made_private.map_err(|source| StoreError::Open { path: path.display().to_string(), source: Box::new(source) })?;
    Ok(path)
}

/// An error opening the database at `path`, named for what the user can do.
pub(super) fn open_error(path: &str, source: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Damaged { path, source: BackendError::from(source) }
        }
        _ => StoreError::Open { path, source: BackendError::from(source) },
    }
}

/// Reads the schema's version and runs the `migrations` it lacks, all in one
/// transaction: a migration interrupted leaves the database as it was.
pub(super) fn migrate(connection: &mut Connection, path: &str, migrations: &[&str]) -> Result<(), StoreError> {
    let open_error = |source: rusqlite::Error| open_error(path, source);
    let known = migrations.len() as i64;
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(open_error)?;
    let found: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(open_error)?;
    if found > known {
        return Err(StoreError::Newer { path: path.to_owned(), found, known });
    }
    for migration in &migrations[found.max(0) as usize..] {
        transaction.execute_batch(migration).map_err(open_error)?;
    }
    if found != known {
        transaction.pragma_update(None, "user_version", known).map_err(open_error)?;
    }
    transaction.commit().map_err(open_error)
}
