//! huddle's ZMTP engine against the reference implementations: libzmq (the
//! `zmq` crate) and pyzmq peers, over NULL and CURVE, and against what
//! libzmq would never send (garbage, half frames, replayed and tampered
//! boxes), through the engine's own client.

mod common;

use common::{DEADLINE, eventually, require};
use huddle::keys::KeyPair;
use huddle::protocol::Address;
use huddle::protocol::envelope::Envelope;
use huddle::shutdown::Shutdown;
use huddle::transport::{self, AllowList, RouterOptions, Security};
use huddle::zmtp::client::{Client, CurveKeys};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::Duration;

/// An echo server on the engine: each request is answered with its body,
/// what was wrong with it, or (for `who?`) the key it authenticated with.
struct Echo {
    address: Address,
    shutdown: Shutdown,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Echo {
    fn start(options: RouterOptions) -> Echo {
        let server = huddle::zmtp::bind("127.0.0.1:0", options).unwrap();
        let address = server.local_address().unwrap();
        let shutdown = Shutdown::new().unwrap();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            server.serve(&stop, 1024, &mut |batch: Vec<Envelope>| {
                let replies = batch.into_iter().map(|mut envelope| {
                    let answer = match envelope.take_body() {
                        Ok(body) if body == b"who?" => format!("{:?}", envelope.peer.user_id).into_bytes(),
                        Ok(body) => body,
                        Err(error) => format!("{error:?}").into_bytes(),
                    };
                    envelope.reply(answer)
                });
                replies.collect::<Vec<_>>()
            })
        });
        Echo { address, shutdown, thread: Some(thread) }
    }

    fn plain() -> Echo {
        Echo::start(RouterOptions::default())
    }

    fn socket_address(&self) -> SocketAddr {
        self.address.host_port().parse().unwrap()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
    }
}

fn curve_options(server: &KeyPair) -> RouterOptions {
    RouterOptions { security: Security::Curve(server.clone()), ..RouterOptions::default() }
}

fn keys_for(server: &KeyPair, client: &KeyPair) -> CurveKeys {
    CurveKeys { server: server.public.bytes(), public: client.public.bytes(), secret: *client.secret() }
}

fn libzmq(kind: zmq::SocketType, address: &Address, keys: Option<&KeyPair>) -> (zmq::Context, zmq::Socket) {
    let context = zmq::Context::new();
    let socket = match keys {
        Some(keys) => transport::connect_as(&context, kind, address, keys).unwrap(),
        None => transport::connect(&context, kind, address).unwrap(),
    };
    (context, socket)
}

fn reply(socket: &zmq::Socket) -> Vec<Vec<u8>> {
    assert!(socket.poll(zmq::POLLIN, DEADLINE.as_millis() as i64).unwrap() > 0, "no reply");
    socket.recv_multipart(0).unwrap()
}

/// Reads until the server closes the connection; fails on a timeout.
fn closed_by_server(stream: &mut impl Read) {
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return,
            Err(error) => panic!("the server did not close the connection: {error}"),
        }
    }
}

