//! [`GroupStore`] on SQLite: one database file per group, WAL journal,
//! `synchronous=FULL` so that a commit is on disk when it returns, and an
//! exclusive lock so that two servers never share one group's data.

use super::{Appended, GroupStore, History, Page, StoreError, StoredMessage};
use crate::protocol::timestamp::Micros;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use std::path::Path;

/// The schema's version, in `PRAGMA user_version`, for migrations to come.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS members (
    user_uuid TEXT PRIMARY KEY,
    joined_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    user_uuid TEXT NOT NULL,
    body TEXT NOT NULL,
    at INTEGER NOT NULL,
    msg_id TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (at);
CREATE INDEX IF NOT EXISTS messages_by_id ON messages (msg_id) WHERE msg_id IS NOT NULL;
";

/// The first seq at or after a time: one step down the time index. Times
/// never go backwards as seq grows, so every later message qualifies too and
/// a time filter becomes a seq range.
pub const FIRST_SEQ_SINCE_SQL: &str = "SELECT seq FROM messages WHERE at >= ?1 ORDER BY at, seq LIMIT 1";
pub const FORWARD_SQL: &str =
    "SELECT seq, user_uuid, body, at FROM messages WHERE seq >= ?1 AND seq < ?2 ORDER BY seq LIMIT ?3";
pub const BACKWARD_SQL: &str =
    "SELECT seq, user_uuid, body, at FROM messages WHERE seq >= ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3";

/// The database file inside a group's data directory.
pub const DATABASE_FILE: &str = "group.sqlite3";

