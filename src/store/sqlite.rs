//! [`GroupStore`] on SQLite: one database file per group, WAL journal,
//! `synchronous=FULL` so that a commit is on disk when it returns, and an
//! exclusive lock so that two servers never share one group's data.
//!
//! The schema's version lives in `PRAGMA user_version` and is read before
//! anything is written: a database from an older huddle is brought up to
//! date by [`MIGRATIONS`], one from a newer huddle is refused. Seqs are given
//! by the store itself, from the latest one it holds, never by SQLite's rowid.

use super::{Appended, BackendError, GroupStore, History, Page, StoreError, StoredMessage};
use crate::protocol::timestamp::Micros;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
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
];

/// The schema this huddle writes, in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The first seq at or after a time: one step down the time index. Times
/// never go backwards as seq grows, so every later message qualifies too and
/// a time filter becomes a seq range.
pub const FIRST_SEQ_SINCE_SQL: &str = "SELECT seq FROM messages WHERE at >= ?1 ORDER BY at, seq LIMIT 1";
pub const FORWARD_SQL: &str =
    "SELECT seq, user_uuid, body, at FROM messages WHERE seq >= ?1 AND seq < ?2 ORDER BY seq LIMIT ?3";
pub const BACKWARD_SQL: &str =
    "SELECT seq, user_uuid, body, at FROM messages WHERE seq >= ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3";

/// A message id this sender already used: its seq, and whether its text
/// was the same.
pub const DUPLICATE_SQL: &str = "SELECT seq, body = ?3 FROM messages WHERE msg_id = ?2 AND user_uuid = ?1";

/// The database file inside a group's data directory.
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

