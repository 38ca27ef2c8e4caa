//! Live delivery: a member sees each new message once, in order, as it is
//! committed; gaps (a slow reader, time away, a group restart) are filled
//! from history by seq.

mod common;

use common::{Peer, Server, data_dir, eventually, group_command, home, seed, start_server};
use huddle::client::live::Watch;
use huddle::client::{Client, Requester};
use huddle::protocol::{Address, WireMessage};
use std::time::{Duration, Instant};

const NO_DIRECTORY: &str = "127.0.0.1:1";
const TIMEOUT: Duration = Duration::from_secs(2);

/// A client acting as `name`.
fn user(name: &str, timeout: Duration) -> Client {
    Client::new(Requester::new(zmq::Context::new(), timeout), name.to_owned())
}

fn member(address: &Address, name: &str) -> Client {
    let mut client = user(name, TIMEOUT);
    client.join(address).unwrap();
    client
}

/// Collects from `watch` until `count` messages came, failing at the deadline.
fn collect(watch: &mut Watch, count: usize) -> Vec<WireMessage> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while seen.len() < count {
        assert!(started.elapsed() < common::DEADLINE, "only {} of {count} messages arrived", seen.len());
        seen.extend(watch.next(Duration::from_millis(100)).unwrap());
    }
    seen
}

/// A group with a member `sender` (returned) and a member `watcher`.
fn group_with_sender_and_watcher(home: &std::path::Path) -> (Server, Address, Client) {
    let group = start_server(group_command(home, "g", "127.0.0.1:0", NO_DIRECTORY, &data_dir(home)));
    let address = Address::parse(&group.address).unwrap();
    let sender = member(&address, "sender");
    member(&address, "watcher");
    (group, address, sender)
}

fn texts(messages: &[WireMessage]) -> Vec<String> {
    messages.iter().map(|m| m.message.clone()).collect()
}

#[test]
fn new_messages_are_pushed_once_and_in_order() {
    let home = home();
    let (_group, address, mut sender) = group_with_sender_and_watcher(home.path());
    let mut watch = Watch::start(user("watcher", TIMEOUT), &address, None, 0).unwrap();
    assert!(watch.next(Duration::from_millis(300)).unwrap().is_empty(), "nothing old with no backlog");
    for n in 0..20 {
        sender.send(&address, &format!("m{n}")).unwrap();
    }
    let seen = collect(&mut watch, 20);
    assert_eq!(texts(&seen), (0..20).map(|n| format!("m{n}")).collect::<Vec<_>>());
    assert!(watch.next(Duration::from_millis(200)).unwrap().is_empty(), "nothing twice");
}

#[test]
fn a_watch_starting_from_a_remembered_seq_shows_what_arrived_while_away() {
    let home = home();
    let (_group, address, mut sender) = group_with_sender_and_watcher(home.path());
    for n in 1..=5 {
        sender.send(&address, &format!("m{n}")).unwrap();
    }
    let mut watch = Watch::start(user("watcher", TIMEOUT), &address, Some(2), 0).unwrap();
    assert_eq!(texts(&collect(&mut watch, 3)), ["m3", "m4", "m5"]);
    assert_eq!(watch.last_seq(), Some(5));
}

#[test]
fn a_reader_too_slow_for_the_pushes_misses_nothing_and_slows_no_one() {
    let home = home();
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", NO_DIRECTORY, &data_dir(home.path())));
    let address = Address::parse(&group.address).unwrap();
    member(&address, "slow");
    // A raw subscriber that never reads: the group must not wait for it.
    let stalled = Peer::dealer(&group.address);
    stalled.send_frames(&[b"", br#"{"action": "subscribe", "user_uuid": "slow"}"#]);
    let mut watch = Watch::start(user("slow", TIMEOUT), &address, None, 0).unwrap();
    watch.next(Duration::from_millis(100)).unwrap();
    // Send far more than a connection's push queue holds, without reading.
    let sender = Peer::dealer(&group.address);
    assert_eq!(String::from_utf8(sender_join(&sender)).unwrap(), seed::SUCCESS);
    let total = 3000;
    for chunk in 0..total / 100 {
        for n in 0..100 {
            let text = format!("m{}", chunk * 100 + n);
            sender.send_frames(&[b"", seed::send("sender", &text).as_bytes()]);
        }
        for _ in 0..100 {
            assert_eq!(sender.reply(), seed::SUCCESS.as_bytes(), "every send acknowledged");
        }
    }
    let seen = collect(&mut watch, total);
    assert_eq!(texts(&seen), (0..total).map(|n| format!("m{n}")).collect::<Vec<_>>());
}

fn sender_join(peer: &Peer) -> Vec<u8> {
    peer.send_frames(&[b"", seed::join("sender").as_bytes()]);
    peer.reply()
}

#[test]
fn a_group_restart_is_noticed_at_once_without_waiting_for_the_renewal() {
    let home = home();
    let data = data_dir(home.path());
    let (mut group, address, mut sender) = group_with_sender_and_watcher(home.path());
    // The default renewal (10 s) is longer than what this test allows.
    let mut watch = Watch::start(user("watcher", TIMEOUT), &address, Some(0), 0).unwrap();
    sender.send(&address, "before").unwrap();
    assert_eq!(texts(&collect(&mut watch, 1)), ["before"]);
    group.kill();
    // Let the watch see the connection drop before the group is back.
    watch.next(Duration::from_millis(300)).unwrap();
    let _group = start_server(group_command(home.path(), "g", &address.to_string(), NO_DIRECTORY, &data));
    let started = Instant::now();
    eventually("the group is back", || sender.send(&address, "after").is_ok());
    assert_eq!(texts(&collect(&mut watch, 1)), ["after"]);
    let waited = started.elapsed();
    assert!(waited < huddle::client::live::RENEW_INTERVAL / 2, "resubscribed long before the renewal: {waited:?}");
}

#[test]
fn a_group_restart_is_noticed_and_the_gap_filled() {
    let home = home();
    let data = data_dir(home.path());
    let (mut group, address, mut sender) = group_with_sender_and_watcher(home.path());
    let mut watch = Watch::start(user("watcher", Duration::from_millis(500)), &address, Some(0), 0)
        .unwrap()
        .renew_every(Duration::from_millis(300));
    sender.send(&address, "before").unwrap();
    assert_eq!(texts(&collect(&mut watch, 1)), ["before"]);
    group.kill();
    let _group = start_server(group_command(home.path(), "g", &address.to_string(), NO_DIRECTORY, &data));
    eventually("the group is back", || sender.send(&address, "after 1").is_ok());
    sender.send(&address, "after 2").unwrap();
    assert_eq!(texts(&collect(&mut watch, 2)), ["after 1", "after 2"]);
}

#[test]
fn following_a_dead_group_costs_no_cpu() {
    let home = home();
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", NO_DIRECTORY, &data_dir(home.path())));
    member(&Address::parse(&group.address).unwrap(), "watcher");
    let mut watch = common::huddle(home.path())
        .args(["watch", &group.address, "--user-id", "watcher"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(group);
    let cpu = |pid: u32| huddle::bench::process::Watched { pid }.cpu_time().unwrap();
    // Past the first timeouts and reconnections, then ten quiet seconds.
    std::thread::sleep(Duration::from_secs(4));
    let before = cpu(watch.id());
    std::thread::sleep(Duration::from_secs(10));
    let used = cpu(watch.id()) - before;
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(used < Duration::from_millis(150), "a watch on a dead group used {used:?} of CPU in 10 s");
}