fn raw_connection(echo: &Echo) -> TcpStream {
    let stream = TcpStream::connect(echo.socket_address()).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

#[test]
fn libzmq_req_and_dealer_peers_are_answered_over_null_and_curve() {
    let server_keys = KeyPair::generate().unwrap();
    let client_keys = KeyPair::generate().unwrap();
    for (echo, keys) in [(Echo::plain(), None), (Echo::start(curve_options(&server_keys)), Some(&client_keys))] {
        let (_context, req) = libzmq(zmq::REQ, &echo.address, keys);
        req.send("hello", 0).unwrap();
        assert_eq!(reply(&req), [b"hello".to_vec()]);
        req.send("who?", 0).unwrap();
        let expected = keys.map(|keys| keys.public.to_string());
        assert_eq!(reply(&req), [format!("{expected:?}").into_bytes()], "the key the client proved");
        let (_context, dealer) = libzmq(zmq::DEALER, &echo.address, keys);
        dealer.send_multipart([&b""[..], b"hi"], 0).unwrap();
        assert_eq!(reply(&dealer), [b"".to_vec(), b"hi".to_vec()]);
        dealer.send("no delimiter", 0).unwrap();
        assert_eq!(reply(&dealer), [b"no delimiter".to_vec()]);
    }
}

#[test]
fn frames_of_every_size_cross_intact() {
    let server_keys = KeyPair::generate().unwrap();
    let client_keys = KeyPair::generate().unwrap();
    for (echo, keys) in [(Echo::plain(), None), (Echo::start(curve_options(&server_keys)), Some(&client_keys))] {
        let (_context, dealer) = libzmq(zmq::DEALER, &echo.address, keys);
        for size in [0, 1, 255, 256, 65_536, 5 * 1024 * 1024] {
            let body: Vec<u8> = (0..size).map(|index| (index % 251) as u8).collect();
            dealer.send_multipart([&b""[..], &body], 0).unwrap();
            assert!(reply(&dealer)[1] == body, "a frame of {size} bytes came back changed");
        }
    }
}

#[test]
fn a_message_of_many_frames_is_counted_and_empty_frames_are_frames() {
    let echo = Echo::plain();
    let (_context, dealer) = libzmq(zmq::DEALER, &echo.address, None);
    dealer.send_multipart([&b""[..], b"", b""], 0).unwrap();
    assert_eq!(reply(&dealer), [b"".to_vec(), b"Frames(2)".to_vec()]);
    let frames = std::iter::once(Vec::new()).chain((0..100_000).map(|_| b"x".to_vec()));
    dealer.send_multipart(frames, 0).unwrap();
    assert_eq!(reply(&dealer), [b"".to_vec(), b"Frames(100000)".to_vec()]);
}

#[test]
fn a_frame_over_the_limit_closes_only_its_connection() {
    let echo = Echo::start(RouterOptions { max_frame_bytes: Some(1024), ..RouterOptions::default() });
    let mut greedy = Client::connect(echo.socket_address(), None, DEADLINE).unwrap();
    greedy.send(&[b"", &[0; 1025]]).unwrap();
    assert!(greedy.recv().is_err(), "the connection is closed");
    let mut polite = Client::connect(echo.socket_address(), None, DEADLINE).unwrap();
    polite.send(&[b"", &[7; 1024]]).unwrap();
    assert_eq!(polite.recv().unwrap()[1], [7; 1024]);
}

#[test]
fn a_peer_that_vanishes_mid_message_leaves_the_server_serving() {
    let echo = Echo::plain();
    let mut vanishing = Client::connect(echo.socket_address(), None, DEADLINE).unwrap();
    let whole = vanishing.encode(&[b"", &[1; 1000]]);
    vanishing.send_raw(&whole[..whole.len() / 2]).unwrap();
    drop(vanishing);
    let (_context, req) = libzmq(zmq::REQ, &echo.address, None);
    req.send("still there?", 0).unwrap();
    assert_eq!(reply(&req), [b"still there?".to_vec()]);
}

#[test]
fn what_is_not_a_zmtp_greeting_is_closed_at_once() {
    let echo = Echo::plain();
    let mut http = raw_connection(&echo);
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    closed_by_server(&mut http);
    let mut old = raw_connection(&echo);
    old.write_all(b"\xFF\0\0\0\0\0\0\0\x01\x7F\x01\x00").unwrap();
    closed_by_server(&mut old);
    let mut curve_to_null = raw_connection(&echo);
    curve_to_null.write_all(&huddle::zmtp::codec::greeting(huddle::zmtp::codec::Mechanism::Curve, false)).unwrap();
    closed_by_server(&mut curve_to_null);
}

#[test]
fn a_connection_that_never_finishes_its_handshake_is_closed_in_time() {
    let timeout = Some(Duration::from_millis(200));
    let echo = Echo::start(RouterOptions { handshake_timeout: timeout, ..RouterOptions::default() });
    let mut silent = raw_connection(&echo);
    closed_by_server(&mut silent);
    let mut half = raw_connection(&echo);
    half.write_all(&[0xFF, 0, 0]).unwrap();
    closed_by_server(&mut half);
}

#[test]
fn connections_beyond_the_cap_are_refused_until_one_closes() {
    let echo = Echo::start(RouterOptions { max_connections: Some(2), ..RouterOptions::default() });
    let first = Client::connect(echo.socket_address(), None, DEADLINE).unwrap();
    let _second = Client::connect(echo.socket_address(), None, DEADLINE).unwrap();
    assert!(Client::connect(echo.socket_address(), None, DEADLINE).is_err(), "a third is refused");
    drop(first);
    eventually("a place is free again", || Client::connect(echo.socket_address(), None, DEADLINE).is_ok());
}

#[test]
fn libzmq_heartbeats_are_answered() {
    let echo = Echo::plain();
    let context = zmq::Context::new();
    let dealer = context.socket(zmq::DEALER).unwrap();
    dealer.set_heartbeat_ivl(20).unwrap();
    dealer.set_heartbeat_timeout(100).unwrap();
    let monitor = transport::monitor(&context, &dealer, zmq::SocketEvent::DISCONNECTED as i32).unwrap();
    dealer.connect(&echo.address.endpoint()).unwrap();
    dealer.send_multipart([&b""[..], b"one"], 0).unwrap();
    assert_eq!(reply(&dealer)[1], b"one");
    // Ten heartbeat timeouts: a server that did not answer PING would have
    // been dropped by libzmq several times over.
    assert_eq!(monitor.poll(zmq::POLLIN, 1_000).unwrap(), 0, "libzmq dropped the connection: no PONG");
    dealer.send_multipart([&b""[..], b"two"], 0).unwrap();
    assert_eq!(reply(&dealer)[1], b"two");
}

#[test]
fn a_client_that_expects_another_server_key_gets_nothing() {
    let server_keys = KeyPair::generate().unwrap();
    let client_keys = KeyPair::generate().unwrap();
    let echo = Echo::start(curve_options(&server_keys));
    let impostor = KeyPair::generate().unwrap();
    let wrong = keys_for(&impostor, &client_keys);
    assert!(Client::connect(echo.socket_address(), Some(wrong), DEADLINE).is_err());
    let mut right =
        Client::connect(echo.socket_address(), Some(keys_for(&server_keys, &client_keys)), DEADLINE).unwrap();
    right.send(&[b"", b"who?"]).unwrap();
    assert_eq!(right.recv().unwrap()[1], format!("{:?}", Some(client_keys.public.to_string())).into_bytes());
}

#[test]
fn a_key_outside_the_allow_list_is_refused_at_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let server_keys = KeyPair::generate().unwrap();
    let member = KeyPair::generate().unwrap();
    let stranger = KeyPair::generate().unwrap();
    let list = dir.path().join("allow");
    std::fs::write(&list, format!("# the team\n{}\n", member.public)).unwrap();
    let allow = Some(AllowList::load(&list).unwrap());
    let echo = Echo::start(RouterOptions { allow, ..curve_options(&server_keys) });
    let refused = Client::connect(echo.socket_address(), Some(keys_for(&server_keys, &stranger)), DEADLINE);
    assert_eq!(refused.err().map(|error| error.kind()), Some(ErrorKind::PermissionDenied));
    // libzmq hears the refusal as ZAP's: a failed authentication, at once.
    let context = zmq::Context::new();
    let socket = context.socket(zmq::DEALER).unwrap();
    let events = zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;
    let monitor = transport::monitor(&context, &socket, events).unwrap();
    socket.set_curve_serverkey(&server_keys.public.bytes()).unwrap();
    socket.set_curve_publickey(&stranger.public.bytes()).unwrap();
    socket.set_curve_secretkey(stranger.secret()).unwrap();
    socket.connect(&echo.address.endpoint()).unwrap();
    assert!(monitor.poll(zmq::POLLIN, DEADLINE.as_millis() as i64).unwrap() > 0, "libzmq saw no refusal");
    assert_eq!(transport::next_event(&monitor), Some(zmq::SocketEvent::HANDSHAKE_FAILED_AUTH));
    let (_context, dealer) = libzmq(zmq::DEALER, &echo.address, Some(&member));
    dealer.send_multipart([&b""[..], b"member"], 0).unwrap();
    assert_eq!(reply(&dealer)[1], b"member");
}