pub struct SqliteStore {
    connection: Connection,
    latest_at: Micros,
    /// The number of members, kept here so that a join need not count them.
    members: u64,
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with_limit(dir, None)
    }

    /// Opens the store, refusing to grow its file beyond `max_bytes`.
    pub fn open_with_limit(dir: &Path, max_bytes: Option<u64>) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })?;
        let path = dir.join(DATABASE_FILE);
        let shown = path.display().to_string();
        let open_error = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path: shown.clone() },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreError::Damaged { path: shown.clone(), source }
            }
            _ => StoreError::Open { path: shown.clone(), source },
        };
        let connection = Connection::open(&path).map_err(open_error)?;
        connection.busy_timeout(std::time::Duration::ZERO).map_err(open_error)?;
        // Exclusive locking: the first write takes the lock for good, so a
        // second server on the same data fails at once instead of interleaving.
        connection
            .execute_batch(
                "PRAGMA page_size = 4096;
                 PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;",
            )
            .map_err(open_error)?;
        connection
            .execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))
            .map_err(open_error)?;
        if let Some(max_bytes) = max_bytes {
            let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0)).map_err(open_error)?;
            let pages = (max_bytes / page_size.max(1) as u64).max(1);
            connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(())).map_err(open_error)?;
        }
        let latest_at = connection
            .query_row("SELECT at FROM messages ORDER BY seq DESC LIMIT 1", [], |row| row.get(0))
            .optional()
            .map_err(open_error)?
            .unwrap_or(Micros::MIN);
        let members = count_members(&connection).map_err(open_error)?;
        Ok(SqliteStore { connection, latest_at, members })
    }

    /// The underlying connection, for tests that inspect query plans.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    fn first_seq_since(&mut self, since: Micros) -> Result<u64, StoreError> {
        let mut statement = self.connection.prepare_cached(FIRST_SEQ_SINCE_SQL)?;
        let seq: Option<i64> = statement.query_row([since], |row| row.get(0)).optional()?;
        // Nothing that late: an empty range past the end.
        Ok(seq.map_or(i64::MAX as u64, |seq| seq as u64))
    }

    fn read_range(&mut self, sql: &str, low: u64, high: u64, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        let mut statement = self.connection.prepare_cached(sql)?;
        let to_sql = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map(params![to_sql(low), to_sql(high), limit], |row| {
            Ok(StoredMessage {
                seq: row.get::<_, i64>(0)? as u64,
                user_uuid: row.get(1)?,
                body: row.get(2)?,
                at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

impl GroupStore for SqliteStore {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.connection.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if let Err(error) = self.connection.prepare_cached("COMMIT").and_then(|mut commit| commit.execute([])) {
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
        self.members = count_members(&self.connection).unwrap_or(self.members);
    }

    fn is_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let mut statement = self.connection.prepare_cached("SELECT 1 FROM members WHERE user_uuid = ?1")?;
        Ok(statement.exists([user_uuid])?)
    }

    fn add_member(&mut self, user_uuid: &str, at: Micros) -> Result<bool, StoreError> {
        let mut statement =
            self.connection.prepare_cached("INSERT OR IGNORE INTO members (user_uuid, joined_at) VALUES (?1, ?2)")?;
        let added = statement.execute(params![user_uuid, at])? == 1;
        self.members += u64::from(added);
        Ok(added)
    }

    fn remove_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let mut statement = self.connection.prepare_cached("DELETE FROM members WHERE user_uuid = ?1")?;
        let removed = statement.execute([user_uuid])? == 1;
        self.members -= u64::from(removed);
        Ok(removed)
    }

    fn member_count(&mut self) -> Result<u64, StoreError> {
        Ok(self.members)
    }

    fn append(
        &mut self,
        user_uuid: &str,
        body: &str,
        msg_id: Option<&str>,
        at: Micros,
    ) -> Result<Appended, StoreError> {
        if let Some(msg_id) = msg_id {
            let mut statement =
                self.connection.prepare_cached("SELECT seq FROM messages WHERE msg_id = ?2 AND user_uuid = ?1")?;
            let known: Option<i64> = statement.query_row([user_uuid, msg_id], |row| row.get(0)).optional()?;
            if let Some(seq) = known {
                return Ok(Appended::Duplicate { seq: seq as u64 });
            }
        }
        let at = at.max(self.latest_at);
        let mut statement = self
            .connection
            .prepare_cached("INSERT INTO messages (user_uuid, body, at, msg_id) VALUES (?1, ?2, ?3, ?4)")?;
        statement.execute(params![user_uuid, body, at, msg_id])?;
        self.latest_at = at;
        let seq = self.connection.last_insert_rowid() as u64;
        Ok(Appended::New(StoredMessage { seq, user_uuid: user_uuid.to_owned(), body: body.to_owned(), at }))
    }

    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        let mut statement = self.connection.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM messages")?;
        Ok(statement.query_row([], |row| row.get::<_, i64>(0))? as u64)
    }

    fn messages(&mut self, page: &Page) -> Result<History, StoreError> {
        let mut low = page.after_seq.map_or(0, |seq| seq.saturating_add(1));
        if let Some(since) = page.since {
            low = low.max(self.first_seq_since(since)?);
        }
        let high = page.before_seq.unwrap_or(u64::MAX);
        let Some(limit) = page.limit else {
            return Ok(History { messages: self.read_range(FORWARD_SQL, low, high, usize::MAX)?, more: false });
        };
        let fetch = limit.saturating_add(1);
        let (mut messages, forward) = if page.after_seq.is_some() {
            (self.read_range(FORWARD_SQL, low, high, fetch)?, true)
        } else {
            (self.read_range(BACKWARD_SQL, low, high, fetch)?, false)
        };
        let more = messages.len() > limit;
        messages.truncate(limit);
        if !forward {
            messages.reverse();
        }
        Ok(History { messages, more })
    }
}

fn count_members(connection: &Connection) -> rusqlite::Result<u64> {
    connection.query_row("SELECT COUNT(*) FROM members", [], |row| row.get::<_, i64>(0)).map(|n| n as u64)
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

    fn append(store: &mut SqliteStore, body: &str, at: Micros) -> StoredMessage {
        match in_batch(store, |s| s.append("u", body, None, at).unwrap()) {
            Appended::New(message) => message,
            duplicate => panic!("{duplicate:?}"),
        }
    }

    fn bodies(history: &History) -> Vec<&str> {
        history.messages.iter().map(|m| m.body.as_str()).collect()
    }

    #[test]
    fn seq_is_gap_free_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let first = append(&mut store, "one", 10);
        store.begin().unwrap();
        store.append("u", "rolled back", None, 11).unwrap();
        store.rollback();
        drop(store);
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let second = append(&mut store, "two", 12);
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(bodies(&store.messages(&Page::default()).unwrap()), ["one", "two"]);
    }

    #[test]
    fn time_never_goes_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let later = append(&mut store, "a", 100);
        let earlier_clock = append(&mut store, "b", 50);
        assert_eq!((later.at, earlier_clock.at), (100, 100));
        let since = |since| Page { since: Some(since), ..Page::default() };
        assert_eq!(store.messages(&since(100)).unwrap().messages.len(), 2);
        assert_eq!(store.messages(&since(101)).unwrap().messages.len(), 0);
    }

    #[test]
    fn a_known_msg_id_stores_nothing_new() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let first = in_batch(&mut store, |s| s.append("u", "hi", Some("id-1"), 1).unwrap());
        let retry = in_batch(&mut store, |s| s.append("u", "hi", Some("id-1"), 2).unwrap());
        assert!(matches!(first, Appended::New(StoredMessage { seq: 1, .. })));
        assert_eq!(retry, Appended::Duplicate { seq: 1 });
        // Another user's id space is their own.
        let other = in_batch(&mut store, |s| s.append("v", "hi", Some("id-1"), 3).unwrap());
        assert!(matches!(other, Appended::New(StoredMessage { seq: 2, .. })));
    }

    #[test]
    fn pages_forward_and_backward() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        for n in 1..=10 {
            append(&mut store, &n.to_string(), n * 10);
        }
        let page = |after_seq, before_seq, limit| Page { since: None, after_seq, before_seq, limit };
        let latest = store.messages(&page(None, None, Some(3))).unwrap();
        assert_eq!((bodies(&latest), latest.more), (vec!["8", "9", "10"], true));
        let older = store.messages(&page(None, Some(8), Some(3))).unwrap();
        assert_eq!((bodies(&older), older.more), (vec!["5", "6", "7"], true));
        let forward = store.messages(&page(Some(7), None, Some(3))).unwrap();
        assert_eq!((bodies(&forward), forward.more), (vec!["8", "9", "10"], false));
        let first = store.messages(&page(Some(0), None, Some(2))).unwrap();
        assert_eq!((bodies(&first), first.more), (vec!["1", "2"], true));
        let since = Page { since: Some(95), limit: Some(5), ..Page::default() };
        assert_eq!(bodies(&store.messages(&since).unwrap()), ["10"]);
    }

    #[test]
    fn membership_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        in_batch(&mut store, |s| {
            assert!(s.add_member("u", 1).unwrap());
            assert!(!s.add_member("u", 2).unwrap());
            assert!(s.is_member("u").unwrap());
            assert_eq!(s.member_count().unwrap(), 1);
            assert!(s.remove_member("u").unwrap());
            assert!(!s.remove_member("u").unwrap());
            assert!(s.add_member("v", 3).unwrap());
        });
        store.begin().unwrap();
        store.add_member("rolled back", 4).unwrap();
        store.rollback();
        drop(store);
        let mut store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.member_count().unwrap(), 1);
    }

    #[test]
    fn a_second_store_on_the_same_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SqliteStore::open(dir.path()).unwrap();
        let error = SqliteStore::open(dir.path()).err().expect("second open must fail");
        assert!(error.to_string().contains("in use by another process"), "{error}");
    }

    #[test]
    fn a_damaged_file_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATABASE_FILE), vec![0x5a; 8192]).unwrap();
        let error = SqliteStore::open(dir.path()).err().expect("a damaged file must be refused");
        assert!(error.to_string().contains("move it aside"), "{error}");
    }

    #[test]
    fn a_full_store_refuses_and_keeps_what_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open_with_limit(dir.path(), Some(64 * 1024)).unwrap();
        append(&mut store, "kept", 1);
        let big = "x".repeat(4096);
        let error = (0..100)
            .find_map(|_| {
                store.begin().unwrap();
                let result = store.append("u", &big, None, 2).and_then(|_| store.commit());
                result.err()
            })
            .expect("the store fills up");
        store.rollback();
        assert!(matches!(error, StoreError::Full), "{error}");
        assert_eq!(store.messages(&Page::default()).unwrap().messages[0].body, "kept");
    }
}
