//! `getMessage` with a timestamp walks the time index: its cost follows what
//! it returns, not the size of the history.

use huddle::store::{MESSAGES_SINCE_SQL, SqliteStore};

#[test]
fn messages_since_uses_the_time_index_without_a_sort() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut statement = store.connection().prepare(&format!("EXPLAIN QUERY PLAN {MESSAGES_SINCE_SQL}")).unwrap();
    let plan: Vec<String> =
        statement.query_map([0i64], |row| row.get::<_, String>(3)).unwrap().map(Result::unwrap).collect();
    let plan = plan.join("\n");
    assert!(plan.contains("USING INDEX messages_by_time (at>?)"), "plan:\n{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "no sort step:\n{plan}");
    assert!(!plan.contains("SCAN messages\n") && !plan.ends_with("SCAN messages"), "no full scan:\n{plan}");
}
