//! The chat client as a person uses it: in a real terminal (tmux), typing,
//! completing, and seeing messages arrive above the line being typed.

mod common;

use common::{DEADLINE, Peer, data_dir, group_command, home, run_huddle, seed, start_directory, start_server};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmux server of the test's own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        common::require("tmux", || Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()));
        let socket = format!("huddle-test-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-s", "chat", "-x", "150", "-y", "40", command])
            .status()
            .unwrap();
        assert!(status.success());
        Tmux { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "chat"]).args(keys).status();
        assert!(status.unwrap().success());
    }

    fn screen(&self) -> String {
        let output = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-t", "chat"]).output();
        String::from_utf8(output.unwrap().stdout).unwrap()
    }

    /// Whether the program in the pane still runs.
    fn running(&self) -> bool {
        let mut check = Command::new("tmux");
        check.args(["-L", &self.socket, "has-session", "-t", "chat"]).stderr(Stdio::null());
        check.status().unwrap().success()
    }

    /// Waits for the program in the pane to exit, failing at the deadline.
    fn wait_gone(&self, what: &str) {
        let started = Instant::now();
        while self.running() {
            assert!(started.elapsed() < DEADLINE, "{what}:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen satisfies `check`, failing at the deadline.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let mut kill = Command::new("tmux");
        let _ = kill.args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
    }
}

/// What `huddle groups` prints for the directory at `directory`.
fn listed(home: &Path, directory: &str) -> String {
    String::from_utf8_lossy(&run_huddle(home, &["groups", "--directory", directory], "").stdout).into_owned()
}

fn user_command(home: &Path, directory: &str) -> String {
    format!(
        "env XDG_CONFIG_HOME={} XDG_DATA_HOME={} RUST_LOG=warn {} user {directory}",
        home.join("config").display(),
        home.join("data").display(),
        env!("CARGO_BIN_EXE_huddle")
    )
}

/// A directory and a group `lobby` it lists, and the directory's address.
fn directory_and_lobby(home: &Path) -> (common::Server, common::Server, String) {
    let directory = start_directory(home);
    let d = directory.address.clone();
    let lobby = start_server(group_command(home, "lobby", "127.0.0.1:0", &d, &data_dir(home)));
    common::eventually("lobby listed", || listed(home, &d).starts_with("lobby"));
    (directory, lobby, d)
}

/// The chat client at a terminal, joined to `lobby` and talking there.
fn chatting_in_the_lobby(home: &Path, directory: &str) -> Tmux {
    let tmux = Tmux::start(&user_command(home, directory));
    tmux.wait_for("the prompt", |s| s.contains("huddle>"));
    tmux.keys(&["/join lobby", "Enter"]);
    tmux.wait_for("the join", |s| s.contains("lobby>"));
    tmux
}

/// Another user, sending from a script.
fn someone_sends(home: &Path, directory: &str, text: &str) {
    someone_sends_to(home, directory, "lobby", text);
}

fn someone_sends_to(home: &Path, directory: &str, group: &str, text: &str) {
    let other = home.join("other");
    for args in [vec!["join", group, "--directory", directory], vec!["send", group, text, "--directory", directory]] {
        let output = run_huddle(&other, &args, "");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn chatting_in_a_terminal() {
    let home = home();
    let (_directory, _group, d) = directory_and_lobby(home.path());

    let tmux = Tmux::start(&user_command(home.path(), &d));
    tmux.wait_for("the prompt", |s| s.contains("huddle>"));
    // Completion of commands, then of group names learnt from /groups.
    tmux.keys(&["/gr", "Tab", "Enter"]);
    tmux.wait_for("the group list", |s| s.contains("lobby - 127.0.0.1:"));
    tmux.keys(&["/join lo", "Tab", "Enter"]);
    tmux.wait_for("the join", |s| s.contains("joined lobby") && s.contains("lobby>"));

    // Plain text goes to the current group and comes back as the group saw it.
    tmux.keys(&["hello from the terminal", "Enter"]);
    let me: String =
        std::fs::read_to_string(home.path().join("config/huddle/user-id")).unwrap().chars().take(8).collect();
    tmux.wait_for("my message", |s| s.contains(&format!("lobby {me}: hello from the terminal")));

    // Someone else's message arrives above the line being typed, which stays.
    tmux.keys(&["half-typed"]);
    tmux.wait_for("the typing", |s| s.contains("lobby> half-typed"));
    someone_sends(home.path(), &d, "hi from a script");
    let screen = tmux.wait_for("the incoming message", |s| s.contains(": hi from a script"));
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.last().unwrap().contains("lobby> half-typed"), "the prompt line is intact:\n{screen}");
    let incoming = lines.iter().position(|l| l.contains(": hi from a script")).unwrap();
    assert!(incoming < lines.len() - 1, "printed above the prompt:\n{screen}");

    // Escape sequences from others are shown, not obeyed: the screen stays.
    someone_sends(home.path(), &d, "\u{1b}[2J\u{1b}]0;pwned\u{7}sneaky");
    let screen = tmux.wait_for("the escaped message", |s| s.contains("sneaky"));
    assert!(screen.contains("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}sneaky"), "shown as text:\n{screen}");
    assert!(screen.contains("hello from the terminal"), "the screen was not cleared:\n{screen}");

    // Leave the session; what arrives meanwhile is shown on return, once.
    tmux.keys(&["C-u", "/quit", "Enter"]);
    tmux.wait_gone("the client did not exit");
    someone_sends(home.path(), &d, "while you were away 1");
    someone_sends(home.path(), &d, "while you were away 2");
    let tmux = Tmux::start(&user_command(home.path(), &d));
    let screen = tmux.wait_for("the catch-up", |s| s.contains("while you were away 2"));
    assert_eq!(screen.matches("while you were away 1").count(), 1, "{screen}");
    assert!(!screen.contains("hi from a script"), "nothing shown twice:\n{screen}");
}

#[test]
fn a_name_two_groups_share_is_a_question() {
    let home = home();
    let directory = start_directory(home.path());
    let d = directory.address.clone();
    let first = start_server(group_command(home.path(), "twin", "127.0.0.1:0", &d, &home.path().join("first")));
    let second = start_server(group_command(home.path(), "twin", "127.0.0.1:0", &d, &home.path().join("second")));
    common::eventually("both listed", || listed(home.path(), &d).matches("twin - ").count() == 2);
    let tmux = Tmux::start(&user_command(home.path(), &d));
    tmux.wait_for("the prompt", |s| s.contains("huddle>"));
    // Group names complete before any /groups: the client learns them at start.
    tmux.keys(&["/join tw"]);
    let started = std::time::Instant::now();
    while !tmux.screen().contains("/join twin") {
        assert!(started.elapsed() < DEADLINE, "the group name never completed:\n{}", tmux.screen());
        tmux.keys(&["Tab"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the question", |s| s.contains("which one? [1-2]"));
    assert!(screen.contains("\"twin\" names 2 groups:"), "{screen}");
    let listed: Vec<&str> = screen.lines().filter(|l| l.trim_start().starts_with(['1', '2'])).collect();
    let chosen = if listed[1].contains(&second.address) { "2" } else { "1" };
    tmux.keys(&[chosen, "Enter"]);
    tmux.wait_for("the join", |s| s.contains(&format!("joined twin ({})", second.address)));
    drop(first);
}

#[test]
fn ctrl_c_drops_the_line_being_typed_and_ctrl_d_leaves() {
    let home = home();
    let directory = start_directory(home.path());
    let tmux = Tmux::start(&user_command(home.path(), &directory.address));
    tmux.wait_for("the prompt", |s| s.contains("huddle>"));
    tmux.keys(&["a line I regret"]);
    tmux.wait_for("the typing", |s| s.contains("a line I regret"));
    tmux.keys(&["C-c"]);
    tmux.wait_for("a fresh prompt", |s| s.lines().rfind(|l| !l.trim().is_empty()) == Some("huddle>"));
    tmux.keys(&["/groups", "Enter"]);
    tmux.wait_for("the client still answering", |s| s.contains("no groups"));
    tmux.keys(&["C-d"]);
    tmux.wait_gone("Ctrl-D did not leave");
}

#[test]
fn the_prompt_speaks_in_names_with_spaces_and_says_what_to_type() {
    let home = home();
    let directory = start_directory(home.path());
    let d = directory.address.clone();
    let cool = start_server(group_command(home.path(), "Cool Group", "127.0.0.1:0", &d, &home.path().join("cool")));
    let ops = start_server(group_command(home.path(), "ops", "127.0.0.1:0", &d, &home.path().join("ops")));
    common::eventually("both listed", || {
        let listed = listed(home.path(), &d);
        listed.contains("Cool Group - ") && listed.contains("ops - ")
    });
    let tmux = Tmux::start(&user_command(home.path(), &d));
    tmux.wait_for("the prompt", |s| s.contains("huddle>"));
    tmux.keys(&["hello?", "Enter"]);
    tmux.wait_for("the hint", |s| s.contains("you are not talking in a group, so that was not sent: /join GROUP"));
    tmux.keys(&["/join", "Enter"]);
    tmux.wait_for("the usage", |s| s.contains("`/join` needs a group: /join GROUP"));
    tmux.keys(&["/join Cool Group", "Enter"]);
    tmux.wait_for("the join", |s| s.contains("joined Cool Group") && s.contains("Cool Group>"));
    // The seed's command joins too, and at a terminal makes the group live
    // and the one talked in.
    tmux.keys(&[&format!("join_group {}", ops.address), "Enter"]);
    tmux.wait_for("ops current", |s| s.contains("ops>"));
    tmux.keys(&["/quit", "Enter"]);
    tmux.wait_gone("/quit did not leave");

    // After a restart the user is back where they talked last, and what
    // arrives is shown under the group's name.
    let tmux = Tmux::start(&user_command(home.path(), &d));
    tmux.wait_for("the banner and prompt", |s| s.contains("talking in ops (") && s.contains("ops>"));
    someone_sends_to(home.path(), &d, "Cool Group", "named after a restart");
    let screen = tmux.wait_for("the message", |s| s.contains("named after a restart"));
    let line = screen.lines().find(|line| line.contains("named after a restart")).unwrap();
    assert!(line.contains("Cool Group") && !line.contains(&cool.address), "{line}");
}

#[test]
fn coming_back_shows_a_summary_merged_in_time_and_a_group_going_away_and_back() {
    let home = home();
    let directory = start_directory(home.path());
    let d = directory.address.clone();
    let lobby = start_server(group_command(home.path(), "lobby", "127.0.0.1:0", &d, &home.path().join("lobby")));
    let ops_data = home.path().join("ops");
    let mut ops = start_server(group_command(home.path(), "ops", "127.0.0.1:0", &d, &ops_data));
    common::eventually("both listed", || listed(home.path(), &d).matches(" - ").count() == 2);
    let tmux = Tmux::start(&user_command(home.path(), &d));
    tmux.wait_for("the prompt", |s| s.contains("huddle>"));
    tmux.keys(&["/join ops", "Enter"]);
    tmux.wait_for("ops joined", |s| s.contains("ops>"));
    tmux.keys(&["/join lobby", "Enter"]);
    tmux.wait_for("lobby joined", |s| s.contains("lobby>"));
    tmux.keys(&["/quit", "Enter"]);
    tmux.wait_gone("/quit did not leave");

    let (at_lobby, at_ops) = (Peer::req(&lobby.address), Peer::req(&ops.address));
    for peer in [&at_lobby, &at_ops] {
        assert_eq!(peer.ask_str(&seed::join("other")), seed::SUCCESS);
    }
    assert_eq!(at_ops.ask_str(&seed::send("other", "ops first")), seed::SUCCESS);
    for n in 1..=25 {
        assert_eq!(at_lobby.ask_str(&seed::send("other", &format!("lobby {n:02}"))), seed::SUCCESS);
    }
    assert_eq!(at_ops.ask_str(&seed::send("other", "ops last")), seed::SUCCESS);

    let tmux = Tmux::start(&user_command(home.path(), &d));
    let screen = tmux.wait_for("the catch-up", |s| s.contains("ops last") && s.contains("lobby 25"));
    assert!(screen.contains("5 earlier messages in lobby: /history"), "{screen}");
    assert!(!screen.contains("lobby 05"), "summarised, not shown:\n{screen}");
    let position = |text: &str| screen.find(text).unwrap_or_else(|| panic!("{text} missing:\n{screen}"));
    assert!(position("ops first") < position("lobby 06"), "merged in time order:\n{screen}");
    assert!(position("lobby 25") < position("ops last"), "merged in time order:\n{screen}");

    // A group that stops answering is said so, and so is its return.
    ops.kill();
    tmux.wait_for("the notice", |s| s.contains("does not answer"));
    let again = group_command(home.path(), "ops", &ops.address, &d, &ops_data);
    let _ops = start_server(again);
    tmux.wait_for("the return", |s| s.contains("answers again"));
}

#[test]
fn send_with_no_text_at_a_terminal_says_how_to_end_it() {
    let home = home();
    let (_directory, _lobby, d) = directory_and_lobby(home.path());
    let join = run_huddle(home.path(), &["join", "lobby", "--directory", &d], "");
    assert!(join.status.success());
    let command = user_command(home.path(), &d).replace(" user ", " send lobby --directory ");
    let tmux = Tmux::start(&command);
    tmux.wait_for("the hint", |s| s.contains("end it with Ctrl-D"));
    tmux.keys(&["typed at the terminal", "Enter", "C-d"]);
    tmux.wait_gone("Ctrl-D did not end the message");
    let history = run_huddle(home.path(), &["history", "lobby", "--directory", &d], "");
    assert!(String::from_utf8_lossy(&history.stdout).contains("typed at the terminal"));
}

#[test]
fn text_typed_into_a_group_that_is_down_waits_and_goes_when_it_is_back() {
    let home = home();
    let directory = start_directory(home.path());
    let d = directory.address.clone();
    let data = data_dir(home.path());
    let mut lobby = start_server(group_command(home.path(), "lobby", "127.0.0.1:0", &d, &data));
    common::eventually("listed", || listed(home.path(), &d).starts_with("lobby"));
    let tmux = chatting_in_the_lobby(home.path(), &d);
    lobby.kill();
    tmux.keys(&["typed while it was down", "Enter"]);
    tmux.wait_for("the pending notice", |s| s.contains("your message waits and goes when it is back"));
    let _lobby = start_server(group_command(home.path(), "lobby", &lobby.address, &d, &data));
    tmux.wait_for("the message sent", |s| s.contains("sent 1 waiting message"));
    let history = run_huddle(home.path(), &["history", "lobby", "--directory", &d], "");
    let history = String::from_utf8_lossy(&history.stdout);
    assert_eq!(history.matches("typed while it was down").count(), 1, "{history}");
}

#[test]
fn a_nick_is_shown_beside_the_id_to_everyone() {
    let home = home();
    let (_directory, _lobby, d) = directory_and_lobby(home.path());
    let tmux = chatting_in_the_lobby(home.path(), &d);
    tmux.keys(&["/nick Ada L.", "Enter"]);
    tmux.wait_for("the nick", |s| s.contains("you are Ada L. in lobby"));
    tmux.keys(&["hello from Ada", "Enter"]);
    let me: String =
        std::fs::read_to_string(home.path().join("config/huddle/user-id")).unwrap().chars().take(8).collect();
    tmux.wait_for("the message with the nick", |s| s.contains(&format!("Ada L. ({me}): hello from Ada")));
    // Others see it too: in their history, as JSON.
    let other = home.path().join("other");
    assert!(run_huddle(&other, &["join", "lobby", "--directory", &d], "").status.success());
    let history = run_huddle(&other, &["history", "lobby", "--json", "--directory", &d], "");
    let line = String::from_utf8_lossy(&history.stdout).lines().next().unwrap().to_owned();
    let message: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(message["nick"], "Ada L.", "{line}");
}
