//! One file per action. Each handler reads its request, works on the store
//! inside the server's open batch, and returns the reply to send once that
//! batch has committed. A store error aborts the whole batch.

mod get;
mod join;
mod leave;
mod send;
mod subscribe;

use super::limits::Limits;
use super::subscriptions::Subscriptions;
use crate::protocol::timestamp::Micros;
use crate::protocol::{GroupRequest, Reply};
use crate::store::{GroupStore, StoreError, StoredMessage};
use std::time::Instant;

/// What every handler may need besides its request.
pub struct Context<'a> {
    /// The time the batch is applied at.
    pub now: Micros,
    pub instant: Instant,
    pub limits: &'a Limits,
    pub subscriptions: &'a mut Subscriptions,
    /// Messages this batch stored, to push once it has committed.
    pub stored: Vec<StoredMessage>,
}

/// Applies one request, sent over the connection `route`, to the store.
pub fn apply(
    store: &mut dyn GroupStore,
    request: &GroupRequest,
    route: &[Vec<u8>],
    context: &mut Context,
) -> Result<Reply, StoreError> {
    let user_uuid = request.user_uuid();
    if user_uuid.is_empty() {
        return Ok(Reply::failed("user_uuid is empty: send the user's id"));
    }
    if user_uuid.len() > context.limits.max_user_id_bytes {
        return Ok(Reply::failed(format!(
            "user_uuid is {} bytes; this group accepts at most {} (--max-user-id-bytes)",
            user_uuid.len(),
            context.limits.max_user_id_bytes
        )));
    }
    match request {
        GroupRequest::Join(request) => join::apply(store, request, context),
        GroupRequest::Leave(request) => leave::apply(store, request, context),
        GroupRequest::Send(request) => send::apply(store, request, context),
        GroupRequest::Get(request) => get::apply(store, request, context),
        GroupRequest::Subscribe(request) => subscribe::subscribe(store, request, route, context),
        GroupRequest::Unsubscribe(_) => Ok(subscribe::unsubscribe(route, context)),
    }
}

/// The reply to a request from someone who is not a member.
fn not_a_member(user_uuid: &str) -> Reply {
    Reply::failed(format!("user {user_uuid} is not a member of this group: join it first (joinGroup)"))
}
