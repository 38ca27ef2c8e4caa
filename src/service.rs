//! `huddle up`'s servers as a background service of the machine's user:
//! the directory and the host (with the lobby) run in a process of their
//! own (`huddle serve`), so that leaving the chat leaves them serving
//! everyone else. A state file in the data directory says where it runs;
//! every `huddle up` of the same user finds it there and serves from the
//! same history. `huddle down` stops it, `huddle status` shows it.

use crate::protocol::Address;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STATE_FILE: &str = "service.json";
const LOG_FILE: &str = "huddle.log";
/// How long a stop may take before `huddle down` says so.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What runs, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub directory: String,
    pub host: String,
    pub lobby: String,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Running {
    pub fn directory(&self) -> Option<Address> {
        Address::parse(&self.directory).ok()
    }
    pub fn host(&self) -> Option<Address> {
        Address::parse(&self.host).ok()
    }
    pub fn lobby(&self) -> Option<Address> {
        Address::parse(&self.lobby).ok()
    }
}

impl std::fmt::Display for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "huddle is running (pid {}): directory {}, host {}, lobby {}; data in {}; log in {}",
            self.pid,
            self.directory,
            self.host,
            self.lobby,
            self.data.display(),
            self.log.display()
        )
    }
}

/// The service of the user whose data is in `data`, if it runs.
pub fn running(data: &Path) -> Option<Running> {
    let state: Running = serde_json::from_slice(&std::fs::read(data.join(STATE_FILE)).ok()?).ok()?;
    alive(state.pid).then_some(state)
}

/// Records that this process is the service (written once it serves).
pub fn record(data: &Path, state: &Running) -> io::Result<()> {
    std::fs::create_dir_all(data)?;
    let temporary = data.join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(temporary, data.join(STATE_FILE))
}

/// Removes the record, if it is this process's.
pub fn forget(data: &Path) {
    let path = data.join(STATE_FILE);
    let mine = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Running>(&bytes).ok())
        .is_some_and(|state| state.pid == std::process::id());
    if mine {
        let _ = std::fs::remove_file(path);
    }
}

/// The log file of the service in `data`.
pub fn log_file(data: &Path) -> PathBuf {
    data.join(LOG_FILE)
}

/// Starts `huddle serve ARGS` in the background, its log in `data`, and
/// waits for it to serve.
pub fn start(data: &Path, args: &[String]) -> io::Result<Running> {
    std::fs::create_dir_all(data)?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_file(data))?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own process group: Ctrl-C at the chat's terminal does not reach it.
        .process_group(0)
        .spawn()?;
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut ready)?;
    match running(data) {
        Some(state) if ready.starts_with("huddle serve listening") => Ok(state),
        _ => {
            let _ = child.kill();
            Err(io::Error::other(format!(
                "the background service did not start: {} says why",
                log_file(data).display()
            )))
        }
    }
}

/// Stops the service, waiting for it to finish; what ran, if anything did.
pub fn stop(data: &Path) -> io::Result<Option<Running>> {
    let Some(state) = running(data) else { return Ok(None) };
    // SAFETY: kill only sends a signal.
    unsafe { libc::kill(state.pid as libc::pid_t, libc::SIGTERM) };
    let started = Instant::now();
    while alive(state.pid) {
        if started.elapsed() > STOP_TIMEOUT {
            return Err(io::Error::other(format!("huddle (pid {}) did not stop in {STOP_TIMEOUT:?}", state.pid)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Some(state))
}

/// Whether process `pid` runs (and is not a zombie left to reap).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    state.is_some_and(|state| state != "Z")
}
