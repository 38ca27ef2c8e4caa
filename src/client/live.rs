//! Live delivery on the client's side: a [`Watch`] holds one DEALER
//! connection to a group, subscribes, and yields every new message exactly
//! once and in seq order.
//!
//! Pushes can be missed — the connection was down, the group restarted, the
//! client read too slowly and the group dropped pushes for it — so the watch
//! trusts seqs, not pushes: a push beyond the next expected seq, or a
//! subscribe reply announcing a later seq, makes it read the gap from history
//! first. It renews its subscription every [`RENEW_INTERVAL`]; a renewal
//! left unanswered means a new connection and a new subscription. It also
//! watches its connection (a ZeroMQ socket monitor): when the connection
//! comes back after a drop — the group restarted and lost its in-memory
//! subscriptions — it subscribes again at once instead of at the next renewal.

use super::{Client, ClientError};
use crate::protocol::{Address, GroupRequest, Incoming, Membership, Status, WireMessage, encode};
use crate::shutdown::Shutdown;
use crate::transport;
use std::time::{Duration, Instant};

/// The longest wait between new connections to a group that does not answer.
pub const MAX_RECONNECT_INTERVAL: Duration = Duration::from_secs(60);

/// The next wait after `patience` went unanswered: twice as long, at most
/// [`MAX_RECONNECT_INTERVAL`], give or take a fifth, so that clients that
/// lost a group together do not all come back at the same instant.
fn backed_off(patience: Duration) -> Duration {
    let doubled = patience.saturating_mul(2).min(MAX_RECONNECT_INTERVAL);
    doubled.mul_f64(fastrand::f64().mul_add(0.4, 0.8))
}

/// How often a subscription is renewed (the group keeps it 30 s).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// Messages read per history request while filling a gap.
const FILL_PAGE: usize = 1000;

pub struct Watch {
    group: Address,
    user_uuid: String,
    socket: zmq::Socket,
    /// Connection events of `socket`.
    monitor: zmq::Socket,
    /// The connection dropped: subscribe again once it is back.
    dropped: bool,
    /// Reads history, and holds the user's connection settings and key.
    history: Client,
    /// The last seq handed out; `None` until the first subscribe reply.
    last_seq: Option<u64>,
    /// How many earlier messages to show when starting with no `last_seq`.
    backlog: u64,
    renew_at: Instant,
    renew_every: Duration,
    /// When the unanswered subscribe must have had its answer.
    answer_due: Option<Instant>,
    /// How long to wait for that answer: the timeout at first, doubled at
    /// each new connection that gets none (to [`MAX_RECONNECT_INTERVAL`],
    /// jittered), back to the timeout once the group answers.
    patience: Duration,
    /// Ends a wait for news early when triggered.
    stop: Option<Shutdown>,
    /// Whether the group answers: its connection is up and its last
    /// subscription was answered in time.
    answering: bool,
    /// `answering` changed since [`Watch::next`] last returned.
    changed: bool,
}

impl Watch {
    /// Subscribes to `group` as `client`'s user, and reads history with
    /// `client`. Messages after `last_seq` come first (what arrived while
    /// away); with none, the latest `backlog` ones.
    pub fn start(
        mut client: Client,
        group: &Address,
        last_seq: Option<u64>,
        backlog: u64,
    ) -> Result<Watch, ClientError> {
        let user_uuid = client.user_for(group)?;
        let (socket, monitor) = connect(&mut client, group)?;
        let patience = client.requester.timeout();
        let mut watch = Watch {
            group: group.clone(),
            user_uuid,
            socket,
            monitor,
            dropped: false,
            history: client,
            last_seq,
            backlog,
            renew_at: Instant::now(),
            renew_every: RENEW_INTERVAL,
            answer_due: None,
            patience,
            stop: None,
            answering: true,
            changed: false,
        };
        watch.subscribe()?;
        Ok(watch)
    }

    /// Renews the subscription this often instead of every [`RENEW_INTERVAL`]
    /// (a restarted group is noticed within this time).
    pub fn renew_every(mut self, every: Duration) -> Watch {
        self.renew_every = every;
        self.renew_at = Instant::now() + every;
        self
    }

    /// Makes [`Watch::next`] return at once, with what it has, when `stop`
    /// is triggered.
    pub fn stop_on(mut self, stop: &Shutdown) -> Watch {
        self.stop = Some(stop.clone());
        self
    }

    /// The id the watch acts as at its group.
    pub fn user_uuid(&self) -> &str {
        &self.user_uuid
    }

    /// Whether the group answers (as far as the watch knows): a change
    /// ends [`Watch::next`] early, so that it can be shown at once.
    pub fn answering(&self) -> bool {
        self.answering
    }

    fn set_answering(&mut self, answering: bool) {
        self.changed |= self.answering != answering;
        self.answering = answering;
    }

    /// The client the watch reads history with, to send through as well.
    pub fn client(&mut self) -> &mut Client {
        &mut self.history
    }

