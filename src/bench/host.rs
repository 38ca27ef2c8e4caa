//! `huddle bench host`: what many groups cost on one host. It starts a host
//! in a temporary directory, creates N groups through its control socket
//! (each timed, as `/create` is), then reads the host's memory per idle
//! group, its CPU while all of them are idle, and how long a restart that
//! reopens them all takes.

use super::process::Watched;
use crate::client::{Client, Requester};
use crate::protocol::Address;
use crate::spawn::{SpawnedServer, huddle_command};
use hdrhistogram::Histogram;
use std::io;
use std::time::{Duration, Instant};

/// What one run measured.
pub struct HostCosts {
    pub groups: usize,
    pub create_p50: Duration,
    pub create_p99: Duration,
    pub rss_per_group_kib: f64,
    pub idle_cpu: Duration,
    pub idle_for: Duration,
    pub restart: Duration,
}

impl std::fmt::Display for HostCosts {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "host with {} groups: create p50 {:.2} ms, p99 {:.2} ms; RSS {:.1} KiB per idle group; \
             idle CPU {} ms in {:.0} s; restart (reopen all) {:.2} s",
            self.groups,
            self.create_p50.as_secs_f64() * 1000.0,
            self.create_p99.as_secs_f64() * 1000.0,
            self.rss_per_group_kib,
            self.idle_cpu.as_millis(),
            self.idle_for.as_secs_f64(),
            self.restart.as_secs_f64(),
        )
    }
}

/// A run of `groups` groups, idle for `idle_for`.
pub fn measure(groups: usize, idle_for: Duration) -> io::Result<HostCosts> {
    let data = tempfile::tempdir()?;
    let first = free_ports(groups)?;
    let ports = format!("{first}-{}", first + groups as u16 - 1);
    let start = || -> io::Result<SpawnedServer> {
        let mut command = huddle_command()?;
        command.args(["host", "--listen", "127.0.0.1:0", "--ports", &ports, "--directory", "127.0.0.1:1", "--data"]);
        command.arg(data.path()).env("RUST_LOG", "warn");
        SpawnedServer::start(command)
    };
    let mut host = start()?;
    let watched = Watched { pid: host.pid() };
    let empty = watched.rss_kib().unwrap_or(0);
    let address = Address::parse(&host.address).map_err(io::Error::other)?;
    let mut client = Client::new(Requester::new(zmq::Context::new(), Duration::from_secs(10)), "bench".into());
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for n in 0..groups {
        let started = Instant::now();
        client.create_group(&address, &format!("group-{n}")).map_err(io::Error::other)?;
        latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
    }
    let rss = watched.rss_kib().unwrap_or(0);
    let before = watched.cpu_time().unwrap_or_default();
    std::thread::sleep(idle_for);
    let idle_cpu = watched.cpu_time().unwrap_or_default().saturating_sub(before);
    host.kill();
    let started = Instant::now();
    let _again = start()?;
    let restart = started.elapsed();
    Ok(HostCosts {
        groups,
        create_p50: Duration::from_micros(latency.value_at_quantile(0.5)),
        create_p99: Duration::from_micros(latency.value_at_quantile(0.99)),
        rss_per_group_kib: rss.saturating_sub(empty) as f64 / groups.max(1) as f64,
        idle_cpu,
        idle_for,
        restart,
    })
}

/// The first of `count` ports in a row on loopback that nothing listens on.
pub fn free_ports(count: usize) -> io::Result<u16> {
    let count = u16::try_from(count).map_err(|_| io::Error::other("too many groups for one host's ports"))?;
    let mut first = 20_000u16;
    while first.checked_add(count).is_some_and(|end| end < 60_000) {
        match (first..first + count).find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_err()) {
            None => return Ok(first),
            Some(taken) => first = taken + 1,
        }
    }
    Err(io::Error::other(format!("no {count} free ports in a row on loopback")))
}
