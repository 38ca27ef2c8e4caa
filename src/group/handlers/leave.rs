//! `leaveGroup`: stop being a member. Leaving a group one is not in succeeds
//! too, so that a retried leave gets the same answer as the first. Once the
//! batch has committed, none of the user's connections are pushed to.
//!
//! ```text
//! -> {"action": "leaveGroup", "user_uuid": UUID}
//! <- {"response": "SUCCESS"}
//! ```

use super::{Batch, Effect};
use crate::protocol::{Membership, Reply};
use crate::store::{GroupStore, StoreError};

pub fn apply(store: &mut dyn GroupStore, request: &Membership, batch: &mut Batch) -> Result<Reply, StoreError> {
    store.remove_member(&request.user_uuid)?;
    batch.effects.push(Effect::ForgetUser { user_uuid: request.user_uuid.clone() });
    Ok(Reply::success())
}
