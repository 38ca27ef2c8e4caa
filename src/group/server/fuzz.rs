//! Fuzzing on stable Rust, run by `cargo test` and for longer by `.ci/run`
//! (`PROPTEST_CASES`): random bytes, and mutations of the requests in
//! `tests/corpus/requests`, thrown at the request decoders and at a group's
//! whole request path (batching, the store, the authenticated-user check),
//! from plaintext and CURVE peers alike. Every request must get exactly one
//! reply, on its own route, that decodes and stays within the reply limit;
//! no input may panic the server.

use super::{Group, Limits};
use crate::keys::KeyPair;
use crate::protocol::envelope::Envelope;
use crate::protocol::{DirectoryRequest, GroupRequest, decode, decode_reply};
use proptest::prelude::*;
use std::path::Path;

/// The corpus: one request a file.
fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/requests");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the corpus is in the repository").flatten().collect();
    files.sort_by_key(|entry| entry.path());
    files.into_iter().map(|entry| std::fs::read(entry.path()).expect("a corpus file")).collect()
}

/// A corpus request with a few bytes changed, inserted, removed or cut.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    crate::mutation::mutated(corpus())
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![3 => mutated(), 1 => prop::collection::vec(any::<u8>(), 0..64)]
}

proptest! {
    #[test]
    fn the_decoders_answer_any_bytes_briefly(body in request()) {
        if let Err(error) = decode::<GroupRequest>(&body) {
            prop_assert!(error.to_string().len() < 600);
        }
        if let Err(error) = decode::<DirectoryRequest>(&body) {
            prop_assert!(error.to_string().len() < 600);
        }
    }

    #[test]
    fn every_request_gets_one_reply_on_its_route(
        bodies in prop::collection::vec((request(), any::<bool>()), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let mut group = Group::in_dir(dir.path(), limits.clone());
        let keys = KeyPair::generate().unwrap();
        let batch: Vec<Envelope> = bodies
            .iter()
            .enumerate()
            .map(|(n, (body, curve))| {
                let mut envelope = Envelope::split(vec![format!("peer-{n}").into_bytes(), Vec::new(), body.clone()]);
                if *curve {
                    envelope.peer.user_id = Some(keys.public.as_str().to_owned());
                }
                envelope
            })
            .collect();
        let replies = group.apply_batch(batch);
        prop_assert_eq!(replies.len(), bodies.len());
        for (n, reply) in replies.iter().enumerate() {
            prop_assert_eq!(&reply[0], &format!("peer-{n}").into_bytes());
            let body = reply.last().unwrap();
            prop_assert!(body.len() <= limits.max_reply_bytes);
            prop_assert!(decode_reply(body).is_ok(), "{}", String::from_utf8_lossy(body));
        }
    }
}
