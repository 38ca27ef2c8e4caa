//! The ZAP handler (ZeroMQ RFC 27) of a process's CURVE servers: libzmq asks
//! it about every CURVE handshake, and what it answers becomes the
//! connection's `User-Id`, which every request then carries: the client's
//! public key in Z85. Without a ZAP handler libzmq would accept CURVE
//! clients but never say who they are.
//!
//! One handler serves a whole ZeroMQ context, on its own thread; it is
//! started by the first CURVE server socket made in that context. A server
//! with an allow-list has a ZAP domain of its own, and the handler refuses
//! every key that list does not hold.

use super::AllowList;
use crate::keys::PublicKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use tracing::{debug, info};

/// The domain of servers that admit every key.
const OPEN_DOMAIN: &str = "huddle";
/// The allow-lists of the private servers in this process, by ZAP domain.
static PRIVATE: LazyLock<Mutex<HashMap<String, AllowList>>> = LazyLock::new(Mutex::default);

/// The ZAP domain for a server admitting `allow` (every key when `None`).
pub fn domain_for(allow: Option<&AllowList>) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let Some(allow) = allow else { return OPEN_DOMAIN.to_owned() };
    let domain = format!("huddle-private-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    PRIVATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(domain.clone(), allow.clone());
    domain
}

fn admits(domain: &[u8], key: &PublicKey) -> bool {
    let private = PRIVATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match private.get(String::from_utf8_lossy(domain).as_ref()) {
        Some(allow) => allow.allows_key(key),
        None => true,
    }
}

/// Where libzmq sends ZAP requests, in every context.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// The ZAP protocol version spoken.
const ZAP_VERSION: &[u8] = b"1.0";

/// Starts the handler for `context`, unless one already runs there.
pub fn ensure_running(context: &zmq::Context) -> Result<(), zmq::Error> {
    let socket = context.socket(zmq::REP)?;
    socket.set_linger(0)?;
    match socket.bind(ZAP_ENDPOINT) {
        Ok(()) => {}
        Err(zmq::Error::EADDRINUSE) => return Ok(()),
        Err(error) => return Err(error),
    }
    std::thread::Builder::new().name("zap".into()).spawn(move || serve(&socket)).map_err(|_| zmq::Error::ENOMEM)?;
    Ok(())
}

fn serve(socket: &zmq::Socket) {
    loop {
        let request = match socket.recv_multipart(0) {
            Ok(request) => request,
            Err(zmq::Error::EINTR) => continue,
            // The context is ending.
            Err(_) => return,
        };
        if socket.send_multipart(answer(&request), 0).is_err() {
            return;
        }
    }
}

/// The reply to one ZAP request: `[version, request_id, status, text, user_id, metadata]`.
fn answer(request: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let request_id = request.get(1).cloned().unwrap_or_default();
    let domain = request.get(2).map(Vec::as_slice).unwrap_or_default();
    let mechanism = request.get(5).map(Vec::as_slice);
    let credential = request.get(6);
    let status = |code: &str, text: &str, user_id: Vec<u8>| {
        vec![ZAP_VERSION.to_vec(), request_id.clone(), code.into(), text.into(), user_id, Vec::new()]
    };
    if request.first().map(Vec::as_slice) != Some(ZAP_VERSION) {
        return status("500", "unsupported ZAP version", Vec::new());
    }
    match (mechanism, credential) {
        (Some(b"CURVE"), Some(key)) if key.len() == 32 => match zmq::z85_encode(key).ok().map(|z| PublicKey::parse(&z))
        {
            Some(Ok(key)) if !admits(domain, &key) => {
                info!(%key, "CURVE client refused: its key is not on the allow-list");
                status("400", "key not allowed", Vec::new())
            }
            Some(Ok(key)) => {
                debug!(%key, "CURVE client authenticated");
                status("200", "OK", key.as_str().as_bytes().to_vec())
            }
            _ => status("400", "bad key", Vec::new()),
        },
        (Some(b"CURVE"), _) => status("400", "no key", Vec::new()),
        // NULL and others: no identity to give.
        _ => status("200", "OK", Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_client_is_named_by_its_key() {
        let key = crate::keys::KeyPair::generate().unwrap().public;
        let request: Vec<Vec<u8>> = [&b"1.0"[..], b"7", b"huddle", b"127.0.0.1", b"", b"CURVE", &key.bytes()]
            .iter()
            .map(|f| f.to_vec())
            .collect();
        let reply = answer(&request);
        assert_eq!(reply[1], b"7");
        assert_eq!(reply[2], b"200");
        assert_eq!(reply[4], key.as_str().as_bytes());
        let bad: Vec<Vec<u8>> =
            [&b"1.0"[..], b"8", b"huddle", b"x", b"", b"CURVE", b"short"].iter().map(|f| f.to_vec()).collect();
        assert_eq!(answer(&bad)[2], b"400");
    }
}
