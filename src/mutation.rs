//! What both fuzz targets do to valid input (`src/group/server/fuzz.rs`,
//! `src/zmtp/fuzz.rs`): a few bytes changed, inserted, removed, or the rest
//! cut off.

use proptest::prelude::*;

/// `bases` (one picked) with up to five edits.
pub fn mutated(bases: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (prop::sample::select(bases), prop::collection::vec((0u8..4, any::<usize>(), any::<u8>()), 0..6)).prop_map(
        |(mut bytes, edits)| {
            for (kind, at, byte) in edits {
                let at = at % (bytes.len() + 1);
                match kind {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            bytes
        },
    )
}
