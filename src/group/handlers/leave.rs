//! `leaveGroup`: stop being a member. Leaving a group one is not in succeeds
//! too, so that a retried leave gets the same answer as the first.
//!
//! ```text
//! -> {"action": "leaveGroup", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::Context;
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &Membership, context: &mut Context) -> Result<Reply, StoreError> {
    store.remove_member(&request.user_uuid)?;
    context.subscriptions.forget_user(&request.user_uuid);
    Ok(Reply::success())
}
