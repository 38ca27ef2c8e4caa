//! `huddle bench`: how fast huddle is, measured the same way anyone can
//! repeat. It drives a group (one it starts in a temporary directory, or one
//! at an address) with N users and a window of W requests each, and reports
//! acknowledgements per second, latency percentiles and, when it can see the
//! server process, the server's CPU time per acknowledgement and its memory.
//!
//! [`load`] is the load generator, [`fanout`] its live-delivery twin,
//! [`process`] reads a server's costs, `servers` starts the servers a run
//! drives (through [`crate::spawn`]), [`fsync`] measures the disk's ceiling, and [`Report`] is
//! what each run prints.

pub mod fanout;
pub mod fsync;
pub mod host;
pub mod load;
pub mod process;
mod report;
mod servers;
mod users;

pub use report::{Percentiles, Report};
use servers::Servers;
use users::Users;

use crate::protocol::{GetMessages, GroupRequest, Membership, SendMessage, encode};
use crate::transport;
pub use load::ClientKind;
use load::{Load, LoadResult};
use process::Watched;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A directory and a group started here, in a temporary directory.
    StartHere,
    /// A group already running at an address; `pid` to see its costs.
    Group { address: String, pid: Option<u32> },
    /// A bare server that echoes every request: the transport's ceiling.
    Echo(Echo),
}

/// Which transport a bare echo server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Echo {
    /// huddle's own ZMTP engine, as the servers run it.
    Engine,
    /// A libzmq ROUTER: the reference the engine is measured against.
    Libzmq,
}

/// The knobs every mode shares.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub users: usize,
    pub window: usize,
    pub duration: Duration,
    pub message_bytes: usize,
    /// Print a progress bar (at a terminal, without `--json`).
    pub progress: bool,
    /// Start the group with `--curve`: every user a key pair, every frame encrypted.
    pub curve: bool,
    /// What the load generator's connections run on.
    pub client: ClientKind,
}

/// Latencies in microseconds, from 1 µs to a minute, to three digits.
pub(super) fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub(super) fn is_success(reply: &[u8]) -> bool {
    reply.starts_with(br#"{"response": "SUCCESS""#)
}

/// A measured phase: drives `servers` and turns the result into a report.
struct Phase<'a> {
    servers: &'a Servers,
    options: &'a Options,
    mode: &'a str,
}

impl Phase<'_> {
    fn run(
        &self,
        users: usize,
        window: usize,
        total: Option<u64>,
        request: &mut dyn FnMut(usize, u64) -> Vec<u8>,
        accept: &dyn Fn(&[u8]) -> bool,
    ) -> io::Result<(LoadResult, Option<f64>)> {
        let bar = self.options.progress.then(|| {
            let bar = indicatif::ProgressBar::new(self.options.duration.as_millis() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {elapsed}/{duration}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(self.mode.to_owned());
            bar
        });
        let progress = |elapsed: Duration| {
            if let Some(bar) = &bar {
                bar.set_position(elapsed.as_millis() as u64);
            }
        };
        let cpu_before = self.servers.watched.and_then(|w| w.cpu_time());
        let load = Load {
            groups: std::slice::from_ref(&self.servers.address),
            identities: &self.servers.users,
            users,
            window,
            duration: self.options.duration,
            total,
            request,
            accept,
            progress: &progress,
        };
        let result = load::run(load, self.options.client)?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let cpu_after = self.servers.watched.and_then(|w| w.cpu_time());
        let cpu_per_ack = match (cpu_before, cpu_after) {
            (Some(before), Some(after)) if result.acknowledged > 0 => {
                Some((after - before).as_micros() as f64 / result.acknowledged as f64)
            }
            _ => None,
        };
        Ok((result, cpu_per_ack))
    }

    fn report(&self, users: usize, window: usize, result: &LoadResult, cpu: Option<f64>) -> Report {
        Report {
            mode: self.mode.to_owned(),
            target: self.servers.described.clone(),
            client: Some(match self.options.client {
                ClientKind::Engine => "engine",
                ClientKind::Libzmq => "libzmq",
            }),
            users,
            window,
            message_bytes: None,
            history: None,
            sent_per_second: None,
            missed: None,
            acknowledged: result.acknowledged,
            refused: result.refused,
            seconds: result.elapsed.as_secs_f64(),
            per_second: result.per_second(),
            latency_us: Percentiles::of(&result.latency_us),
            server_cpu_us_per_ack: cpu,
            server_rss_kib: self.servers.watched.and_then(|w| w.rss_kib()),
        }
    }
}

