//! The host's control socket: `createGroup` starts a group on the next free
//! port of the host's range, keeps it in the catalog, registers it with the
//! directory and answers where it is; its creator owns it, and may
//! `invite` and `remove` users (a private group admits only its owner and
//! those invited) and `deleteGroup` it.
//!
//! ```text
//! -> {"action": "createGroup", "user_uuid": UUID, "name": "ops", "private": true}
//! <- {"response": "SUCCESS", "address": "[KEY@]IP:PORT"}
//! -> {"action": "invite", "user_uuid": UUID, "name": "ops", "member": KEY-OR-UUID}
//! <- {"response": "SUCCESS"}
//! ```
//!
//! Under CURVE only keys in the host's `--creators` file may create (any key
//! when there is none), and `user_uuid` must be the sender's own; on
//! plaintext loopback anyone on the machine may, and a user is who they
//! say they are.

use super::{Host, catalog};
use crate::directory::registry::MAX_NAME_BYTES;
use crate::keys::PublicKey;
use crate::protocol::envelope::Envelope;
use crate::protocol::{CreateGroup, HostRequest, MemberChange, OwnedGroup, Reply, Watched, decode};
use crate::store::Access;
use crate::zmtp::Binder;

pub(super) fn answer(host: &mut Host, binder: &mut Binder, mut envelope: Envelope) -> Vec<Vec<u8>> {
    let reply = match envelope.take_body().and_then(|body| decode::<HostRequest>(&body)) {
        Ok(HostRequest::Create(request)) => create(host, binder, &envelope, &request),
        Ok(HostRequest::Invite(request)) => invite(host, &envelope, &request),
        Ok(HostRequest::Remove(request)) => remove(host, &envelope, &request),
        Ok(HostRequest::Delete(request)) => delete(host, binder, &envelope, &request),
        Ok(HostRequest::Status(_)) => status(host, &envelope),
        Err(error) => Err(error.to_string()),
    };
    let reply = reply.unwrap_or_else(Reply::failed);
    envelope.reply(reply.encode())
}

/// A reply, or why the request was refused.
type Answer = Result<Reply, String>;

fn create(host: &mut Host, binder: &mut Binder, envelope: &Envelope, request: &CreateGroup) -> Answer {
    let key = identity(envelope, &request.user_uuid)?;
    if let Some(key) = key
        && !host.config.creators.as_ref().is_none_or(|creators| creators.allows_key(&key))
    {
        return Err(format!(
            "your key {key} may not create groups here: ask the host's operator to add it to --creators"
        ));
    }
    let name = request.name.trim();
    if !fits_a_name(name) {
        return Err(format!("a group name is 1 to {MAX_NAME_BYTES} bytes, no control characters"));
    }
    if host.groups.values().any(|hosted| hosted.name == name) {
        return Err(format!("this host has a group named {name:?} already: pick another name"));
    }
    let entry = match catalog::add(&host.config.data, name, &host.config.ports, &host.ports) {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            let (first, last) = (host.config.ports.start(), host.config.ports.end());
            return Err(format!(
                "every port of this host ({first}-{last}) holds a group: its operator can widen --ports"
            ));
        }
        Err(error) => return Err(format!("the host cannot keep a new group: {error}")),
    };
    let (listener, address) =
        host.start_group(binder, entry).map_err(|error| format!("the group could not start: {error}"))?;
    let access = Access { owner: Some(request.user_uuid.clone()), private: request.private, ..Access::default() };
    let hosted = host.groups.get_mut(&listener).expect("just started");
    if let Err(error) = hosted.group.set_access(access) {
        let _ = host.delete_group(binder, listener);
        return Err(format!("the group could not keep its owner: {error}"));
    }
    Ok(Reply { address: Some(address.to_string()), ..Reply::success() })
}

fn invite(host: &mut Host, envelope: &Envelope, request: &MemberChange) -> Answer {
    let listener = owned(host, envelope, &request.user_uuid, &request.name, "invite")?;
    let member = member_id(&request.member)?;
    let group = &mut host.groups.get_mut(&listener).expect("found above").group;
    let mut access = group.access().clone();
    if !access.private {
        return Err(format!("{} is public: anyone may join it already", request.name));
    }
    access.allowed.insert(member);
    group.set_access(access).map_err(|error| error.to_string())?;
    Ok(Reply::success())
}

