//! `huddle up`, driven through its stdin as a script would drive it.

mod common;

use common::{Peer, huddle, seed};

/// Stops the background service `huddle up` leaves, whatever the test did.
struct StopsTheService<'a>(&'a std::path::Path);

impl Drop for StopsTheService<'_> {
    fn drop(&mut self) {
        let _ = common::run_huddle(self.0, &["down"], "");
    }
}
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

#[test]
fn up_starts_everything_joins_the_lobby_and_leaves_it_serving_until_down() {
    let home = tempfile::tempdir().unwrap();
    let _stops = StopsTheService(home.path());
    let mut child = huddle(home.path())
        .args(["up", "--directory", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // With a script on stdin the banner goes to stderr: stdout holds only
    // what the script's commands print.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("huddle is up: directory 127.0.0.1:"), "{banner}");
    assert!(banner.contains("data in "), "says where the data is: {banner}");
    let lobby = banner.split("group lobby ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let directory = banner.split("directory ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let mut join_line = String::new();
    stderr.read_line(&mut join_line).unwrap();
    assert_eq!(join_line.trim(), format!("Others on this machine join with: huddle user --directory {directory}"));
    let mut stdout = BufReader::new(child.stdout.take().unwrap());

    // The lobby registers in the background; the directory lists it soon.
    let peer = Peer::req(&directory);
    let listed = format!(r#"["lobby - {lobby}"]"#);
    common::eventually("the lobby is listed", || peer.ask_str(&seed::group_list("u")) == listed);

    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "send_message {lobby}\nhello lobby\nEND\nget_messages {lobby}\nexit").unwrap();
    let mut lines = Vec::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        lines.push(std::mem::take(&mut line).trim_end().to_owned());
    }
    assert!(child.wait().unwrap().success());
    let user = std::fs::read_to_string(home.path().join("config/huddle/user-id")).unwrap();
    assert_eq!(lines[0], format!("sent to {lobby}"));
    assert!(lines[1].starts_with(&format!("{} : hello lobby (", user.trim())), "{lines:?}");

    // Its data stays in the XDG data directory for the next `huddle up`.
    assert!(home.path().join("data/huddle/host.sqlite3").exists());
    assert!(home.path().join("data/huddle/groups/lobby/port").exists());
    // Leaving the chat leaves the lobby serving everyone else, and a
    // second `huddle up` of the same user uses it.
    assert_eq!(Peer::req(&lobby).ask_str(&seed::join("someone else")), seed::SUCCESS);
    let status = common::run_huddle(home.path(), &["status"], "");
    assert!(String::from_utf8_lossy(&status.stdout).contains(&format!("lobby {lobby}")), "{status:?}");
    let again = common::run_huddle(home.path(), &["up", "--directory", "127.0.0.1:0"], "get_group_list\n");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"), "{again:?}");
    // `huddle down` stops it, and says who was still connected.
    let mut watch = huddle(home.path())
        .args(["watch", "lobby", "--directory", &directory])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = String::from_utf8_lossy(&common::run_huddle(home.path(), &["status"], "").stdout).into_owned();
    let host = status.split("host ").nth(1).unwrap().split(',').next().unwrap().to_owned();
    let host = huddle::protocol::Address::parse(&host).unwrap();
    let requester = huddle::transport::Requester::new(zmq::Context::new(), std::time::Duration::from_secs(2));
    let mut asker = huddle::client::Client::new(requester, "test".into());
    common::eventually("the watch is connected", || asker.host_status(&host).is_ok_and(|watched| !watched.is_empty()));
    let down = common::run_huddle(home.path(), &["down"], "");
    let said = String::from_utf8_lossy(&down.stdout);
    assert!(said.starts_with("huddle stopped"), "{down:?}");
    assert!(said.contains(&format!("1 person was still connected: lobby: {}", user.trim())), "{said}");
    let _ = watch.kill();
    let _ = watch.wait();
    let gone = Peer::req(&lobby);
    gone.socket_send(seed::join("u").as_bytes());
    assert!(gone.try_reply(std::time::Duration::from_millis(500)).is_none(), "the lobby stopped");
    assert!(!common::run_huddle(home.path(), &["status"], "").status.success(), "not running");
}

/// This machine's address on its network (the one a default route leaves
/// from), found without sending anything.
fn network_address() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect("192.0.2.1:9").expect("a network to test listening on");
    socket.local_addr().unwrap().ip().to_string()
}

#[test]
fn up_listening_for_other_machines_speaks_curve_and_says_what_others_run() {
    let home = common::home();
    let _stops = StopsTheService(home.path());
    let ip = network_address();
    let output =
        common::run_huddle(home.path(), &["up", "--listen", &ip, "--directory", "127.0.0.1:0"], "get_group_list\n");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    let line = stderr.lines().find(|line| line.starts_with("Others join with: huddle user --directory ")).unwrap();
    let address = line.rsplit(' ').next().unwrap();
    let (key, host_port) = address.split_at(40);
    assert!(huddle::keys::PublicKey::parse(key).is_ok(), "{address}");
    assert!(host_port.starts_with(&format!("@{ip}:")), "{address}");
    assert!(stdout.contains("lobby - "), "the script's output holds only its results: {stdout}");
    assert!(!stdout.contains("huddle is up"), "{stdout}");
}

#[test]
fn up_serves_a_host_so_a_newcomer_can_create_a_group_at_once() {
    let home = common::home();
    let _stops = StopsTheService(home.path());
    let script = "/create ops\nhello ops\nget_group_list\n/history\n";
    let output = common::run_huddle(home.path(), &["up", "--directory", "127.0.0.1:0"], script);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    let created = stdout.lines().find(|line| line.starts_with("created ops (")).unwrap_or_else(|| panic!("{stdout}"));
    let address = created.split(['(', ')']).nth(1).unwrap();
    assert!(stdout.contains(&format!("ops - {address}")), "listed: {stdout}");
    assert!(stdout.contains(" : hello ops ("), "plain text went to the new group: {stdout}");
    // Its data is with the lobby's, for the next `huddle up`.
    assert!(home.path().join("data/huddle/groups/ops/port").exists());
}

#[test]
fn up_serves_the_history_of_a_lobby_an_older_huddle_kept_in_its_own_file() {
    let home = common::home();
    let _stops = StopsTheService(home.path());
    let lobby = home.path().join("data/huddle/groups/lobby");
    {
        use huddle::store::GroupStore;
        let mut store = huddle::store::SqliteStore::open(&lobby).unwrap();
        store.begin().unwrap();
        store.add_member("old friend", 1).unwrap();
        store.append("old friend", "said before the upgrade", None, 1_000_000).unwrap();
        store.commit().unwrap();
    }
    let port = huddle::bench::host::free_ports(1).unwrap();
    std::fs::write(lobby.join("port"), format!("{port}\n")).unwrap();
    let output = common::run_huddle(home.path(), &["up", "--directory", "127.0.0.1:0"], "/history\n");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("group lobby 127.0.0.1:{port}")), "the lobby kept its port: {stderr}");
    assert!(stdout.contains("old friend : said before the upgrade"), "{stdout}");
    assert!(lobby.join("group.sqlite3.imported").exists(), "the old file is set aside, not deleted");
}
