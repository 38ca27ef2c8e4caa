//! What can go wrong for a client, each error saying what to do next.

use super::NamedGroup;
use crate::protocol::Address;
use crate::transport::RequestError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("{kind} {address} sent a reply huddle cannot read ({detail}): {shown:?}")]
    BadReply { kind: &'static str, address: Address, detail: String, shown: String },
    #[error("group {address} refused: {reason}")]
    Refused { address: Address, reason: String },
    #[error("you are not a member of group {address}: join it first (`huddle join GROUP`)")]
    NotAMember { address: Address },
    #[error("the directory lists a group named {name:?} already, at {address}: pick another name, or join that one")]
    NameTaken { name: String, address: Address },
    #[error(transparent)]
    BadTimestamp(crate::protocol::timestamp::BadTimestamp),
    #[error(transparent)]
    BadAddress(#[from] crate::protocol::address::BadAddress),
    #[error("no group named {name:?} is listed by the directory {directory}: `huddle groups` lists them")]
    UnknownGroup { name: String, directory: Address },
    #[error(
        "{name:?} names several groups ({}): give the one you mean as IP:PORT",
        candidates.iter().map(|group| group.address.to_string()).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousGroup { name: String, candidates: Vec<NamedGroup> },
}

/// What a huddle group says to a request from someone who is not a member.
const NOT_A_MEMBER: &str = "is not a member of this group";

impl ClientError {
    /// A group's refusal, told apart when it means "join first".
    pub(crate) fn refused(address: &Address, reason: Option<String>) -> ClientError {
        match reason {
            Some(reason) if reason.contains(NOT_A_MEMBER) => ClientError::NotAMember { address: address.clone() },
            reason => ClientError::Refused {
                address: address.clone(),
                reason: reason.unwrap_or_else(|| "no reason given (are you a member?)".into()),
            },
        }
    }

    pub(crate) fn bad_reply(kind: &'static str, address: &Address, reply: &[u8], detail: impl ToString) -> ClientError {
        let mut shown = String::from_utf8_lossy(reply).into_owned();
        shown.truncate(200);
        ClientError::BadReply { kind, address: address.clone(), detail: detail.to_string(), shown }
    }

    /// A transport failure talking to a group.
    pub(crate) fn group_transport(address: &Address, source: zmq::Error) -> ClientError {
        ClientError::Request(RequestError::Transport { kind: "group", address: address.clone(), source })
    }
}
