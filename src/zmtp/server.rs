//! The engine's loop: one thread, one epoll, every connection of a server.
//!
//! Each wake-up reads what the ready connections sent (at most a budget of
//! messages from each, so one busy peer cannot crowd out the rest), hands
//! the whole batch to the [`Service`], and writes the replies straight to
//! the sockets; only what a socket cannot take at once is queued, and a
//! peer whose queue is over its byte limit is sent nothing more (a ROUTER
//! drops, it never waits). Connections that do not finish their handshake
//! in time are closed, and connections beyond the cap are refused, so the
//! process always keeps descriptors for its own files.
//!
//! Readiness is edge-triggered: a connection is read until it has nothing
//! more (a short read, which on Linux means the socket is empty until the
//! next edge) or until its budget is spent, in which case it is read again
//! on the next turn without waiting.

use super::codec::Fault;
use super::connection::{Connection, Event, Policy};
use crate::protocol::Address;
use crate::protocol::envelope::Envelope;
use crate::serve::{ReplyFrames, Service};
use crate::shutdown::Shutdown;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

const STOP: Token = Token(usize::MAX);
/// Listener `n` is polled as `Token(LISTENERS - n)`, far above any
/// connection's slot.
const LISTENERS: usize = usize::MAX - 1;

fn listener_token(index: usize) -> Token {
    Token(LISTENERS - index)
}

/// One listening socket and what its connections speak.
struct Listening {
    /// `None` once closed (its index is never given to another listener).
    listener: Option<TcpListener>,
    policy: Policy,
}

/// Servers on many listeners in one loop (`huddle host`): each request
/// comes tagged with the index of the listener it came through, and each
/// reply goes out through the listener it names.
pub trait MultiService {
    /// Answers a batch: the frames to send, each with its listener.
    fn handle_batch(&mut self, batch: Vec<(usize, Envelope)>, binder: &mut Binder) -> Vec<(usize, ReplyFrames)>;
    /// When to be woken without a request; `None`: not at all.
    fn wake_at(&self) -> Option<Instant>;
    /// Called once `wake_at` has come (and at the stop): frames to send.
    fn wake(&mut self) -> Vec<(usize, ReplyFrames)>;
}

/// Opens more listeners while serving.
pub struct Binder<'a> {
    poll: &'a Poll,
    listeners: &'a mut Vec<Listening>,
    /// Listeners closed this turn, whose connections the loop then closes.
    closed: Vec<usize>,
}

impl<'a> Binder<'a> {
    /// Opens listeners on `server` before it serves.
    pub fn of(server: &'a mut Server) -> Binder<'a> {
        let Server { poll, listeners, .. } = server;
        Binder { poll, listeners, closed: Vec::new() }
    }

    /// Listens on `endpoint` with `options`, from the next turn on: the new
    /// listener's index, and the address it listens on.
    pub fn bind(&mut self, endpoint: &str, options: crate::transport::RouterOptions) -> io::Result<(usize, Address)> {
        let (mut listener, policy) = super::listen(endpoint, options)?;
        let index = self.listeners.len();
        self.poll.registry().register(&mut listener, listener_token(index), Interest::READABLE)?;
        self.listeners.push(Listening { listener: Some(listener), policy });
        Ok((index, local_address(&self.listeners[index])?))
    }

    /// Stops listening on listener `index` and, after this turn's replies,
    /// closes every connection that came through it.
    pub fn close(&mut self, index: usize) {
        if let Some(mut listener) = self.listeners.get_mut(index).and_then(|listening| listening.listener.take()) {
            let _ = self.poll.registry().deregister(&mut listener);
            self.closed.push(index);
        }
    }
}

fn local_address(listening: &Listening) -> io::Result<Address> {
    let listener = listening.listener.as_ref().ok_or_else(|| io::Error::other("the listener is closed"))?;
    let local = listener.local_addr()?;
    let key = listening.policy.curve.map(|(public, _)| crate::keys::PublicKey::from_bytes(&public));
    Ok(Address { host: local.ip().to_string(), port: local.port(), key })
}

/// One [`Service`] on listener 0.
struct Single<'a, S>(&'a mut S);

