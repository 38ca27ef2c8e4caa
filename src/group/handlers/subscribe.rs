//! `subscribe` and `unsubscribe` (huddle): a member's connection asks to have
//! every new message pushed to it. The reply carries the latest seq, so the
//! client can first read what it missed from history; the subscription lasts
//! `ttl_ms` unless renewed by subscribing again.
//!
//! ```text
//! -> {"action": "subscribe", "user_uuid": UUID}
//! <- {"response": "SUCCESS", "seq": LATEST, "ttl_ms": 30000}
//! then, for each new message: {"event": "message", "user_uuid": .., "message": .., "timestamp": .., "seq": N}
//! -> {"action": "unsubscribe", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::{Context, not_a_member};
use crate::group::subscriptions::SUBSCRIPTION_TTL;
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn subscribe(
    store: &mut dyn GroupStore,
    request: &Membership,
    route: &[Vec<u8>],
    context: &mut Context,
) -> Result<Reply, StoreError> {
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    let max = context.limits.max_members as usize;
    if !context.subscriptions.subscribe(route, &request.user_uuid, context.instant, max) {
        return Ok(Reply::failed(format!("the group has {max} subscriptions already: read with getMessage")));
    }
    let seq = store.latest_seq()?;
    Ok(Reply { seq: Some(seq), ttl_ms: Some(SUBSCRIPTION_TTL.as_millis() as u64), ..Reply::success() })
}

pub fn unsubscribe(route: &[Vec<u8>], context: &mut Context) -> Reply {
    context.subscriptions.unsubscribe(route);
    Reply::success()
}
