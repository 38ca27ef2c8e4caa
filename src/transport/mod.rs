//! Every ZeroMQ socket huddle makes, server side and client side, with its
//! options, in one place: the one place that gives sockets their CURVE
//! keys. Nothing else calls `context.socket`.
//!
//! Servers listen through huddle's own engine ([`crate::zmtp`]) with the
//! [`RouterOptions`] given here, or on a libzmq ROUTER ([`bind_router`], the
//! reference `huddle bench` compares with), in plaintext or CURVE
//! ([`Security`]); clients connect a REQ for one request at a time
//! ([`Requester`], with deadlines and retries) or a DEALER for a connection
//! that also receives pushes ([`connect`]). A client speaks CURVE exactly
//! when the address it connects to carries the server's key
//! (`KEY@HOST:PORT`), and then accepts no other server. Every socket has
//! linger 0: a process that stops never waits to deliver to a peer that is
//! gone.

mod allow;
mod requester;
mod security;
mod zap;

pub use allow::AllowList;
pub use requester::{DEFAULT_TIMEOUT, DEFAULT_TRIES, RequestError, Requester};
pub use security::{Security, is_loopback};

use crate::keys::KeyPair;
use crate::protocol::Address;

/// How long a connection may take to finish its ZMTP (and CURVE) handshake
/// before a server drops it: long enough for any real client, short enough
/// that idle connections cannot hold a server's descriptors for long
/// (libzmq's default is 30 s).
pub const HANDSHAKE_TIMEOUT_MS: i32 = 5_000;

/// What a server's ROUTER bounds, beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// Plaintext, or CURVE with the server's key pair.
    pub security: Security,
    /// Under CURVE, the only keys admitted (`None`: every key).
    pub allow: Option<AllowList>,
    /// The largest frame taken at all: a peer sending more is cut off
    /// before the frame is held in memory.
    pub max_frame_bytes: Option<usize>,
    /// Bytes queued for one peer before messages to it are dropped (the
    /// engine only: libzmq counts messages).
    pub max_queued_bytes: Option<usize>,
    /// Connections held at once (the engine only; by default, what the
    /// descriptor limit leaves).
    pub max_connections: Option<usize>,
    /// Connections one CURVE key may hold at once (the engine only).
    pub max_connections_per_key: Option<usize>,
    /// Requests taken from one connection per batch (the engine only).
    pub per_connection: Option<usize>,
    /// How long a connection may take to finish its handshake (the engine
    /// only; by default [`HANDSHAKE_TIMEOUT_MS`]).
    pub handshake_timeout: Option<std::time::Duration>,
}

/// A ROUTER listening on `endpoint` (`tcp://*:5555`, `127.0.0.1:0`, ...), and
/// the address it really listens on (with the port the OS picked for 0).
pub fn bind_router(
    context: &zmq::Context,
    endpoint: &str,
    options: RouterOptions,
) -> Result<(zmq::Socket, Address), zmq::Error> {
    let endpoint = normalize_endpoint(endpoint);
    let socket = context.socket(zmq::ROUTER)?;
    socket.set_linger(0)?;
    socket.set_handshake_ivl(HANDSHAKE_TIMEOUT_MS)?;
    if let Some(bytes) = options.max_frame_bytes {
        socket.set_maxmsgsize(bytes as i64)?;
    }
    if let Security::Curve(keys) = &options.security {
        zap::ensure_running(context)?;
        socket.set_curve_server(true)?;
        socket.set_curve_secretkey(keys.secret())?;
        socket.set_zap_domain(&zap::domain_for(options.allow.as_ref()))?;
    }
    socket.bind(&endpoint)?;
    let address = bound_address(&socket).unwrap_or(Address { host: endpoint, port: 0, key: None });
    Ok((socket, address))
}

/// What a client socket bounds, beyond the defaults, and who it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectOptions<'a> {
    /// Messages queued from the peer before ZeroMQ stops reading (0: no
    /// bound, for a reader that must see everything, such as the bench).
    pub receive_hwm: Option<i32>,
    /// The key pair to present to a CURVE server; `None`: a new one made
    /// for this connection (an anonymous client).
    pub keys: Option<&'a KeyPair>,
}

/// A socket of `kind` (REQ, DEALER) connected to `address`, as an anonymous
/// client when the server speaks CURVE.
pub fn connect(context: &zmq::Context, kind: zmq::SocketType, address: &Address) -> Result<zmq::Socket, zmq::Error> {
    connect_with(context, kind, address, ConnectOptions::default())
}

