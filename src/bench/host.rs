//! `huddle bench host`: what many groups cost on one host. It starts a
//! directory and a host in a temporary directory, creates N groups through
//! the host's control socket (each timed, as `/create` is), waits for the
//! directory to list them all, then measures:
//!
//! - the host's memory per idle group, and the CPU of host and directory
//!   while every group is idle (the registrations are all that runs);
//! - `get_group_list` with all N listed;
//! - S groups each with one sender (one request in flight), all at once:
//!   the host's aggregate durable acks, beside a lone group's 64 users
//!   measured in the same run;
//! - how long a restart that reopens every group takes.

use super::load::{self, ClientKind, Load, LoadResult};
use super::process::Watched;
use super::servers::{quiet, start_directory};
use super::users::Users;
use super::{Options, Target, is_success, latency_histogram};
use crate::client::{Client, Requester};
use crate::protocol::{Address, DirectoryRequest, GroupRequest, Membership, SendMessage, encode};
use crate::spawn::{SpawnedServer, huddle_command};
use std::io;
use std::time::{Duration, Instant};

/// Bytes of text in each message of the send phases.
const MESSAGE_BYTES: usize = 100;
/// Users of the lone group measured beside the host.
const LONE_USERS: usize = 64;
/// `get_group_list` requests timed.
const LIST_REQUESTS: usize = 100;

/// What one run measured.
pub struct HostCosts {
    pub groups: usize,
    pub create_p50: Duration,
    pub create_p99: Duration,
    pub rss_per_group_kib: f64,
    pub idle_for: Duration,
    pub idle_cpu: Duration,
    pub directory_idle_cpu: Duration,
    pub list_p50: Duration,
    pub senders: usize,
    pub hosted: LoadResult,
    pub host_cpu_us_per_ack: Option<f64>,
    pub lone: Option<super::Report>,
    pub restart: Duration,
}

impl std::fmt::Display for HostCosts {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        let share = |cpu: Duration| 100.0 * cpu.as_secs_f64() / self.idle_for.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "host with {} groups: create p50 {:.2} ms, p99 {:.2} ms; RSS {:.1} KiB per idle group; \
             restart (reopen all) {:.2} s",
            self.groups,
            ms(self.create_p50),
            ms(self.create_p99),
            self.rss_per_group_kib,
            self.restart.as_secs_f64(),
        )?;
        writeln!(
            f,
            "idle for {:.0} s: host CPU {} ms ({:.2} % of a core), directory CPU {} ms ({:.2} % of a core); \
             get_group_list of {} p50 {:.2} ms",
            self.idle_for.as_secs_f64(),
            self.idle_cpu.as_millis(),
            share(self.idle_cpu),
            self.directory_idle_cpu.as_millis(),
            share(self.directory_idle_cpu),
            self.groups,
            ms(self.list_p50),
        )?;
        let p50 = self.hosted.latency_us.value_at_quantile(0.5) as f64 / 1000.0;
        write!(
            f,
            "{} groups x 1 sender: {:.0} acks/s, p50 {p50:.2} ms, host {} CPU/ack",
            self.senders,
            self.hosted.per_second(),
            self.host_cpu_us_per_ack.map_or("?".into(), |us| format!("{us:.1} µs")),
        )?;
        if let Some(lone) = &self.lone {
            write!(
                f,
                "; a lone group, {} users: {:.0} acks/s; ratio {:.2}",
                lone.users,
                lone.per_second,
                self.hosted.per_second() / lone.per_second.max(1e-9)
            )?;
        }
        Ok(())
    }
}

/// What to run.
pub struct HostBench {
    pub groups: usize,
    /// How many of the groups get a sender.
    pub senders: usize,
    /// How long to watch the idle host, and to send.
    pub duration: Duration,
    /// Measure a lone group's 64 users in the same run.
    pub lone: bool,
}

/// Runs the whole measurement.
pub fn measure(bench: &HostBench) -> io::Result<HostCosts> {
    let data = tempfile::tempdir()?;
    let directory = start_directory(&data.path().join("directory"))?;
    let directory_watched = Watched { pid: directory.pid() };
    let first = free_ports(bench.groups)?;
    let ports = format!("{first}-{}", first + bench.groups as u16 - 1);
    let start = || -> io::Result<SpawnedServer> {
        let mut command = huddle_command()?;
        command.args(["host", "--listen", "127.0.0.1:0", "--ports", &ports, "--directory", &directory.address]);
        command.arg("--data").arg(data.path().join("host"));
        SpawnedServer::start(quiet(command))
    };
    let mut host = start()?;
    let watched = Watched { pid: host.pid() };
    let empty = watched.rss_kib().unwrap_or(0);
    let address = Address::parse(&host.address).map_err(io::Error::other)?;
    let mut client = Client::new(Requester::new(zmq::Context::new(), Duration::from_secs(10)), "bench".into());
    let mut latency = latency_histogram();
    let mut groups = Vec::with_capacity(bench.groups);
    for n in 0..bench.groups {
        let started = Instant::now();
        groups.push(client.create_group(&address, &format!("group-{n}"), false).map_err(io::Error::other)?);
        latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
    }
    let rss = watched.rss_kib().unwrap_or(0);

    let directory_address = Address::parse(&directory.address).map_err(io::Error::other)?;
    let list_p50 = wait_listed_then_time_lists(&directory_address, bench.groups)?;
    let (before, directory_before) = (watched.cpu_time(), directory_watched.cpu_time());
    std::thread::sleep(bench.duration);
    let idle_cpu = since(watched.cpu_time(), before);
    let directory_idle_cpu = since(directory_watched.cpu_time(), directory_before);

    let senders = bench.senders.min(groups.len());
    let (hosted, host_cpu_us_per_ack) = send_to_each(&groups[..senders], watched, bench.duration)?;
    let lone = match bench.lone {
        true => lone_group(bench.duration)?.into_iter().next(),
        false => None,
    };

    host.kill();
    let started = Instant::now();
    let _again = start()?;
    let restart = started.elapsed();
    Ok(HostCosts {
        groups: bench.groups,
        create_p50: Duration::from_micros(latency.value_at_quantile(0.5)),
        create_p99: Duration::from_micros(latency.value_at_quantile(0.99)),
        rss_per_group_kib: rss.saturating_sub(empty) as f64 / bench.groups.max(1) as f64,
        idle_for: bench.duration,
        idle_cpu,
        directory_idle_cpu,
        list_p50,
        senders,
        hosted,
        host_cpu_us_per_ack,
        lone,
        restart,
    })
}

