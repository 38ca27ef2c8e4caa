//! `sendMessage`: append a member's message to the history. `SUCCESS` is sent
//! only after the batch holding the message has committed: an acknowledged
//! message is on disk. A `msg_id` already stored with the same text (a retry
//! whose first reply was lost) is acknowledged again and stores nothing; one
//! stored with other text is refused, rather than the new text dropped.
//!
//! ```text
//! -> {"action": "sendMessage", "user_uuid": UUID, "message": TEXT, "msg_id": ID?}
//! <- {"response": "SUCCESS", "seq": N?}  |  {"response": "FAILED", "error": WHY}
//! ```

use super::{Batch, not_a_member};
use crate::group::limits::MAX_MSG_ID_BYTES;
use crate::protocol::{Reply, SendMessage};
use crate::store::{Appended, GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &SendMessage, batch: &mut Batch) -> Result<Reply, StoreError> {
    let size = request.message.len();
    let max = batch.limits.max_message_bytes;
    if size > max {
        return Ok(Reply::failed(format!(
            "message is {size} bytes; this group accepts at most {max} bytes (--max-message-bytes)"
        )));
    }
    let msg_id = request.msg_id.as_deref();
    if let Some(msg_id) = msg_id.filter(|id| id.is_empty() || id.len() > MAX_MSG_ID_BYTES) {
        return Ok(Reply::failed(format!(
            "msg_id is {} bytes: send 1 to {MAX_MSG_ID_BYTES} (a UUID), or none",
            msg_id.len()
        )));
    }
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    let seq = match store.append(&request.user_uuid, &request.message, msg_id, batch.now)? {
        Appended::New(message) => {
            let seq = message.seq;
            batch.stored.push(message);
            seq
        }
        Appended::Duplicate { seq } => seq,
        Appended::Conflict { seq } => {
            return Ok(Reply::failed(format!(
                "msg_id {} was already used for another message (#{seq}): send each message under a new id",
                msg_id.unwrap_or_default()
            )));
        }
    };
    // The seed's clients send no msg_id and get the seed's exact reply.
    Ok(Reply { seq: msg_id.map(|_| seq), ..Reply::success() })
}