/// [`connect`] presenting `keys` to a CURVE server.
pub fn connect_as(
    context: &zmq::Context,
    kind: zmq::SocketType,
    address: &Address,
    keys: &KeyPair,
) -> Result<zmq::Socket, zmq::Error> {
    connect_with(context, kind, address, ConnectOptions { keys: Some(keys), ..ConnectOptions::default() })
}

/// [`connect`] with `options`.
pub fn connect_with(
    context: &zmq::Context,
    kind: zmq::SocketType,
    address: &Address,
    options: ConnectOptions,
) -> Result<zmq::Socket, zmq::Error> {
    let socket = context.socket(kind)?;
    configure_and_connect(&socket, address, options)?;
    Ok(socket)
}

/// The longest libzmq waits between attempts to reach a server that is
/// down: it starts at 100 ms and doubles up to this, so a client waiting on
/// a dead server costs next to nothing.
pub const MAX_RECONNECT_INTERVAL_MS: i32 = 5_000;

/// Gives `socket` its options and keys, then connects it to `address`.
fn configure_and_connect(socket: &zmq::Socket, address: &Address, options: ConnectOptions) -> Result<(), zmq::Error> {
    socket.set_linger(0)?;
    socket.set_reconnect_ivl_max(MAX_RECONNECT_INTERVAL_MS)?;
    if let Some(hwm) = options.receive_hwm {
        socket.set_rcvhwm(hwm)?;
    }
    if let Some(server_key) = &address.key {
        let anonymous;
        let keys = match options.keys {
            Some(keys) => keys,
            None => {
                anonymous = KeyPair::generate().map_err(|_| zmq::Error::EINVAL)?;
                &anonymous
            }
        };
        socket.set_curve_serverkey(&server_key.bytes())?;
        socket.set_curve_publickey(&keys.public.bytes())?;
        socket.set_curve_secretkey(keys.secret())?;
    }
    socket.connect(&address.endpoint())
}

/// A PAIR socket receiving `socket`'s connection events (`events`, a mask
/// of `zmq::SocketEvent`s).
pub fn monitor(context: &zmq::Context, socket: &zmq::Socket, events: i32) -> Result<zmq::Socket, zmq::Error> {
    let endpoint = format!("inproc://huddle-monitor-{}", uuid::Uuid::new_v4());
    socket.monitor(&endpoint, events)?;
    let monitor = context.socket(zmq::PAIR)?;
    monitor.set_linger(0)?;
    monitor.connect(&endpoint)?;
    Ok(monitor)
}

/// The next event a [`monitor`] socket holds, without waiting; `None` when
/// there is none.
pub fn next_event(monitor: &zmq::Socket) -> Option<zmq::SocketEvent> {
    loop {
        let frames = monitor.recv_multipart(zmq::DONTWAIT).ok()?;
        // An event's first frame: its id (16 bits, little-endian), then a value.
        if let Some(&[low, high]) = frames.first().and_then(|frame| frame.get(..2)) {
            return Some(zmq::SocketEvent::from_raw(u16::from_le_bytes([low, high])));
        }
    }
}

/// `endpoint` as ZeroMQ takes it: `tcp://` added when no transport is given.
pub fn normalize_endpoint(endpoint: &str) -> String {
    if endpoint.contains("://") { endpoint.to_owned() } else { format!("tcp://{endpoint}") }
}

/// The address a bound socket really listens on.
pub fn bound_address(socket: &zmq::Socket) -> Option<Address> {
    let endpoint = socket.get_last_endpoint().ok()?.ok()?;
    Address::from_endpoint(&endpoint).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libzmq_is_built_with_curve() {
        assert!(zmq::has("curve").unwrap_or(false), "libzmq must be built with libsodium (vendor/zmq-sys)");
    }

    #[test]
    fn a_router_bound_to_port_0_reports_its_real_port() {
        let context = zmq::Context::new();
        let (_socket, address) = bind_router(&context, "127.0.0.1:0", RouterOptions::default()).unwrap();
        assert_eq!(address.host, "127.0.0.1");
        assert_ne!(address.port, 0);
        assert_eq!(normalize_endpoint("tcp://*:5555"), "tcp://*:5555");
        assert_eq!(normalize_endpoint("*:5555"), "tcp://*:5555");
    }
}
