//! The reliability promises, each shown with real processes: no hang on a
//! dead server, no duplicate on a retry, no dead group listed, a clean stop,
//! honest refusals when the store is in trouble.

mod common;

use common::{
    DEADLINE, Peer, data_dir, eventually, group_command, home, huddle, run_huddle, seed, start_directory, start_server,
};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// Runs `huddle user ARGS` with `script` on stdin.
fn run_user(home: &Path, args: &[&str], script: &str) -> Output {
    let args: Vec<&str> = std::iter::once("user").chain(args.iter().copied()).collect();
    run_huddle(home, &args, script)
}

/// An address where nothing listens: a port the OS gave and took back.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn a_dead_group_gives_a_clear_error_and_the_script_goes_on() {
    let home = home();
    let directory = start_directory(home.path());
    assert_eq!(Peer::req(&directory.address).ask_str(&seed::register("g", "127.0.0.1:1")), "SUCCESS");
    let dead = dead_address();
    let output =
        run_user(home.path(), &[&directory.address, "--timeout", "1"], &format!("join_group {dead}\nget_group_list\n"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("no answer from group {dead} after 3 tries in 1.0 s: is it running?")),
        "{stderr}"
    );
    assert!(!output.status.success(), "a script with a failed command exits non-zero");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "g - 127.0.0.1:1\n", "the next command ran");
}

#[test]
fn a_dead_directory_gives_a_clear_error_and_groups_serve_without_it() {
    let home = home();
    let dead = dead_address();
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &dead, &data_dir(home.path())));
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    let output = run_user(home.path(), &[&dead, "--timeout", "1"], "get_group_list\n");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("no answer from directory {dead}")), "{stderr}");
}

#[test]
fn a_retry_with_the_same_msg_id_is_stored_once_even_across_a_restart() {
    let home = home();
    let data = data_dir(home.path());
    let dead = dead_address();
    let mut group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &dead, &data));
    let send = r#"{"action": "sendMessage", "user_uuid": "u", "message": "once", "msg_id": "id-1"}"#;
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    // The first reply is "lost": the client sends again.
    assert_eq!(peer.ask_str(send), r#"{"response": "SUCCESS", "seq": 1}"#);
    assert_eq!(peer.ask_str(send), r#"{"response": "SUCCESS", "seq": 1}"#);
    group.kill();
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &dead, &data));
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(send), r#"{"response": "SUCCESS", "seq": 1}"#);
    let history: serde_json::Value = serde_json::from_str(&peer.ask_str(&seed::get("u", None))).unwrap();
    assert_eq!(history["messages"].as_array().unwrap().len(), 1);
}

fn listed(peer: &Peer) -> Vec<String> {
    serde_json::from_str(&peer.ask_str(&seed::group_list("u"))).unwrap()
}

#[test]
fn a_heartbeating_group_is_unlisted_when_dead_and_listed_again_when_back() {
    let home = home();
    let directory = start_directory(home.path());
    let data = data_dir(home.path());
    let mut group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &directory.address, &data));
    let address = group.address.clone();
    let peer = Peer::req(&directory.address);
    let entry = vec![format!("g - {address}")];
    eventually("listed", || listed(&peer) == entry);
    group.kill();
    eventually("unlisted within 10 s", || listed(&peer).is_empty());
    let _group = start_server(group_command(home.path(), "g", &address, &directory.address, &data));
    eventually("listed again", || listed(&peer) == entry);
}

#[test]
fn a_group_that_registered_once_is_probed_and_remembered_across_directory_restarts() {
    let home = home();
    let directory_data = home.path().join("directory");
    let start = |home: &Path| {
        let mut command = huddle(home);
        command.args(["directory", "--bind", "127.0.0.1:0", "--data"]).arg(&directory_data);
        start_server(command)
    };
    let mut directory = start(home.path());
    // A group that will not heartbeat to this directory, registered once in
    // the seed's bytes, as the seed's group.py does.
    let dead = dead_address();
    let group_data = data_dir(home.path());
    let mut group = start_server(group_command(home.path(), "seedlike", "127.0.0.1:0", &dead, &group_data));
    let address = group.address.clone();
    let peer = Peer::req(&directory.address);
    assert_eq!(peer.ask_str(&seed::register("seedlike", &address)), "SUCCESS");
    let entry = vec![format!("seedlike - {address}")];
    assert_eq!(listed(&peer), entry);

    group.kill();
    eventually("unlisted within 10 s of dying", || listed(&peer).is_empty());
    let _group = start_server(group_command(home.path(), "seedlike", &address, &dead, &group_data));
    eventually("listed within 10 s of answering again", || listed(&peer) == entry);

    // A restarted directory remembers it without a new registration.
    directory.kill();
    let directory = start(home.path());
    let peer = Peer::req(&directory.address);
    eventually("remembered and probed after a restart", || listed(&peer) == entry);
}