fn remove(host: &mut Host, envelope: &Envelope, request: &MemberChange) -> Answer {
    let listener = owned(host, envelope, &request.user_uuid, &request.name, "remove")?;
    let member = member_id(&request.member)?;
    if Some(&member) == host.groups[&listener].group.access().owner.as_ref() {
        return Err(String::from("the owner cannot be removed: delete the group instead"));
    }
    let group = &mut host.groups.get_mut(&listener).expect("found above").group;
    let mut access = group.access().clone();
    access.allowed.remove(&member);
    let stored = group.set_access(access).and_then(|()| group.remove_member(&member));
    stored.map_err(|error| error.to_string())?;
    Ok(Reply::success())
}

fn delete(host: &mut Host, binder: &mut Binder, envelope: &Envelope, request: &OwnedGroup) -> Answer {
    let listener = owned(host, envelope, &request.user_uuid, &request.name, "delete")?;
    host.delete_group(binder, listener).map_err(|error| format!("the group was not deleted: {error}"))?;
    Ok(Reply::success())
}

/// Who watches which group: told only to someone on the host's own machine
/// (`huddle down` says it before it stops the host), not to the network.
fn status(host: &Host, envelope: &Envelope) -> Answer {
    let from = envelope.peer.address.as_deref().unwrap_or_default();
    if !crate::transport::is_loopback(from) && from != host.config.control.host {
        return Err(String::from("who is connected is told only on the host's own machine"));
    }
    let mut watched: Vec<Watched> = host
        .groups
        .values()
        .map(|hosted| Watched { group: hosted.name.clone(), users: hosted.group.watching() })
        .filter(|watched| !watched.users.is_empty())
        .collect();
    watched.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(Reply { watched: Some(watched), ..Reply::success() })
}

/// The sender's key under CURVE, once `user_uuid` is known to be theirs;
/// `None` on plaintext, where the host listens on loopback only (huddle
/// host refuses plaintext elsewhere), so only this machine's users reach it.
fn identity(envelope: &Envelope, user_uuid: &str) -> Result<Option<PublicKey>, String> {
    let Some(key) = envelope.peer.user_id.as_deref() else { return Ok(None) };
    let key = PublicKey::parse(key).map_err(|_| String::from("the connection's key is not a CURVE public key"))?;
    if key.user_uuid() != user_uuid {
        return Err(format!("user_uuid {user_uuid} does not belong to your key {key}"));
    }
    Ok(Some(key))
}

/// The listener of group `name`, when `user_uuid` (the sender) owns it.
fn owned(host: &Host, envelope: &Envelope, user_uuid: &str, name: &str, what: &str) -> Result<usize, String> {
    identity(envelope, user_uuid)?;
    let (listener, hosted) = host
        .groups
        .iter()
        .find(|(_, hosted)| hosted.name == name)
        .ok_or_else(|| format!("this host has no group named {name:?}"))?;
    match hosted.group.access().owner.as_deref() {
        Some(owner) if owner == user_uuid => Ok(*listener),
        Some(_) => Err(format!("only the owner of {name} (who created it) may {what}")),
        None => Err(format!("{name} has no owner (it was not created with /create): nobody may {what}")),
    }
}

/// Whether `text` will do as a group's or a user's name: 1 to
/// [`MAX_NAME_BYTES`] bytes, no control characters.
fn fits_a_name(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_NAME_BYTES && !text.chars().any(char::is_control)
}

/// The user id `member` names: a CURVE key's, or a user id itself.
fn member_id(member: &str) -> Result<String, String> {
    if let Ok(key) = PublicKey::parse(member) {
        return Ok(key.user_uuid());
    }
    if !fits_a_name(member) {
        return Err(String::from("name the user by their key or their id (/whoami shows one's own)"));
    }
    Ok(member.to_owned())
}
