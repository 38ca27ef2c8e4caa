//! `setNick` (huddle): a member chooses the name they are shown by in this
//! group, beside their id (which stays: anyone may choose any name, and the
//! id tells two people of one name apart). Leaving forgets it.
//!
//! ```text
//! -> {"action": "setNick", "user_uuid": UUID, "nick": "alice"}
//! <- {"response": "SUCCESS"}
//! then every message of that member carries "nick": "alice"
//! ```

use super::{Batch, Effect, not_a_member};
use crate::protocol::{Reply, SetNick, is_direction_mark};
use crate::store::{GroupStore, StoreError};

/// The longest nick, in characters.
pub const MAX_NICK_CHARS: usize = 32;

pub fn apply(store: &mut dyn GroupStore, request: &SetNick, batch: &mut Batch) -> Result<Reply, StoreError> {
    let nick = request.nick.trim();
    let printable = !nick.chars().any(|c| c.is_control() || is_direction_mark(c));
    if nick.is_empty() || nick.chars().count() > MAX_NICK_CHARS || !printable {
        return Ok(Reply::failed(format!(
            "a nick is 1 to {MAX_NICK_CHARS} characters, none of them control or direction marks"
        )));
    }
    if !store.set_nick(&request.user_uuid, nick)? {
        return Ok(not_a_member(&request.user_uuid));
    }
    batch.effects.push(Effect::SetNick { user_uuid: request.user_uuid.clone(), nick: nick.to_owned() });
    Ok(Reply::success())
}
