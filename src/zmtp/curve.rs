//! CurveZMQ (RFC 26) as libzmq speaks it: the handshake of both sides and
//! the boxes that carry each frame afterwards.
//!
//! ```text
//! C -> S  HELLO     C' and a box of zeros to S: proves C' knows S
//! S -> C  WELCOME   S' and a cookie (C', s' under a key only S holds)
//! C -> S  INITIATE  the cookie back, and in a box C' -> S': the client's
//!                   long-term key C, a vouch (C' and S boxed by C) and metadata
//! S -> C  READY     metadata, boxed S' -> C'
//! either  MESSAGE   a frame's flags and body, boxed; nonces strictly rise
//! ```
//!
//! The server keeps nothing between HELLO and INITIATE that a client could
//! make it hold beyond one connection's own state, and the cookie key is
//! new for every connection, as in libzmq.

use super::codec::{Fault, write_header};
use super::sodium::{self, Forged, Key, long_nonce, short_nonce};

const HELLO: &[u8] = b"\x05HELLO";
const WELCOME: &[u8] = b"\x07WELCOME";
const INITIATE: &[u8] = b"\x08INITIATE";
const READY: &[u8] = b"\x05READY";
const MESSAGE: &[u8] = b"\x07MESSAGE";
/// Bytes of a MESSAGE besides its boxed body: name, nonce, tag, flags.
pub const MESSAGE_OVERHEAD: usize = 8 + 8 + sodium::TAG + 1;

/// Flags inside a MESSAGE box.
const MORE: u8 = 0x01;
const COMMAND: u8 = 0x02;

fn crypto(_: Forged) -> Fault {
    Fault("a CurveZMQ box did not open")
}

/// The server's side of one connection's handshake.
pub struct ServerHandshake {
    public: Key,
    secret: Key,
    state: ServerState,
}

enum ServerState {
    AwaitingHello,
    AwaitingInitiate { client_transient: Key, transient_secret: Key, cookie_key: Key },
    Done,
}

/// What INITIATE told the server: who the client is and what it said of
/// itself, and the channel to speak on once READY is sent.
pub struct Initiated {
    pub client_key: Key,
    pub metadata: Vec<u8>,
    pub channel: Channel,
}

impl ServerHandshake {
    pub fn new(public: Key, secret: Key) -> ServerHandshake {
        ServerHandshake { public, secret, state: ServerState::AwaitingHello }
    }

    /// Takes HELLO, answers WELCOME (a command's body).
    pub fn hello(&mut self, body: &[u8]) -> Result<Vec<u8>, Fault> {
        if !matches!(self.state, ServerState::AwaitingHello) || !body.starts_with(HELLO) {
            return Err(Fault("expected HELLO"));
        }
        if body.len() != 200 || body[6..8] != [1, 0] {
            return Err(Fault("malformed HELLO"));
        }
        let client_transient: Key = body[80..112].try_into().expect("32 bytes");
        let nonce = short_nonce(b"CurveZMQHELLO---", u64::from_be_bytes(body[112..120].try_into().expect("8")));
        let zeros = sodium::open(&body[120..200], &nonce, &client_transient, &self.secret).map_err(crypto)?;
        if zeros != [0; 64] {
            return Err(Fault("malformed HELLO"));
        }
        let (transient_public, transient_secret) = sodium::key_pair();
        let cookie_key = sodium::random();
        let cookie_nonce: [u8; 16] = sodium::random();
        let cookie = sodium::seal_secret(
            &[client_transient, transient_secret].concat(),
            &long_nonce(b"COOKIE--", &cookie_nonce),
            &cookie_key,
        );
        let welcome_nonce: [u8; 16] = sodium::random();
        let sealed = sodium::seal(
            &[&transient_public[..], &cookie_nonce, &cookie].concat(),
            &long_nonce(b"WELCOME-", &welcome_nonce),
            &client_transient,
            &self.secret,
        );
        self.state = ServerState::AwaitingInitiate { client_transient, transient_secret, cookie_key };
        Ok([WELCOME, &welcome_nonce, &sealed].concat())
    }

