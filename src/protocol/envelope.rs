//! The ROUTER envelope: who sent a request, and where its reply goes.
//!
//! A REQ client's request arrives as `[identity, "", body]`; a DEALER client
//! may leave out the empty delimiter: `[identity, body]`. Either way the reply
//! goes back with the same envelope, so both kinds of client work. Beside the
//! routing frames the envelope carries what the transport knows of the
//! sender ([`Peer`]): the key it authenticated with and its address, for the
//! one place that decides what a sender may claim.

use super::ProtocolError;

/// A connection's routing frames, as a ROUTER hands them out.
pub type Route = Vec<Vec<u8>>;

/// Who sent a request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Peer {
    /// The routing frames that lead back to the sender's connection.
    pub route: Route,
    /// The identity the connection authenticated as (ZeroMQ's `User-Id`
    /// metadata, e.g. a CURVE public key); `None` on a plaintext connection.
    pub user_id: Option<String>,
    /// The sender's IP address (ZeroMQ's `Peer-Address` metadata).
    pub address: Option<String>,
}

/// A request's sender and its body.
#[derive(Debug)]
pub struct Envelope {
    pub peer: Peer,
    pub body: Result<Vec<u8>, ProtocolError>,
}

impl Envelope {
    /// Splits the frames a ROUTER received. The body is an error when there
    /// is not exactly one frame after the routing frames.
    pub fn split(mut frames: Vec<Vec<u8>>) -> Envelope {
        let route_len = if frames.len() >= 2 && frames[1].is_empty() { 2 } else { 1 };
        let route_len = route_len.min(frames.len());
        let rest = frames.split_off(route_len);
        let body = match <[Vec<u8>; 1]>::try_from(rest) {
            Ok([body]) => Ok(body),
            Err(rest) => Err(ProtocolError::Frames(rest.len())),
        };
        Envelope { peer: Peer { route: frames, ..Peer::default() }, body }
    }

    /// [`Envelope::split`] of a message of which `dropped` more frames came
    /// than were kept: it counts as a message of too many frames.
    pub fn split_counting(frames: Vec<Vec<u8>>, dropped: usize) -> Envelope {
        let mut envelope = Envelope::split(frames);
        if dropped > 0 {
            let received = match &envelope.body {
                Err(ProtocolError::Frames(after_route)) => after_route + dropped,
                _ => 1 + dropped,
            };
            envelope.body = Err(ProtocolError::Frames(received));
        }
        envelope
    }

    /// Takes the body out, leaving an empty one.
    pub fn take_body(&mut self) -> Result<Vec<u8>, ProtocolError> {
        std::mem::replace(&mut self.body, Ok(Vec::new()))
    }

    /// The frames of a reply to this request.
    pub fn reply(self, body: Vec<u8>) -> Vec<Vec<u8>> {
        let mut frames = self.peer.route;
        frames.push(body);
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_and_dealer_envelopes() {
        let req = Envelope::split(vec![b"id".to_vec(), vec![], b"{}".to_vec()]);
        assert_eq!(req.body, Ok(b"{}".to_vec()));
        assert_eq!(req.reply(b"r".to_vec()), vec![b"id".to_vec(), vec![], b"r".to_vec()]);
        let dealer = Envelope::split(vec![b"id".to_vec(), b"{}".to_vec()]);
        assert_eq!(dealer.reply(b"r".to_vec()), vec![b"id".to_vec(), b"r".to_vec()]);
    }

    #[test]
    fn too_many_or_too_few_frames() {
        let many = Envelope::split(vec![b"id".to_vec(), vec![], b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(many.body, Err(ProtocolError::Frames(2)));
        let none = Envelope::split(vec![b"id".to_vec(), vec![]]);
        assert_eq!(none.body, Err(ProtocolError::Frames(0)));
    }
}
