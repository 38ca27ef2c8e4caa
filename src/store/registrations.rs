//! The directory's memory: which groups registered, under which name, and
//! whether they heartbeat. Kept on disk so that a restarted directory still
//! knows the seed's groups, which register only once.

use super::StoreError;
use super::sqlite::{migrate, open_error, private_database};
use rusqlite::{Connection, params};
use std::path::Path;

/// The database file inside the directory's data directory.
pub const DATABASE_FILE: &str = "directory.sqlite3";

/// One remembered registration.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRegistration {
    pub address: String,
    pub name: String,
    pub heartbeat_ms: Option<u64>,
    /// The key the group registered with, over CURVE (Z85).
    pub key: Option<String>,
    /// The host that heartbeats for the group (`HOST:PORT`).
    pub host: Option<String>,
}

/// Each entry brings the database from the version of its index to the next.
const MIGRATIONS: &[&str] = &[
    // 1: the registrations; directories before versioning wrote the same
    // table and no version, hence IF NOT EXISTS.
    "CREATE TABLE IF NOT EXISTS registrations (
         position INTEGER PRIMARY KEY,
         address TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL,
         heartbeat_ms INTEGER
     );",
    // 2: the key each group registered with, over CURVE.
    "ALTER TABLE registrations ADD COLUMN key TEXT;",
    // 3: the host that heartbeats for a hosted group.
    "ALTER TABLE registrations ADD COLUMN host TEXT;",
];

/// The directory's durable registrations.
pub trait RegistrationStore {
    /// Every registration, in the order the addresses first registered.
    fn load(&self) -> Result<Vec<SavedRegistration>, StoreError>;
    /// Records a registration, keeping an address's first position. When
    /// this returns `Ok`, it survives a crash.
    fn save(&mut self, registration: &SavedRegistration) -> Result<(), StoreError>;
    /// Forgets the registration of `address`.
    fn remove(&mut self, address: &str) -> Result<(), StoreError>;
}

/// [`RegistrationStore`] on SQLite: WAL, `synchronous=FULL`.
pub struct SqliteRegistrations {
    connection: Connection,
}

impl SqliteRegistrations {
    pub fn open(dir: &Path) -> Result<SqliteRegistrations, StoreError> {
        let path = private_database(dir, DATABASE_FILE)?;
        let shown = path.display().to_string();
        let open_error = |source: rusqlite::Error| open_error(&shown, source);
        let mut connection = Connection::open(&path).map_err(open_error)?;
        // A save that cannot take the lock fails at once: the directory's one
        // thread never waits on another process.
        connection.busy_timeout(std::time::Duration::ZERO).map_err(open_error)?;
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").map_err(open_error)?;
        migrate(&mut connection, &shown, MIGRATIONS)?;
        Ok(SqliteRegistrations { connection })
    }
}

impl RegistrationStore for SqliteRegistrations {
    fn load(&self) -> Result<Vec<SavedRegistration>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT address, name, heartbeat_ms, key, host FROM registrations ORDER BY position")?;
        let rows = statement.query_map([], |row| {
            Ok(SavedRegistration {
                address: row.get(0)?,
                name: row.get(1)?,
                heartbeat_ms: row.get::<_, Option<i64>>(2)?.map(|ms| ms as u64),
                key: row.get(3)?,
                host: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn save(&mut self, registration: &SavedRegistration) -> Result<(), StoreError> {
        let mut statement = self.connection.prepare_cached(
            "INSERT INTO registrations (address, name, heartbeat_ms, key, host) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (address) DO UPDATE SET
                 name = excluded.name, heartbeat_ms = excluded.heartbeat_ms, key = excluded.key, host = excluded.host",
        )?;
        let heartbeat_ms = registration.heartbeat_ms.map(|ms| ms as i64);
        let SavedRegistration { address, name, key, host, .. } = registration;
        statement.execute(params![address, name, heartbeat_ms, key, host])?;
        Ok(())
    }

    fn remove(&mut self, address: &str) -> Result<(), StoreError> {
        self.connection.prepare_cached("DELETE FROM registrations WHERE address = ?1")?.execute([address])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_survive_reopening_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let saved = |address: &str, name: &str, heartbeat_ms| SavedRegistration {
            address: address.into(),
            name: name.into(),
            heartbeat_ms,
            key: heartbeat_ms.map(|_| "k".repeat(40)),
            host: heartbeat_ms.map(|_| "h:5599".to_owned()),
        };
        {
            let mut store = SqliteRegistrations::open(dir.path()).unwrap();
            store.save(&saved("h:1", "a", None)).unwrap();
            store.save(&saved("h:2", "b", Some(2000))).unwrap();
            store.save(&saved("h:1", "renamed", None)).unwrap();
            store.save(&saved("h:3", "forgotten", None)).unwrap();
            store.remove("h:3").unwrap();
        }
        let store = SqliteRegistrations::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), [saved("h:1", "renamed", None), saved("h:2", "b", Some(2000))]);
    }

    #[test]
    fn registrations_kept_before_keys_are_read_after() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.execute_batch("INSERT INTO registrations (address, name, heartbeat_ms) VALUES ('h:1', 'seed', NULL)")
            .unwrap();
        drop(old);
        let store = SqliteRegistrations::open(dir.path()).unwrap();
        let expected =
            SavedRegistration { address: "h:1".into(), name: "seed".into(), heartbeat_ms: None, key: None, host: None };
        assert_eq!(store.load().unwrap(), [expected]);
    }
}