    /// Takes INITIATE: the client's long-term key, proven by its vouch.
    pub fn initiate(&mut self, body: &[u8]) -> Result<Initiated, Fault> {
        let ServerState::AwaitingInitiate { client_transient, transient_secret, cookie_key } = &self.state else {
            return Err(Fault("expected HELLO"));
        };
        if !body.starts_with(INITIATE) {
            return Err(Fault("expected INITIATE"));
        }
        if body.len() < 257 {
            return Err(Fault("malformed INITIATE"));
        }
        let cookie_nonce = long_nonce(b"COOKIE--", body[9..25].try_into().expect("16 bytes"));
        let cookie = sodium::open_secret(&body[25..105], &cookie_nonce, cookie_key).map_err(crypto)?;
        if cookie[..32] != client_transient[..] || cookie[32..] != transient_secret[..] {
            return Err(Fault("INITIATE's cookie is not this connection's"));
        }
        let counter = u64::from_be_bytes(body[105..113].try_into().expect("8 bytes"));
        let nonce = short_nonce(b"CurveZMQINITIATE", counter);
        let plain = sodium::open(&body[113..], &nonce, client_transient, transient_secret).map_err(crypto)?;
        let client_key: Key = plain[..32].try_into().expect("32 bytes");
        let vouch_nonce = long_nonce(b"VOUCH---", plain[32..48].try_into().expect("16 bytes"));
        let vouch = sodium::open(&plain[48..128], &vouch_nonce, &client_key, transient_secret).map_err(crypto)?;
        if vouch[..32] != client_transient[..] || vouch[32..] != self.public[..] {
            return Err(Fault("INITIATE's vouch is for another connection"));
        }
        let shared = sodium::shared_key(client_transient, transient_secret);
        let channel = Channel::new(shared, b"CurveZMQMESSAGES", b"CurveZMQMESSAGEC", counter);
        self.state = ServerState::Done;
        Ok(Initiated { client_key, metadata: plain[128..].to_vec(), channel })
    }
}

/// A finished handshake's boxes, for one direction each way.
pub struct Channel {
    shared: Key,
    send_prefix: &'static [u8; 16],
    receive_prefix: &'static [u8; 16],
    /// The nonce of the next box sent.
    next_nonce: u64,
    /// The nonce of the last box received: the next must be higher.
    peer_nonce: u64,
}

/// A frame taken out of a MESSAGE box.
pub struct Opened {
    pub more: bool,
    pub command: bool,
    pub body: Vec<u8>,
}

impl Channel {
    fn new(shared: Key, send_prefix: &'static [u8; 16], receive_prefix: &'static [u8; 16], peer_nonce: u64) -> Channel {
        Channel { shared, send_prefix, receive_prefix, next_nonce: 1, peer_nonce }
    }

    fn next_nonce(&mut self) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        nonce
    }

    /// The body of a READY command carrying `metadata`.
    pub fn ready(&mut self, metadata: &[u8]) -> Vec<u8> {
        let counter = self.next_nonce();
        let mut body = [READY, &counter.to_be_bytes()].concat();
        sodium::seal_shared_into(&mut body, metadata, &short_nonce(b"CurveZMQREADY---", counter), &self.shared);
        body
    }

    /// Appends a frame holding `body` in a MESSAGE box. The outer frame is a
    /// plain one without flags: MORE and COMMAND travel inside the box.
    pub fn seal_frame(&mut self, out: &mut Vec<u8>, more: bool, command: bool, body: &[u8], plain: &mut Vec<u8>) {
        let counter = self.next_nonce();
        plain.clear();
        plain.push(if more { MORE } else { 0 } | if command { COMMAND } else { 0 });
        plain.extend_from_slice(body);
        write_header(out, 0, MESSAGE_OVERHEAD + body.len());
        out.extend_from_slice(MESSAGE);
        out.extend_from_slice(&counter.to_be_bytes());
        sodium::seal_shared_into(out, plain, &short_nonce(self.send_prefix, counter), &self.shared);
    }

    /// The frame in a MESSAGE's `body`; a box that does not open, or whose
    /// nonce is not above every one before it (a replay), is refused.
    pub fn open_frame(&mut self, body: &[u8]) -> Result<Opened, Fault> {
        if !body.starts_with(MESSAGE) {
            return Err(Fault("expected MESSAGE"));
        }
        if body.len() < MESSAGE_OVERHEAD {
            return Err(Fault("malformed MESSAGE"));
        }
        let counter = u64::from_be_bytes(body[8..16].try_into().expect("8 bytes"));
        if counter <= self.peer_nonce {
            return Err(Fault("a MESSAGE's nonce did not rise: replayed or reordered"));
        }
        let mut plain = sodium::open_shared(&body[16..], &short_nonce(self.receive_prefix, counter), &self.shared)
            .map_err(crypto)?;
        self.peer_nonce = counter;
        let flags = plain.remove(0);
        Ok(Opened { more: flags & MORE != 0, command: flags & COMMAND != 0, body: plain })
    }
}

/// The client's side of a handshake: for huddle's load generator and for
/// tests that must send what libzmq never would (tampered, replayed).
pub struct ClientHandshake {
    server: Key,
    public: Key,
    secret: Key,
    transient_public: Key,
    transient_secret: Key,
    server_transient: Option<(Key, Vec<u8>)>,
}

impl ClientHandshake {
    pub fn new(server: Key, public: Key, secret: Key) -> ClientHandshake {
        let (transient_public, transient_secret) = sodium::key_pair();
        ClientHandshake { server, public, secret, transient_public, transient_secret, server_transient: None }
    }

    /// The body of HELLO.
    pub fn hello(&self) -> Vec<u8> {
        let sealed = sodium::seal(&[0; 64], &short_nonce(b"CurveZMQHELLO---", 1), &self.server, &self.transient_secret);
        [HELLO, &[1, 0], &[0; 72], &self.transient_public, &1u64.to_be_bytes(), &sealed].concat()
    }

