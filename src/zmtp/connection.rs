//! One connection to a server, as a state machine over bytes: the greeting,
//! the handshake of its mechanism, then frames. The engine hands it what it
//! reads and writes out what it queues; it never touches a socket, so every
//! step is testable without one.

use super::codec::{self, COMMAND, Fault, GREETING_LEN, MORE, Mechanism};
use super::curve::{Channel, MESSAGE_OVERHEAD, ServerHandshake};
use super::sodium::Key;
use crate::keys::PublicKey;
use crate::transport::AllowList;
use std::borrow::Cow;

/// The largest command taken during a handshake (INITIATE with metadata).
const MAX_HANDSHAKE_FRAME: usize = 64 * 1024;
/// Frames of one message kept, as the libzmq loop keeps them: all of
/// [`crate::serve::MAX_FRAMES`] but the routing frame the engine adds
/// itself; the rest are counted, not held.
pub const MAX_KEPT_FRAMES: usize = crate::serve::MAX_FRAMES - 1;
/// A buffer that is let go once empty, rather than kept for next time.
pub const LARGE_BUFFER: usize = 256 * 1024;
/// The socket types a ROUTER talks to.
const PEER_TYPES: [&[u8]; 3] = [b"REQ", b"DEALER", b"ROUTER"];

/// What every connection of one server speaks and admits.
pub struct Policy {
    /// CURVE with the server's (public, secret) key, or NULL.
    pub curve: Option<(Key, Key)>,
    /// Under CURVE, the only client keys admitted.
    pub allow: Option<AllowList>,
    /// The largest frame body taken.
    pub max_frame: usize,
}

impl Policy {
    fn mechanism(&self) -> Mechanism {
        if self.curve.is_some() { Mechanism::Curve } else { Mechanism::Null }
    }
}

/// What a connection has to tell the engine.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake is done: the identity the peer asked to be routed by
    /// (empty: none), and under CURVE its key in Z85.
    Ready { identity: Vec<u8>, user_id: Option<String> },
    /// A whole message: its first frames, and how many more were dropped.
    Message { frames: Vec<Vec<u8>>, dropped: usize },
}

enum Phase {
    Greeting,
    NullHandshake,
    CurveHandshake(Box<ServerHandshake>),
    /// Frames flow, in CURVE boxes when there is a channel.
    Ready(Option<Box<Channel>>),
    /// Refused: what is queued is written, then the connection is closed.
    Closing,
}

pub struct Connection {
    phase: Phase,
    /// Bytes to write to the peer, from `written` on.
    pub output: Vec<u8>,
    pub written: usize,
    parts: Vec<Vec<u8>>,
    dropped: usize,
    /// Room to build a frame's plaintext before it is boxed.
    plain: Vec<u8>,
}