/// Makes every bench user a member (the seed's way: one REQ request each,
/// on the user's own connection, as CURVE needs).
fn join_users(servers: &Servers, users: usize) -> io::Result<()> {
    let context = zmq::Context::new();
    for user in 0..users {
        let socket = servers
            .users
            .connect(&context, zmq::REQ, &servers.address, user, transport::ConnectOptions::default())
            .map_err(io::Error::other)?;
        socket.set_rcvtimeo(5000).map_err(io::Error::other)?;
        let join = encode(&GroupRequest::Join(Membership { user_uuid: servers.users.id(user) }));
        socket.send(join, 0).map_err(io::Error::other)?;
        let reply = socket.recv_bytes(0).map_err(|e| io::Error::other(format!("no answer to joinGroup: {e}")))?;
        if !is_success(&reply) {
            return Err(io::Error::other(format!("joinGroup refused: {}", String::from_utf8_lossy(&reply))));
        }
    }
    Ok(())
}

fn send_request<'a>(users: &'a Users, message: &'a str) -> impl FnMut(usize, u64) -> Vec<u8> + 'a {
    move |user, _| {
        encode(&GroupRequest::Send(SendMessage {
            user_uuid: users.id(user),
            message: message.to_owned(),
            msg_id: Some(crate::client::new_msg_id()),
        }))
    }
}

/// `send`: durable `sendMessage`s, as fast as the users can get them acknowledged.
pub fn send(options: &Options) -> io::Result<Vec<Report>> {
    let servers = Servers::start(options, options.users)?;
    let echo = matches!(options.target, Target::Echo(_));
    if !echo {
        join_users(&servers, options.users)?;
    }
    let message = "x".repeat(options.message_bytes);
    let phase = Phase { servers: &servers, options, mode: "send" };
    let accept: &dyn Fn(&[u8]) -> bool = if echo { &|_| true } else { &is_success };
    let mut request = send_request(&servers.users, &message);
    let (result, cpu) = phase.run(options.users, options.window, None, &mut request, accept)?;
    let report = Report {
        message_bytes: Some(options.message_bytes),
        ..phase.report(options.users, options.window, &result, cpu)
    };
    Ok(vec![report])
}

/// `join`: `joinGroup`s of ever new users.
pub fn join(options: &Options) -> io::Result<Vec<Report>> {
    if options.curve {
        return Err(io::Error::other("join has no --curve: over CURVE a user is one key, and joins once"));
    }
    let servers = Servers::start(options, 0)?;
    let phase = Phase { servers: &servers, options, mode: "join" };
    let run_id = uuid::Uuid::new_v4();
    let mut request =
        |user: usize, n: u64| encode(&GroupRequest::Join(Membership { user_uuid: format!("{run_id}-{user}-{n}") }));
    let (result, cpu) = phase.run(options.users, options.window, None, &mut request, &is_success)?;
    Ok(vec![phase.report(options.users, options.window, &result, cpu)])
}

/// `get`: with a history of `history` messages, the latest ten (paged) and
/// the whole history (the seed's form).
pub fn get(options: &Options, history: u64) -> io::Result<Vec<Report>> {
    let servers = Servers::start(options, options.users.max(1))?;
    join_users(&servers, options.users.max(1))?;
    let message = "x".repeat(options.message_bytes);
    let fill = Phase {
        servers: &servers,
        options: &Options { duration: Duration::from_secs(3600), ..options.clone() },
        mode: "fill",
    };
    let (filled, _) = fill.run(1, 128, Some(history), &mut send_request(&servers.users, &message), &is_success)?;
    if filled.acknowledged < history {
        return Err(io::Error::other(format!("only {} of {history} messages were stored", filled.acknowledged)));
    }
    let users = &servers.users;
    let latest = |user: usize, _| {
        encode(&GroupRequest::Get(GetMessages { user_uuid: users.id(user), limit: Some(10), ..GetMessages::default() }))
    };
    let whole = |user: usize, _| {
        encode(&GroupRequest::Get(GetMessages { user_uuid: users.id(user), ..GetMessages::default() }))
    };
    let mut reports = Vec::new();
    for (mode, users, request) in [
        ("get-last-10", options.users, &mut { latest } as &mut dyn FnMut(usize, u64) -> Vec<u8>),
        ("get-all", 1, &mut { whole }),
    ] {
        let phase = Phase { servers: &servers, options, mode };
        let (result, cpu) = phase.run(users, 1, None, request, &is_success)?;
        reports.push(Report { history: Some(history), ..phase.report(users, 1, &result, cpu) });
    }
    Ok(reports)
}

