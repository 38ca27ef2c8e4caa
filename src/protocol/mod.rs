//! The wire, defined once: every request and reply that crosses a socket, as
//! serde types used by the servers, the client and the tests alike.
//!
//! Every body is one frame of UTF-8 JSON. The shapes are the seed's (see
//! `docs/PROTOCOL.md`); each huddle extension is an optional field that the
//! seed's scripts neither send nor mind receiving. Replies are encoded as the
//! seed's Python encodes them ([`json`]), so a seed client sees the very bytes
//! it always saw.

pub mod address;
pub mod envelope;
pub mod json;
pub mod timestamp;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use address::Address;

use crate::store::StoredMessage;

/// A request to a group server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum GroupRequest {
    #[serde(rename = "joinGroup")]
    Join(Membership),
    #[serde(rename = "leaveGroup")]
    Leave(Membership),
    #[serde(rename = "sendMessage")]
    Send(SendMessage),
    #[serde(rename = "getMessage")]
    Get(GetMessages),
    /// huddle: push this connection every new message (see [`Push`]).
    #[serde(rename = "subscribe")]
    Subscribe(Membership),
    /// huddle: stop pushing to this connection.
    #[serde(rename = "unsubscribe")]
    Unsubscribe(Membership),
    /// huddle: the name a member is shown by, beside their id.
    #[serde(rename = "setNick")]
    SetNick(SetNick),
}

/// A request to a host (huddle): a process serving many groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum HostRequest {
    /// Start a new group; the reply's `address` says where it is.
    #[serde(rename = "createGroup")]
    Create(CreateGroup),
    /// Let `member` into a private group (its owner only).
    #[serde(rename = "invite")]
    Invite(MemberChange),
    /// Take `member` off a group's allow-list and end their membership
    /// (its owner only).
    #[serde(rename = "remove")]
    Remove(MemberChange),
    /// Delete a group and its history (its owner only).
    #[serde(rename = "deleteGroup")]
    Delete(OwnedGroup),
    /// Who is connected to the host's groups (asked from its own machine).
    #[serde(rename = "hostStatus")]
    Status(Membership),
}

/// In a `hostStatus` reply: the users watching one group live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    pub group: String,
    /// Each watching user, as `NICK (ID…)` when they chose a nick.
    pub users: Vec<String>,
}

/// `createGroup` (huddle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateGroup {
    pub user_uuid: String,
    pub name: String,
    /// Only its creator and those they invite may use it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

/// `invite` and `remove` (huddle): the owner `user_uuid` changes who may
/// use group `name`. `member` is a CURVE key or a user id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberChange {
    pub user_uuid: String,
    pub name: String,
    pub member: String,
}

/// `deleteGroup` (huddle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedGroup {
    pub user_uuid: String,
    pub name: String,
}

/// `setNick` (huddle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetNick {
    pub user_uuid: String,
    pub nick: String,
}

/// `joinGroup` and `leaveGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub user_uuid: String,
}

/// `sendMessage`: `message` may hold newlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendMessage {
    pub user_uuid: String,
    pub message: String,
    /// huddle: an id the client makes once per message, so that a retry is
    /// acknowledged again without being stored twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
}

/// `getMessage`: the history, all of it or from `timestamp` on (inclusive).
/// Without huddle's paging fields the reply holds every matching message, as
/// the seed's did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetMessages {
    pub user_uuid: String,
    /// `null` or a local time; the seed always sends the key.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// huddle: the same filter as an RFC 3339 time in any zone; when given,
    /// it is used instead of `timestamp` (whose local time is the server's,
    /// which a client in another zone cannot know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_utc: Option<String>,
    /// huddle: only messages after this seq, read forward from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
    /// huddle: only messages before this seq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_seq: Option<u64>,
    /// huddle: at most this many (the first after `after_seq`, else the
    /// latest); the reply's `more` says whether the page left some out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl GetMessages {
    /// Whether the request uses huddle's paging (else it is the seed's form).
    pub fn is_paged(&self) -> bool {
        self.after_seq.is_some() || self.before_seq.is_some() || self.limit.is_some()
    }
}

impl GroupRequest {
    /// The user every group request is made for.
    pub fn user_uuid(&self) -> &str {
        match self {
            GroupRequest::Join(request)
            | GroupRequest::Leave(request)
            | GroupRequest::Subscribe(request)
            | GroupRequest::Unsubscribe(request) => &request.user_uuid,
            GroupRequest::Send(request) => &request.user_uuid,
            GroupRequest::Get(request) => &request.user_uuid,
            GroupRequest::SetNick(request) => &request.user_uuid,
        }
    }
}

