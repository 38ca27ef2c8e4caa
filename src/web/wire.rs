//! What the page and `huddle web` say to each other over the WebSocket:
//! one JSON object per frame, tagged by `type`. Groups are named as the
//! directory names them.

use crate::protocol::WireMessage;
use serde::{Deserialize, Serialize};

/// From the page.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromPage {
    /// The groups, now (also sent unasked whenever they change).
    Groups,
    Join {
        group: String,
    },
    Leave {
        group: String,
    },
    Create {
        name: String,
    },
    /// `msg_id` is the page's for this text: sent again after a failure,
    /// it is stored at most once.
    Send {
        group: String,
        text: String,
        msg_id: String,
    },
    /// Up to a page of messages before `before_seq` (the latest without it).
    History {
        group: String,
        before_seq: Option<u64>,
    },
    /// The user has seen `group` up to `seq`.
    Seen {
        group: String,
        seq: u64,
    },
}

/// To the page.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToPage {
    /// Who the user is, first thing on a new connection.
    Hello { user: String },
    /// The directory's groups, and those the user is in.
    Groups { directory_answers: bool, groups: Vec<GroupView> },
    /// New messages of a group the user is in, in seq order.
    Messages { group: String, messages: Vec<WireMessage> },
    /// A page of older messages, asked for by `History`.
    History { group: String, messages: Vec<WireMessage>, more: bool, before_seq: Option<u64> },
    /// Whether a group the user is in answers.
    Answering { group: String, answering: bool },
    /// A group was joined (or created and joined): the page may open it.
    Joined { group: String },
    /// A message did not go (or its answer did not come): the page keeps
    /// it, to send again under the same `msg_id`.
    NotSent { group: String, text: String, msg_id: String, error: String },
    /// A request failed, in words.
    Error { text: String },
}

/// One group as the page lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    pub name: String,
    pub address: String,
    pub joined: bool,
    /// Messages after the last one the user saw.
    pub unread: u64,
    pub answering: bool,
}
