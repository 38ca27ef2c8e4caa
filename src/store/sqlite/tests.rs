//! The SQLite backend's own checks, beside the conformance every backend runs.

use super::*;
use crate::store::{Appended, GroupStore, HostStore, Page, StoredMessage, conformance};
use rusqlite::Connection;
use std::path::Path;

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
    let duplicate =
        store.connection().execute("INSERT INTO messages VALUES ((1 << 40) + 9, 1, 'u', 'x', 40, 'id-2')", []);
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

/// A host's database with a neighbouring group already holding members
/// and history, so that every check also shows the groups kept apart.
fn host_with_a_neighbour(dir: &Path) {
    let database = SqliteDatabase::open(dir, HOST_DATABASE_FILE, None).unwrap();
    let mut neighbour = database.group("neighbour").unwrap();
    neighbour.begin().unwrap();
    neighbour.add_member("u", 1).unwrap();
    neighbour.append("u", "not yours", Some("id-1"), 1_000).unwrap();
    neighbour.commit().unwrap();
}

#[test]
fn a_hosted_group_keeps_every_group_store_promise_beside_another() {
    for (name, check) in conformance::ALL {
        eprintln!("conformance: {name}");
        let dir = tempfile::tempdir().unwrap();
        host_with_a_neighbour(dir.path());
        check(&mut || {
            let database = SqliteDatabase::open(dir.path(), HOST_DATABASE_FILE, None).unwrap();
            Box::new(database.group("checked").unwrap())
        });
        let database = SqliteDatabase::open(dir.path(), HOST_DATABASE_FILE, None).unwrap();
        let mut neighbour = database.group("neighbour").unwrap();
        assert_eq!(neighbour.latest_seq().unwrap(), 1, "{name} left the neighbour's history alone");
        assert_eq!(neighbour.member_count().unwrap(), 1);
    }
}

#[test]
fn one_host_commit_makes_every_groups_batch_durable_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut database = SqliteDatabase::open(dir.path(), HOST_DATABASE_FILE, None).unwrap();
    let (mut a, mut b) = (database.group("a").unwrap(), database.group("b").unwrap());
    let batch = |database: &mut SqliteDatabase, a: &mut SqliteStore, b: &mut SqliteStore, text: &str| {
        HostStore::begin(database);
        for store in [&mut *a, &mut *b] {
            store.begin().unwrap();
            store.append("u", text, None, 1).unwrap();
            store.commit().unwrap();
            assert!(!store.connection().is_autocommit(), "a group's commit leaves the host's batch open");
        }
    };
    batch(&mut database, &mut a, &mut b, "kept");
    HostStore::commit(&mut database).unwrap();
    batch(&mut database, &mut a, &mut b, "dropped");
    HostStore::rollback(&mut database);
    a.rollback();
    b.rollback();
    assert_eq!((a.latest_seq().unwrap(), b.latest_seq().unwrap()), (1, 1), "the rolled-back seqs are given back");
    drop((a, b, database));
    let database = SqliteDatabase::open(dir.path(), HOST_DATABASE_FILE, None).unwrap();
    for name in ["a", "b"] {
        let history = database.group(name).unwrap().messages(&Page::default()).unwrap();
        let bodies: Vec<_> = history.messages.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["kept"], "group {name}");
    }
}

#[test]
fn a_lone_groups_file_is_imported_once_and_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("groups").join("lobby");
    {
        let mut store = SqliteStore::open(&lone).unwrap();
        store.begin().unwrap();
        store.add_member("u", 1).unwrap();
        store.set_nick("u", "Ada").unwrap();
        store.append("u", "from before", Some("id-1"), 5).unwrap();
        store.commit().unwrap();
    }
    let mut database = SqliteDatabase::open(dir.path(), HOST_DATABASE_FILE, None).unwrap();
    assert!(database.import("lobby", &lone).unwrap());
    assert!(!database.import("lobby", &lone).unwrap(), "nothing is left to import");
    assert!(lone.join(format!("{DATABASE_FILE}.imported")).exists());
    let mut lobby = database.group("lobby").unwrap();
    assert_eq!(lobby.nicks().unwrap(), [("u".to_owned(), "Ada".to_owned())]);
    lobby.begin().unwrap();
    assert_eq!(lobby.append("u", "from before", Some("id-1"), 9).unwrap(), Appended::Duplicate { seq: 1 });
    let next = lobby.append("u", "after", None, 9).unwrap();
    lobby.commit().unwrap();
    assert!(matches!(next, Appended::New(StoredMessage { seq: 2, .. })), "{next:?}");
}

#[test]
fn a_deleted_group_leaves_nothing_and_its_neighbours_alone() {
    let dir = tempfile::tempdir().unwrap();
    host_with_a_neighbour(dir.path());
    let mut database = SqliteDatabase::open(dir.path(), HOST_DATABASE_FILE, None).unwrap();
    {
        let mut doomed = database.group("doomed").unwrap();
        doomed.begin().unwrap();
        doomed.add_member("u", 1).unwrap();
        doomed.append("u", "gone soon", None, 1).unwrap();
        doomed.set_access(&crate::store::Access { owner: Some("u".into()), ..Default::default() }).unwrap();
        doomed.commit().unwrap();
    }
    database.delete("doomed").unwrap();
    let mut again = database.group("doomed").unwrap();
    assert_eq!((again.latest_seq().unwrap(), again.member_count().unwrap()), (0, 0));
    assert_eq!(again.access().unwrap(), crate::store::Access::default());
    let mut neighbour = database.group("neighbour").unwrap();
    assert_eq!((neighbour.latest_seq().unwrap(), neighbour.member_count().unwrap()), (1, 1));
}
