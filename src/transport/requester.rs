//! One request, one reply, a deadline: the Lazy Pirate pattern.
//!
//! A REQ socket that got no reply in time is closed (linger 0, so nothing
//! lingers to be delivered later) and the request is sent again on a new one,
//! until the total budget is spent. Sockets that work are kept for the next
//! request to the same address.

use crate::protocol::Address;
use std::collections::HashMap;
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
}

/// What to do about a peer that does not answer.
fn start_hint(kind: &str) -> &'static str {
    match kind {
        "directory" => "(`huddle directory` starts one; `huddle up` starts everything on this machine)",
        _ => "(`huddle groups` lists the groups that answer)",
    }
}

pub struct Requester {
    context: zmq::Context,
    timeout: Duration,
    tries: u32,
    sockets: HashMap<Address, zmq::Socket>,
}

impl Requester {
    pub fn new(context: zmq::Context, timeout: Duration) -> Requester {
        Requester { context, timeout, tries: DEFAULT_TRIES, sockets: HashMap::new() }
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
            let wait = per_try.min(deadline - now);
            let socket = self.socket(address).map_err(transport)?;
            socket.send(body, 0).map_err(transport)?;
            let ready = socket.poll(zmq::POLLIN, wait.as_millis().max(1) as i64).map_err(transport)?;
            if ready > 0 {
                return socket.recv_bytes(0).map_err(transport);
            }
            // No reply in time: this socket's state is unknown, start afresh.
            self.sockets.remove(address);
        }
        Err(RequestError::NoAnswer { kind, address: address.clone(), tries: self.tries, elapsed: started.elapsed() })
    }

    fn socket(&mut self, address: &Address) -> Result<&zmq::Socket, zmq::Error> {
        if !self.sockets.contains_key(address) {
            let socket = super::connect(&self.context, zmq::REQ, address)?;
            socket.set_sndtimeo(self.timeout.as_millis() as i32)?;
            self.sockets.insert(address.clone(), socket);
        }
        Ok(&self.sockets[address])
    }
}
