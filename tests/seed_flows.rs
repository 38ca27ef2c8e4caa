//! The seed's client, byte for byte, against huddle's servers: every request
//! and reply of WIRE.md, over real sockets.

mod common;

use common::{Peer, data_dir, eventually, home, seed, start_directory, start_group};

#[test]
fn directory_answers_register_and_list_in_the_seeds_bytes() {
    let home = home();
    let directory = start_directory(home.path());
    let peer = Peer::req(&directory.address);

    assert_eq!(peer.ask_str(&seed::register("Cool Group", "10.0.0.5:5560")), "SUCCESS");
    assert_eq!(peer.ask_str(&seed::register("Other", "10.0.0.6:5560")), "SUCCESS");
    assert_eq!(peer.ask_str(&seed::group_list("u")), r#"["Cool Group - 10.0.0.5:5560", "Other - 10.0.0.6:5560"]"#);
    // Re-registering an address replaces its name.
    assert_eq!(peer.ask_str(&seed::register("Renamed", "10.0.0.5:5560")), "SUCCESS");
    assert_eq!(peer.ask_str(&seed::group_list("u")), r#"["Renamed - 10.0.0.5:5560", "Other - 10.0.0.6:5560"]"#);
}

#[test]
fn a_group_registers_itself_with_the_directory() {
    let home = home();
    let directory = start_directory(home.path());
    let group = start_group(home.path(), "lobby", &directory.address, &data_dir(home.path()));
    let peer = Peer::req(&directory.address);
    let expected = format!(r#"["lobby - {}"]"#, group.address);
    eventually("the group is listed", || peer.ask_str(&seed::group_list("u")) == expected);
}

#[test]
fn join_send_get_leave_as_the_seed_does() {
    let home = home();
    let directory = start_directory(home.path());
    let group = start_group(home.path(), "g", &directory.address, &data_dir(home.path()));
    let alice = Peer::req(&group.address);

    // Not a member yet: FAILED.
    let refused: serde_json::Value = serde_json::from_str(&alice.ask_str(&seed::send("alice", "early"))).unwrap();
    assert_eq!(refused["response"], "FAILED");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&alice.ask_str(&seed::get("alice", None))).unwrap()["response"],
        "FAILED"
    );

    assert_eq!(alice.ask_str(&seed::join("alice")), seed::SUCCESS);
    assert_eq!(alice.ask_str(&seed::join("alice")), seed::SUCCESS, "joining twice is harmless");
    assert_eq!(alice.ask_str(&seed::send("alice", "hello\nworld")), seed::SUCCESS);
    assert_eq!(alice.ask_str(&seed::send("alice", "café ☕")), seed::SUCCESS);

    let reply = alice.ask_str(&seed::get("alice", None));
    assert!(
        reply.starts_with(
            r#"{"response": "SUCCESS", "messages": [{"user_uuid": "alice", "message": "hello\nworld", "timestamp": ""#
        ),
        "{reply}"
    );
    assert!(reply.contains(r#""message": "caf\u00e9 \u2615""#), "non-ASCII escaped as Python does: {reply}");
    let parsed: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let messages = parsed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    for (index, message) in messages.iter().enumerate() {
        let timestamp = message["timestamp"].as_str().unwrap();
        assert_eq!(timestamp.len(), "YYYY-MM-DDTHH:MM:SS.ffffff".len(), "{timestamp}");
        assert_eq!(&timestamp[10..11], "T");
        assert_eq!(message["seq"], index as u64 + 1);
    }

    // From a timestamp on, inclusive: the second message's own time keeps it.
    let second_at = messages[1]["timestamp"].as_str().unwrap();
    let since: serde_json::Value = serde_json::from_str(&alice.ask_str(&seed::get("alice", Some(second_at)))).unwrap();
    let since = since["messages"].as_array().unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0]["message"], "café ☕");

    // Another member reads the same history; leaving ends membership.
    let bob = Peer::req(&group.address);
    assert_eq!(bob.ask_str(&seed::join("bob")), seed::SUCCESS);
    assert!(bob.ask_str(&seed::get("bob", None)).contains("hello\\nworld"));
    assert_eq!(bob.ask_str(&seed::leave("bob")), seed::SUCCESS);
    assert!(bob.ask_str(&seed::get("bob", None)).contains("FAILED"));
    assert_eq!(bob.ask_str(&seed::leave("bob")), seed::SUCCESS, "leaving a group one is not in is answered");
}

#[test]
fn every_accepted_timestamp_form_is_read() {
    let home = home();
    let directory = start_directory(home.path());
    let group = start_group(home.path(), "g", &directory.address, &data_dir(home.path()));
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    assert_eq!(peer.ask_str(&seed::send("u", "m")), seed::SUCCESS);
    for form in ["2000-01-01T00:00:00", "2000-01-01T00:00:00.5", "2000-01-01 00:00:00", "00:00:00"] {
        let reply = peer.ask_str(&seed::get("u", Some(form)));
        assert!(reply.contains(r#""message": "m""#), "{form}: {reply}");
    }
    let reply = peer.ask_str(&seed::get("u", Some("2999-01-01T00:00:00")));
    assert_eq!(reply, r#"{"response": "SUCCESS", "messages": []}"#);
    let reply = peer.ask_str(&seed::get("u", Some("last tuesday")));
    assert!(reply.contains("FAILED") && reply.contains("HH:MM:SS"), "{reply}");
}
