//! [`GroupStore`] on SQLite: one database file per group, WAL journal,
//! `synchronous=FULL` so that a commit is on disk when it returns, and an
//! exclusive lock so that two servers never share one group's data.

use super::{GroupStore, StoreError, StoredMessage};
use crate::protocol::timestamp::Micros;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS members (
    user_uuid TEXT PRIMARY KEY,
    joined_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    user_uuid TEXT NOT NULL,
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (at);
";

/// The query behind `getMessage` with a timestamp. Times never go backwards
/// as seq grows (see [`GroupStore::append`]), so walking the time index gives
/// seq order too, and the cost follows the number of rows returned.
pub const MESSAGES_SINCE_SQL: &str = "SELECT seq, user_uuid, body, at FROM messages WHERE at >= ?1 ORDER BY at, seq";
const ALL_MESSAGES_SQL: &str = "SELECT seq, user_uuid, body, at FROM messages ORDER BY seq";

/// The database file inside a group's data directory.
pub const DATABASE_FILE: &str = "group.sqlite3";

pub struct SqliteStore {
    connection: Connection,
    latest_at: Micros,
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })?;
        let path = dir.join(DATABASE_FILE);
        let shown = path.display().to_string();
        let open_error = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path: shown.clone() },
            _ => StoreError::Open { path: shown.clone(), source },
        };
        let connection = Connection::open(&path).map_err(open_error)?;
        connection.busy_timeout(std::time::Duration::ZERO).map_err(open_error)?;
        // Exclusive locking: the first write takes the lock for good, so a
        // second server on the same data fails at once instead of interleaving.
        connection
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;",
            )
            .map_err(open_error)?;
        connection.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;")).map_err(open_error)?;
        let latest_at = connection
            .query_row("SELECT at FROM messages ORDER BY seq DESC LIMIT 1", [], |row| row.get(0))
            .optional()
            .map_err(open_error)?
            .unwrap_or(Micros::MIN);
        Ok(SqliteStore { connection, latest_at })
    }

    /// The underlying connection, for tests that inspect query plans.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    fn read_messages(&mut self, sql: &str, since: Option<Micros>) -> Result<Vec<StoredMessage>, StoreError> {
        let mut statement = self.connection.prepare_cached(sql)?;
        let row = |row: &rusqlite::Row<'_>| {
            Ok(StoredMessage {
                seq: row.get::<_, i64>(0)? as u64,
                user_uuid: row.get(1)?,
                body: row.get(2)?,
                at: row.get(3)?,
            })
        };
        let rows: rusqlite::Result<Vec<StoredMessage>> = match since {
            Some(since) => statement.query_map([since], row)?.collect(),
            None => statement.query_map([], row)?.collect(),
        };
        Ok(rows?)
    }
}

impl GroupStore for SqliteStore {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.connection.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if let Err(error) = self.connection.execute_batch("COMMIT") {
            self.rollback();
            return Err(error.into());
        }
        Ok(())
    }

    fn rollback(&mut self) {
        if !self.connection.is_autocommit() {
            // A failed rollback leaves nothing to undo: SQLite has already
            // rolled the transaction back.
            let _ = self.connection.execute_batch("ROLLBACK");
        }
        self.latest_at = self
            .connection
            .query_row("SELECT COALESCE(MAX(at), ?1) FROM messages", [Micros::MIN], |row| row.get(0))
            .unwrap_or(self.latest_at);
    }

    fn is_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let mut statement = self.connection.prepare_cached("SELECT 1 FROM members WHERE user_uuid = ?1")?;
        Ok(statement.exists([user_uuid])?)
    }

    fn add_member(&mut self, user_uuid: &str, at: Micros) -> Result<bool, StoreError> {
        let mut statement =
            self.connection.prepare_cached("INSERT OR IGNORE INTO members (user_uuid, joined_at) VALUES (?1, ?2)")?;
        Ok(statement.execute(params![user_uuid, at])? == 1)
    }

    fn remove_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let mut statement = self.connection.prepare_cached("DELETE FROM members WHERE user_uuid = ?1")?;
        Ok(statement.execute([user_uuid])? == 1)
    }

    fn append(&mut self, user_uuid: &str, body: &str, at: Micros) -> Result<StoredMessage, StoreError> {
        let at = at.max(self.latest_at);
        let mut statement =
            self.connection.prepare_cached("INSERT INTO messages (user_uuid, body, at) VALUES (?1, ?2, ?3)")?;
        statement.execute(params![user_uuid, body, at])?;
        self.latest_at = at;
        let seq = self.connection.last_insert_rowid() as u64;
        Ok(StoredMessage { seq, user_uuid: user_uuid.to_owned(), body: body.to_owned(), at })
    }

    fn messages_since(&mut self, since: Option<Micros>) -> Result<Vec<StoredMessage>, StoreError> {
        match since {
            Some(_) => self.read_messages(MESSAGES_SINCE_SQL, since),
            None => self.read_messages(ALL_MESSAGES_SQL, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_batch<T>(store: &mut SqliteStore, f: impl FnOnce(&mut SqliteStore) -> T) -> T {
        store.begin().unwrap();
        let result = f(store);
        store.commit().unwrap();
        result
    }

    #[test]
    fn seq_is_gap_free_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let first = in_batch(&mut store, |s| s.append("u", "one", 10).unwrap());
        store.begin().unwrap();
        store.append("u", "rolled back", 11).unwrap();
        store.rollback();
        drop(store);
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let second = in_batch(&mut store, |s| s.append("u", "two", 12).unwrap());
        assert_eq!((first.seq, second.seq), (1, 2));
        let bodies: Vec<_> = store.messages_since(None).unwrap().into_iter().map(|m| m.body).collect();
        assert_eq!(bodies, ["one", "two"]);
    }

    #[test]
    fn time_never_goes_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let later = in_batch(&mut store, |s| s.append("u", "a", 100).unwrap());
        let earlier_clock = in_batch(&mut store, |s| s.append("u", "b", 50).unwrap());
        assert_eq!((later.at, earlier_clock.at), (100, 100));
        assert_eq!(store.messages_since(Some(100)).unwrap().len(), 2);
        assert_eq!(store.messages_since(Some(101)).unwrap().len(), 0);
    }

    #[test]
    fn membership_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        in_batch(&mut store, |s| {
            assert!(s.add_member("u", 1).unwrap());
            assert!(!s.add_member("u", 2).unwrap());
            assert!(s.is_member("u").unwrap());
            assert!(s.remove_member("u").unwrap());
            assert!(!s.remove_member("u").unwrap());
        });
    }

    #[test]
    fn a_second_store_on_the_same_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SqliteStore::open(dir.path()).unwrap();
        let error = SqliteStore::open(dir.path()).err().expect("second open must fail");
        assert!(error.to_string().contains("in use by another process"), "{error}");
    }
}