impl<S: Service> MultiService for Single<'_, S> {
    fn handle_batch(&mut self, batch: Vec<(usize, Envelope)>, _: &mut Binder) -> Vec<(usize, ReplyFrames)> {
        let batch = batch.into_iter().map(|(_, envelope)| envelope).collect();
        self.0.handle_batch(batch).into_iter().map(|frames| (0, frames)).collect()
    }

    fn wake_at(&self) -> Option<Instant> {
        self.0.wake_at()
    }

    fn wake(&mut self) -> Vec<(usize, ReplyFrames)> {
        self.0.wake().into_iter().map(|frames| (0, frames)).collect()
    }
}
/// Bytes taken from a socket at a time.
const READ_CHUNK: usize = 256 * 1024;

/// What the engine bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections held at once; more are closed as they come.
    pub max_connections: usize,
    /// Connections held at once by one CURVE key: one key cannot take
    /// every place.
    pub max_connections_per_key: usize,
    /// Bytes queued for one peer before messages to it are dropped.
    pub max_queued_bytes: usize,
    /// Messages taken from one connection per batch; the rest wait in its
    /// socket (so a flood slows its sender, not everyone).
    pub per_connection: usize,
    /// How long a connection has to finish its handshake.
    pub handshake_timeout: Duration,
}

/// One connection and what the loop knows of it.
struct Peer {
    stream: TcpStream,
    /// The listener it came through.
    listener: usize,
    connection: Connection,
    /// Bytes read and not yet taken: a partial frame, or over budget.
    input: Vec<u8>,
    /// The routing id, once the handshake is done.
    route: Option<Vec<u8>>,
    address: String,
    user_id: Option<String>,
    /// Tells this connection from a later one in the same slot.
    serial: u64,
    /// The socket had nothing more at the last read.
    drained: bool,
    /// Listed for reading (or writing) this turn.
    to_read: bool,
    to_write: bool,
}

/// A server's listening sockets and their connections.
pub struct Server {
    poll: Poll,
    listeners: Vec<Listening>,
    limits: Limits,
    peers: Slab<Peer>,
    /// (listener, routing id) -> connection.
    routes: HashMap<(usize, Vec<u8>), usize>,
    /// Connections open under each CURVE key.
    keys: HashMap<String, usize>,
    next_route: u32,
    next_serial: u64,
    /// Handshake deadlines, in the order connections came (all have the
    /// same timeout, so this is also their order in time).
    deadlines: VecDeque<(Instant, usize, u64)>,
    to_read: Vec<usize>,
    to_write: Vec<usize>,
    /// Connections left with messages when their budget ran out.
    again: Vec<usize>,
    scratch: Vec<u8>,
    refused_since: Option<Instant>,
    /// A large buffer was let go this turn: memory to give back.
    released: bool,
}