fn since(now: Option<Duration>, before: Option<Duration>) -> Duration {
    now.zip(before).map_or(Duration::ZERO, |(now, before)| now.saturating_sub(before))
}

/// Waits until the directory lists `groups` groups, then times
/// `get_group_list`: its p50.
fn wait_listed_then_time_lists(directory: &Address, groups: usize) -> io::Result<Duration> {
    let context = zmq::Context::new();
    let socket = crate::transport::connect(&context, zmq::REQ, directory).map_err(io::Error::other)?;
    socket.set_rcvtimeo(10_000).map_err(io::Error::other)?;
    let request = encode(&DirectoryRequest::GroupList { user_uuid: Some("bench".into()), keys: None });
    let list = || -> io::Result<usize> {
        socket.send(&request, 0).map_err(io::Error::other)?;
        let reply = socket.recv_bytes(0).map_err(|error| io::Error::other(format!("get_group_list: {error}")))?;
        let listed: Vec<String> = serde_json::from_slice(&reply).map_err(io::Error::other)?;
        Ok(listed.len())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while list()? < groups {
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("the directory did not list all {groups} groups in 60 s")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut latency = latency_histogram();
    for _ in 0..LIST_REQUESTS {
        let started = Instant::now();
        list()?;
        latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
    }
    Ok(Duration::from_micros(latency.value_at_quantile(0.5)))
}

/// One sender per group, each a member first, each with one request in
/// flight, for `duration`: what they got acknowledged, and the host's CPU
/// per acknowledgement.
fn send_to_each(groups: &[Address], host: Watched, duration: Duration) -> io::Result<(LoadResult, Option<f64>)> {
    let users = Users::none();
    let run = |total, duration, request: &mut dyn FnMut(usize, u64) -> Vec<u8>| {
        let load = Load {
            groups,
            identities: &users,
            users: groups.len(),
            window: 1,
            duration,
            total,
            request,
            accept: &is_success,
            progress: &|_| {},
        };
        load::run(load, ClientKind::Engine)
    };
    let joined = run(Some(groups.len() as u64), Duration::from_secs(60), &mut |user, _| {
        encode(&GroupRequest::Join(Membership { user_uuid: users.id(user) }))
    })?;
    if joined.acknowledged < groups.len() as u64 {
        return Err(io::Error::other(format!("only {} of {} joins succeeded", joined.acknowledged, groups.len())));
    }
    let text = "x".repeat(MESSAGE_BYTES);
    let before = host.cpu_time();
    let result = run(None, duration, &mut |user, _| {
        encode(&GroupRequest::Send(SendMessage {
            user_uuid: users.id(user),
            message: text.clone(),
            msg_id: Some(crate::client::new_msg_id()),
        }))
    })?;
    let cpu = since(host.cpu_time(), before);
    let per_ack = (result.acknowledged > 0).then(|| cpu.as_secs_f64() * 1e6 / result.acknowledged as f64);
    Ok((result, per_ack))
}

/// A lone group's 64 users, as `huddle bench send` measures them.
fn lone_group(duration: Duration) -> io::Result<Vec<super::Report>> {
    super::send(&Options {
        target: Target::StartHere,
        users: LONE_USERS,
        window: 1,
        duration,
        message_bytes: MESSAGE_BYTES,
        progress: false,
        curve: false,
        client: ClientKind::Engine,
    })
}

/// The first of `count` ports in a row on loopback that nothing listens on,
/// searched from a random place (so that two callers at once, tests in
/// parallel, seldom pick the same ports).
pub fn free_ports(count: usize) -> io::Result<u16> {
    let count = u16::try_from(count).map_err(|_| io::Error::other("too many groups for one host's ports"))?;
    let mut first = 20_000 + fastrand::u16(0..=30_000u16.saturating_sub(count));
    while first.checked_add(count).is_some_and(|end| end < 60_000) {
        match (first..first + count).find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_err()) {
            None => return Ok(first),
            Some(taken) => first = taken + 1,
        }
    }
    Err(io::Error::other(format!("no {count} free ports in a row on loopback")))
}
