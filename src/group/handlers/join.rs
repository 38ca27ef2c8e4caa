//! `joinGroup`: become a member. Joining twice is harmless.
//!
//! ```text
//! -> {"action": "joinGroup", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::Context;
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &Membership, context: &Context) -> Result<Reply, StoreError> {
    if request.user_uuid.is_empty() {
        return Ok(Reply::failed("user_uuid is empty: send the user's id"));
    }
    store.add_member(&request.user_uuid, context.now)?;
    Ok(Reply::success())
}
