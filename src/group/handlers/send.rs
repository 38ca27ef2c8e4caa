//! `sendMessage`: append a member's message to the history. `SUCCESS` is sent
//! only after the batch holding the message has committed: an acknowledged
//! message is on disk.
//!
//! ```text
//! -> {"action": "sendMessage", "user_uuid": UUID, "message": TEXT}
//! <- {"response": "SUCCESS"}  |  {"response": "FAILED", "error": WHY}
//! ```

use super::{Context, not_a_member};
use crate::protocol::{Reply, SendMessage};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &SendMessage, context: &Context) -> Result<Reply, StoreError> {
    let size = request.message.len();
    if size > context.max_message_bytes {
        return Ok(Reply::failed(format!(
            "message is {size} bytes; this group accepts at most {} bytes (--max-message-bytes)",
            context.max_message_bytes
        )));
    }
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    store.append(&request.user_uuid, &request.message, context.now)?;
    Ok(Reply::success())
}