/// A request to the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum DirectoryRequest {
    #[serde(rename = "register")]
    Register {
        group_name: String,
        ip_port: String,
        /// huddle: the group registers again at this interval; the directory
        /// unlists it after three silent intervals. Without it (the seed's
        /// groups register once) the directory probes the group instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        heartbeat_ms: Option<u64>,
        /// huddle: the `huddle host` serving the group (its control
        /// `IP:PORT`, on the group's IP). The group lives while any
        /// registration naming that host is heard, so a host heartbeats
        /// for all its groups at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    #[serde(rename = "get_group_list")]
    GroupList {
        #[serde(default)]
        user_uuid: Option<String>,
        /// huddle: list a group that registered over CURVE as
        /// `"NAME - KEY@IP:PORT"`, so that clients reach it securely.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keys: Option<bool>,
    },
}

/// The directory's reply to `register`: a bare text frame, not JSON.
pub const REGISTERED: &[u8] = b"SUCCESS";

/// One entry of the directory's group list, as the seed writes it.
/// Marks that reorder the text around them without being seen
/// (bidirectional overrides and isolates): a terminal would let them forge
/// what a line seems to say, so names refuse them and displays escape them.
pub fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

pub fn group_list_entry(name: &str, address: &str) -> String {
    format!("{name} - {address}")
}

/// A group as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub name: String,
    pub address: Address,
}

impl ListedGroup {
    /// Reads an entry of the directory's list; `None` when it is not
    /// `"NAME - HOST:PORT"` (a name may hold " - " itself: the address is
    /// what follows the last one).
    pub fn parse(entry: &str) -> Option<ListedGroup> {
        let (name, address) = entry.rsplit_once(" - ")?;
        Some(ListedGroup { name: name.to_owned(), address: Address::parse(address).ok()? })
    }
}

impl std::fmt::Display for ListedGroup {
    /// The entry as the seed writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&group_list_entry(&self.name, &self.address.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FAILED")]
    Failed,
}

/// A group's reply, and the directory's reply to a request it cannot serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub response: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<WireMessage>>,
    /// huddle: in a paged `getMessage` reply, whether the page left messages out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<bool>,
    /// huddle: the seq a `sendMessage` with a `msg_id` was stored at; in a
    /// `subscribe` reply, the group's latest seq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// huddle: in a `subscribe` reply, how long the subscription lasts unless
    /// renewed by subscribing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// huddle: why a request `FAILED`, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// huddle: in a `createGroup` reply, where the new group is (`[KEY@]IP:PORT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// huddle: in a `hostStatus` reply, who watches which group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched: Option<Vec<Watched>>,
}

impl Reply {
    pub fn success() -> Reply {
        Reply {
            response: Status::Success,
            messages: None,
            more: None,
            seq: None,
            ttl_ms: None,
            error: None,
            address: None,
            watched: None,
        }
    }

    pub fn messages(messages: Vec<WireMessage>) -> Reply {
        Reply { messages: Some(messages), ..Reply::success() }
    }

    pub fn failed(error: impl Into<String>) -> Reply {
        Reply { response: Status::Failed, error: Some(error.into()), ..Reply::success() }
    }

    pub fn encode(&self) -> Vec<u8> {
        json::to_vec(self)
    }
}

/// A stored message as it travels in a `getMessage` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage {
    pub user_uuid: String,
    pub message: String,
    pub timestamp: String,
    /// huddle: the message's place in its group, from 1, without gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// huddle: the message's time in UTC (RFC 3339), so that a reader in any
    /// zone can show it in their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc: Option<String>,
    /// huddle: the name the author is shown by in this group (`setNick`),
    /// when they chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
}

impl From<StoredMessage> for WireMessage {
    /// The message as it travels: the server's local time, the seed's form.
    fn from(message: StoredMessage) -> WireMessage {
        WireMessage {
            timestamp: timestamp::render(message.at),
            utc: Some(timestamp::render_utc(message.at)),
            user_uuid: message.user_uuid,
            message: message.body,
            seq: Some(message.seq),
            nick: None,
        }
    }
}

/// huddle: new messages pushed to a subscribed connection, after the
/// batches that stored them committed, in seq order. Each `seq` lets the
/// client see a gap and fill it from history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    pub event: PushEvent,
    pub messages: Vec<WireMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushEvent {
    #[serde(rename = "messages")]
    Messages,
}

/// What a huddle client may receive on a subscribed connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Push(Push),
    Reply(Reply),
}

