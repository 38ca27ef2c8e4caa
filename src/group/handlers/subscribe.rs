//! `subscribe` and `unsubscribe` (huddle): a member's connection asks to have
//! every new message pushed to it. The reply carries the latest seq, so the
//! client can first read what it missed from history; the subscription lasts
//! `ttl_ms` unless renewed by subscribing again. The subscription starts once
//! the batch holding the request has committed.
//!
//! ```text
//! -> {"action": "subscribe", "user_uuid": UUID}
//! <- {"response": "SUCCESS", "seq": LATEST, "ttl_ms": 30000}
//! then, in the REQ envelope, for each batch of new messages:
//!    {"event": "messages", "messages": [{"user_uuid": .., "message": .., "timestamp": .., "seq": N}, ..]}
//! -> {"action": "unsubscribe", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::{Batch, Effect, not_a_member};
use crate::group::subscriptions::SUBSCRIPTION_TTL;
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn subscribe(
    store: &mut dyn GroupStore,
    request: &Membership,
    route: &[Vec<u8>],
    batch: &mut Batch,
) -> Result<Reply, StoreError> {
    if !store.is_member(&request.user_uuid)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    let max = batch.limits.max_members as usize;
    let is_new = !batch.subscriptions.contains(route, batch.instant);
    if is_new && batch.subscriptions.live_count(batch.instant) + batch.new_subscriptions() >= max {
        return Ok(Reply::failed(format!("the group has {max} subscriptions already: read with getMessage")));
    }
    let seq = store.latest_seq()?;
    batch.effects.push(Effect::Subscribe { route: route.to_vec(), user_uuid: request.user_uuid.clone() });
    Ok(Reply { seq: Some(seq), ttl_ms: Some(SUBSCRIPTION_TTL.as_millis() as u64), ..Reply::success() })
}

pub fn unsubscribe(route: &[Vec<u8>], batch: &mut Batch) -> Reply {
    batch.effects.push(Effect::Unsubscribe { route: route.to_vec() });
    Reply::success()
}