#[test]
fn a_registration_the_directory_could_not_save_is_refused_until_it_is_saved() {
    let home = home();
    let data = home.path().join("directory");
    let mut command = huddle(home.path());
    command.args(["directory", "--bind", "127.0.0.1:0", "--data"]).arg(&data);
    let directory = start_server(command);
    let peer = Peer::req(&directory.address);
    let saved_names = |database: &rusqlite::Connection| -> Vec<String> {
        let mut statement = database.prepare("SELECT name FROM registrations").unwrap();
        statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
    };

    // Another process holds the database's write lock: the save fails.
    let database = rusqlite::Connection::open(data.join("directory.sqlite3")).unwrap();
    database.execute_batch("BEGIN IMMEDIATE").unwrap();
    let refused = peer.ask_str(&seed::register("g", "127.0.0.1:7000"));
    assert!(refused.contains("FAILED"), "not saved, so not acknowledged: {refused}");
    assert!(listed(&peer).is_empty(), "not saved, so not listed");

    // Once it can be saved, the same registration is saved and acknowledged.
    database.execute_batch("COMMIT").unwrap();
    assert_eq!(peer.ask_str(&seed::register("g", "127.0.0.1:7000")), "SUCCESS");
    assert_eq!(saved_names(&database), ["g"], "acknowledged means on disk");
}

#[test]
fn sigterm_stops_a_group_cleanly_with_its_data_intact() {
    let home = home();
    let data = data_dir(home.path());
    let dead = dead_address();
    let mut group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &dead, &data));
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    assert_eq!(peer.ask_str(&seed::send("u", "kept")), seed::SUCCESS);
    assert!(group.terminate().unwrap().success(), "exit status 0 after SIGTERM");
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", &dead, &data));
    assert!(Peer::req(&group.address).ask_str(&seed::get("u", None)).contains("kept"));
}

#[test]
fn sigterm_to_huddle_up_ends_the_session_with_status_0() {
    let home = home();
    let mut child = huddle(home.path())
        .args(["up", "--directory-port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // With a script on stdin, the banner is on stderr.
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stderr.as_mut().unwrap()), &mut banner).unwrap();
    assert!(banner.starts_with("huddle is up"), "{banner}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < DEADLINE, "huddle up did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    // The servers it started serve on in the background until `huddle down`.
    let down = common::run_huddle(home.path(), &["down"], "");
    assert!(String::from_utf8_lossy(&down.stdout).starts_with("huddle stopped"), "{down:?}");
}

/// Starts a group expecting it to refuse; returns what it said.
fn refused_start(home: &Path, data: &Path) -> String {
    let output = group_command(home, "g", "127.0.0.1:0", &dead_address(), data).output().unwrap();
    assert!(!output.status.success());
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_group_refuses_to_start_on_a_locked_or_damaged_store_and_says_what_to_do() {
    let home = home();
    let data = data_dir(home.path());
    let _running = start_server(group_command(home.path(), "g", "127.0.0.1:0", &dead_address(), &data));
    let error = refused_start(home.path(), &data);
    assert!(error.contains("in use by another process") && error.contains("--data"), "{error}");

    let damaged = home.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(damaged.join("group.sqlite3"), vec![0x5a; 8192]).unwrap();
    let error = refused_start(home.path(), &damaged);
    assert!(error.contains("damaged") && error.contains("move it aside"), "{error}");
}

#[test]
fn a_full_store_answers_failed_and_acknowledges_nothing_it_did_not_store() {
    let home = home();
    let data = data_dir(home.path());
    let mut command = group_command(home.path(), "g", "127.0.0.1:0", &dead_address(), &data);
    command.args(["--max-data-bytes", "65536"]);
    let group = start_server(command);
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    let (acknowledged, refusal) = common::send_until_refused(&peer, 8000, 100);
    assert!(refusal.contains("FAILED") && refusal.contains("storage is full"), "{refusal}");
    assert_eq!(common::history_len(&peer), acknowledged);
}

#[test]
fn limits_on_members_and_user_ids_are_answered_with_the_flag_to_change() {
    let home = home();
    let mut command = group_command(home.path(), "g", "127.0.0.1:0", &dead_address(), &data_dir(home.path()));
    command.args(["--max-members", "2", "--max-user-id-bytes", "8"]);
    let group = start_server(command);
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("a")), seed::SUCCESS);
    assert_eq!(peer.ask_str(&seed::join("b")), seed::SUCCESS);
    assert!(peer.ask_str(&seed::join("c")).contains("--max-members"));
    assert_eq!(peer.ask_str(&seed::join("a")), seed::SUCCESS, "a member joining again is not refused");
    assert!(peer.ask_str(&seed::join("123456789")).contains("--max-user-id-bytes"));
}