impl Incoming {
    /// A push starts with its `event` (huddle writes it first); anything else
    /// is a reply. Deciding up front spares serde's untagged buffering, which
    /// costs more than the parse itself on a busy subscription.
    pub fn decode(body: &[u8]) -> Result<Incoming, serde_json::Error> {
        if body.starts_with(br#"{"event""#) {
            serde_json::from_slice(body).map(Incoming::Push)
        } else {
            serde_json::from_slice(body).map(Incoming::Reply)
        }
    }
}

/// Why a request could not be read. The text goes back to the sender.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("empty request: send one JSON object such as {{\"action\": ...}}")]
    Empty,
    #[error("request is not UTF-8 text: send one JSON object encoded as UTF-8")]
    NotUtf8,
    #[error("request is not JSON ({0}): send one JSON object such as {{\"action\": ...}}")]
    NotJson(String),
    #[error("request is JSON but not an object: send {{\"action\": ...}}")]
    NotObject,
    #[error("request has no \"action\": expected one of {0}")]
    MissingAction(String),
    #[error("\"action\" must be a string: expected one of {0}")]
    ActionNotText(String),
    #[error("unknown action {action:?}: expected one of {expected}")]
    UnknownAction { action: String, expected: String },
    #[error("{action}: {detail}")]
    BadFields { action: String, detail: String },
    #[error("expected one frame after the envelope, got {0}: send the JSON request as a single frame")]
    Frames(usize),
}

/// A request enum whose serde tag is `action`.
pub trait Action: DeserializeOwned {
    /// The action names it accepts, as on the wire.
    const ACTIONS: &'static [&'static str];
}

impl Action for GroupRequest {
    const ACTIONS: &'static [&'static str] =
        &["joinGroup", "leaveGroup", "sendMessage", "getMessage", "subscribe", "unsubscribe", "setNick"];
}

impl Action for HostRequest {
    const ACTIONS: &'static [&'static str] = &["createGroup", "invite", "remove", "deleteGroup", "hostStatus"];
}

impl Action for DirectoryRequest {
    const ACTIONS: &'static [&'static str] = &["register", "get_group_list"];
}

