//! `huddle bench fanout`: M members watching one group while one user sends
//! at a steady rate. Each message carries the moment it was sent (on this
//! process's clock), so every delivery gives an end-to-end latency: from the
//! send, through the durable commit, to the member's socket.

use super::load::LoadResult;
use super::users::Users;
use crate::protocol::{Address, GroupRequest, Incoming, Membership, SendMessage, encode};
use crate::transport::ConnectOptions;
use std::time::{Duration, Instant};

/// What a fanout run measured.
pub struct FanoutResult {
    pub deliveries: LoadResult,
    /// Messages the sender got acknowledged.
    pub sent: u64,
    /// Deliveries a member did not get (pushes dropped for a slow member,
    /// which a real client fills from history).
    pub missed: u64,
}

/// Subscribes a connection for each of `members` (user numbers), then sends
/// `rate` messages a second for `duration` as user `sender`, collecting
/// every push.
pub fn run(
    group: &Address,
    users: &Users,
    members: &[usize],
    sender: usize,
    rate: u64,
    duration: Duration,
) -> Result<FanoutResult, zmq::Error> {
    let context = zmq::Context::new();
    let mut sockets = Vec::with_capacity(members.len());
    for &member in members {
        let unbounded = ConnectOptions { receive_hwm: Some(0), ..ConnectOptions::default() };
        let socket = users.connect(&context, zmq::DEALER, group, member, unbounded)?;
        let subscribe = encode(&GroupRequest::Subscribe(Membership { user_uuid: users.id(member) }));
        socket.send_multipart([&b""[..], &subscribe], 0)?;
        sockets.push(socket);
    }
    // Every subscription confirmed before the first message.
    for socket in &sockets {
        socket.recv_multipart(0)?;
    }
    let send_socket = users.connect(&context, zmq::DEALER, group, sender, ConnectOptions::default())?;
    let sender = users.id(sender);

    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut next_send = started;
    let end = started + duration;
    let mut latency_us = super::latency_histogram();
    let (mut sent, mut acknowledged, mut delivered) = (0u64, 0u64, 0u64);
    // Deliveries still expected come in for a moment after the last send.
    let drain_until = end + Duration::from_secs(2);
    loop {
        let now = Instant::now();
        if now < end && now >= next_send {
            let text = format!("{}", (now - started).as_micros());
            let request = encode(&GroupRequest::Send(SendMessage {
                user_uuid: sender.clone(),
                message: text,
                msg_id: Some(crate::client::new_msg_id()),
            }));
            send_socket.send_multipart([&b""[..], &request], 0)?;
            sent += 1;
            next_send += interval;
            continue;
        }
        if now >= drain_until
            || (now >= end && delivered >= acknowledged * members.len() as u64 && acknowledged == sent)
        {
            break;
        }
        let wait = if now < end { next_send.saturating_duration_since(now) } else { drain_until - now };
        let mut items: Vec<zmq::PollItem> = sockets.iter().map(|s| s.as_poll_item(zmq::POLLIN)).collect();
        items.push(send_socket.as_poll_item(zmq::POLLIN));
        zmq::poll(&mut items, wait.as_millis().max(1) as i64)?;
        let readable: Vec<bool> = items.iter().map(|item| item.is_readable()).collect();
        if readable[sockets.len()] {
            while send_socket.recv_multipart(zmq::DONTWAIT).is_ok() {
                acknowledged += 1;
            }
        }
        for (socket, _) in sockets.iter().zip(&readable).filter(|(_, readable)| **readable) {
            while let Ok(frames) = socket.recv_multipart(zmq::DONTWAIT) {
                let received = started.elapsed().as_micros() as u64;
                let Some(Ok(Incoming::Push(push))) = frames.last().map(|body| Incoming::decode(body)) else {
                    continue;
                };
                for message in push.messages {
                    if let Ok(sent_at) = message.message.parse::<u64>() {
                        delivered += 1;
                        latency_us.saturating_record(received.saturating_sub(sent_at).max(1));
                    }
                }
            }
        }
    }
    let expected = acknowledged * members.len() as u64;
    Ok(FanoutResult {
        deliveries: LoadResult {
            acknowledged: delivered,
            refused: 0,
            elapsed: started.elapsed().min(duration),
            latency_us,
        },
        sent: acknowledged,
        missed: expected.saturating_sub(delivered),
    })
}
