//! The promises every [`GroupStore`] keeps, as checks that any backend's
//! tests run (as nats-server runs the same tests over its file and memory
//! stores). Each check takes `open`, which opens the backend's store on the
//! same data every time it is called: a check drops its store and opens it
//! again to see what survived.
//!
//! ```ignore
//! #[test]
//! fn seq_is_gap_free() {
//!     let dir = tempfile::tempdir().unwrap();
//!     conformance::seq_is_gap_free_and_survives_reopening(&mut || Box::new(MyStore::open(dir.path())));
//! }
//! ```
//!
//! The checks panic on a broken promise, like any test assertion.

use super::{Access, Appended, GroupStore, History, Page, StoredMessage};
use crate::protocol::timestamp::Micros;

/// Opens the store under test, on the same data at every call.
pub type Open<'a> = dyn FnMut() -> Box<dyn GroupStore> + 'a;

/// One check of a store's promises.
pub type Check = fn(&mut Open);

/// Every check, by name, for a backend that runs them all in one test.
pub const ALL: &[(&str, Check)] = &[
    ("seq_is_gap_free_and_survives_reopening", seq_is_gap_free_and_survives_reopening),
    ("time_never_goes_backwards", time_never_goes_backwards),
    ("a_known_msg_id_stores_nothing_new", a_known_msg_id_stores_nothing_new),
    ("pages_forward_and_backward", pages_forward_and_backward),
    ("membership_is_idempotent_and_rolls_back", membership_is_idempotent_and_rolls_back),
    ("reading_stops_at_a_byte_bound", reading_stops_at_a_byte_bound),
    ("a_members_nick_is_kept_until_they_leave", a_members_nick_is_kept_until_they_leave),
    ("access_is_kept_and_rolls_back", access_is_kept_and_rolls_back),
];

fn in_batch<T>(store: &mut dyn GroupStore, f: impl FnOnce(&mut dyn GroupStore) -> T) -> T {
    store.begin().expect("begin");
    let result = f(store);
    store.commit().expect("commit");
    result
}

fn append(store: &mut dyn GroupStore, body: &str, at: Micros) -> StoredMessage {
    match in_batch(store, |s| s.append("u", body, None, at).expect("append")) {
        Appended::New(message) => message,
        duplicate => panic!("a message without an id was taken for a duplicate: {duplicate:?}"),
    }
}

fn bodies(history: &History) -> Vec<&str> {
    history.messages.iter().map(|m| m.body.as_str()).collect()
}

/// Seqs run from 1 without gaps, across a rollback and a reopening.
pub fn seq_is_gap_free_and_survives_reopening(open: &mut Open) {
    let mut store = open();
    assert_eq!(store.latest_seq().unwrap(), 0);
    let first = append(store.as_mut(), "one", 10);
    store.begin().unwrap();
    store.append("u", "rolled back", None, 11).unwrap();
    store.append("u", "rolled back too", None, 11).unwrap();
    store.rollback();
    assert_eq!(store.latest_seq().unwrap(), 1, "a rolled-back batch gives its seqs back");
    drop(store);
    let mut store = open();
    assert_eq!(store.latest_seq().unwrap(), 1);
    let second = append(store.as_mut(), "two", 12);
    assert_eq!((first.seq, second.seq), (1, 2));
    assert_eq!(bodies(&store.messages(&Page::default()).unwrap()), ["one", "two"]);
}

/// A message's time is never earlier than the one before it.
pub fn time_never_goes_backwards(open: &mut Open) {
    let mut store = open();
    let later = append(store.as_mut(), "a", 100);
    let earlier_clock = append(store.as_mut(), "b", 50);
    assert_eq!((later.at, earlier_clock.at), (100, 100));
    let since = |since| Page { since: Some(since), ..Page::default() };
    assert_eq!(store.messages(&since(100)).unwrap().messages.len(), 2);
    assert_eq!(store.messages(&since(101)).unwrap().messages.len(), 0);
    drop(store);
    let mut store = open();
    assert_eq!(append(store.as_mut(), "c", 60).at, 100, "also after reopening");
}

