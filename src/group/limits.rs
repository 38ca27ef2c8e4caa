//! The bounds a group server enforces, each with a flag and a default. A
//! request beyond one is answered `FAILED` with the limit and the flag that
//! sets it; nothing beyond them is held in memory or on disk.

/// Every limit of a group server.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The largest `message`, in bytes (`--max-message-bytes`).
    pub max_message_bytes: usize,
    /// The longest `user_uuid`, in bytes (`--max-user-id-bytes`).
    pub max_user_id_bytes: usize,
    /// The most members a group takes (`--max-members`).
    pub max_members: u64,
    /// The most requests one connection may have waiting at once
    /// (`--max-in-flight`).
    pub max_in_flight: usize,
    /// The most messages in one page of a paged `getMessage`.
    pub max_page: usize,
    /// The largest `getMessage` reply, in bytes as sent (`--max-reply-bytes`):
    /// a page stops short of it (with `more`), and the seed's unpaged form
    /// is refused beyond it.
    pub max_reply_bytes: usize,
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_USER_ID_BYTES: usize = 256;
pub const DEFAULT_MAX_MEMBERS: u64 = 100_000;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
pub const MAX_PAGE: usize = 10_000;
pub const DEFAULT_MAX_REPLY_BYTES: usize = 8 * 1024 * 1024;
/// The longest `msg_id`, in bytes (a UUID takes 36).
pub const MAX_MSG_ID_BYTES: usize = 128;
/// The largest frame the socket takes at all: a peer sending more is cut off
/// by ZeroMQ before the frame is held in memory. Well above the message limit,
/// so that an oversized message still gets its `FAILED` with the sizes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_user_id_bytes: DEFAULT_MAX_USER_ID_BYTES,
            max_members: DEFAULT_MAX_MEMBERS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_page: MAX_PAGE,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}