impl Server {
    pub(super) fn new(listener: TcpListener, policy: Policy, limits: Limits) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = listener;
        poll.registry().register(&mut listener, listener_token(0), Interest::READABLE)?;
        Ok(Server {
            poll,
            listeners: vec![Listening { listener: Some(listener), policy }],
            limits,
            peers: Slab::new(),
            routes: HashMap::new(),
            keys: HashMap::new(),
            next_route: fastrand::u32(..),
            next_serial: 0,
            deadlines: VecDeque::new(),
            to_read: Vec::new(),
            to_write: Vec::new(),
            again: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            refused_since: None,
            released: false,
        })
    }

    /// The address the server listens on (its first listener).
    pub fn local_address(&self) -> io::Result<Address> {
        local_address(&self.listeners[0])
    }

    /// Serves until `shutdown` is triggered, handing `service` batches of
    /// at most `max_batch` requests.
    pub fn serve(self, shutdown: &Shutdown, max_batch: usize, service: &mut impl Service) -> io::Result<()> {
        self.serve_many(shutdown, max_batch, &mut Single(service))
    }

    /// [`Server::serve`] for a service on many listeners.
    pub fn serve_many(
        mut self,
        shutdown: &Shutdown,
        max_batch: usize,
        service: &mut impl MultiService,
    ) -> io::Result<()> {
        self.poll.registry().register(&mut SourceFd(&shutdown.raw_fd()), STOP, Interest::READABLE)?;
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.timeout(service.wake_at());
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            let mut stop = false;
            for event in events.iter() {
                match event.token() {
                    STOP => stop = true,
                    Token(token) if token > LISTENERS - self.listeners.len() => self.accept(LISTENERS - token),
                    Token(key) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.list_to_read(key, true);
                        }
                        if event.is_writable() {
                            self.list_to_write(key);
                        }
                    }
                }
            }
            if stop {
                let frames = service.wake();
                self.route_all(frames);
                self.write_listed();
                return Ok(());
            }
            self.expire_handshakes();
            let batch = self.read_listed(max_batch);
            if !batch.is_empty() {
                let mut binder = Binder { poll: &self.poll, listeners: &mut self.listeners, closed: Vec::new() };
                let replies = service.handle_batch(batch, &mut binder);
                let closed = binder.closed;
                self.route_all(replies);
                self.close_connections_of(&closed);
            }
            if service.wake_at().is_some_and(|at| at <= Instant::now()) {
                let frames = service.wake();
                self.route_all(frames);
            }
            self.write_listed();
            self.give_back_memory();
        }
    }

    /// After a burst (a slow reader's queue drained or closed), hands the
    /// freed memory back to the system: glibc keeps freed heap memory for
    /// reuse otherwise, and a server would stay at its peak for good.
    fn give_back_memory(&mut self) {
        if std::mem::take(&mut self.released) {
            // SAFETY: malloc_trim only returns free memory to the system.
            unsafe { libc::malloc_trim(0) };
        }
    }

    fn timeout(&self, wake_at: Option<Instant>) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let deadline = self.deadlines.front().map(|(at, _, _)| *at);
        let next = match (wake_at, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Rounded up: a wake-up a hair early would only poll again.
        next.map(|at| at.saturating_duration_since(Instant::now()) + Duration::from_micros(500))
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let Some(listening) = self.listeners[listener].listener.as_ref() else { return };
            let (mut stream, address) = match listening.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // Out of descriptors (or memory): the connections
                    // waiting are taken when one closes.
                    warn!(%error, "cannot accept a connection");
                    return;
                }
            };
            if self.peers.len() >= self.limits.max_connections {
                if self.refused_since.is_none_or(|since| since.elapsed() > Duration::from_secs(60)) {
                    warn!(max = self.limits.max_connections, "connection cap reached: refusing new connections");
                    self.refused_since = Some(Instant::now());
                }
                continue;
            }
            let _ = stream.set_nodelay(true);
            let entry = self.peers.vacant_entry();
            let key = entry.key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(error) = self.poll.registry().register(&mut stream, Token(key), interest) {
                warn!(%error, "cannot watch a connection");
                continue;
            }
            self.next_serial += 1;
            entry.insert(Peer {
                stream,
                listener,
                connection: Connection::new(&self.listeners[listener].policy),
                input: Vec::new(),
                route: None,
                address: address.ip().to_string(),
                user_id: None,
                serial: self.next_serial,
                drained: false,
                to_read: false,
                to_write: false,
            });
            let deadline = Instant::now() + self.limits.handshake_timeout;
            self.deadlines.push_back((deadline, key, self.next_serial));
            self.list_to_write(key);
        }
    }

    fn list_to_read(&mut self, key: usize, fresh: bool) {
        if let Some(peer) = self.peers.get_mut(key) {
            if fresh {
                peer.drained = false;
            }
            if !peer.to_read {
                peer.to_read = true;
                self.to_read.push(key);
            }
        }
    }

    fn list_to_write(&mut self, key: usize) {
        if let Some(peer) = self.peers.get_mut(key)
            && !peer.to_write
        {
            peer.to_write = true;
            self.to_write.push(key);
        }
    }

    fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, key, serial)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.peers.get(key).is_some_and(|peer| peer.serial == serial && !peer.connection.is_ready()) {
                debug!("handshake not finished in time");
                self.close(key);
            }
        }
    }

    /// Reads every listed connection, as far as budgets and `max_batch` allow.
    fn read_listed(&mut self, max_batch: usize) -> Vec<(usize, Envelope)> {
        let mut listed = std::mem::take(&mut self.again);
        listed.append(&mut self.to_read);
        let mut batch = Vec::new();
        let mut events = Vec::new();
        for key in listed {
            let Some(peer) = self.peers.get_mut(key) else { continue };
            peer.to_read = false;
            let room = max_batch.saturating_sub(batch.len());
            let budget = self.limits.per_connection.min(room);
            let policy = &self.listeners[peer.listener].policy;
            let outcome = read(peer, policy, &mut self.scratch, budget, &mut events);
            for event in events.drain(..) {
                match event {
                    Event::Ready { identity, user_id } => {
                        if !self.admit(key, identity, user_id) {
                            break;
                        }
                    }
                    Event::Message { frames, dropped } => {
                        if let Some(envelope) = self.envelope(key, frames, dropped) {
                            batch.push((self.peers[key].listener, envelope));
                        }
                    }
                }
            }
            let Some(peer) = self.peers.get_mut(key) else { continue };
            match outcome {
                Err(fault) => {
                    debug!(address = %peer.address, %fault, "connection closed");
                    self.close(key);
                    continue;
                }
                Ok(Spent::Budget) => {
                    peer.to_read = true;
                    self.again.push(key);
                }
                Ok(Spent::Input) => {}
            }
            if peer.connection.queued() > 0 {
                self.list_to_write(key);
            }
        }
        batch
    }

    /// Gives a connection whose handshake is done its routing id; `false`
    /// (and closed) when it asked for one already in use, as libzmq does, or
    /// when its key holds as many connections as one key may.
    fn admit(&mut self, key: usize, identity: Vec<u8>, user_id: Option<String>) -> bool {
        let listener = self.peers[key].listener;
        if let Some(user_id) = &user_id {
            let held = self.keys.get(user_id).copied().unwrap_or(0);
            if held >= self.limits.max_connections_per_key {
                debug!(key = %user_id, held, "too many connections from one key");
                self.close(key);
                return false;
            }
            self.keys.insert(user_id.clone(), held + 1);
        }
        let route = if identity.is_empty() {
            loop {
                self.next_route = self.next_route.wrapping_add(1);
                let mut route = vec![0];
                route.extend_from_slice(&self.next_route.to_be_bytes());
                if !self.routes.contains_key(&(listener, route.clone())) {
                    break route;
                }
            }
        } else if self.routes.contains_key(&(listener, identity.clone())) {
            debug!("a peer asked for an identity in use");
            self.close(key);
            return false;
        } else {
            identity
        };
        self.routes.insert((listener, route.clone()), key);
        let peer = &mut self.peers[key];
        peer.route = Some(route);
        peer.user_id = user_id;
        true
    }

    fn envelope(&self, key: usize, mut frames: Vec<Vec<u8>>, dropped: usize) -> Option<Envelope> {
        let peer = self.peers.get(key)?;
        frames.insert(0, peer.route.clone()?);
        let mut envelope = Envelope::split_counting(frames, dropped);
        envelope.peer.user_id = peer.user_id.clone();
        envelope.peer.address = Some(peer.address.clone());
        Some(envelope)
    }

    /// Queues each message for the peer its first frame names; a message
    /// for a peer that is gone, or whose queue is full, is dropped.
    fn route_all(&mut self, messages: Vec<(usize, ReplyFrames)>) {
        for (listener, mut frames) in messages {
            if frames.is_empty() {
                continue;
            }
            let route = frames.remove(0);
            let Some(&key) = self.routes.get(&(listener, route)) else { continue };
            let rest = &frames;
            let peer = &mut self.peers[key];
            if peer.connection.queued() >= self.limits.max_queued_bytes {
                debug!(address = %peer.address, "queue full: message dropped");
                continue;
            }
            peer.connection.send(rest);
            self.list_to_write(key);
        }
    }

    fn write_listed(&mut self) {
        for key in std::mem::take(&mut self.to_write) {
            let Some(peer) = self.peers.get_mut(key) else { continue };
            peer.to_write = false;
            match write(peer) {
                Err(error) => {
                    debug!(address = %peer.address, %error, "connection closed");
                    self.close(key);
                    continue;
                }
                Ok(released) => self.released |= released,
            }
            if peer.connection.is_closing() && peer.connection.queued() == 0 {
                self.close(key);
            }
        }
    }

    /// Closes the connections that came through `listeners` (closed ones),
    /// once what is queued for them is written or cannot be.
    fn close_connections_of(&mut self, listeners: &[usize]) {
        if listeners.is_empty() {
            return;
        }
        let keys: Vec<usize> =
            self.peers.iter().filter(|(_, peer)| listeners.contains(&peer.listener)).map(|(key, _)| key).collect();
        for key in keys {
            let _ = write(&mut self.peers[key]);
            self.close(key);
        }
    }

    fn close(&mut self, key: usize) {
        let Some(mut peer) = self.peers.try_remove(key) else { return };
        self.released |= peer.connection.holds_large_buffer() || peer.input.capacity() > READ_CHUNK;
        let _ = self.poll.registry().deregister(&mut peer.stream);
        if let Some(route) = peer.route {
            self.routes.remove(&(peer.listener, route));
        }
        if let Some(user_id) = peer.user_id
            && let Some(held) = self.keys.get_mut(&user_id)
        {
            *held -= 1;
            if *held == 0 {
                self.keys.remove(&user_id);
            }
        }
    }
}