/// A retry (the same sender, `msg_id` and text) stores nothing and gets the
/// seq stored first; the same id with other text is a conflict; another
/// sender's ids are their own.
pub fn a_known_msg_id_stores_nothing_new(open: &mut Open) {
    let mut store = open();
    let first = in_batch(store.as_mut(), |s| s.append("u", "hi", Some("id-1"), 1).unwrap());
    let retry = in_batch(store.as_mut(), |s| s.append("u", "hi", Some("id-1"), 2).unwrap());
    assert!(matches!(first, Appended::New(StoredMessage { seq: 1, .. })), "{first:?}");
    assert_eq!(retry, Appended::Duplicate { seq: 1 });
    let other = in_batch(store.as_mut(), |s| s.append("v", "hi", Some("id-1"), 3).unwrap());
    assert!(matches!(other, Appended::New(StoredMessage { seq: 2, .. })), "{other:?}");
    let reused = in_batch(store.as_mut(), |s| s.append("u", "other text", Some("id-1"), 3).unwrap());
    assert_eq!(reused, Appended::Conflict { seq: 1 }, "an id reused for other text stores nothing");
    assert_eq!(store.latest_seq().unwrap(), 2);
    drop(store);
    let mut store = open();
    let after_restart = in_batch(store.as_mut(), |s| s.append("u", "hi", Some("id-1"), 4).unwrap());
    assert_eq!(after_restart, Appended::Duplicate { seq: 1 }, "ids are kept with the messages");
}

/// Pages by seq, forward from `after_seq` or backward from the newest.
pub fn pages_forward_and_backward(open: &mut Open) {
    let mut store = open();
    for n in 1..=10 {
        append(store.as_mut(), &n.to_string(), n * 10);
    }
    let page = |after_seq, before_seq, limit| Page { after_seq, before_seq, limit, ..Page::default() };
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

/// A read with `max_bytes` stops soon after it, whole history or page, and
/// says that more is there.
pub fn reading_stops_at_a_byte_bound(open: &mut Open) {
    let mut store = open();
    for n in 1..=10 {
        append(store.as_mut(), &format!("{n:0>100}"), n * 10);
    }
    let whole = store.messages(&Page { max_bytes: Some(250), ..Page::default() }).unwrap();
    assert!(whole.more && whole.messages.len() < 10, "read {} of 10", whole.messages.len());
    assert_eq!(whole.messages[0].seq, 1);
    let latest = store.messages(&Page { limit: Some(5), max_bytes: Some(250), ..Page::default() }).unwrap();
    assert!(latest.more && latest.messages.len() < 5);
    assert_eq!(latest.messages.last().unwrap().seq, 10, "the latest ones are read first");
    let all = store.messages(&Page { max_bytes: Some(1_000_000), ..Page::default() }).unwrap();
    assert_eq!((all.messages.len(), all.more), (10, false));
}

/// A nick is set for members only, survives reopening, and goes with the member.
pub fn a_members_nick_is_kept_until_they_leave(open: &mut Open) {
    let mut store = open();
    in_batch(store.as_mut(), |s| {
        assert!(!s.set_nick("stranger", "x").unwrap(), "not a member");
        s.add_member("u", 1).unwrap();
        s.add_member("v", 1).unwrap();
        assert!(s.set_nick("u", "alice").unwrap());
    });
    drop(store);
    let mut store = open();
    assert_eq!(store.nicks().unwrap(), [("u".to_owned(), "alice".to_owned())]);
    in_batch(store.as_mut(), |s| {
        s.remove_member("u").unwrap();
        s.add_member("u", 2).unwrap();
    });
    assert!(store.nicks().unwrap().is_empty(), "leaving forgets the nick");
}

/// Joining twice and leaving twice are harmless; a rolled-back join is gone.
pub fn membership_is_idempotent_and_rolls_back(open: &mut Open) {
    let mut store = open();
    in_batch(store.as_mut(), |s| {
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
    assert_eq!(store.member_count().unwrap(), 1);
    assert!(!store.is_member("rolled back").unwrap());
    drop(store);
    let mut store = open();
    assert_eq!(store.member_count().unwrap(), 1);
    assert!(store.is_member("v").unwrap());
}

/// Who may use the group is kept, and a rolled-back change is gone.
pub fn access_is_kept_and_rolls_back(open: &mut Open) {
    let mut store = open();
    assert_eq!(store.access().unwrap(), Access::default(), "a new group is public and owned by nobody");
    let private = Access {
        owner: Some("owner".into()),
        private: true,
        allowed: ["friend".to_owned(), "other".to_owned()].into(),
    };
    in_batch(store.as_mut(), |s| s.set_access(&private).unwrap());
    store.begin().unwrap();
    store.set_access(&Access::default()).unwrap();
    store.rollback();
    drop(store);
    let mut store = open();
    let kept = store.access().unwrap();
    assert_eq!(kept, private);
    assert!(kept.admits("owner") && kept.admits("friend") && !kept.admits("stranger"));
    let fewer = Access { allowed: ["friend".to_owned()].into(), ..private };
    in_batch(store.as_mut(), |s| s.set_access(&fewer).unwrap());
    assert_eq!(store.access().unwrap(), fewer);
}
