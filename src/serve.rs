//! What a server is to its poll loop ([`Service`]: batches in, frames out),
//! and that loop on a libzmq ROUTER socket.
//!
//! huddle's servers run on its own engine ([`crate::zmtp`]), which keeps
//! this shape; the libzmq loop here stays as the reference `huddle bench`
//! measures the engine against.
//!
//! Each wake-up drains every request already waiting (up to a batch limit),
//! hands the whole batch to the [`Service`], then sends the frames it
//! returns. A lone request is served at once: there is no timer and no
//! waiting for company. A service may ask to be woken at a moment of its
//! choosing (the group does, to send coalesced pushes); with nothing asked,
//! the loop sleeps until a request comes. A stop asked through [`Shutdown`]
//! ends the loop between batches, so every request taken in is answered.

use crate::protocol::envelope::Envelope;
use crate::shutdown::Shutdown;
use std::time::Instant;

/// The most frames of one request kept: a ROUTER's identity, the REQ
/// delimiter and the body, and one more to tell a request with too many.
pub(crate) const MAX_FRAMES: usize = 4;

/// Frames of one reply, routing frames first.
pub type ReplyFrames = Vec<Vec<u8>>;

/// What a server does with what its loop hands it.
pub trait Service {
    /// Answers a batch of requests: the frames to send, in order.
    fn handle_batch(&mut self, batch: Vec<Envelope>) -> Vec<ReplyFrames>;

    /// When to be woken without a request; `None`: not at all.
    fn wake_at(&self) -> Option<Instant> {
        None
    }

    /// Called once `wake_at` has come (and at the stop): frames to send.
    fn wake(&mut self) -> Vec<ReplyFrames> {
        Vec::new()
    }
}

impl<F: FnMut(Vec<Envelope>) -> Vec<ReplyFrames>> Service for F {
    fn handle_batch(&mut self, batch: Vec<Envelope>) -> Vec<ReplyFrames> {
        self(batch)
    }
}

/// Serves `socket` until `shutdown` is triggered.
pub fn serve(
    socket: &zmq::Socket,
    shutdown: &Shutdown,
    max_batch: usize,
    service: &mut impl Service,
) -> Result<(), zmq::Error> {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let timeout_ms = match service.wake_at() {
            None => -1,
            Some(at) => at.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000) as i64,
        };
        let mut items = [socket.as_poll_item(zmq::POLLIN), shutdown.poll_item()];
        match zmq::poll(&mut items, timeout_ms) {
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(error) => return Err(error),
        }
        if items[1].is_readable() {
            return send_all(socket, service.wake());
        }
        while batch.len() < max_batch {
            match receive(socket) {
                Ok(envelope) => batch.push(envelope),
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::EINTR) => continue,
                Err(error) => return Err(error),
            }
        }
        if !batch.is_empty() {
            send_all(socket, service.handle_batch(std::mem::take(&mut batch)))?;
        }
        if service.wake_at().is_some_and(|at| at <= Instant::now()) {
            send_all(socket, service.wake())?;
        }
    }
}

/// Takes one waiting request off the socket, with what ZeroMQ knows of its
/// sender: the metadata of the frames that came over the wire (the first,
/// the identity a ROUTER adds itself, has none).
fn receive(socket: &zmq::Socket) -> Result<Envelope, zmq::Error> {
    let first = socket.recv_msg(zmq::DONTWAIT)?;
    let mut more = first.get_more();
    let mut frames = vec![first.to_vec()];
    let mut dropped = 0;
    let (mut user_id, mut address) = (None, None);
    while more {
        // The rest of a message is there already (ZeroMQ delivers messages
        // whole); only a signal can interrupt its reading.
        let mut frame = loop {
            match socket.recv_msg(0) {
                Err(zmq::Error::EINTR) => continue,
                other => break other?,
            }
        };
        if address.is_none() {
            user_id = frame.gets("User-Id").filter(|id| !id.is_empty()).map(str::to_owned);
            address = frame.gets("Peer-Address").map(str::to_owned);
        }
        more = frame.get_more();
        // Frames beyond any request's are counted, not kept: a peer sending
        // millions of them costs a count, not a copy of each.
        if frames.len() < MAX_FRAMES {
            frames.push(frame.to_vec());
        } else {
            dropped += 1;
        }
    }
    let mut envelope = Envelope::split_counting(frames, dropped);
    envelope.peer.user_id = user_id;
    envelope.peer.address = address;
    Ok(envelope)
}

fn send_all(socket: &zmq::Socket, frames: Vec<ReplyFrames>) -> Result<(), zmq::Error> {
    for frame in frames {
        // A ROUTER drops a frame for a peer that has gone, or whose queue is
        // full: not an error, and never a wait.
        socket.send_multipart(frame, zmq::DONTWAIT)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Address;
    use crate::transport::{self, RouterOptions};
    use std::thread::JoinHandle;

    /// A server on a free loopback port answering each request with what
    /// `describe` says of its envelope; stopped by triggering the shutdown.
    fn describing_server(
        context: &zmq::Context,
        describe: fn(&Envelope) -> String,
    ) -> (Address, Shutdown, JoinHandle<Result<(), zmq::Error>>) {
        let (socket, address) = transport::bind_router(context, "127.0.0.1:0", RouterOptions::default()).unwrap();
        let shutdown = Shutdown::new().unwrap();
        let stop = shutdown.clone();
        let server = std::thread::spawn(move || {
            serve(&socket, &stop, 16, &mut |batch: Vec<Envelope>| {
                let replies = batch.into_iter().map(|envelope| {
                    let described = describe(&envelope);
                    envelope.reply(described.into_bytes())
                });
                replies.collect::<Vec<_>>()
            })
        });
        (address, shutdown, server)
    }

    #[test]
    fn each_request_carries_what_zeromq_knows_of_its_sender() {
        let context = zmq::Context::new();
        let (address, shutdown, server) =
            describing_server(&context, |envelope| format!("{:?} {:?}", envelope.peer.address, envelope.peer.user_id));
        let client = transport::connect(&context, zmq::REQ, &address).unwrap();
        client.send("who am I?", 0).unwrap();
        assert!(client.poll(zmq::POLLIN, 10_000).unwrap() > 0, "no reply");
        let seen = client.recv_string(0).unwrap().unwrap();
        assert_eq!(seen, r#"Some("127.0.0.1") None"#, "a plaintext peer has an address and no authenticated id");
        shutdown.trigger();
        server.join().unwrap().unwrap();
    }

    #[test]
    fn a_request_of_many_frames_is_counted_not_kept() {
        let context = zmq::Context::new();
        let (address, shutdown, server) = describing_server(&context, |envelope| format!("{:?}", envelope.body));
        let client = transport::connect(&context, zmq::DEALER, &address).unwrap();
        let frames = std::iter::once(Vec::new()).chain((0..100_000).map(|_| b"x".to_vec()));
        client.send_multipart(frames, 0).unwrap();
        assert!(client.poll(zmq::POLLIN, 10_000).unwrap() > 0, "no reply");
        let reply = client.recv_multipart(0).unwrap().pop().unwrap();
        assert_eq!(String::from_utf8(reply).unwrap(), "Err(Frames(100000))");
        shutdown.trigger();
        server.join().unwrap().unwrap();
    }
}
