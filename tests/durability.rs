//! An acknowledged message survives kill -9: the group comes back with its
//! history and its members.

mod common;

use common::{Peer, data_dir, group_command, home, seed, start_directory, start_group, start_server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn history(peer: &Peer, user: &str) -> Vec<String> {
    let reply: serde_json::Value = serde_json::from_slice(&peer.ask(seed::get(user, None).as_bytes())).unwrap();
    assert_eq!(reply["response"], "SUCCESS", "{reply}");
    reply["messages"].as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn kill_9_keeps_every_acknowledged_message_and_member() {
    let home = home();
    let data = data_dir(home.path());
    let directory = start_directory(home.path());
    let mut group = start_group(home.path(), "g", &directory.address, &data);
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("alice")), seed::SUCCESS);
    assert_eq!(peer.ask_str(&seed::join("bob")), seed::SUCCESS);
    for n in 0..50 {
        assert_eq!(peer.ask_str(&seed::send("alice", &format!("m{n}"))), seed::SUCCESS);
    }
    group.kill();

    let group = start_group(home.path(), "g", &directory.address, &data);
    let peer = Peer::req(&group.address);
    let expected: Vec<String> = (0..50).map(|n| format!("m{n}")).collect();
    assert_eq!(history(&peer, "alice"), expected);
    assert_eq!(history(&peer, "bob"), expected, "bob is still a member without joining again");
    // Sequence numbers go on after the restart, without a gap.
    assert_eq!(peer.ask_str(&seed::send("bob", "after")), seed::SUCCESS);
    let reply: serde_json::Value = serde_json::from_slice(&peer.ask(seed::get("bob", None).as_bytes())).unwrap();
    assert_eq!(reply["messages"][50]["seq"], 51);
}

#[test]
fn kill_9_under_concurrent_senders_loses_no_acknowledged_message() {
    let home = home();
    let data = data_dir(home.path());
    let directory = start_directory(home.path());
    let mut group = start_group(home.path(), "g", &directory.address, &data);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let enough = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            let (address, acknowledged, enough) = (group.address.clone(), acknowledged.clone(), enough.clone());
            std::thread::spawn(move || {
                let peer = Peer::req(&address);
                assert_eq!(peer.ask_str(&seed::join(&format!("s{sender}"))), seed::SUCCESS);
                for n in 0.. {
                    let text = format!("s{sender}-{n}");
                    peer.socket_send(seed::send(&format!("s{sender}"), &text).as_bytes());
                    match peer.try_reply(std::time::Duration::from_secs(2)) {
                        Some(reply) if reply == seed::SUCCESS.as_bytes() => acknowledged.lock().unwrap().push(text),
                        _ => return, // the server died with this request in flight
                    }
                    if n == 30 {
                        enough.store(true, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    common::eventually("senders are under way", || enough.load(Ordering::SeqCst));
    group.kill();
    for sender in senders {
        sender.join().unwrap();
    }

    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &directory.address, &data));
    let peer = Peer::req(&group.address);
    let stored = history(&peer, "s0");
    let acknowledged = acknowledged.lock().unwrap();
    assert!(acknowledged.len() >= 31);
    for text in acknowledged.iter() {
        assert_eq!(stored.iter().filter(|s| *s == text).count(), 1, "{text} stored exactly once");
    }
    for sender in 0..8 {
        let prefix = format!("s{sender}-");
        let numbers: Vec<u32> =
            stored.iter().filter_map(|s| s.strip_prefix(&prefix)).map(|n| n.parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "sender {sender} in order: {numbers:?}");
    }
}

#[test]
fn a_group_finds_its_data_in_the_folder_an_older_huddle_gave_it() {
    let home = home();
    let legacy = home.path().join("data/huddle/groups/Cool_Group");
    {
        let group = start_server(group_command(home.path(), "Cool Group", "127.0.0.1:0", "127.0.0.1:1", &legacy));
        let peer = Peer::req(&group.address);
        assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
        assert_eq!(peer.ask_str(&seed::send("u", "kept across the upgrade")), seed::SUCCESS);
    }
    let mut command = common::huddle(home.path());
    command.args(["group", "Cool Group", "127.0.0.1:0", "--directory", "127.0.0.1:1"]);
    let group = start_server(command);
    let peer = Peer::req(&group.address);
    assert!(peer.ask_str(&seed::get("u", None)).contains("kept across the upgrade"));
    assert!(home.path().join("data/huddle/groups/Cool%20Group/group.sqlite3").exists(), "moved to its own folder");
    assert!(!legacy.exists());
}
