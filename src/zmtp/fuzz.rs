//! Fuzzing the engine's decoder on stable Rust, run by `cargo test` and for
//! longer by `.ci/run` (`PROPTEST_CASES`): mutations of a valid client
//! stream, and random bytes, fed to a server connection over NULL and
//! CURVE. No input may panic it, and how the bytes are cut into reads must
//! not change what it makes of them.

use super::codec::{self, COMMAND, MORE, Mechanism};
use super::connection::{Connection, Event, Policy};
use super::sodium;
use proptest::prelude::*;

/// What a libzmq DEALER sends: greeting, READY, then a few messages of the
/// shapes that matter (empty, 255/256 bytes, multipart, a PING).
fn valid_stream() -> Vec<u8> {
    let mut stream = codec::greeting(Mechanism::Null, false).to_vec();
    let ready = codec::metadata(&[(b"Socket-Type", b"DEALER"), (b"Identity", b"")]);
    codec::write_command(&mut stream, b"READY", &ready);
    codec::write_frame(&mut stream, MORE, b"");
    codec::write_frame(&mut stream, 0, b"{\"action\":\"ping\"}");
    codec::write_frame(&mut stream, 0, &[b'x'; 255]);
    codec::write_frame(&mut stream, MORE, &[b'y'; 256]);
    codec::write_frame(&mut stream, 0, b"");
    codec::write_frame(&mut stream, COMMAND, &codec::command(b"PING", b"\x00\x0actx"));
    codec::write_frame(&mut stream, 0, b"last");
    stream
}

/// The valid stream with a few bytes changed, inserted, removed or cut.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    crate::mutation::mutated(vec![valid_stream()])
}

fn null_policy() -> Policy {
    Policy { curve: None, allow: None, max_frame: 4096 }
}

/// Feeds `stream` in reads cut at `cuts`, as the engine does (unused bytes
/// carried over); what came out, and whether the connection failed.
fn feed(policy: &Policy, stream: &[u8], cuts: &[usize]) -> (Vec<Event>, bool, Vec<u8>) {
    let mut connection = Connection::new(policy);
    let mut events = Vec::new();
    let mut pending = Vec::new();
    let mut at = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|cut| cut % (stream.len() + 1)).collect();
    ends.push(stream.len());
    ends.sort_unstable();
    for end in ends {
        pending.extend_from_slice(&stream[at..end.max(at)]);
        at = end.max(at);
        match connection.receive(policy, &pending, usize::MAX, &mut events) {
            Ok(used) => {
                pending.drain(..used);
            }
            Err(_) => return (events, true, connection.output),
        }
    }
    (events, false, connection.output)
}

proptest! {
    #[test]
    fn fuzz_how_reads_are_cut_never_changes_the_outcome(
        stream in mutated(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let policy = null_policy();
        let whole = feed(&policy, &stream, &[]);
        let pieces = feed(&policy, &stream, &cuts);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn fuzz_random_bytes_never_panic_a_null_or_curve_connection(
        tail in prop::collection::vec(any::<u8>(), 0..600),
        curve in any::<bool>(),
    ) {
        let policy = if curve {
            Policy { curve: Some(sodium::key_pair()), allow: None, max_frame: 4096 }
        } else {
            null_policy()
        };
        let mechanism = if curve { Mechanism::Curve } else { Mechanism::Null };
        let mut stream = codec::greeting(mechanism, false).to_vec();
        stream.extend_from_slice(&tail);
        let (events, _, _) = feed(&policy, &stream, &[]);
        prop_assert!(events.is_empty() || !curve, "no CURVE handshake finishes on random bytes");
    }
}

#[test]
fn the_valid_stream_reads_as_libzmq_sent_it() {
    let (events, failed, output) = feed(&null_policy(), &valid_stream(), &[]);
    assert!(!failed);
    let messages: Vec<&Event> = events.iter().filter(|event| matches!(event, Event::Message { .. })).collect();
    assert_eq!(events[0], Event::Ready { identity: Vec::new(), user_id: None });
    assert_eq!(messages.len(), 4);
    assert_eq!(*messages[2], Event::Message { frames: vec![vec![b'y'; 256], Vec::new()], dropped: 0 });
    assert!(output.ends_with(&[COMMAND, 8, 4, b'P', b'O', b'N', b'G', b'c', b't', b'x']), "PING is answered");
}