#[test]
fn a_replayed_or_tampered_curve_message_closes_the_connection() {
    let server_keys = KeyPair::generate().unwrap();
    let client_keys = KeyPair::generate().unwrap();
    let echo = Echo::start(curve_options(&server_keys));
    let keys = keys_for(&server_keys, &client_keys);
    let mut client = Client::connect(echo.socket_address(), Some(keys), DEADLINE).unwrap();
    let message = client.encode(&[b"", b"pay 10"]);
    client.send_raw(&message).unwrap();
    assert_eq!(client.recv().unwrap()[1], b"pay 10");
    client.send_raw(&message).unwrap();
    assert!(client.recv().is_err(), "a replayed message is refused");

    let mut client = Client::connect(echo.socket_address(), Some(keys), DEADLINE).unwrap();
    let mut message = client.encode(&[b"", b"pay 10"]);
    *message.last_mut().unwrap() ^= 1;
    client.send_raw(&message).unwrap();
    assert!(client.recv().is_err(), "a tampered message is refused");
}

#[test]
fn a_peer_that_does_not_read_loses_replies_past_its_byte_cap() {
    let cap = 64 * 1024;
    let echo = Echo::start(RouterOptions { max_queued_bytes: Some(cap), ..RouterOptions::default() });
    let mut client = Client::connect(echo.socket_address(), None, DEADLINE).unwrap();
    let body = vec![9; 64 * 1024];
    let sent = 500;
    for _ in 0..sent {
        client.send(&[b"", &body]).unwrap();
    }
    client.send(&[b"", b"end"]).unwrap();
    // The server reads on while replies pile up: beyond the cap they are
    // dropped (perhaps the last one too, hence the timeout).
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut received = 0;
    while let Ok(frames) = client.recv() {
        if frames[1] == b"end" {
            break;
        }
        received += 1;
    }
    assert!(received > 0 && received < sent, "{received} of {sent} replies came: nothing was dropped");
}

