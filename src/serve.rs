//! The poll loop both servers share: one ROUTER socket, one thread.
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
/// sender (the metadata of its first frame).
fn receive(socket: &zmq::Socket) -> Result<Envelope, zmq::Error> {
    let mut first = socket.recv_msg(zmq::DONTWAIT)?;
    let user_id = first.gets("User-Id").filter(|id| !id.is_empty()).map(str::to_owned);
    let address = first.gets("Peer-Address").map(str::to_owned);
    let mut more = first.get_more();
    let mut frames = vec![first.to_vec()];
    while more {
        // The rest of a message is there already (ZeroMQ delivers messages
        // whole); only a signal can interrupt its reading.
        let frame = loop {
            match socket.recv_msg(0) {
                Err(zmq::Error::EINTR) => continue,
                other => break other?,
            }
        };
        more = frame.get_more();
        frames.push(frame.to_vec());
    }
    let mut envelope = Envelope::split(frames);
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
