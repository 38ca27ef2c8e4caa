//! The scriptable subcommands, run as a script runs them: `--json` output,
//! names resolved through the directory, exit codes a script can trust.

mod common;

use common::{
    Peer, data_dir, eventually, group_command, home, huddle, run_huddle, seed, start_directory, start_server,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};

fn run(home: &Path, args: &[&str], stdin: &str) -> Output {
    run_huddle(home, args, stdin)
}

/// A directory and a group `name` it lists.
fn listed_group(home: &Path, name: &str) -> (common::Server, common::Server) {
    let directory = start_directory(home);
    let group = start_server(group_command(home, name, "127.0.0.1:0", &directory.address, &data_dir(home)));
    let peer = Peer::req(&directory.address);
    eventually("listed", || peer.ask_str(&seed::group_list("u")).contains(name));
    (directory, group)
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_script_joins_sends_and_reads_by_group_name() {
    let home = home();
    let directory = start_directory(home.path());
    let group =
        start_server(group_command(home.path(), "ops", "127.0.0.1:0", &directory.address, &data_dir(home.path())));
    let d = directory.address.as_str();
    let peer = Peer::req(d);
    eventually("listed", || peer.ask_str(&seed::group_list("u")).contains("ops"));

    let groups = json_lines(&run(home.path(), &["groups", "--directory", d, "--json"], ""));
    assert_eq!(groups, [serde_json::json!({"name": "ops", "address": group.address})]);
    let joined = json_lines(&run(home.path(), &["join", "ops", "--directory", d, "--json"], ""));
    assert_eq!(joined[0]["joined"], true);
    let sent = json_lines(&run(home.path(), &["send", "ops", "disk full on db1", "--directory", d, "--json"], ""));
    assert_eq!(sent[0]["seq"], 1);
    let piped = json_lines(&run(home.path(), &["send", "ops", "--directory", d, "--json"], "line one\nline two\n"));
    assert_eq!(piped[0]["seq"], 2);

    let history = json_lines(&run(home.path(), &["history", "ops", "--directory", d, "--json", "--since", "1h"], ""));
    let texts: Vec<&str> = history.iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["disk full on db1", "line one\nline two"]);
    let latest = json_lines(&run(home.path(), &["history", "ops", "--directory", d, "--json", "--limit", "1"], ""));
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0]["seq"], 2);
    let future = json_lines(&run(
        home.path(),
        &["history", "ops", "--directory", d, "--json", "--since", "2999-01-01T00:00:00Z"],
        "",
    ));
    assert!(future.is_empty());
}

#[test]
fn failures_exit_non_zero_with_a_reason() {
    let home = home();
    let directory = start_directory(home.path());
    let d = directory.address.as_str();
    let unknown = run(home.path(), &["join", "nosuch", "--directory", d], "");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("huddle groups"));

    // Two groups with one name: the name is ambiguous.
    let peer = Peer::req(d);
    assert_eq!(peer.ask_str(&seed::register("twin", "127.0.0.1:1")), "SUCCESS");
    assert_eq!(peer.ask_str(&seed::register("twin", "127.0.0.1:2")), "SUCCESS");
    let ambiguous = run(home.path(), &["send", "twin", "hi", "--directory", d], "");
    assert_eq!(ambiguous.status.code(), Some(1));
    let error = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(error.contains("127.0.0.1:1, 127.0.0.1:2") && error.contains("IP:PORT"), "{error}");

    let usage = run(home.path(), &["history"], "");
    assert_eq!(usage.status.code(), Some(2));
    let bad_since = run(home.path(), &["history", "127.0.0.1:1", "--since", "later"], "");
    assert_eq!(bad_since.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_since.stderr).contains("10m"));
}

#[test]
fn watch_prints_the_backlog_then_each_new_message_as_json_lines() {
    let home = home();
    let directory = start_directory(home.path());
    let group =
        start_server(group_command(home.path(), "g", "127.0.0.1:0", &directory.address, &data_dir(home.path())));
    let g = group.address.as_str();
    json_lines(&run(home.path(), &["join", g, "--json"], ""));
    for text in ["one", "two", "three"] {
        json_lines(&run(home.path(), &["send", g, text, "--json"], ""));
    }
    let mut watch =
        huddle(home.path()).args(["watch", g, "--backlog", "2", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = || serde_json::from_str::<serde_json::Value>(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(next()["message"], "two");
    assert_eq!(next()["message"], "three");
    json_lines(&run(home.path(), &["send", g, "four", "--json"], ""));
    let live = next();
    assert_eq!((live["message"].as_str(), live["seq"].as_u64()), (Some("four"), Some(4)));
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn huddle_directory_in_the_environment_names_the_directory_for_every_command() {
    let home = home();
    let (directory, _group) = listed_group(home.path(), "ops");
    let d = directory.address.as_str();
    let with_env = |args: &[&str]| {
        let output = huddle(home.path()).args(args).env("HUDDLE_DIRECTORY", d).stdin(Stdio::null()).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(with_env(&["groups"]).starts_with("ops - "));
    assert!(with_env(&["join", "ops"]).contains("joined"));
    // `huddle user` takes it too, and the same --directory flag as the rest.
    assert!(with_env(&["user"]).is_empty(), "a script of nothing prints nothing");
    let flagged = run(home.path(), &["user", "--directory", d], "get_group_list\n");
    assert!(String::from_utf8_lossy(&flagged.stdout).contains("ops"), "{flagged:?}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let home = home();
    let (directory, _group) = listed_group(home.path(), "ops");
    let d = directory.address.as_str();
    assert!(run(home.path(), &["join", "ops", "--directory", d], "").status.success());
    assert!(run(home.path(), &["send", "ops", "one", "--directory", d], "").status.success());
    // As `huddle history ops --json | head -0`: the pipe is closed before
    // huddle writes to it.
    let mut child = huddle(home.path())
        .args(["history", "ops", "--json", "--directory", d])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "exit {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn times_are_read_and_shown_in_the_users_zone_whatever_the_servers() {
    let home = home();
    let directory = start_directory(home.path());
    let mut server = group_command(home.path(), "ops", "127.0.0.1:0", &directory.address, &data_dir(home.path()));
    server.env("TZ", "UTC0");
    let _group = start_server(server);
    let d = directory.address.as_str();
    eventually("listed", || Peer::req(d).ask_str(&seed::group_list("u")).contains("ops"));
    // The user is nine hours east of the server.
    let in_tokyo = |args: &[&str]| {
        let output = huddle(home.path()).args(args).args(["--directory", d]).env("TZ", "JST-9").output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    in_tokyo(&["join", "ops"]);
    in_tokyo(&["send", "ops", "konnichiwa"]);
    let history = in_tokyo(&["history", "ops", "--json"]);
    let message: serde_json::Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    let time = message["time"].as_str().unwrap();
    assert!(time.ends_with("+09:00"), "shown in the user's zone, with its offset: {time}");
    // A minute ago on the user's clock: found (in the server's zone it
    // would be nine hours from now).
    let tokyo = chrono::Utc::now() + chrono::Duration::hours(9) - chrono::Duration::minutes(1);
    let since = tokyo.format("%H:%M").to_string();
    let found = in_tokyo(&["history", "ops", "--since", &since]);
    assert!(found.contains("konnichiwa"), "--since {since} found nothing");
}
