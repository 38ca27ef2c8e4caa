//! Helpers for the integration tests: real `huddle` processes on OS-picked
//! ports, raw ZeroMQ peers that send exact bytes, and polling with deadlines.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any condition in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A `huddle` command whose config and data live in `home`.
pub fn huddle(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huddle"));
    command.env("XDG_CONFIG_HOME", home.join("config")).env("XDG_DATA_HOME", home.join("data")).env("RUST_LOG", "warn");
    command
}

pub use huddle::spawn::SpawnedServer as Server;

/// Starts a server process and waits for its ready line.
pub fn start_server(command: Command) -> Server {
    Server::start(command).expect("the server starts and prints where it listens")
}

/// Runs `huddle ARGS` with `stdin` on its standard input; fails the test if
/// it does not finish within the deadline (a hang is a bug).
pub fn run_huddle(home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child =
        huddle(home).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < DEADLINE, "huddle {args:?} hung");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub fn start_directory(home: &Path) -> Server {
    let mut command = huddle(home);
    command.args(["directory", "--bind", "127.0.0.1:0"]);
    start_server(command)
}

pub fn group_command(home: &Path, name: &str, address: &str, directory: &str, data: &Path) -> Command {
    let mut command = huddle(home);
    command.args(["group", name, address, "--directory", directory, "--data"]).arg(data);
    command
}

pub fn start_group(home: &Path, name: &str, directory: &str, data: &Path) -> Server {
    start_server(group_command(home, name, "127.0.0.1:0", directory, data))
}

/// A REQ peer that sends exact bytes, as the seed's client does.
pub struct Peer {
    context: zmq::Context,
    socket: zmq::Socket,
    endpoint: String,
}

impl Peer {
    pub fn req(address: &str) -> Peer {
        Peer::new(address, zmq::REQ)
    }

    pub fn dealer(address: &str) -> Peer {
        Peer::new(address, zmq::DEALER)
    }

    fn new(address: &str, kind: zmq::SocketType) -> Peer {
        let context = zmq::Context::new();
        let socket = context.socket(kind).unwrap();
        socket.set_linger(0).unwrap();
        let endpoint = format!("tcp://{address}");
        socket.connect(&endpoint).unwrap();
        Peer { context, socket, endpoint }
    }

    /// Sends one frame and returns the one-frame reply.
    pub fn ask(&self, body: &[u8]) -> Vec<u8> {
        self.socket.send(body, 0).unwrap();
        self.reply()
    }

    pub fn ask_str(&self, body: &str) -> String {
        String::from_utf8(self.ask(body.as_bytes())).unwrap()
    }

    /// Sends several frames (a DEALER sends no empty delimiter).
    pub fn send_frames(&self, frames: &[&[u8]]) {
        self.socket.send_multipart(frames.iter().copied(), 0).unwrap();
    }

    pub fn socket_send(&self, body: &[u8]) {
        self.socket.send(body, 0).unwrap();
    }

    /// The reply's last frame, or `None` when none comes within `wait`.
    pub fn try_reply(&self, wait: Duration) -> Option<Vec<u8>> {
        if self.socket.poll(zmq::POLLIN, wait.as_millis() as i64).unwrap() == 0 {
            return None;
        }
        self.socket.recv_multipart(0).unwrap().pop()
    }

    pub fn reply(&self) -> Vec<u8> {
        let mut frames = self.reply_frames();
        frames.pop().unwrap()
    }

    pub fn reply_frames(&self) -> Vec<Vec<u8>> {
        assert!(
            self.socket.poll(zmq::POLLIN, DEADLINE.as_millis() as i64).unwrap() > 0,
            "no reply from {} within {DEADLINE:?}",
            self.endpoint
        );
        self.socket.recv_multipart(0).unwrap()
    }

    pub fn context(&self) -> &zmq::Context {
        &self.context
    }
}

/// Sends `message_bytes`-byte messages as user `u` until one is refused (at
/// most `most`); returns how many were acknowledged and the refusal.
pub fn send_until_refused(peer: &Peer, message_bytes: usize, most: usize) -> (usize, String) {
    let big = "x".repeat(message_bytes);
    for acknowledged in 0..most {
        let reply = peer.ask_str(&seed::send("u", &big));
        if reply != seed::SUCCESS {
            return (acknowledged, reply);
        }
    }
    panic!("{most} messages of {message_bytes} bytes were all acknowledged: the store never filled up");
}

/// How many messages user `u` reads in the group's history.
pub fn history_len(peer: &Peer) -> usize {
    let reply: serde_json::Value = serde_json::from_str(&peer.ask_str(&seed::get("u", None))).unwrap();
    reply["messages"].as_array().expect("a history").len()
}

/// Polls `condition` until it holds, failing the test at the deadline.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exact bytes the seed's client sends for each request.
pub mod seed {
    pub fn register(name: &str, address: &str) -> String {
        format!(r#"{{"action": "register", "group_name": "{name}", "ip_port": "{address}"}}"#)
    }
    pub fn group_list(user: &str) -> String {
        format!(r#"{{"action": "get_group_list", "user_uuid": "{user}"}}"#)
    }
    pub fn join(user: &str) -> String {
        format!(r#"{{"action": "joinGroup", "user_uuid": "{user}"}}"#)
    }
    pub fn leave(user: &str) -> String {
        format!(r#"{{"action": "leaveGroup", "user_uuid": "{user}"}}"#)
    }
    pub fn send(user: &str, message: &str) -> String {
        let message = serde_json::to_string(message).unwrap();
        format!(r#"{{"action": "sendMessage", "user_uuid": "{user}", "message": {message}}}"#)
    }
    pub fn get(user: &str, timestamp: Option<&str>) -> String {
        let timestamp = timestamp.map_or("null".to_owned(), |t| format!("\"{t}\""));
        format!(r#"{{"action": "getMessage", "user_uuid": "{user}", "timestamp": {timestamp}}}"#)
    }
    pub const SUCCESS: &str = r#"{"response": "SUCCESS"}"#;
}

/// Makes sure `available` holds, running scripts/test-deps.sh (once per test
/// binary) to install what the tests need when it does not.
pub fn require(what: &str, available: impl Fn() -> bool) {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    if !available() {
        INSTALL.call_once(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-deps.sh");
            let _ = Command::new("bash").arg(script).status();
        });
    }
    assert!(available(), "this test needs {what}: scripts/test-deps.sh installs it");
}

/// A fresh directory for one test's processes.
pub fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn data_dir(home: &Path) -> PathBuf {
    home.join("group-data")
}
