//! One SQLite database and the groups in it. Each group's [`SqliteStore`]
//! is a handle on the database's one connection; a host opens a batch
//! across all of them ([`HostStore::begin`]), every group's `begin` and
//! `commit` join it, and the host's one commit makes every group's work of
//! the turn durable at once.

use super::group::SqliteStore;
use super::{DATABASE_FILE, MIGRATIONS, SEQ_BITS, migrate, open_error, private_database};
use crate::store::{GroupStore, HostStore, StoreError};
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The database file of a host, in its data directory.
pub const HOST_DATABASE_FILE: &str = "host.sqlite3";

/// The connection every group of a database shares.
pub(super) struct Shared {
    pub connection: Connection,
    /// A host's batch is open: the groups' own `begin` and `commit` join it,
    /// and only the host commits or rolls back.
    pub in_host_batch: bool,
}

pub(super) type SharedConnection = Arc<Mutex<Shared>>;

/// The shared connection, for one operation. A panic elsewhere while it was
/// held leaves SQLite consistent (a transaction is rolled back or not), so
/// the lock is taken even then.
pub(super) fn lock(shared: &SharedConnection) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A database file that holds one group (a lone group's) or many (a host's).
pub struct SqliteDatabase {
    shared: SharedConnection,
}

impl SqliteDatabase {
    /// Opens (or creates) the database `file` in `dir`, refusing to grow it
    /// beyond `max_bytes`, brought to this huddle's schema.
    pub fn open(dir: &Path, file: &str, max_bytes: Option<u64>) -> Result<SqliteDatabase, StoreError> {
        let path = private_database(dir, file)?;
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
        let shared = Arc::new(Mutex::new(Shared { connection, in_host_batch: false }));
        Ok(SqliteDatabase { shared })
    }

    /// Opens a host's database, in `dir`. Many groups writing at once
    /// touch a page or two each per commit, where a lone group's messages
    /// share pages: so a larger page cache (64 MiB at most, taken as used),
    /// and a checkpoint every 64 MiB of WAL rather than every 4, so that a
    /// page written by every commit is copied into the database once per
    /// checkpoint, not once per few commits. Measured with `huddle bench
    /// host`, 1,000 groups each with one sender: 9.0k to 14.3k acks/s.
    pub fn open_host(dir: &Path, max_bytes: Option<u64>) -> Result<SqliteDatabase, StoreError> {
        let database = SqliteDatabase::open(dir, HOST_DATABASE_FILE, max_bytes)?;
        let tuned = lock(&database.shared)
            .connection
            .execute_batch("PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384;");
        tuned.map_err(|source| open_error(&dir.join(HOST_DATABASE_FILE).display().to_string(), source))?;
        Ok(database)
    }

    /// The store of the group `name`, made when new.
    pub fn group(&self, name: &str) -> Result<SqliteStore, StoreError> {
        let id = {
            let shared = lock(&self.shared);
            let find = "SELECT id FROM groups WHERE name = ?1";
            let found: Option<i64> = shared.connection.query_row(find, [name], |row| row.get(0)).optional()?;
            match found {
                Some(id) => id,
                None => {
                    shared.connection.execute("INSERT INTO groups (name) VALUES (?1)", [name])?;
                    shared.connection.last_insert_rowid()
                }
            }
        };
        if id >= 1 << (63 - SEQ_BITS) {
            return Err(StoreError::Backend("the database holds as many groups as it can (2^23)".into()));
        }
        SqliteStore::on(self.shared.clone(), id)
    }
}

impl HostStore for SqliteDatabase {
    fn group(&mut self, name: &str) -> Result<Box<dyn GroupStore + Send>, StoreError> {
        Ok(Box::new(SqliteDatabase::group(self, name)?))
    }

    /// Copies the members and history of the lone group's file in `dir`
    /// (brought to this schema first) into group `name`, in one
    /// transaction, then renames the file `group.sqlite3.imported`. A copy
    /// interrupted before the rename is not made twice: a group that holds
    /// anything already is taken as copied.
    fn delete(&mut self, name: &str) -> Result<(), StoreError> {
        let mut shared = lock(&self.shared);
        let transaction = shared.connection.transaction()?;
        let id: Option<i64> =
            transaction.query_row("SELECT id FROM groups WHERE name = ?1", [name], |row| row.get(0)).optional()?;
        if let Some(id) = id {
            let (first, past) = (super::message_key(id, 0), super::message_key(id + 1, 0));
            transaction.execute("DELETE FROM messages WHERE key >= ?1 AND key < ?2", [first, past])?;
            for table in ["members", "allowed"] {
                transaction.execute(&format!("DELETE FROM {table} WHERE group_id = ?1"), [id])?;
            }
            transaction.execute("DELETE FROM groups WHERE id = ?1", [id])?;
        }
        Ok(transaction.commit()?)
    }

    fn import(&mut self, name: &str, dir: &Path) -> Result<bool, StoreError> {
        let lone = dir.join(DATABASE_FILE);
        if !lone.exists() {
            return Ok(false);
        }
        drop(SqliteStore::open(dir)?);
        let id = SqliteDatabase::group(self, name)?.id();
        {
            let mut shared = lock(&self.shared);
            let connection = &mut shared.connection;
            connection.execute("ATTACH DATABASE ?1 AS lone", [lone.to_string_lossy()])?;
            let copied = copy_lone_group(connection, id);
            let detached = connection.execute("DETACH DATABASE lone", []);
            copied?;
            detached?;
        }
        let aside = dir.join(format!("{DATABASE_FILE}.imported"));
        std::fs::rename(&lone, aside)
            .map_err(|source| StoreError::Open { path: lone.display().to_string(), source: Box::new(source) })?;
        Ok(true)
    }

    fn begin(&mut self) {
        lock(&self.shared).in_host_batch = true;
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let mut shared = lock(&self.shared);
        shared.in_host_batch = false;
        if shared.connection.is_autocommit() {
            return Ok(());
        }
        let committed = shared.connection.prepare_cached("COMMIT").and_then(|mut commit| commit.execute([]));
        if let Err(error) = committed {
            // A failed rollback leaves nothing to undo: SQLite has already
            // rolled the transaction back.
            let _ = shared.connection.execute_batch("ROLLBACK");
            return Err(error.into());
        }
        Ok(())
    }

    fn rollback(&mut self) {
        let mut shared = lock(&self.shared);
        shared.in_host_batch = false;
        if !shared.connection.is_autocommit() {
            let _ = shared.connection.execute_batch("ROLLBACK");
        }
    }
}

/// Copies the attached lone database's members and messages into group
/// `id`, unless that group holds any already.
fn copy_lone_group(connection: &mut Connection, id: i64) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    let holds_any: bool = transaction.query_row(
        "SELECT EXISTS (SELECT 1 FROM main.members WHERE group_id = ?1)
             OR EXISTS (SELECT 1 FROM main.messages WHERE group_id = ?1)",
        [id],
        |row| row.get(0),
    )?;
    if !holds_any {
        transaction
            .execute("INSERT INTO main.members SELECT ?1, user_uuid, joined_at, nick FROM lone.members", [id])?;
        transaction.execute(
            "INSERT INTO main.messages SELECT (?1 << ?2) | (key & ((1 << ?2) - 1)), ?1, user_uuid, body, at, msg_id
             FROM lone.messages",
            [id, i64::from(SEQ_BITS)],
        )?;
    }
    transaction.commit()
}
