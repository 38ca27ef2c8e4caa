//! huddle's client against stand-ins for the seed's Python servers
//! (tests/python, written from WIRE.md, on pyzmq): everything huddle's client
//! sends must be something the seed's servers understand.

mod common;

use common::{Server, huddle, run_huddle, start_server};
use std::path::Path;
use std::process::Command;

fn python(script: &str, args: &[&str]) -> Server {
    common::require("python3 with pyzmq", || {
        Command::new("python3").args(["-c", "import zmq"]).output().is_ok_and(|o| o.status.success())
    });
    let mut command = Command::new("python3");
    command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script)).args(args);
    start_server(command)
}

/// Runs `huddle user` against `directory` with `script` on stdin.
fn run_user(home: &Path, directory: &str, script: &str) -> (String, String, bool) {
    let output = run_huddle(home, &["user", directory, "--timeout", "5"], script);
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.success())
}

#[test]
fn huddles_client_drives_the_seeds_servers() {
    let home = tempfile::tempdir().unwrap();
    let directory = python("seed_message_server.py", &[]);
    let group = python("seed_group.py", &["Cool Group", "127.0.0.1:0", &directory.address]);
    let g = &group.address;
    let script = format!(
        "get_group_list\njoin_group {g}\nsend_message {g}\nhello\nsecond line\nEND\nsend_message {g}\nbye\nEND\n\
         get_messages {g}\nget_messages {g} 2000-01-01 00:00:00\nget_messages {g} 23:59:59\nleave_group {g}\nexit\n"
    );
    let (out, err, ok) = run_user(home.path(), &directory.address, &script);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(err, "");
    let user = std::fs::read_to_string(home.path().join("config/huddle/user-id")).unwrap();
    let user = user.trim();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Cool Group - {g}"));
    assert_eq!(lines[1], format!("joined {g}"));
    assert_eq!(lines[2..4], [format!("sent to {g}"), format!("sent to {g}")]);
    // All messages, then all again from 2000 (space form sent as the seed's
    // T form), then none from today 23:59:59 (HH:MM:SS sent with today's date).
    let shown = &lines[4..];
    assert_eq!(shown.len(), 2 * 3 + 1, "{out}");
    assert!(shown[0].starts_with(&format!("{user} : hello")));
    assert_eq!(shown[1].split(" (").next().unwrap(), "second line");
    assert!(shown[2].starts_with(&format!("{user} : bye (")));
    assert_eq!(shown[3..6], shown[0..3]);
    assert_eq!(shown[6], format!("left {g}"));
}

#[test]
fn the_seeds_failed_reply_becomes_a_clear_error_and_a_failing_exit() {
    let home = tempfile::tempdir().unwrap();
    let directory = python("seed_message_server.py", &[]);
    let group = python("seed_group.py", &["g", "127.0.0.1:0", &directory.address]);
    let g = &group.address;
    let (out, err, ok) = run_user(home.path(), &directory.address, &format!("get_messages {g}\n"));
    assert!(!ok, "a failed command in a script makes the exit status non-zero");
    assert_eq!(out, "");
    assert!(err.contains(&format!("group {g} refused")), "{err}");
}

#[test]
fn huddles_group_registers_with_the_seeds_directory() {
    let home = tempfile::tempdir().unwrap();
    let directory = python("seed_message_server.py", &[]);
    let data = home.path().join("data");
    let mut command = huddle(home.path());
    command.args(["group", "huddle group", "127.0.0.1:0", &directory.address, "--data"]).arg(&data);
    let group = start_server(command);
    let expected = format!("huddle group - {}\n", group.address);
    common::eventually("the seed's directory lists huddle's group", || {
        let (out, _, _) = run_user(home.path(), &directory.address, "get_group_list\n");
        out == expected
    });
}
