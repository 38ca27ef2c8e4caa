//! huddle's own ZMTP engine for its servers: ZMTP 3.1 (RFC 23, 37) with the
//! NULL and CURVE (RFC 26) mechanisms and ROUTER semantics, on one thread
//! with non-blocking sockets in one epoll.
//!
//! libzmq moves every message between its I/O thread and the application's
//! thread: a wake-up and queue hand-off per message that cost more CPU than
//! the rest of a durable request. Here the loop that reads a request also
//! answers it, and a reply is written straight to the socket. Clients stay
//! on libzmq (and seed clients on pyzmq): every test of a server is a test
//! of this engine against the reference implementation.
//!
//! - [`codec`]: greeting, frames, commands and metadata as bytes;
//! - [`curve`]: CurveZMQ's handshake and message boxes, on [`sodium`];
//! - [`connection`]: one connection's state machine, without I/O;
//! - [`server`]: the loop, connection limits, routing, queues;
//! - [`client`]: a blocking client on the same codec, for tests and load.

pub mod client;
pub mod codec;
pub mod connection;
pub mod curve;
#[cfg(test)]
mod fuzz;
pub mod server;
pub mod sodium;

pub use server::{Binder, Limits, MultiService, Server};

use crate::transport::{HANDSHAKE_TIMEOUT_MS, RouterOptions, Security};
use connection::Policy;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The largest frame taken when the server does not say.
const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Bytes queued for a peer before messages to it are dropped, when the
/// server does not say: a reply larger than this still goes to a peer
/// whose queue is below it.
const DEFAULT_MAX_QUEUED: usize = 1024 * 1024;
/// Connections one CURVE key may hold, when the server does not say.
const DEFAULT_CONNECTIONS_PER_KEY: usize = 64;
/// Messages taken from one connection per batch, when the server does not say.
const DEFAULT_PER_CONNECTION: usize = 64;
/// Descriptors kept for the process itself (its store, its own client
/// sockets, logs) below the limit, when capping connections.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Listens on `endpoint` (`tcp://*:5555`, `127.0.0.1:0`, ...).
pub fn bind(endpoint: &str, options: RouterOptions) -> io::Result<Server> {
    let (listener, policy) = listen(endpoint, options.clone())?;
    let limits = Limits {
        max_connections: options.max_connections.unwrap_or_else(default_max_connections),
        max_connections_per_key: options.max_connections_per_key.unwrap_or(DEFAULT_CONNECTIONS_PER_KEY),
        max_queued_bytes: options.max_queued_bytes.unwrap_or(DEFAULT_MAX_QUEUED),
        per_connection: options.per_connection.unwrap_or(DEFAULT_PER_CONNECTION).max(1),
        handshake_timeout: options.handshake_timeout.unwrap_or(Duration::from_millis(HANDSHAKE_TIMEOUT_MS as u64)),
    };
    Server::new(listener, policy, limits)
}

/// A listening socket on `endpoint`, and what its connections speak.
fn listen(endpoint: &str, options: RouterOptions) -> io::Result<(mio::net::TcpListener, Policy)> {
    let listener = mio::net::TcpListener::bind(socket_address(endpoint)?)?;
    let curve = match &options.security {
        Security::Plaintext => None,
        Security::Curve(keys) => Some((keys.public.bytes(), *keys.secret())),
    };
    let max_frame = options.max_frame_bytes.unwrap_or(DEFAULT_MAX_FRAME);
    Ok((listener, Policy { curve, allow: options.allow, max_frame }))
}

/// The socket address of a TCP endpoint; `*` is every interface.
fn socket_address(endpoint: &str) -> io::Result<SocketAddr> {
    let unsupported = || io::Error::new(io::ErrorKind::InvalidInput, format!("{endpoint}: give tcp://HOST:PORT"));
    let host_port = match endpoint.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some(_) => return Err(unsupported()),
        None => endpoint,
    };
    let host_port = match host_port.strip_prefix("*:") {
        Some(port) => format!("0.0.0.0:{port}"),
        None => host_port.to_owned(),
    };
    host_port.to_socket_addrs()?.next().ok_or_else(unsupported)
}

/// Raises this process's descriptor limit to what the system allows, and
/// returns the connections a server may hold below it.
fn default_max_connections() -> usize {
    let limit = raise_descriptor_limit();
    limit.saturating_sub(RESERVED_DESCRIPTORS).max(16) as usize
}

/// Raises the soft limit on open descriptors to the hard one; the limit now.
pub fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max.min(1 << 20), rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_read_as_libzmq_reads_them() {
        assert_eq!(socket_address("tcp://*:5555").unwrap(), "0.0.0.0:5555".parse().unwrap());
        assert_eq!(socket_address("127.0.0.1:0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(socket_address("tcp://[::1]:7").unwrap(), "[::1]:7".parse().unwrap());
        assert!(socket_address("ipc:///tmp/x").is_err());
    }
}
