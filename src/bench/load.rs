//! The load generator: N users, each on its own DEALER connection (to one
//! group, or user i to the i-th of many) with up to W requests in flight, driven from one thread by one poll loop, so that
//! the client side costs little next to the server it measures. The
//! connections are huddle's own ZMTP client ([`crate::zmtp::client`]) by
//! default, libzmq's on request.
//!
//! Requests go in the REQ envelope (an empty frame first), so any server a
//! REQ client can talk to — huddle's, the seed's, a bare echo — can be driven.

use super::users::Users;
use crate::protocol::Address;
use crate::transport::ConnectOptions;
use crate::zmtp::client::Client;
use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// What one run measured.
pub struct LoadResult {
    /// Replies that counted as success, within the run's duration.
    pub acknowledged: u64,
    /// Replies that did not.
    pub refused: u64,
    pub elapsed: Duration,
    /// Latency of every counted reply, in microseconds.
    pub latency_us: Histogram<u64>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.acknowledged as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How to drive a server.
pub struct Load<'a> {
    /// The groups driven: user `i` talks to `groups[i % groups.len()]`.
    pub groups: &'a [Address],
    /// Who the users are (names, or keys under CURVE).
    pub identities: &'a Users,
    pub users: usize,
    pub window: usize,
    pub duration: Duration,
    /// Send no more than this many requests in all (`None`: no bound).
    pub total: Option<u64>,
    /// The body of the `n`th request of user `user`.
    pub request: &'a mut dyn FnMut(usize, u64) -> Vec<u8>,
    /// Whether a reply counts as success.
    pub accept: &'a dyn Fn(&[u8]) -> bool,
    /// Called now and then with the time elapsed.
    pub progress: &'a dyn Fn(Duration),
}

impl Load<'_> {
    /// The group user `user` talks to.
    fn group_of(&self, user: usize) -> &Address {
        &self.groups[user % self.groups.len()]
    }
}

/// The client side a load runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// huddle's own ZMTP codec on plain non-blocking sockets: cheap, so a
    /// benchmark on a small machine measures the server, not the client.
    Engine,
    /// libzmq DEALER sockets, as huddle's own client and the seed's use.
    Libzmq,
}

/// Runs the load until its duration is over or its total is answered.
pub fn run(load: Load, client: ClientKind) -> io::Result<LoadResult> {
    let mut sockets: Box<dyn Sockets> = match client {
        ClientKind::Engine => Box::new(EngineSockets::connect(&load)?),
        ClientKind::Libzmq => Box::new(LibzmqSockets::connect(&load).map_err(io::Error::other)?),
    };
    let total = load.total.unwrap_or(u64::MAX);
    let mut latency_us = super::latency_histogram();
    let (mut acknowledged, mut refused, mut sent) = (0u64, 0u64, 0u64);
    let mut users: Vec<User> = (0..load.users).map(|_| User::default()).collect();
    let started = Instant::now();
    let end = started + load.duration;
    for (index, user) in users.iter_mut().enumerate() {
        for _ in 0..load.window {
            if sent < total {
                user.send(sockets.as_mut(), index, load.request)?;
                sent += 1;
            }
        }
    }
    let mut last_progress = started;
    let mut replies = Vec::new();
    loop {
        let now = Instant::now();
        if now >= end || acknowledged + refused >= total {
            break;
        }
        if now - last_progress >= Duration::from_millis(100) {
            (load.progress)(now - started);
            last_progress = now;
        }
        sockets.receive((end - now).clamp(Duration::from_millis(1), Duration::from_millis(100)), &mut replies)?;
        for (index, reply) in replies.drain(..) {
            let received = Instant::now();
            let user = &mut users[index];
            let Some(sent_at) = user.sent_at.pop_front() else { continue };
            if (load.accept)(&reply) {
                acknowledged += 1;
                latency_us.saturating_record((received - sent_at).as_micros().max(1) as u64);
            } else {
                refused += 1;
            }
            if sent < total && received < end {
                user.send(sockets.as_mut(), index, load.request)?;
                sent += 1;
            }
        }
    }
    Ok(LoadResult { acknowledged, refused, elapsed: started.elapsed(), latency_us })
}

