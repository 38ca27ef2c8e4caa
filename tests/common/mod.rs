//! Helpers for the integration tests: real `huddle` processes on OS-picked
//! ports, raw ZeroMQ peers that send exact bytes, and polling with deadlines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any condition in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A `huddle` command whose config and data live in `home`.
pub fn huddle(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huddle"));
    command.env("XDG_CONFIG_HOME", home.join("config")).env("XDG_DATA_HOME", home.join("data")).env("RUST_LOG", "warn");
    command
}

/// A server process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `command` and waits for its first stdout line, which ends with
    /// the address it listens on (after "listening on ", up to a comma).
    pub fn start(mut command: Command) -> Server {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start huddle");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the ready line");
        let address = line
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in ready line {line:?}"))
            .split(',')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        Server { child, address, stdout }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn start_directory(home: &Path) -> Server {
    let mut command = huddle(home);
    command.args(["directory", "--bind", "127.0.0.1:0"]);
    Server::start(command)
}

pub fn group_command(home: &Path, name: &str, address: &str, directory: &str, data: &Path) -> Command {
    let mut command = huddle(home);
    command.args(["group", name, address, "--directory", directory, "--data"]).arg(data);
    command
}

pub fn start_group(home: &Path, name: &str, directory: &str, data: &Path) -> Server {
    Server::start(group_command(home, name, "127.0.0.1:0", directory, data))
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

/// Reads everything a child wrote to a pipe.
pub fn read_all(mut reader: impl Read) -> String {
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    text
}

/// A fresh directory for one test's processes.
pub fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn data_dir(home: &Path) -> PathBuf {
    home.join("group-data")
}
