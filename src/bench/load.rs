//! The load generator: N users, each on its own DEALER connection with up to
//! W requests in flight, driven from one thread by one `zmq::poll` loop, so
//! that the client side costs little next to the server it measures.
//!
//! Requests go in the REQ envelope (an empty frame first), so any server a
//! REQ client can talk to — huddle's, the seed's, a bare echo — can be driven.

use super::users::Users;
use crate::protocol::Address;
use crate::transport::ConnectOptions;
use hdrhistogram::Histogram;
use std::collections::VecDeque;
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
    pub group: &'a Address,
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

struct User {
    socket: zmq::Socket,
    sent_at: VecDeque<Instant>,
    sent: u64,
}

/// Runs the load until its duration is over or its total is answered.
pub fn run(context: &zmq::Context, load: Load) -> Result<LoadResult, zmq::Error> {
    let mut users = Vec::with_capacity(load.users);
    for user in 0..load.users {
        let socket = load.identities.connect(context, zmq::DEALER, load.group, user, ConnectOptions::default())?;
        users.push(User { socket, sent_at: VecDeque::with_capacity(load.window), sent: 0 });
    }
    let total = load.total.unwrap_or(u64::MAX);
    let mut latency_us = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let (mut acknowledged, mut refused, mut sent) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let end = started + load.duration;
    for (index, user) in users.iter_mut().enumerate() {
        for _ in 0..load.window {
            if sent < total {
                send(user, index, load.request)?;
                sent += 1;
            }
        }
    }
    let mut last_progress = started;
    loop {
        let now = Instant::now();
        if now >= end || acknowledged + refused >= total {
            break;
        }
        if now - last_progress >= Duration::from_millis(100) {
            (load.progress)(now - started);
            last_progress = now;
        }
        let mut items: Vec<zmq::PollItem> = users.iter().map(|user| user.socket.as_poll_item(zmq::POLLIN)).collect();
        let wait_ms = (end - now).as_millis().clamp(1, 100) as i64;
        zmq::poll(&mut items, wait_ms)?;
        let readable: Vec<bool> = items.iter().map(|item| item.is_readable()).collect();
        for (index, user) in users.iter_mut().enumerate() {
            if !readable[index] {
                continue;
            }
            while let Ok(frames) = user.socket.recv_multipart(zmq::DONTWAIT) {
                let received = Instant::now();
                let Some(sent_at) = user.sent_at.pop_front() else { continue };
                if frames.last().is_some_and(|reply| (load.accept)(reply)) {
                    acknowledged += 1;
                    latency_us.saturating_record((received - sent_at).as_micros().max(1) as u64);
                } else {
                    refused += 1;
                }
                if sent < total && received < end {
                    send(user, index, load.request)?;
                    sent += 1;
                }
            }
        }
    }
    Ok(LoadResult { acknowledged, refused, elapsed: started.elapsed(), latency_us })
}

fn send(user: &mut User, index: usize, request: &mut dyn FnMut(usize, u64) -> Vec<u8>) -> Result<(), zmq::Error> {
    let body = request(index, user.sent);
    user.socket.send_multipart([&b""[..], &body], 0)?;
    user.sent += 1;
    user.sent_at.push_back(Instant::now());
    Ok(())
}