#[test]
fn pyzmq_peers_are_answered_over_null_and_curve() {
    require("python3 with pyzmq", || {
        Command::new("python3").args(["-c", "import zmq"]).status().is_ok_and(|status| status.success())
    });
    let server_keys = KeyPair::generate().unwrap();
    let client_keys = KeyPair::generate().unwrap();
    let plain = Echo::plain();
    let curve = Echo::start(curve_options(&server_keys));
    let script = r#"
import sys, zmq
plain, curve, server_key, public, secret = sys.argv[1:]
context = zmq.Context()
req = context.socket(zmq.REQ)
req.connect(plain)
req.send(b"from pyzmq")
assert req.poll(10000), "no reply over NULL"
print(req.recv().decode())
dealer = context.socket(zmq.DEALER)
dealer.curve_serverkey = server_key.encode()
dealer.curve_publickey = public.encode()
dealer.curve_secretkey = secret.encode()
dealer.connect(curve)
dealer.send_multipart([b"", b"who?"])
assert dealer.poll(10000), "no reply over CURVE"
print(dealer.recv_multipart()[1].decode())
"#;
    let secret = zmq::z85_encode(client_keys.secret()).unwrap();
    let output = Command::new("python3")
        .args(["-c", script, &plain.address.endpoint(), &curve.address.endpoint()])
        .args([server_keys.public.as_str(), client_keys.public.as_str(), &secret])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = format!("from pyzmq\n{:?}\n", Some(client_keys.public.to_string()));
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
}

#[test]
fn the_engines_own_client_talks_to_a_libzmq_router_over_null_and_curve() {
    let server_keys = KeyPair::generate().unwrap();
    let client_keys = KeyPair::generate().unwrap();
    for curve in [false, true] {
        let context = zmq::Context::new();
        let security = if curve { Security::Curve(server_keys.clone()) } else { Security::Plaintext };
        let options = RouterOptions { security, ..RouterOptions::default() };
        let (socket, address) = transport::bind_router(&context, "127.0.0.1:0", options).unwrap();
        let shutdown = Shutdown::new().unwrap();
        let stop = shutdown.clone();
        let server = std::thread::spawn(move || {
            huddle::serve::serve(&socket, &stop, 16, &mut |batch: Vec<Envelope>| {
                let replies = batch.into_iter().map(|mut envelope| {
                    let body = envelope.take_body().unwrap_or_default();
                    let answer = [body, format!(" {:?}", envelope.peer.user_id).into_bytes()].concat();
                    envelope.reply(answer)
                });
                replies.collect::<Vec<_>>()
            })
        });
        let keys = curve.then(|| keys_for(&server_keys, &client_keys));
        let mut client = Client::connect(address.host_port().parse().unwrap(), keys, DEADLINE).unwrap();
        client.send(&[b"", &[5; 300]]).unwrap();
        let reply = client.recv().unwrap();
        let expected = curve.then(|| client_keys.public.to_string());
        assert_eq!(reply[1], [&[5; 300][..], format!(" {expected:?}").as_bytes()].concat(), "curve: {curve}");
        shutdown.trigger();
        server.join().unwrap().unwrap();
    }
}