    /// Takes WELCOME; answers INITIATE carrying `metadata`.
    pub fn welcome(&mut self, body: &[u8], metadata: &[u8]) -> Result<Vec<u8>, Fault> {
        if !body.starts_with(WELCOME) || body.len() != 168 {
            return Err(Fault("expected WELCOME"));
        }
        let nonce = long_nonce(b"WELCOME-", body[8..24].try_into().expect("16 bytes"));
        let plain = sodium::open(&body[24..], &nonce, &self.server, &self.transient_secret).map_err(crypto)?;
        let server_transient: Key = plain[..32].try_into().expect("32 bytes");
        let cookie = &plain[32..128];
        let vouch_nonce: [u8; 16] = sodium::random();
        let vouch = sodium::seal(
            &[self.transient_public, self.server].concat(),
            &long_nonce(b"VOUCH---", &vouch_nonce),
            &server_transient,
            &self.secret,
        );
        let plain = [&self.public[..], &vouch_nonce, &vouch, metadata].concat();
        let sealed =
            sodium::seal(&plain, &short_nonce(b"CurveZMQINITIATE", 2), &server_transient, &self.transient_secret);
        let initiate = [INITIATE, cookie, &2u64.to_be_bytes(), &sealed].concat();
        self.server_transient = Some((server_transient, cookie.to_vec()));
        Ok(initiate)
    }

    /// Takes READY: the server's metadata, and the channel to speak on.
    pub fn ready(self, body: &[u8]) -> Result<(Vec<u8>, Channel), Fault> {
        let Some((server_transient, _)) = self.server_transient else { return Err(Fault("expected WELCOME")) };
        if !body.starts_with(READY) || body.len() < 14 + sodium::TAG {
            return Err(Fault("expected READY"));
        }
        let counter = u64::from_be_bytes(body[6..14].try_into().expect("8 bytes"));
        let shared = sodium::shared_key(&server_transient, &self.transient_secret);
        let metadata =
            sodium::open_shared(&body[14..], &short_nonce(b"CurveZMQREADY---", counter), &shared).map_err(crypto)?;
        let mut channel = Channel::new(shared, b"CurveZMQMESSAGEC", b"CurveZMQMESSAGES", counter);
        // HELLO and INITIATE took this side's first two nonces.
        channel.next_nonce = 3;
        Ok((metadata, channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zmtp::codec::parse_frame;

    fn handshake() -> (Initiated, Channel, Key) {
        let (server_public, server_secret) = sodium::key_pair();
        let (client_public, client_secret) = sodium::key_pair();
        let mut server = ServerHandshake::new(server_public, server_secret);
        let mut client = ClientHandshake::new(server_public, client_public, client_secret);
        let welcome = server.hello(&client.hello()).unwrap();
        let initiate = client.welcome(&welcome, b"client says").unwrap();
        let mut initiated = server.initiate(&initiate).unwrap();
        let ready = initiated.channel.ready(b"server says");
        let (metadata, channel) = client.ready(&ready).unwrap();
        assert_eq!(metadata, b"server says");
        (initiated, channel, client_public)
    }

    fn sealed(channel: &mut Channel, body: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        channel.seal_frame(&mut wire, true, false, body, &mut Vec::new());
        let (frame, _) = parse_frame(&wire, 1 << 20).unwrap().unwrap();
        frame.body.to_vec()
    }

    #[test]
    fn both_sides_agree_and_the_server_learns_the_clients_key() {
        let (mut server, mut client, client_public) = handshake();
        assert_eq!(server.client_key, client_public);
        assert_eq!(server.metadata, b"client says");
        let opened = server.channel.open_frame(&sealed(&mut client, b"hello")).unwrap();
        assert_eq!((opened.more, opened.command, &opened.body[..]), (true, false, &b"hello"[..]));
        let opened = client.open_frame(&sealed(&mut server.channel, b"welcome")).unwrap();
        assert_eq!(opened.body, b"welcome");
    }

    #[test]
    fn a_tampered_or_replayed_message_is_refused() {
        let (mut server, mut client, _) = handshake();
        let first = sealed(&mut client, b"one");
        let mut tampered = sealed(&mut client, b"two");
        *tampered.last_mut().unwrap() ^= 1;
        assert!(server.channel.open_frame(&tampered).is_err());
        assert!(server.channel.open_frame(&first).is_ok());
        assert!(server.channel.open_frame(&first).is_err(), "replayed");
    }

    #[test]
    fn a_hello_for_another_server_is_refused() {
        let (server_public, server_secret) = sodium::key_pair();
        let (other_public, _) = sodium::key_pair();
        let (client_public, client_secret) = sodium::key_pair();
        let client = ClientHandshake::new(other_public, client_public, client_secret);
        assert!(ServerHandshake::new(server_public, server_secret).hello(&client.hello()).is_err());
    }
}
