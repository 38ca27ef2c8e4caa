//! `joinGroup`: become a member. Joining twice is harmless.
//!
//! ```text
//! -> {"action": "joinGroup", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::Batch;
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &Membership, batch: &mut Batch) -> Result<Reply, StoreError> {
    if !store.is_member(&request.user_uuid)? {
        let max = batch.limits.max_members;
        if store.member_count()? >= max {
            return Ok(Reply::failed(format!("the group is full: it has {max} members (--max-members)")));
        }
        store.add_member(&request.user_uuid, batch.now)?;
    }
    Ok(Reply::success())
}