/// Reads one request body, with an error that says what was wrong.
pub fn decode<T: Action>(body: &[u8]) -> Result<T, ProtocolError> {
    if body.is_empty() {
        return Err(ProtocolError::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|_| ProtocolError::NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(|e| ProtocolError::NotJson(clip(e.to_string())))?;
    let object = value.as_object().ok_or(ProtocolError::NotObject)?;
    let expected = || T::ACTIONS.join(", ");
    let action = match object.get("action") {
        None => return Err(ProtocolError::MissingAction(expected())),
        Some(Value::String(action)) => action.clone(),
        Some(_) => return Err(ProtocolError::ActionNotText(expected())),
    };
    if !T::ACTIONS.contains(&action.as_str()) {
        return Err(ProtocolError::UnknownAction { action: clip(action), expected: expected() });
    }
    serde_json::from_value(value).map_err(|e| ProtocolError::BadFields { action, detail: clip(e.to_string()) })
}

/// The longest piece of a request quoted back in an error, in characters:
/// an error says what was wrong, it does not echo what a stranger sent.
const MAX_QUOTED_CHARS: usize = 120;

fn clip(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_QUOTED_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Reads a group's reply (or a directory's `FAILED`).
pub fn decode_reply(body: &[u8]) -> Result<Reply, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Encodes a request as the seed's client does.
pub fn encode<T: Serialize>(request: &T) -> Vec<u8> {
    json::to_vec(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_as_the_seed_client_sends_them() {
        let join = GroupRequest::Join(Membership { user_uuid: "u".into() });
        assert_eq!(encode(&join), br#"{"action": "joinGroup", "user_uuid": "u"}"#);
        let get = GroupRequest::Get(GetMessages { user_uuid: "u".into(), ..GetMessages::default() });
        assert_eq!(encode(&get), br#"{"action": "getMessage", "user_uuid": "u", "timestamp": null}"#);
        let register = DirectoryRequest::Register {
            group_name: "g".into(),
            ip_port: "1.2.3.4:5".into(),
            heartbeat_ms: None,
            host: None,
        };
        assert_eq!(encode(&register), br#"{"action": "register", "group_name": "g", "ip_port": "1.2.3.4:5"}"#);
    }

    #[test]
    fn replies_encode_as_the_seed_server_sends_them() {
        assert_eq!(Reply::success().encode(), br#"{"response": "SUCCESS"}"#);
        let message = WireMessage {
            user_uuid: "u".into(),
            message: "hi".into(),
            timestamp: "2026-11-25T10:00:00.000001".into(),
            seq: None,
            utc: None,
            nick: None,
        };
        assert_eq!(
            Reply::messages(vec![message]).encode(),
            br#"{"response": "SUCCESS", "messages": [{"user_uuid": "u", "message": "hi", "timestamp": "2026-11-25T10:00:00.000001"}]}"#
        );
    }

    #[test]
    fn every_malformed_request_is_named() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty request"),
            (b"\xff\xfe", "not UTF-8"),
            (b"{nope", "not JSON"),
            (b"[1, 2]", "not an object"),
            (b"{}", "no \"action\""),
            (br#"{"action": 7}"#, "must be a string"),
            (br#"{"action": "dance"}"#, "unknown action \"dance\""),
            (br#"{"action": "joinGroup"}"#, "missing field `user_uuid`"),
            (br#"{"action": "joinGroup", "user_uuid": 5}"#, "invalid type"),
        ];
        for (body, expected) in cases {
            let error = decode::<GroupRequest>(body).unwrap_err().to_string();
            assert!(error.contains(expected), "{body:?}: {error}");
        }
    }

    #[test]
    fn group_list_entries_read_back() {
        let entry = "Cool - Group - 10.0.0.5:5560";
        let listed = ListedGroup::parse(entry).unwrap();
        assert_eq!(listed.name, "Cool - Group");
        assert_eq!(listed.address, Address::parse("10.0.0.5:5560").unwrap());
        assert_eq!(listed.to_string(), entry);
        assert_eq!(ListedGroup::parse("no address"), None);
        assert_eq!(ListedGroup::parse("g - nowhere"), None);
    }

    /// The actions serde really accepts, read from its own error for an
    /// unknown one.
    fn accepted_by_serde<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let error = serde_json::from_str::<T>(r#"{"action": "no such action"}"#).unwrap_err().to_string();
        // "expected `a` or `b`", or "expected one of `a`, `b`, `c`".
        let expected = error.split("expected ").nth(1).expect("serde lists the variants");
        let expected = expected.trim_start_matches("one of ").split(" at line").next().unwrap_or(expected);
        expected
            .split(", ")
            .flat_map(|names| names.split(" or "))
            .map(|name| name.trim_matches('`').to_owned())
            .collect()
    }

    fn every_action_is_listed<T: Action + std::fmt::Debug>() {
        let accepted = accepted_by_serde::<T>();
        assert_eq!(accepted, T::ACTIONS, "Action::ACTIONS is the list the decoder accepts");
        let error = decode::<T>(br#"{"action": "dance"}"#).unwrap_err().to_string();
        let protocol = include_str!("../../docs/PROTOCOL.md");
        for action in T::ACTIONS {
            assert!(error.contains(action), "the error for an unknown action lists {action}: {error}");
            let documented =
                protocol.contains(&format!("`{action}`")) || protocol.contains(&format!(r#""action": "{action}""#));
            assert!(documented, "docs/PROTOCOL.md documents {action}");
        }
        let example = protocol.lines().find(|line| line.contains("unknown action")).expect("an example error");
        if T::ACTIONS.iter().any(|action| example.contains(action)) {
            assert!(example.contains(&T::ACTIONS.join(", ")), "PROTOCOL.md's example error is today's: {example}");
        }
    }

    #[test]
    fn every_action_the_decoder_accepts_is_in_the_error_text_and_in_protocol_md() {
        every_action_is_listed::<GroupRequest>();
        every_action_is_listed::<DirectoryRequest>();
        every_action_is_listed::<HostRequest>();
    }

    #[test]
    fn an_error_quotes_at_most_a_little_of_the_request() {
        let long = "x".repeat(100_000);
        for body in [
            format!(r#"{{"action": "{long}"}}"#),
            format!(r#"{{"action": "joinGroup", "user_uuid": ["{long}"]}}"#),
            format!(r#"{{"action": "getMessage", "user_uuid": "u", "limit": "{long}"}}"#),
            format!(r#"{{"{long}"#),
        ] {
            let error = decode::<GroupRequest>(body.as_bytes()).unwrap_err().to_string();
            assert!(error.len() < 600, "{} bytes: {}", error.len(), &error[..200]);
        }
    }

    #[test]
    fn seed_requests_decode() {
        let body = br#"{"action": "getMessage", "user_uuid": "u", "timestamp": "2026-11-25T10:00:00"}"#;
        let request: GroupRequest = decode(body).unwrap();
        assert!(matches!(request, GroupRequest::Get(GetMessages { timestamp: Some(_), .. })));
        let body = br#"{"action": "get_group_list", "user_uuid": "u"}"#;
        assert!(matches!(decode::<DirectoryRequest>(body).unwrap(), DirectoryRequest::GroupList { .. }));
    }
}
