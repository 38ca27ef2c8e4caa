//! One file per action. Each handler reads its request, works on the store
//! inside the server's open batch, and returns the reply to send once that
//! batch has committed. A store error aborts the whole batch.

mod get;
mod join;
mod leave;
mod send;

use super::limits::Limits;
use crate::protocol::timestamp::Micros;
use crate::protocol::{GroupRequest, Reply};
use crate::store::{GroupStore, StoreError};

/// What every handler may need besides its request.
pub struct Context<'a> {
    /// The time the batch is applied at.
    pub now: Micros,
    pub limits: &'a Limits,
}

/// Applies one request to the store.
pub fn apply(store: &mut dyn GroupStore, request: &GroupRequest, context: &Context) -> Result<Reply, StoreError> {
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
        GroupRequest::Leave(request) => leave::apply(store, request),
        GroupRequest::Send(request) => send::apply(store, request, context),
        GroupRequest::Get(request) => get::apply(store, request, context),
    }
}

/// The reply to a request from someone who is not a member.
fn not_a_member(user_uuid: &str) -> Reply {
    Reply::failed(format!("user {user_uuid} is not a member of this group: join it first (joinGroup)"))
}