impl Connection {
    /// A new connection, with this side's greeting queued: libzmq sends
    /// only part of its greeting until it has seen the other side's.
    pub fn new(policy: &Policy) -> Connection {
        let mut output = Vec::with_capacity(GREETING_LEN);
        output.extend_from_slice(&codec::greeting(policy.mechanism(), policy.curve.is_some()));
        Connection { phase: Phase::Greeting, output, written: 0, parts: Vec::new(), dropped: 0, plain: Vec::new() }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready(_))
    }

    /// Refused: to be closed once its output is written.
    pub fn is_closing(&self) -> bool {
        matches!(self.phase, Phase::Closing)
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.output.len() - self.written
    }

    /// Takes what `input` holds, up to `budget` messages; returns how many of
    /// its bytes were used (the rest are a partial frame, or over budget).
    pub fn receive(
        &mut self,
        policy: &Policy,
        input: &[u8],
        mut budget: usize,
        events: &mut Vec<Event>,
    ) -> Result<usize, Fault> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match &mut self.phase {
                Phase::Closing => return Ok(input.len()),
                Phase::Greeting => {
                    codec::check_greeting_start(&rest[..rest.len().min(GREETING_LEN)])?;
                    if rest.len() < GREETING_LEN {
                        return Ok(at);
                    }
                    if codec::greeting_mechanism(&rest[..GREETING_LEN])? != policy.mechanism() {
                        return Err(Fault("the peer asks for another security mechanism"));
                    }
                    at += GREETING_LEN;
                    self.phase = match policy.curve {
                        None => {
                            codec::write_command(&mut self.output, b"READY", &own_metadata());
                            Phase::NullHandshake
                        }
                        Some((public, secret)) => Phase::CurveHandshake(Box::new(ServerHandshake::new(public, secret))),
                    };
                }
                Phase::NullHandshake | Phase::CurveHandshake(_) => {
                    let Some((frame, taken)) = codec::parse_frame(rest, MAX_HANDSHAKE_FRAME)? else { return Ok(at) };
                    at += taken;
                    if !frame.is_command() {
                        return Err(Fault("a message before the handshake ended"));
                    }
                    if let Some(event) = self.handshake(policy, frame.body)? {
                        events.push(event);
                    }
                }
                Phase::Ready(channel) => {
                    if budget == 0 {
                        return Ok(at);
                    }
                    let overhead = if channel.is_some() { MESSAGE_OVERHEAD } else { 0 };
                    let Some((frame, taken)) = codec::parse_frame(rest, policy.max_frame + overhead)? else {
                        return Ok(at);
                    };
                    at += taken;
                    let (more, command, body) = match channel {
                        None => (frame.more(), frame.is_command(), Cow::Borrowed(frame.body)),
                        Some(channel) => {
                            let opened = channel.open_frame(frame.body)?;
                            (opened.more, opened.command, Cow::Owned(opened.body))
                        }
                    };
                    if command {
                        self.command(&body)?;
                        continue;
                    }
                    if self.parts.len() < MAX_KEPT_FRAMES {
                        self.parts.push(body.into_owned());
                    } else {
                        self.dropped += 1;
                    }
                    if !more {
                        let frames = std::mem::take(&mut self.parts);
                        events.push(Event::Message { frames, dropped: std::mem::take(&mut self.dropped) });
                        budget -= 1;
                    }
                }
            }
        }
    }

    /// One command of the handshake.
    fn handshake(&mut self, policy: &Policy, body: &[u8]) -> Result<Option<Event>, Fault> {
        let (name, data) = codec::parse_command(body)?;
        if name == b"ERROR" {
            return Err(Fault("the peer sent ERROR"));
        }
        match (&mut self.phase, name) {
            (Phase::NullHandshake, b"READY") => {
                let identity = check_metadata(data)?;
                self.phase = Phase::Ready(None);
                Ok(Some(Event::Ready { identity, user_id: None }))
            }
            (Phase::CurveHandshake(handshake), b"HELLO") => {
                let welcome = handshake.hello(body)?;
                codec::write_frame(&mut self.output, COMMAND, &welcome);
                Ok(None)
            }
            (Phase::CurveHandshake(handshake), b"INITIATE") => {
                let mut initiated = handshake.initiate(body)?;
                let identity = check_metadata(&initiated.metadata)?;
                let key = PublicKey::from_bytes(&initiated.client_key);
                if policy.allow.as_ref().is_some_and(|allow| !allow.allows_key(&key)) {
                    // As libzmq's ZAP refusal: the client's libzmq reports
                    // a failed authentication with this status.
                    codec::write_command(&mut self.output, b"ERROR", b"\x03400");
                    self.phase = Phase::Closing;
                    return Ok(None);
                }
                let ready = initiated.channel.ready(&own_metadata());
                codec::write_frame(&mut self.output, COMMAND, &ready);
                self.phase = Phase::Ready(Some(Box::new(initiated.channel)));
                Ok(Some(Event::Ready { identity, user_id: Some(key.to_string()) }))
            }
            _ => Err(Fault("unexpected command in the handshake")),
        }
    }

    /// A command after the handshake: PING is answered, ERROR ends the
    /// connection, others (SUBSCRIBE, CANCEL) mean nothing to a ROUTER.
    fn command(&mut self, body: &[u8]) -> Result<(), Fault> {
        let (name, data) = codec::parse_command(body)?;
        match name {
            b"PING" => {
                // TTL (2 bytes), then a context of up to 16 bytes to echo.
                let context = data.get(2..).unwrap_or_default();
                let pong = codec::command(b"PONG", &context[..context.len().min(16)]);
                self.send_frame(&pong, false, true);
                Ok(())
            }
            b"ERROR" => Err(Fault("the peer sent ERROR")),
            _ => Ok(()),
        }
    }

    /// Queues a message of `frames` (routing frames already taken off).
    /// Nothing is queued before the handshake ends.
    pub fn send(&mut self, frames: &[Vec<u8>]) {
        for (index, frame) in frames.iter().enumerate() {
            self.send_frame(frame, index + 1 < frames.len(), false);
        }
    }

    fn send_frame(&mut self, body: &[u8], more: bool, command: bool) {
        match &mut self.phase {
            Phase::Ready(None) => {
                let flags = if more { MORE } else { 0 } | if command { COMMAND } else { 0 };
                codec::write_frame(&mut self.output, flags, body);
            }
            Phase::Ready(Some(channel)) => channel.seal_frame(&mut self.output, more, command, body, &mut self.plain),
            _ => {}
        }
    }

    /// Marks `count` queued bytes as written, and lets go of the buffer's
    /// memory once a burst has drained; `true` when it did.
    pub fn wrote(&mut self, count: usize) -> bool {
        self.written += count;
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
            if self.output.capacity() > LARGE_BUFFER {
                self.output = Vec::new();
                return true;
            }
        }
        false
    }

    /// Whether this connection holds a buffer large enough that freeing it
    /// is worth giving memory back to the system.
    pub fn holds_large_buffer(&self) -> bool {
        self.output.capacity() > LARGE_BUFFER
    }
}

/// What a ROUTER says of itself in READY.
fn own_metadata() -> Vec<u8> {
    codec::metadata(&[(b"Socket-Type", b"ROUTER"), (b"Identity", b"")])
}

/// Checks a peer's READY (or INITIATE) metadata; returns the identity it
/// asks to be routed by.
fn check_metadata(data: &[u8]) -> Result<Vec<u8>, Fault> {
    let properties = codec::parse_metadata(data)?;
    if let Some(kind) = codec::property(&properties, b"Socket-Type")
        && !PEER_TYPES.contains(&kind)
    {
        return Err(Fault("a ROUTER does not talk to this socket type"));
    }
    let identity = codec::property(&properties, b"Identity").unwrap_or_default();
    if identity.len() > 255 || identity.first() == Some(&0) {
        // Identities starting with a zero byte are the ROUTER's own.
        return Err(Fault("invalid identity"));
    }
    Ok(identity.to_vec())
}