/// `fanout`: `options.users` members watching while one user sends `rate`
/// messages a second; deliveries a second and end-to-end latency.
pub fn fanout(options: &Options, rate: u64) -> io::Result<Vec<Report>> {
    let servers = Servers::start(options, options.users + 1)?;
    join_users(&servers, options.users + 1)?;
    let members: Vec<usize> = (1..=options.users).collect();
    let cpu_before = servers.watched.and_then(|w| w.cpu_time());
    let result =
        fanout::run(&servers.address, &servers.users, &members, 0, rate, options.duration).map_err(io::Error::other)?;
    let cpu_after = servers.watched.and_then(|w| w.cpu_time());
    let phase = Phase { servers: &servers, options, mode: "fanout" };
    let cpu = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) if result.deliveries.acknowledged > 0 => {
            Some((after - before).as_micros() as f64 / result.deliveries.acknowledged as f64)
        }
        _ => None,
    };
    let report = phase.report(options.users, 1, &result.deliveries, cpu);
    // Members watch on libzmq DEALERs, whatever `--client` says.
    Ok(vec![Report { sent_per_second: Some(rate), missed: Some(result.missed), client: Some("libzmq"), ..report }])
}

/// `fsync`: the disk's rate of durable one-at-a-time appends.
pub fn fsync(dir: Option<PathBuf>, duration: Duration) -> io::Result<Vec<Report>> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::temp_dir(),
    };
    let result = fsync::measure(&dir, duration)?;
    Ok(vec![Report {
        mode: "fsync".into(),
        target: format!("disk at {}", dir.display()),
        client: None,
        users: 1,
        window: 1,
        message_bytes: Some(100),
        history: None,
        sent_per_second: None,
        missed: None,
        acknowledged: result.syncs,
        refused: 0,
        seconds: result.elapsed.as_secs_f64(),
        per_second: result.syncs as f64 / result.elapsed.as_secs_f64(),
        latency_us: Percentiles::of(&result.latency_us),
        server_cpu_us_per_ack: None,
        server_rss_kib: None,
    }])
}

/// `idle`: the CPU a directory and a group use while nobody talks.
pub fn idle(duration: Duration) -> io::Result<String> {
    let options = Options {
        target: Target::StartHere,
        users: 0,
        window: 1,
        duration,
        message_bytes: 0,
        progress: false,
        curve: false,
        client: ClientKind::Engine,
    };
    let servers = Servers::start(&options, 0)?;
    let watched: Vec<Watched> = servers.processes.iter().map(|p| Watched { pid: p.pid() }).collect();
    // Let start-up settle, then measure.
    std::thread::sleep(Duration::from_secs(1));
    let before: Vec<Option<Duration>> = watched.iter().map(Watched::cpu_time).collect();
    std::thread::sleep(duration);
    let used: Vec<String> = watched
        .iter()
        .zip(before)
        .zip(["directory", "group"])
        .map(|((w, before), name)| match (before, w.cpu_time()) {
            (Some(before), Some(after)) => format!("{name} {} ms", (after - before).as_millis()),
            _ => format!("{name} unknown"),
        })
        .collect();
    Ok(format!("idle for {:.0} s: CPU used by {}", duration.as_secs_f64(), used.join(", ")))
}

/// Whether to draw progress bars: at a terminal, and not for `--json`.
pub fn wants_progress(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// The bare echo server the `--echo` target runs, on `transport`.
pub fn echo_server(bind: &str, transport: Echo, curve: bool, shutdown: &crate::shutdown::Shutdown) -> io::Result<()> {
    let security = match curve {
        true => transport::Security::Curve(crate::keys::KeyPair::generate()?),
        false => transport::Security::Plaintext,
    };
    let options = transport::RouterOptions { security: security.clone(), ..transport::RouterOptions::default() };
    let mut echo = |batch: Vec<crate::protocol::envelope::Envelope>| -> Vec<crate::serve::ReplyFrames> {
        batch
            .into_iter()
            .map(|mut envelope| {
                let body = envelope.take_body().unwrap_or_default();
                envelope.reply(body)
            })
            .collect()
    };
    match transport {
        Echo::Engine => {
            let server = crate::zmtp::bind(bind, options)?;
            println!("huddle echo listening on {}", server.local_address()?);
            server.serve(shutdown, 1024, &mut echo)
        }
        Echo::Libzmq => {
            let context = zmq::Context::new();
            let (socket, address) = transport::bind_router(&context, bind, options).map_err(io::Error::other)?;
            println!("huddle echo listening on {}", address.with_key(security.public_key()));
            crate::serve::serve(&socket, shutdown, 1024, &mut echo).map_err(io::Error::other)
        }
    }
}