pub struct SqliteStore {
    connection: Connection,
    /// The latest message's seq and time, committed or in the open batch.
    latest_seq: u64,
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
        let path = private_database(dir, DATABASE_FILE)?;
        let shown = path.display().to_string();
        let open_error = |source: rusqlite::Error| open_error(&shown, source);
        let mut connection = Connection::open(&path).map_err(open_error)?;
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
        migrate(&mut connection, &shown, MIGRATIONS)?;
        if let Some(max_bytes) = max_bytes {
            let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0)).map_err(open_error)?;
            let pages = (max_bytes / page_size.max(1) as u64).max(1);
            connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(())).map_err(open_error)?;
        }
        let mut store = SqliteStore { connection, latest_seq: 0, latest_at: Micros::MIN, members: 0 };
        store.reload().map_err(open_error)?;
        Ok(store)
    }

    /// The underlying connection, for tests that inspect query plans.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Reads back what is kept in memory from what is committed.
    fn reload(&mut self) -> rusqlite::Result<()> {
        let latest: Option<(i64, Micros)> = self
            .connection
            .query_row("SELECT seq, at FROM messages ORDER BY seq DESC LIMIT 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        (self.latest_seq, self.latest_at) = latest.map_or((0, Micros::MIN), |(seq, at)| (seq as u64, at));
        self.members =
            self.connection.query_row("SELECT COUNT(*) FROM members", [], |row| row.get::<_, i64>(0))? as u64;
        Ok(())
    }

    fn first_seq_since(&mut self, since: Micros) -> Result<u64, StoreError> {
        let mut statement = self.connection.prepare_cached(FIRST_SEQ_SINCE_SQL)?;
        let seq: Option<i64> = statement.query_row([since], |row| row.get(0)).optional()?;
        // Nothing that late: an empty range past the end.
        Ok(seq.map_or(i64::MAX as u64, |seq| seq as u64))
    }

    /// Up to `limit` messages of the seqs in `low..high`, in the order `sql`
    /// reads them; and whether reading stopped at `max_bytes` with more left.
    fn read_range(
        &mut self,
        sql: &str,
        low: u64,
        high: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<StoredMessage>, bool), StoreError> {
        let mut statement = self.connection.prepare_cached(sql)?;
        let to_sql = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = statement.query(params![to_sql(low), to_sql(high), limit])?;
        let (mut messages, mut bytes) = (Vec::new(), 0usize);
        while let Some(row) = rows.next()? {
            if bytes > max_bytes {
                return Ok((messages, true));
            }
            let message = StoredMessage {
                seq: row.get::<_, i64>(0)? as u64,
                user_uuid: row.get(1)?,
                body: row.get(2)?,
                at: row.get(3)?,
            };
            // A time is rendered in 19 bytes.
            bytes += message.user_uuid.len() + message.body.len() + 19;
            messages.push(message);
        }
        Ok((messages, false))
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
        // Should the read fail, the next append fails alike (the database
        // is unreadable): no seq is given twice.
        let _ = self.reload();
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

    fn set_nick(&mut self, user_uuid: &str, nick: &str) -> Result<bool, StoreError> {
        let mut statement = self.connection.prepare_cached("UPDATE members SET nick = ?2 WHERE user_uuid = ?1")?;
        Ok(statement.execute([user_uuid, nick])? == 1)
    }

    fn nicks(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self.connection.prepare("SELECT user_uuid, nick FROM members WHERE nick IS NOT NULL")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn append(
        &mut self,
        user_uuid: &str,
        body: &str,
        msg_id: Option<&str>,
        at: Micros,
    ) -> Result<Appended, StoreError> {
        let at = at.max(self.latest_at);
        let seq = self.latest_seq + 1;
        // The unique index on (msg_id, user_uuid) is the duplicate check: a
        // new message (the common case) costs one insert, and only an id
        // already stored costs a look-up to tell a retry from a conflict.
        let mut statement = self.connection.prepare_cached(
            "INSERT INTO messages (seq, user_uuid, body, at, msg_id) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?;
        if statement.execute(params![seq as i64, user_uuid, body, at, msg_id])? == 0 {
            let mut statement = self.connection.prepare_cached(DUPLICATE_SQL)?;
            let known: Option<(i64, bool)> = statement
                .query_row([user_uuid, msg_id.unwrap_or_default(), body], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            return match known {
                Some((seq, true)) => Ok(Appended::Duplicate { seq: seq as u64 }),
                Some((seq, false)) => Ok(Appended::Conflict { seq: seq as u64 }),
                None => Err(StoreError::Backend(
                    format!("message {seq} was not stored, and no message holds its id").into(),
                )),
            };
        }
        (self.latest_seq, self.latest_at) = (seq, at);
        Ok(Appended::New(StoredMessage { seq, user_uuid: user_uuid.to_owned(), body: body.to_owned(), at }))
    }

    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        Ok(self.latest_seq)
    }

    fn messages(&mut self, page: &Page) -> Result<History, StoreError> {
        let mut low = page.after_seq.map_or(0, |seq| seq.saturating_add(1));
        if let Some(since) = page.since {
            low = low.max(self.first_seq_since(since)?);
        }
        let high = page.before_seq.unwrap_or(u64::MAX);
        let max_bytes = page.max_bytes.unwrap_or(usize::MAX);
        let Some(limit) = page.limit else {
            let (messages, more) = self.read_range(FORWARD_SQL, low, high, usize::MAX, max_bytes)?;
            return Ok(History { messages, more });
        };
        let fetch = limit.saturating_add(1);
        let forward = page.after_seq.is_some();
        let sql = if forward { FORWARD_SQL } else { BACKWARD_SQL };
        let (mut messages, cut) = self.read_range(sql, low, high, fetch, max_bytes)?;
        let more = cut || messages.len() > limit;
        messages.truncate(limit);
        if !forward {
            messages.reverse();
        }
        Ok(History { messages, more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    /// Runs a conformance check on a store in a fresh directory.
    fn conform(check: conformance::Check) {
        let dir = tempfile::tempdir().unwrap();
        check(&mut || Box::new(SqliteStore::open(dir.path()).unwrap()));
    }

    #[test]
    fn keeps_every_group_store_promise() {
        for (name, check) in conformance::ALL {
            eprintln!("conformance: {name}");
            conform(*check);
        }
    }

    /// The schema of version 1, as the first huddle wrote it.
    const SCHEMA_V1: &str = "
        CREATE TABLE IF NOT EXISTS members (user_uuid TEXT PRIMARY KEY, joined_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS messages (
            seq INTEGER PRIMARY KEY, user_uuid TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL, msg_id TEXT
        );
        CREATE INDEX IF NOT EXISTS messages_by_time ON messages (at);
        CREATE INDEX IF NOT EXISTS messages_by_id ON messages (msg_id) WHERE msg_id IS NOT NULL;
        PRAGMA user_version = 1;";

    #[test]
    fn a_database_of_the_previous_schema_is_migrated_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
            old.execute_batch(SCHEMA_V1).unwrap();
            old.execute_batch(
                "INSERT INTO members VALUES ('u', 1);
                 INSERT INTO messages (user_uuid, body, at, msg_id) VALUES ('u', 'old one', 10, 'id-1');
                 INSERT INTO messages (user_uuid, body, at, msg_id) VALUES ('u', 'old two', 20, NULL);",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let version: i64 = store.connection().query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(store.is_member("u").unwrap());
        let history = store.messages(&Page::default()).unwrap();
        assert_eq!(history.messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["old one", "old two"]);
        store.begin().unwrap();
        assert_eq!(store.append("u", "old one", Some("id-1"), 30).unwrap(), Appended::Duplicate { seq: 1 });
        let next = store.append("u", "new", Some("id-2"), 5).unwrap();
        store.commit().unwrap();
        assert!(matches!(next, Appended::New(StoredMessage { seq: 3, at: 20, .. })), "{next:?}");
        let duplicate = store.connection().execute("INSERT INTO messages VALUES (9, 'u', 'x', 40, 'id-2')", []);
        assert!(duplicate.is_err(), "the database itself refuses a sender's id twice");
    }

    #[test]
    fn a_database_from_a_newer_huddle_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        Connection::open(dir.path().join(DATABASE_FILE)).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
        let error = SqliteStore::open(dir.path()).err().expect("a newer schema must be refused");
        assert!(matches!(error, StoreError::Newer { found: 99, .. }), "{error}");
        assert!(error.to_string().contains("newer huddle"), "{error}");
    }

    #[test]
    fn the_data_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("group");
        let mut store = SqliteStore::open(&data).unwrap();
        store.begin().unwrap();
        store.add_member("u", 1).unwrap();
        store.commit().unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        for file in [DATABASE_FILE.to_owned(), format!("{DATABASE_FILE}-wal")] {
            assert_eq!(mode(&data.join(&file)), 0o600, "{file}");
        }
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
        store.begin().unwrap();
        store.append("u", "kept", None, 1).unwrap();
        store.commit().unwrap();
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
        let kept = store.messages(&Page::default()).unwrap().messages.len();
        assert_eq!(store.latest_seq().unwrap() as usize, kept, "no seq lost to the failed commit");
    }
}