#[test]
fn one_key_holds_no_more_than_its_share_of_connections() {
    let server_keys = KeyPair::generate().unwrap();
    let greedy = KeyPair::generate().unwrap();
    let options = RouterOptions { max_connections_per_key: Some(2), ..curve_options(&server_keys) };
    let echo = Echo::start(options);
    let connect = |keys: &KeyPair| {
        let mut client = Client::connect(echo.socket_address(), Some(keys_for(&server_keys, keys)), DEADLINE)?;
        client.send(&[b"", b"hi"])?;
        client.recv()
    };
    let _held: Vec<Client> = (0..2)
        .map(|_| Client::connect(echo.socket_address(), Some(keys_for(&server_keys, &greedy)), DEADLINE).unwrap())
        .collect();
    assert!(connect(&greedy).is_err(), "a third connection of one key is closed");
    assert!(connect(&KeyPair::generate().unwrap()).is_ok(), "other keys still get in");
}

/// A service on many listeners: `open` opens another and answers its
/// address, `close N` closes listener N; anything else is answered with the
/// listener it came through.
struct Opener;

impl huddle::zmtp::MultiService for Opener {
    fn handle_batch(
        &mut self,
        batch: Vec<(usize, Envelope)>,
        binder: &mut huddle::zmtp::Binder,
    ) -> Vec<(usize, huddle::serve::ReplyFrames)> {
        batch
            .into_iter()
            .map(|(listener, mut envelope)| {
                let answer = match envelope.take_body() {
                    Ok(body) if body == b"open" => {
                        let (index, address) = binder.bind("127.0.0.1:0", RouterOptions::default()).unwrap();
                        format!("{index} {address}")
                    }
                    Ok(body) if body.starts_with(b"close ") => {
                        binder.close(String::from_utf8_lossy(&body[6..]).parse().unwrap());
                        "closed".to_owned()
                    }
                    _ => format!("through {listener}"),
                };
                (listener, envelope.reply(answer.into_bytes()))
            })
            .collect()
    }

    fn wake_at(&self) -> Option<std::time::Instant> {
        None
    }

    fn wake(&mut self) -> Vec<(usize, huddle::serve::ReplyFrames)> {
        Vec::new()
    }
}

#[test]
fn one_loop_serves_listeners_opened_while_it_runs() {
    let server = huddle::zmtp::bind("127.0.0.1:0", RouterOptions::default()).unwrap();
    let first = server.local_address().unwrap();
    let shutdown = Shutdown::new().unwrap();
    let stop = shutdown.clone();
    let thread = std::thread::spawn(move || server.serve_many(&stop, 64, &mut Opener));
    let (_context, control) = libzmq(zmq::REQ, &first, None);
    control.send("open", 0).unwrap();
    let opened = String::from_utf8(reply(&control).pop().unwrap()).unwrap();
    let (index, address) = opened.split_once(' ').unwrap();
    assert_eq!(index, "1");
    let (_context, other) = libzmq(zmq::REQ, &Address::parse(address).unwrap(), None);
    other.send("hello", 0).unwrap();
    assert_eq!(reply(&other), [b"through 1".to_vec()]);
    control.send("hello", 0).unwrap();
    assert_eq!(reply(&control), [b"through 0".to_vec()], "each reply goes back through its own listener");

    // Closing a listener ends its connections and takes no new ones; the
    // others serve on.
    let socket_address = address.rsplit_once('@').map_or(address, |(_, at)| at);
    let mut held = Client::connect(socket_address.parse().unwrap(), None, DEADLINE).unwrap();
    control.send("close 1", 0).unwrap();
    assert_eq!(reply(&control), [b"closed".to_vec()]);
    assert!(held.recv().is_err(), "the connection through the closed listener is closed");
    assert!(std::net::TcpStream::connect(socket_address).is_err(), "nothing listens there any more");
    control.send("hello", 0).unwrap();
    assert_eq!(reply(&control), [b"through 0".to_vec()]);
    shutdown.trigger();
    thread.join().unwrap().unwrap();
}
