//! The host's control socket: `createGroup` starts a group on the next free
//! port of the host's range, keeps it in the catalog, registers it with the
//! directory and answers where it is.
//!
//! ```text
//! -> {"action": "createGroup", "user_uuid": UUID, "name": "ops"}
//! <- {"response": "SUCCESS", "address": "[KEY@]IP:PORT"}
//! ```
//!
//! Under CURVE only keys in the host's `--creators` file may create (any key
//! when there is none), and `user_uuid` must be the creator's own; on
//! plaintext loopback anyone on the machine may.

use super::{Host, catalog};
use crate::directory::registry::MAX_NAME_BYTES;
use crate::keys::PublicKey;
use crate::protocol::envelope::Envelope;
use crate::protocol::{CreateGroup, HostRequest, Reply, decode};
use crate::zmtp::Binder;

pub(super) fn answer(host: &mut Host, binder: &mut Binder, mut envelope: Envelope) -> Vec<Vec<u8>> {
    let reply = match envelope.take_body().and_then(|body| decode::<HostRequest>(&body)) {
        Ok(HostRequest::Create(request)) => create(host, binder, &envelope, &request),
        Err(error) => Reply::failed(error.to_string()),
    };
    envelope.reply(reply.encode())
}

fn create(host: &mut Host, binder: &mut Binder, envelope: &Envelope, request: &CreateGroup) -> Reply {
    if let Some(refusal) = refused_creator(host, envelope, &request.user_uuid) {
        return refusal;
    }
    let name = request.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Reply::failed(format!("a group name is 1 to {MAX_NAME_BYTES} bytes, no control characters"));
    }
    if host.groups.values().any(|hosted| hosted.name == name) {
        return Reply::failed(format!("this host has a group named {name:?} already: pick another name"));
    }
    let entry = match catalog::add(&host.config.data, name, &host.config.ports, &host.ports) {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            let (first, last) = (host.config.ports.start(), host.config.ports.end());
            return Reply::failed(format!(
                "every port of this host ({first}-{last}) holds a group: its operator can widen --ports"
            ));
        }
        Err(error) => return Reply::failed(format!("the host cannot keep a new group: {error}")),
    };
    match host.start_group(binder, entry) {
        Ok(address) => Reply { address: Some(address.to_string()), ..Reply::success() },
        Err(error) => Reply::failed(format!("the group could not start: {error}")),
    }
}

/// Why this sender may not create groups here, if they may not.
fn refused_creator(host: &Host, envelope: &Envelope, user_uuid: &str) -> Option<Reply> {
    let Some(key) = envelope.peer.user_id.as_deref() else {
        // Plaintext: the host listens on loopback only (huddle host refuses
        // plaintext elsewhere), so only this machine's users reach it.
        return None;
    };
    let key = PublicKey::parse(key).ok()?;
    if key.user_uuid() != user_uuid {
        return Some(Reply::failed(format!("user_uuid {user_uuid} does not belong to your key {key}")));
    }
    let allowed = host.config.creators.as_ref().is_none_or(|creators| creators.allows_key(&key));
    (!allowed).then(|| {
        Reply::failed(format!(
            "your key {key} may not create groups here: ask the host's operator to add it to --creators"
        ))
    })
}
