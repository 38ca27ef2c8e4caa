//! Every kind of malformed request gets `FAILED` with a reason, and the
//! server goes on serving: a bad peer cannot wedge the socket or crash it.

mod common;

use common::{Peer, data_dir, home, seed, start_directory, start_group};

/// Malformed bodies, and a word each reply's error must hold.
const MALFORMED: &[(&[u8], &str)] = &[
    (b"", "empty"),
    (b"\xc3\x28 not utf-8", "UTF-8"),
    (b"{not json", "not JSON"),
    (b"[\"an\", \"array\"]", "not an object"),
    (b"42", "not an object"),
    (b"{\"user_uuid\": \"u\"}", "no \"action\""),
    (b"{\"action\": null}", "must be a string"),
    (b"{\"action\": \"explode\"}", "unknown action"),
];

fn assert_failed_with(reply: &[u8], word: &str) {
    let reply: serde_json::Value = serde_json::from_slice(reply).expect("a FAILED reply is JSON");
    assert_eq!(reply["response"], "FAILED", "{reply}");
    let error = reply["error"].as_str().expect("an error in words");
    assert!(error.contains(word), "error {error:?} should mention {word:?}");
}

#[test]
fn the_directory_answers_every_malformed_request_and_serves_on() {
    let home = home();
    let directory = start_directory(home.path());
    let peer = Peer::req(&directory.address);
    for (body, word) in MALFORMED {
        assert_failed_with(&peer.ask(body), word);
    }
    assert_failed_with(&peer.ask(br#"{"action": "register", "group_name": "g"}"#), "missing field `ip_port`");
    assert_failed_with(&peer.ask(br#"{"action": "register", "group_name": 5, "ip_port": "h:1"}"#), "invalid type");
    assert_failed_with(&peer.ask(br#"{"action": "register", "group_name": "g", "ip_port": "nohost"}"#), "IP:PORT");

    // Several frames where one was expected, from a DEALER.
    let dealer = Peer::dealer(&directory.address);
    dealer.send_frames(&[b"", seed::group_list("u").as_bytes(), b"extra"]);
    assert_failed_with(&dealer.reply(), "one frame");

    assert_eq!(peer.ask_str(&seed::register("g", "127.0.0.1:1")), "SUCCESS");
    assert_eq!(peer.ask_str(&seed::group_list("u")), r#"["g - 127.0.0.1:1"]"#);
}

#[test]
fn the_group_answers_every_malformed_request_and_serves_on() {
    let home = home();
    let directory = start_directory(home.path());
    let group = start_group(home.path(), "g", &directory.address, &data_dir(home.path()));
    let peer = Peer::req(&group.address);
    for (body, word) in MALFORMED {
        assert_failed_with(&peer.ask(body), word);
    }
    assert_failed_with(&peer.ask(br#"{"action": "joinGroup"}"#), "missing field `user_uuid`");
    assert_failed_with(&peer.ask(br#"{"action": "joinGroup", "user_uuid": ""}"#), "empty");
    assert_failed_with(&peer.ask(br#"{"action": "sendMessage", "user_uuid": "u"}"#), "missing field `message`");
    assert_failed_with(&peer.ask(br#"{"action": "sendMessage", "user_uuid": "u", "message": 7}"#), "invalid type");
    assert_failed_with(&peer.ask(br#"{"action": "getMessage", "user_uuid": "u", "timestamp": 1}"#), "invalid type");

    let dealer = Peer::dealer(&group.address);
    dealer.send_frames(&[b"", seed::join("u").as_bytes(), b"extra"]);
    assert_failed_with(&dealer.reply(), "one frame");

    // A 2 MB message is answered, refused with the sizes; nothing is stored.
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_failed_with(&peer.ask(seed::send("u", &huge).as_bytes()), "2097152 bytes");
    assert_eq!(peer.ask_str(&seed::get("u", None)), r#"{"response": "SUCCESS", "messages": []}"#);

    assert_eq!(peer.ask_str(&seed::send("u", "still here")), seed::SUCCESS);
    assert!(peer.ask_str(&seed::get("u", None)).contains("still here"));
}

#[test]
fn a_dealer_without_delimiter_is_answered_in_its_own_envelope() {
    let home = home();
    let directory = start_directory(home.path());
    let group = start_group(home.path(), "g", &directory.address, &data_dir(home.path()));
    let dealer = Peer::dealer(&group.address);
    dealer.send_frames(&[seed::join("d").as_bytes()]);
    assert_eq!(dealer.reply_frames(), vec![seed::SUCCESS.as_bytes().to_vec()]);
}