#[derive(Default)]
struct User {
    sent_at: VecDeque<Instant>,
    sent: u64,
}

impl User {
    fn send(
        &mut self,
        sockets: &mut dyn Sockets,
        index: usize,
        request: &mut dyn FnMut(usize, u64) -> Vec<u8>,
    ) -> io::Result<()> {
        let body = request(index, self.sent);
        sockets.send(index, &body)?;
        self.sent += 1;
        self.sent_at.push_back(Instant::now());
        Ok(())
    }
}

/// One connection per user, whatever carries them.
trait Sockets {
    /// Sends a request in the REQ envelope.
    fn send(&mut self, user: usize, body: &[u8]) -> io::Result<()>;
    /// Waits up to `timeout` for replies: (user, the reply's last frame).
    fn receive(&mut self, timeout: Duration, replies: &mut Vec<(usize, Vec<u8>)>) -> io::Result<()>;
}

struct LibzmqSockets {
    _context: zmq::Context,
    sockets: Vec<zmq::Socket>,
}

impl LibzmqSockets {
    fn connect(load: &Load) -> Result<LibzmqSockets, zmq::Error> {
        let context = zmq::Context::new();
        let sockets = (0..load.users)
            .map(|user| {
                let group = load.group_of(user);
                load.identities.connect(&context, zmq::DEALER, group, user, ConnectOptions::default())
            })
            .collect::<Result<_, _>>()?;
        Ok(LibzmqSockets { _context: context, sockets })
    }
}

impl Sockets for LibzmqSockets {
    fn send(&mut self, user: usize, body: &[u8]) -> io::Result<()> {
        self.sockets[user].send_multipart([&b""[..], body], 0).map_err(io::Error::other)
    }

    fn receive(&mut self, timeout: Duration, replies: &mut Vec<(usize, Vec<u8>)>) -> io::Result<()> {
        let mut items: Vec<zmq::PollItem> =
            self.sockets.iter().map(|socket| socket.as_poll_item(zmq::POLLIN)).collect();
        zmq::poll(&mut items, timeout.as_millis() as i64).map_err(io::Error::other)?;
        let readable: Vec<bool> = items.iter().map(|item| item.is_readable()).collect();
        for (user, socket) in self.sockets.iter().enumerate().filter(|(user, _)| readable[*user]) {
            while let Ok(mut frames) = socket.recv_multipart(zmq::DONTWAIT) {
                replies.push((user, frames.pop().unwrap_or_default()));
            }
        }
        Ok(())
    }
}

struct EngineSockets {
    poll: mio::Poll,
    events: mio::Events,
    clients: Vec<Client>,
}

impl EngineSockets {
    fn connect(load: &Load) -> io::Result<EngineSockets> {
        let poll = mio::Poll::new()?;
        let mut clients = Vec::with_capacity(load.users);
        for user in 0..load.users {
            let group = load.group_of(user);
            let address: SocketAddr = group
                .host_port()
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::other(format!("cannot resolve {group}")))?;
            let keys = load.identities.curve_keys(group, user);
            let client = Client::connect(address, keys, Duration::from_secs(10))?;
            poll.registry().register(&mut SourceFd(&client.raw_fd()), mio::Token(user), mio::Interest::READABLE)?;
            clients.push(client);
        }
        Ok(EngineSockets { poll, events: mio::Events::with_capacity(1024), clients })
    }
}

impl Sockets for EngineSockets {
    fn send(&mut self, user: usize, body: &[u8]) -> io::Result<()> {
        self.clients[user].send(&[b"", body])
    }

    fn receive(&mut self, timeout: Duration, replies: &mut Vec<(usize, Vec<u8>)>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            other => other?,
        }
        for event in &self.events {
            let user = event.token().0;
            // Edge-triggered: read until the socket has nothing more.
            while let Some(mut frames) = self.clients[user].try_recv()? {
                replies.push((user, frames.pop().unwrap_or_default()));
            }
        }
        Ok(())
    }
}
