//! `getMessage`: a member reads the history, all of it or from a time on
//! (inclusive), or a page of it by seq. The time filter is one step down an
//! index, and a page is a range of seqs: the cost follows what is returned,
//! not the size of the history.
//!
//! ```text
//! -> {"action": "getMessage", "user_uuid": UUID, "timestamp": null | "YYYY-MM-DDTHH:MM:SS",
//!     "after_seq": N?, "before_seq": N?, "limit": N?}
//! <- {"response": "SUCCESS", "messages": [{"user_uuid": .., "message": .., "timestamp": .., "seq": N}],
//!     "more": BOOL?}
//! ```

use super::{Batch, not_a_member};
use crate::protocol::{GetMessages, Reply, WireMessage, timestamp};
use crate::store::{GroupStore, Page, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &GetMessages, batch: &mut Batch) -> Result<Reply, StoreError> {
    let since = match request.timestamp.as_deref().map(timestamp::parse).transpose() {
        Ok(since) => since,
        Err(error) => return Ok(Reply::failed(error.to_string())),
    };
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    // The seed's form has no paging: it gets everything, as it always did.
    let limit = request.is_paged().then(|| request.limit.unwrap_or(batch.limits.max_page).min(batch.limits.max_page));
    let page = Page { since, after_seq: request.after_seq, before_seq: request.before_seq, limit };
    let history = store.messages(&page)?;
    let messages = history.messages.into_iter().map(WireMessage::from).collect();
    Ok(Reply { more: limit.map(|_| history.more), ..Reply::messages(messages) })
}