    /// The last seq handed out.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    pub fn group(&self) -> &Address {
        &self.group
    }

    /// Waits up to `wait` for news: new messages in seq order, each once.
    /// Returns early, with nothing, when the watch's stop is triggered.
    pub fn next(&mut self, wait: Duration) -> Result<Vec<WireMessage>, ClientError> {
        let deadline = Instant::now() + wait;
        let mut news = Vec::new();
        loop {
            let now = Instant::now();
            if self.answer_due.is_some_and(|due| now >= due) {
                // No answer to the subscription: start over on a new
                // connection, waiting longer each time the group is silent.
                (self.socket, self.monitor) = connect(&mut self.history, &self.group)?;
                self.patience = backed_off(self.patience);
                self.set_answering(false);
                self.answer_due = None;
                self.subscribe()?;
            } else if now >= self.renew_at {
                self.subscribe()?;
            }
            self.follow_connection()?;
            self.receive(&mut news)?;
            let now = Instant::now();
            if !news.is_empty() || now >= deadline || std::mem::take(&mut self.changed) {
                return Ok(news);
            }
            let mut until = deadline.min(self.renew_at);
            if let Some(due) = self.answer_due {
                until = until.min(due);
            }
            let wait_ms = until.saturating_duration_since(now).as_millis().max(1) as i64;
            let mut items = vec![self.socket.as_poll_item(zmq::POLLIN), self.monitor.as_poll_item(zmq::POLLIN)];
            items.extend(self.stop.as_ref().map(Shutdown::poll_item));
            zmq::poll(&mut items, wait_ms).map_err(|source| self.transport(source))?;
            if items.get(2).is_some_and(zmq::PollItem::is_readable) {
                return Ok(news);
            }
        }
    }

    /// Ends the subscription (it would expire anyway).
    pub fn stop(self) {
        let request = encode(&GroupRequest::Unsubscribe(Membership { user_uuid: self.user_uuid.clone() }));
        let _ = self.socket.send_multipart([&b""[..], &request], zmq::DONTWAIT);
    }

    fn subscribe(&mut self) -> Result<(), ClientError> {
        let request = encode(&GroupRequest::Subscribe(Membership { user_uuid: self.user_uuid.clone() }));
        self.socket.send_multipart([&b""[..], &request], zmq::DONTWAIT).map_err(|source| self.transport(source))?;
        let now = Instant::now();
        self.answer_due.get_or_insert(now + self.patience);
        self.renew_at = now + self.renew_every;
        Ok(())
    }

    /// Subscribes again when the connection is back after a drop.
    fn follow_connection(&mut self) -> Result<(), ClientError> {
        while let Some(event) = transport::next_event(&self.monitor) {
            match event {
                zmq::SocketEvent::DISCONNECTED => {
                    self.dropped = true;
                    self.set_answering(false);
                }
                zmq::SocketEvent::CONNECTED if self.dropped => {
                    self.dropped = false;
                    self.answer_due = None;
                    self.subscribe()?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Handles everything already received.
    fn receive(&mut self, news: &mut Vec<WireMessage>) -> Result<(), ClientError> {
        while let Ok(frames) = self.socket.recv_multipart(zmq::DONTWAIT) {
            let Some(body) = frames.last() else { continue };
            match Incoming::decode(body) {
                Ok(Incoming::Push(push)) => {
                    for message in push.messages {
                        self.take(message, news)?;
                    }
                }
                Ok(Incoming::Reply(reply)) if reply.response == Status::Success => {
                    self.set_answering(true);
                    self.answer_due = None;
                    self.patience = self.history.requester.timeout();
                    if let Some(latest) = reply.seq {
                        self.caught_up_to(latest, news)?;
                    }
                }
                Ok(Incoming::Reply(reply)) => {
                    return Err(ClientError::refused(&self.group, reply.error));
                }
                Err(error) => return Err(ClientError::bad_reply("group", &self.group, body, error)),
            }
        }
        Ok(())
    }

    /// The group's latest seq is `latest`: read whatever lies between.
    fn caught_up_to(&mut self, latest: u64, news: &mut Vec<WireMessage>) -> Result<(), ClientError> {
        let last = match self.last_seq {
            // A group whose history restarted: follow it from where it is.
            Some(last) if latest < last => latest,
            Some(last) => last,
            None => latest.saturating_sub(self.backlog),
        };
        self.last_seq = Some(last);
        self.fill(latest, news)
    }

    fn take(&mut self, message: WireMessage, news: &mut Vec<WireMessage>) -> Result<(), ClientError> {
        let Some(seq) = message.seq else { return Ok(()) };
        let Some(last) = self.last_seq else { return Ok(()) };
        if seq <= last {
            return Ok(());
        }
        if seq > last + 1 {
            self.fill(seq - 1, news)?;
        }
        if self.last_seq.is_some_and(|last| seq == last + 1) {
            self.last_seq = Some(seq);
            news.push(message);
        }
        Ok(())
    }

    /// Reads history after the last seq up to `up_to`.
    fn fill(&mut self, up_to: u64, news: &mut Vec<WireMessage>) -> Result<(), ClientError> {
        while let Some(last) = self.last_seq.filter(|last| *last < up_to) {
            let (page, more) = self.history.page_after(&self.group, last, FILL_PAGE)?;
            for message in page {
                if let Some(seq) = message.seq.filter(|seq| *seq > self.last_seq.unwrap_or(0)) {
                    self.last_seq = Some(seq);
                    news.push(message);
                }
            }
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn transport(&self, source: zmq::Error) -> ClientError {
        ClientError::group_transport(&self.group, source)
    }
}

/// A DEALER connected to `group` as `client`'s user, and a socket reporting
/// its connection events.
fn connect(client: &mut Client, group: &Address) -> Result<(zmq::Socket, zmq::Socket), ClientError> {
    let keys = client.requester.keys()?;
    let context = client.requester.context();
    let transport = |source| ClientError::group_transport(group, source);
    let socket = transport::connect_as(context, zmq::DEALER, group, &keys).map_err(transport)?;
    let wanted = zmq::SocketEvent::CONNECTED as i32 | zmq::SocketEvent::DISCONNECTED as i32;
    let monitor = transport::monitor(context, &socket, wanted).map_err(transport)?;
    Ok((socket, monitor))
}
