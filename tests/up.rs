//! `huddle up`, driven through its stdin as a script would drive it.

mod common;

use common::{Peer, huddle, seed};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

#[test]
fn up_starts_everything_joins_the_lobby_and_stops_at_exit() {
    let home = tempfile::tempdir().unwrap();
    let mut child = huddle(home.path())
        .args(["up", "--directory", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("huddle is up: directory 127.0.0.1:"), "{banner}");
    let lobby = banner.split("group lobby ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let directory = banner.split("directory ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let mut join_line = String::new();
    stdout.read_line(&mut join_line).unwrap();
    assert_eq!(join_line.trim(), format!("Others on this machine join with: huddle user {directory}"));

    // The lobby registers in the background; the directory lists it soon.
    let peer = Peer::req(&directory);
    let listed = format!(r#"["lobby - {lobby}"]"#);
    common::eventually("the lobby is listed", || peer.ask_str(&seed::group_list("u")) == listed);

    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "send_message {lobby}\nhello lobby\nEND\nget_messages {lobby}\nexit").unwrap();
    let mut lines = Vec::new();
    for line in stdout.lines() {
        lines.push(line.unwrap());
    }
    assert!(child.wait().unwrap().success());
    let user = std::fs::read_to_string(home.path().join("config/huddle/user-id")).unwrap();
    assert_eq!(lines[0], format!("sent to {lobby}"));
    assert!(lines[1].starts_with(&format!("{} : hello lobby (", user.trim())), "{lines:?}");

    // Its data stays in the XDG data directory for the next `huddle up`.
    assert!(home.path().join("data/huddle/groups/lobby/group.sqlite3").exists());
    // And everything it started has stopped.
    let gone = Peer::req(&lobby);
    gone.socket_send(seed::join("u").as_bytes());
    assert!(gone.try_reply(std::time::Duration::from_millis(500)).is_none(), "the lobby stopped");
}
