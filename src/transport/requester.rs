//! One request, one reply, a deadline: the Lazy Pirate pattern.
//!
//! A REQ socket that got no reply in time is closed (linger 0, so nothing
//! lingers to be delivered later) and the request is sent again on a new one,
//! until the total budget is spent. Sockets that work are kept for the next
//! request to the same address. To a CURVE server (an address with a key)
//! the requester presents its key pair: the user's, or one it makes for
//! itself when it has none.

use crate::keys::KeyPair;
use crate::protocol::Address;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The whole budget of one request, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times a request is sent within its budget.
pub const DEFAULT_TRIES: u32 = 3;

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(
        "no answer from {kind} {address} after {tries} tries in {:.1} s: is it running? {}",
        elapsed.as_secs_f64(),
        start_hint(kind)
    )]
    NoAnswer { kind: &'static str, address: Address, tries: u32, elapsed: Duration },
    #[error("cannot talk to {kind} {address}: {source}")]
    Transport { kind: &'static str, address: Address, source: zmq::Error },
    #[error("cannot make a CURVE key pair: {0}")]
    Keys(std::io::Error),
    #[error("{kind} {address} refused your key {key}: ask its operator to add it to the {kind}'s --allow file")]
    KeyRefused { kind: &'static str, address: Address, key: crate::keys::PublicKey },
}

/// What to do about a peer that does not answer.
fn start_hint(kind: &str) -> &'static str {
    match kind {
        "directory" => "(`huddle directory` starts one; `huddle up` starts everything on this machine)",
        "host" => "(`huddle host` serves groups that can be created; --host or HUDDLE_HOST says where)",
        _ => "(`huddle groups` lists the groups that answer)",
    }
}

pub struct Requester {
    context: zmq::Context,
    timeout: Duration,
    tries: u32,
    sockets: HashMap<Address, Connection>,
    keys: Option<Arc<KeyPair>>,
}

/// A REQ socket, and for a CURVE server the events of its handshakes.
struct Connection {
    socket: zmq::Socket,
    handshakes: Option<zmq::Socket>,
}

/// How a wait for a reply ended.
enum Waited {
    Reply,
    /// The server's authentication refused our key: no reply will come.
    KeyRefused,
    Nothing,
}

impl Connection {
    /// Waits until a reply is ready, the server refuses our key, or `until`.
    fn wait_for_reply(&self, until: Instant) -> Result<Waited, zmq::Error> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let mut items = vec![self.socket.as_poll_item(zmq::POLLIN)];
            items.extend(self.handshakes.as_ref().map(|handshakes| handshakes.as_poll_item(zmq::POLLIN)));
            match zmq::poll(&mut items, left.as_millis().max(1) as i64) {
                Err(zmq::Error::EINTR) => continue,
                other => other?,
            };
            if items[0].is_readable() {
                return Ok(Waited::Reply);
            }
            if self.key_refused() {
                return Ok(Waited::KeyRefused);
            }
            if left.is_zero() || Instant::now() >= until {
                return Ok(Waited::Nothing);
            }
        }
    }

    /// Whether a handshake since the last look was refused by the server's
    /// authentication (its ZAP handler: our key is not allowed).
    fn key_refused(&self) -> bool {
        let Some(handshakes) = &self.handshakes else { return false };
        let mut refused = false;
        while let Some(event) = super::next_event(handshakes) {
            refused |= event == zmq::SocketEvent::HANDSHAKE_FAILED_AUTH;
        }
        refused
    }
}

impl Requester {
    pub fn new(context: zmq::Context, timeout: Duration) -> Requester {
        Requester { context, timeout, tries: DEFAULT_TRIES, sockets: HashMap::new(), keys: None }
    }

    /// Presents `keys` to CURVE servers.
    pub fn with_keys(mut self, keys: Arc<KeyPair>) -> Requester {
        self.keys = Some(keys);
        self
    }

    /// The key pair presented to CURVE servers (made now if there was none).
    pub fn keys(&mut self) -> Result<Arc<KeyPair>, RequestError> {
        if self.keys.is_none() {
            let made = KeyPair::generate().map_err(RequestError::Keys)?;
            self.keys = Some(Arc::new(made));
        }
        Ok(self.keys.clone().expect("set above"))
    }

    pub fn context(&self) -> &zmq::Context {
        &self.context
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `body` to `address` and returns the reply, or an error once the
    /// budget is spent. `kind` ("group", "directory") names the peer in errors.
    pub fn request(&mut self, kind: &'static str, address: &Address, body: &[u8]) -> Result<Vec<u8>, RequestError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let per_try = self.timeout / self.tries;
        let transport = |source| RequestError::Transport { kind, address: address.clone(), source };
        for _ in 0..self.tries {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let try_until = now + per_try.min(deadline - now);
            let connection = self.connection(kind, address)?;
            connection.socket.send(body, 0).map_err(transport)?;
            match connection.wait_for_reply(try_until).map_err(transport)? {
                Waited::Reply => return connection.socket.recv_bytes(0).map_err(transport),
                Waited::KeyRefused => {
                    self.sockets.remove(address);
                    let key = self.keys()?.public.clone();
                    return Err(RequestError::KeyRefused { kind, address: address.clone(), key });
                }
                Waited::Nothing => {}
            }
            // No reply in time: this socket's state is unknown, start afresh.
            self.sockets.remove(address);
        }
        Err(RequestError::NoAnswer { kind, address: address.clone(), tries: self.tries, elapsed: started.elapsed() })
    }

    fn connection(&mut self, kind: &'static str, address: &Address) -> Result<&Connection, RequestError> {
        if !self.sockets.contains_key(address) {
            let keys = if address.key.is_some() { Some(self.keys()?) } else { None };
            let transport = |source| RequestError::Transport { kind, address: address.clone(), source };
            let socket = self.context.socket(zmq::REQ).map_err(transport)?;
            // Watched before it connects, so that no refusal goes unseen.
            let handshakes = match keys {
                Some(_) => {
                    let failed = zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;
                    Some(super::monitor(&self.context, &socket, failed).map_err(transport)?)
                }
                None => None,
            };
            let options = super::ConnectOptions { keys: keys.as_deref(), ..super::ConnectOptions::default() };
            super::configure_and_connect(&socket, address, options).map_err(transport)?;
            socket.set_sndtimeo(self.timeout.as_millis() as i32).map_err(transport)?;
            self.sockets.insert(address.clone(), Connection { socket, handshakes });
        }
        Ok(&self.sockets[address])
    }
}