/// Why a connection's reading stopped.
enum Spent {
    /// Everything it sent has been taken (or is a partial frame).
    Input,
    /// Its budget ran out with messages perhaps left.
    Budget,
}

/// Reads from `peer` and takes its messages, up to `budget` of them.
fn read(
    peer: &mut Peer,
    policy: &Policy,
    scratch: &mut [u8],
    mut budget: usize,
    events: &mut Vec<Event>,
) -> Result<Spent, Fault> {
    let mut take = |peer: &mut Peer, fresh: Option<&[u8]>, budget: &mut usize| -> Result<(), Fault> {
        let before = events.len();
        match fresh {
            Some(bytes) if peer.input.is_empty() => {
                let used = peer.connection.receive(policy, bytes, *budget, events)?;
                peer.input.extend_from_slice(&bytes[used..]);
            }
            fresh => {
                peer.input.extend_from_slice(fresh.unwrap_or_default());
                let used = peer.connection.receive(policy, &peer.input, *budget, events)?;
                peer.input.drain(..used);
                if peer.input.is_empty() && peer.input.capacity() > READ_CHUNK {
                    peer.input = Vec::new();
                }
            }
        }
        let messages = events[before..].iter().filter(|event| matches!(event, Event::Message { .. })).count();
        *budget -= messages;
        Ok(())
    };
    if !peer.input.is_empty() {
        take(peer, None, &mut budget)?;
    }
    while budget > 0 && !peer.drained {
        match peer.stream.read(scratch) {
            Ok(0) => return Err(Fault("the peer closed the connection")),
            Ok(count) => {
                peer.drained = count < scratch.len();
                take(peer, Some(&scratch[..count]), &mut budget)?;
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => peer.drained = true,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Fault("the connection failed")),
        }
        if peer.connection.is_closing() {
            return Ok(Spent::Input);
        }
    }
    Ok(if budget == 0 { Spent::Budget } else { Spent::Input })
}

/// Writes what `peer` has queued, as far as its socket takes it now;
/// `true` when a large buffer was let go.
fn write(peer: &mut Peer) -> io::Result<bool> {
    let mut released = false;
    while peer.connection.queued() > 0 {
        let connection = &mut peer.connection;
        match peer.stream.write(&connection.output[connection.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => released |= connection.wrote(count),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(released)
}
