//! `getMessage` with a timestamp is one step down the time index and then a
//! range of seqs: its cost follows what it returns, not the history's size.

use huddle::store::{BACKWARD_SQL, DUPLICATE_SQL, FIRST_SEQ_SINCE_SQL, FORWARD_SQL, GroupStore, Page, SqliteStore};
use rusqlite::StatementStatus;

fn plan(store: &SqliteStore, sql: &str) -> String {
    let connection = store.connection();
    let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let count = statement.parameter_count();
    let params: Vec<i64> = vec![0; count];
    let rows = statement.query_map(rusqlite::params_from_iter(params), |row| row.get::<_, String>(3)).unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_time_filter_uses_the_time_index_and_pages_use_seq_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let since = plan(&store, FIRST_SEQ_SINCE_SQL);
    assert!(since.contains("USING COVERING INDEX messages_by_time (group_id=? AND at>?)"), "plan:\n{since}");
    assert!(!since.contains("TEMP B-TREE"), "no sort step:\n{since}");
    for sql in [FORWARD_SQL, BACKWARD_SQL] {
        let range = plan(&store, sql);
        assert!(range.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "plan:\n{range}");
        assert!(!range.contains("TEMP B-TREE"), "no sort step:\n{range}");
    }
}

#[test]
fn the_duplicate_check_uses_the_index_that_grows_at_one_end() {
    // Message ids are time-ordered; an index that starts with the sender
    // would take new entries on one page per sender per commit, and cost a
    // third of the durable send rate (measured: 18k/s against 12k/s).
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let duplicate = plan(&store, DUPLICATE_SQL);
    assert!(
        duplicate.contains("USING INDEX messages_by_id_and_sender (msg_id=? AND user_uuid=? AND group_id=?)"),
        "plan:\n{duplicate}"
    );
}

#[test]
fn a_recent_read_touches_what_it_returns_not_the_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    store.begin().unwrap();
    for n in 0..20_000 {
        store.append("u", "m", None, n).unwrap();
    }
    store.commit().unwrap();
    let history = store.messages(&Page { since: Some(19_990), ..Page::default() }).unwrap();
    assert_eq!(history.messages.len(), 10);

    // Count the virtual machine steps of the same two statements.
    let connection = store.connection();
    let mut first = connection.prepare(FIRST_SEQ_SINCE_SQL).unwrap();
    let low: i64 = first.query_row([1, 19_990i64], |row| row.get(0)).unwrap();
    let mut range = connection.prepare(FORWARD_SQL).unwrap();
    let rows = range.query_map([low, i64::MAX, i64::MAX], |_| Ok(())).unwrap().count();
    assert_eq!(rows, 10);
    let steps = first.get_status(StatementStatus::VmStep) + range.get_status(StatementStatus::VmStep);
    assert!(steps < 500, "{steps} VM steps for 10 rows out of 20,000");
}
