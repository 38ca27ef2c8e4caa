//! `getMessage`: a member reads the history, all of it or from a time on
//! (inclusive), or a page of it by seq. No reply is larger than
//! `--max-reply-bytes`: a page stops short of it and says `more`, and the
//! seed's unpaged form is refused beyond it, so no stranger picks the size
//! of what the group builds in memory. The time filter is one step down an
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
use crate::protocol::{GetMessages, Reply, WireMessage, json, timestamp};
use crate::store::{GroupStore, Page, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &GetMessages, batch: &mut Batch) -> Result<Reply, StoreError> {
    let since = match &request.since_utc {
        Some(utc) => timestamp::parse_utc(utc).map(Some),
        None => request.timestamp.as_deref().map(timestamp::parse).transpose(),
    };
    let since = match since {
        Ok(since) => since,
        Err(error) => return Ok(Reply::failed(error.to_string())),
    };
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    // The seed's form has no paging: it gets everything, as it always did,
    // up to the reply limit.
    let limit = request.is_paged().then(|| request.limit.unwrap_or(batch.limits.max_page).min(batch.limits.max_page));
    let max = batch.limits.max_reply_bytes;
    let (after_seq, before_seq) = (request.after_seq, request.before_seq);
    // The store stops reading soon after the reply's worth: a bound on
    // what a request costs that the requester does not pick.
    let page = Page { since, after_seq, before_seq, limit, max_bytes: Some(max) };
    let history = store.messages(&page)?;
    if limit.is_none() && history.more {
        return Ok(over_the_reply_limit(max));
    }
    let mut messages: Vec<WireMessage> = history.messages.into_iter().map(WireMessage::from).collect();
    if let Some(nicks) = batch.nicks.filter(|nicks| !nicks.is_empty()) {
        for message in &mut messages {
            message.nick = nicks.get(&message.user_uuid).cloned();
        }
    }
    let fits = fitting(&messages, max, request.after_seq.is_some());
    if fits == messages.len() {
        return Ok(Reply { more: limit.map(|_| history.more), ..Reply::messages(messages) });
    }
    if limit.is_none() {
        return Ok(over_the_reply_limit(max));
    }
    // A page stops short of the limit; `more` says the rest is there.
    if request.after_seq.is_some() {
        messages.truncate(fits);
    } else {
        messages.drain(..messages.len() - fits);
    }
    Ok(Reply { more: Some(true), ..Reply::messages(messages) })
}

fn over_the_reply_limit(max: usize) -> Reply {
    Reply::failed(format!(
        "the history asked for is over {max} bytes, more than one reply holds (--max-reply-bytes): \
         ask for it from a later time, or a page at a time (after_seq and limit)"
    ))
}

/// How many of `messages` fit in a reply of `max` bytes, taken from the
/// front when reading `forward`, else from the back; at least one, so that
/// paging always moves on.
fn fitting(messages: &[WireMessage], max: usize, forward: bool) -> usize {
    // Each message's room in the reply: itself and a separator; a character
    // grows at most sixfold when escaped. Most replies are far below the
    // limit by this bound and need no exact count.
    const FRAME: usize = 96;
    let bound = |m: &WireMessage| 6 * (m.user_uuid.len() + m.message.len() + m.timestamp.len()) + FRAME;
    if messages.iter().map(bound).sum::<usize>() + FRAME <= max {
        return messages.len();
    }
    let mut used = FRAME;
    let mut fits = 0;
    let in_order: Vec<&WireMessage> = if forward { messages.iter().collect() } else { messages.iter().rev().collect() };
    for message in in_order {
        let size = json::encoded_len(message) + 2;
        if used + size > max && fits > 0 {
            break;
        }
        used += size;
        fits += 1;
    }
    fits
}
