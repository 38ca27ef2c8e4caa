//! `joinGroup`: become a member. Joining twice is harmless.
//!
//! ```text
//! -> {"action": "joinGroup", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::Context;
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &Membership, context: &mut Context) -> Result<Reply, StoreError> {
    if !store.is_member(&request.user_uuid)? {
        let max = context.limits.max_members;
        if store.member_count()? >= max {
            return Ok(Reply::failed(format!("the group is full: it has {max} members (--max-members)")));
        }
        store.add_member(&request.user_uuid, context.now)?;
    }
    Ok(Reply::success())
}
