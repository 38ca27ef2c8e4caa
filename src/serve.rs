//! The poll loop both servers share: one ROUTER socket, one thread.
//!
//! Each wake-up drains every request already waiting (up to a batch limit),
//! hands the whole batch to the server, then sends the replies it returns.
//! A lone request is served at once: there is no timer and no waiting for
//! company. A stop asked through [`Shutdown`] ends the loop between batches,
//! so every request taken in is answered.

use crate::protocol::envelope::Envelope;
use crate::shutdown::Shutdown;

/// Frames of one reply, routing frames first.
pub type ReplyFrames = Vec<Vec<u8>>;

/// Serves `socket` until `shutdown` is triggered.
pub fn serve(
    socket: &zmq::Socket,
    shutdown: &Shutdown,
    max_batch: usize,
    mut handle_batch: impl FnMut(Vec<Envelope>) -> Vec<ReplyFrames>,
) -> Result<(), zmq::Error> {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let mut items = [socket.as_poll_item(zmq::POLLIN), shutdown.poll_item()];
        match zmq::poll(&mut items, -1) {
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(error) => return Err(error),
        }
        if items[1].is_readable() {
            return Ok(());
        }
        while batch.len() < max_batch {
            match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => batch.push(Envelope::split(frames)),
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::EINTR) => continue,
                Err(error) => return Err(error),
            }
        }
        if batch.is_empty() {
            continue;
        }
        for reply in handle_batch(std::mem::take(&mut batch)) {
            // A ROUTER drops a reply to a peer that has gone: not an error.
            socket.send_multipart(reply, 0)?;
        }
    }
}
