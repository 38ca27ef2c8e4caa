//! `getMessage`: a member reads the history, all of it or from a time on
//! (inclusive). The time filter walks an index, so its cost follows what it
//! returns, not the size of the history.
//!
//! ```text
//! -> {"action": "getMessage", "user_uuid": UUID, "timestamp": null | "YYYY-MM-DDTHH:MM:SS"}
//! <- {"response": "SUCCESS", "messages": [{"user_uuid": .., "message": .., "timestamp": .., "seq": N}]}
//! ```

use super::not_a_member;
use crate::protocol::{GetMessages, Reply, WireMessage, timestamp};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &GetMessages) -> Result<Reply, StoreError> {
    let since = match request.timestamp.as_deref().map(timestamp::parse).transpose() {
        Ok(since) => since,
        Err(error) => return Ok(Reply::failed(error.to_string())),
    };
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    let messages = store
        .messages_since(since)?
        .into_iter()
        .map(|stored| WireMessage {
            timestamp: timestamp::render(stored.at),
            user_uuid: stored.user_uuid,
            message: stored.body,
            seq: Some(stored.seq),
        })
        .collect();
    Ok(Reply::messages(messages))
}
