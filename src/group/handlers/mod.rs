//! One file per action. Each handler reads its request, works on the store
//! inside the server's open batch, and returns the reply to send once that
//! batch has committed. A store error aborts the whole batch.
//!
//! Handlers change the store only. What they would change in memory (who is
//! subscribed) they record as an [`Effect`] in the [`Batch`]; the server
//! applies the effects after the commit, so a batch that rolls back leaves
//! memory as it left the disk.

mod get;
mod join;
mod leave;
mod nick;
mod send;
mod subscribe;

use super::limits::Limits;
use super::subscriptions::{Route, Subscriptions};
use crate::keys::PublicKey;
use crate::protocol::envelope::Peer;
use crate::protocol::timestamp::Micros;
use crate::protocol::{GroupRequest, Reply};
use crate::store::{Access, GroupStore, StoreError, StoredMessage};
use crate::transport::AllowList;
use std::collections::HashMap;
use std::time::Instant;

/// What every handler may need besides its request: the batch it is part of.
pub struct Batch<'a> {
    /// The time the batch is applied at.
    pub now: Micros,
    pub instant: Instant,
    pub limits: &'a Limits,
    /// The subscriptions as they were before the batch.
    pub subscriptions: &'a Subscriptions,
    /// Changes to memory to make once the batch has committed.
    pub effects: Vec<Effect>,
    /// Messages this batch stored, to push once it has committed.
    pub stored: Vec<StoredMessage>,
    /// A private group's allow-list.
    pub allow: Option<&'a AllowList>,
    /// The names members chose, by user, as they were before the batch.
    pub nicks: Option<&'a HashMap<String, String>>,
    /// Who may use the group (a hosted group's owner may make it private).
    pub access: Option<&'a Access>,
}

/// A change to the group's memory that waits for the batch's commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Subscribe {
        route: Route,
        user_uuid: String,
    },
    Unsubscribe {
        route: Route,
    },
    /// The user left: none of their connections are pushed to any more,
    /// and their nick is forgotten.
    ForgetUser {
        user_uuid: String,
    },
    SetNick {
        user_uuid: String,
        nick: String,
    },
}

impl<'a> Batch<'a> {
    pub fn new(limits: &'a Limits, subscriptions: &'a Subscriptions, now: Micros) -> Batch<'a> {
        Batch {
            now,
            instant: Instant::now(),
            limits,
            subscriptions,
            effects: Vec::new(),
            stored: Vec::new(),
            allow: None,
            nicks: None,
            access: None,
        }
    }

    /// How many subscriptions this batch adds so far.
    fn new_subscriptions(&self) -> usize {
        self.effects
            .iter()
            .filter(|effect| {
                matches!(effect, Effect::Subscribe { route, .. } if !self.subscriptions.contains(route, self.instant))
            })
            .count()
    }
}

/// Applies one request, sent by `peer`, to the store.
pub fn apply(
    store: &mut dyn GroupStore,
    request: &GroupRequest,
    peer: &Peer,
    batch: &mut Batch,
) -> Result<Reply, StoreError> {
    let user_uuid = request.user_uuid();
    if user_uuid.is_empty() {
        return Ok(Reply::failed("user_uuid is empty: send the user's id"));
    }
    if user_uuid.len() > batch.limits.max_user_id_bytes {
        return Ok(Reply::failed(format!(
            "user_uuid is {} bytes; this group accepts at most {} (--max-user-id-bytes)",
            user_uuid.len(),
            batch.limits.max_user_id_bytes
        )));
    }
    if let Some(refusal) = claim_refused(user_uuid, peer, batch.allow) {
        return Ok(refusal);
    }
    if batch.access.is_some_and(|access| !access.admits(user_uuid)) {
        return Ok(Reply::failed(format!(
            "this group is private: ask its owner to invite you (they type /invite {user_uuid})"
        )));
    }
    match request {
        GroupRequest::Join(request) => join::apply(store, request, batch),
        GroupRequest::Leave(request) => leave::apply(store, request, batch),
        GroupRequest::Send(request) => send::apply(store, request, batch),
        GroupRequest::Get(request) => get::apply(store, request, batch),
        GroupRequest::Subscribe(request) => subscribe::subscribe(store, request, &peer.route, batch),
        GroupRequest::Unsubscribe(_) => Ok(subscribe::unsubscribe(&peer.route, batch)),
        GroupRequest::SetNick(request) => nick::apply(store, request, batch),
    }
}

/// Under CURVE a user is their key: a request may only be made for the
/// `user_uuid` derived from the key its connection authenticated with, and
/// in a private group only while that key is on the allow-list.
fn claim_refused(user_uuid: &str, peer: &Peer, allow: Option<&AllowList>) -> Option<Reply> {
    let key = peer.user_id.as_deref()?;
    let own = match PublicKey::parse(key) {
        Ok(key) if allow.is_some_and(|allow| !allow.holds_key(&key)) => {
            return Some(Reply::failed(format!(
                "your key {key} is not allowed in this group: ask its operator to add it to the group's --allow file"
            )));
        }
        Ok(key) => key.user_uuid(),
        Err(_) => return Some(Reply::failed("the connection's key is not a CURVE public key")),
    };
    (own != user_uuid).then(|| {
        Reply::failed(format!(
            "user_uuid {user_uuid} does not belong to your key {key}: over CURVE you are {own} \
             (huddle's client sends it for you)"
        ))
    })
}

/// The reply to a request from someone who is not a member.
fn not_a_member(user_uuid: &str) -> Reply {
    Reply::failed(format!("user {user_uuid} is not a member of this group: join it first (joinGroup)"))
}
