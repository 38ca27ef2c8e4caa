//! Talking to a directory and to groups, with a deadline on every request.
//!
//! [`Requester`] sends one request and waits for its reply, retrying on a
//! fresh socket within the time budget (the ZeroMQ guide's Lazy Pirate), so a
//! dead server gives a clear error instead of a hang. [`Client`] speaks the
//! seed's protocol on top of it: it sends only what the seed's servers
//! understand, so it works against them as well as against huddle's.

pub mod chat;
pub mod commands;
pub mod display;
mod error;
pub mod input;
pub mod live;
pub mod repl;
pub mod seen;
pub mod session;
pub mod since;

pub use crate::transport::{DEFAULT_TIMEOUT, Requester};
pub use error::ClientError;
pub use since::Since;
use std::time::Duration;

use crate::protocol::{
    Address, CreateGroup, DirectoryRequest, GetMessages, GroupRequest, HostRequest, ListedGroup, Membership, Reply,
    SendMessage, SetNick, Status, WireMessage, decode_reply, encode,
};

/// A new message id: a UUID v7, time-ordered, so that a group's index of ids
/// grows at one end (a random v4 works too, at the cost of a random page).
pub fn new_msg_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Messages asked for in one `getMessage` while reading a whole history.
pub const HISTORY_PAGE: usize = 1000;

/// A group as the user named it, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedGroup {
    pub name: Option<String>,
    pub address: Address,
}

impl std::fmt::Display for NamedGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} ({})", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

impl From<ListedGroup> for NamedGroup {
    fn from(listed: ListedGroup) -> NamedGroup {
        NamedGroup { name: Some(listed.name), address: listed.address }
    }
}

/// A user talking to directories and groups.
///
/// On plaintext the user is who they say: their `user_uuid`. To a CURVE
/// server (an address with a key) they are their key, and act as the
/// `user_uuid` derived from it.
pub struct Client {
    requester: Requester,
    user_uuid: String,
}

impl Client {
    pub fn new(requester: Requester, user_uuid: String) -> Client {
        Client { requester, user_uuid }
    }

    /// The user's id on plaintext servers.
    pub fn user_uuid(&self) -> &str {
        &self.user_uuid
    }

    /// The user's key pair (what CURVE servers know them by).
    pub fn keys(&mut self) -> Result<std::sync::Arc<crate::keys::KeyPair>, ClientError> {
        Ok(self.requester.keys()?)
    }

    /// The user's id at `address`: derived from the user's key under CURVE.
    pub fn user_for(&mut self, address: &Address) -> Result<String, ClientError> {
        match address.key {
            Some(_) => Ok(self.requester.keys()?.public.user_uuid()),
            None => Ok(self.user_uuid.clone()),
        }
    }

    /// Another client for the same user, with connections of its own (for
    /// another thread, or a watch).
    pub fn fresh(&mut self) -> Result<Client, ClientError> {
        let requester = Requester::new(self.requester.context().clone(), self.requester.timeout())
            .with_keys(self.requester.keys()?);
        Ok(Client::new(requester, self.user_uuid.clone()))
    }

    /// The groups the directory lists. An entry that is not `"NAME - HOST:PORT"`
    /// is left out (and logged): nobody could reach it.
    pub fn group_list(&mut self, directory: &Address) -> Result<Vec<ListedGroup>, ClientError> {
        let request = DirectoryRequest::GroupList { user_uuid: Some(self.user_uuid.clone()), keys: Some(true) };
        let reply = self.requester.request("directory", directory, &encode(&request))?;
        let entries: Vec<String> = serde_json::from_slice(&reply)
            .map_err(|error| ClientError::bad_reply("directory", directory, &reply, error))?;
        let listed = entries.iter().filter_map(|entry| {
            let listed = ListedGroup::parse(entry);
            if listed.is_none() {
                tracing::warn!(%directory, ?entry, "the directory lists an entry that is not NAME - HOST:PORT");
            }
            listed
        });
        Ok(listed.collect())
    }

    pub fn join(&mut self, group: &Address) -> Result<(), ClientError> {
        let request = GroupRequest::Join(Membership { user_uuid: self.user_for(group)? });
        self.group_request(group, &request).map(drop)
    }

    pub fn leave(&mut self, group: &Address) -> Result<(), ClientError> {
        let request = GroupRequest::Leave(Membership { user_uuid: self.user_for(group)? });
        self.group_request(group, &request).map(drop)
    }

    /// Sends a message under a new id. Returns its seq (a huddle group says).
    pub fn send(&mut self, group: &Address, text: &str) -> Result<Option<u64>, ClientError> {
        self.send_with_id(group, text, &new_msg_id())
    }

    /// Sends a message under `msg_id`: sending it again, after an error,
    /// stores it at most once on a huddle group.
    pub fn send_with_id(&mut self, group: &Address, text: &str, msg_id: &str) -> Result<Option<u64>, ClientError> {
        let request = GroupRequest::Send(SendMessage {
            user_uuid: self.user_for(group)?,
            message: text.to_owned(),
            msg_id: Some(msg_id.to_owned()),
        });
        Ok(self.group_request(group, &request)?.seq)
    }

    /// [`Client::create_group`] for a name the directory does not list yet:
    /// names are one group's per directory.
    pub fn create_unlisted(
        &mut self,
        directory: &Address,
        host: &Address,
        name: &str,
        private: bool,
    ) -> Result<Address, ClientError> {
        if let Some(listed) = self.group_list(directory)?.into_iter().find(|group| group.name == name) {
            return Err(ClientError::NameTaken { name: name.to_owned(), address: listed.address });
        }
        self.create_group(host, name, private)
    }

    /// Asks the host at `host` for a new group `name` (that only its
    /// creator and those they invite may use, when `private`); where it is.
    pub fn create_group(&mut self, host: &Address, name: &str, private: bool) -> Result<Address, ClientError> {
        let reply = self.ask_host(host, |user_uuid| {
            HostRequest::Create(CreateGroup { user_uuid, name: name.to_owned(), private })
        })?;
        match reply.address {
            Some(address) => Address::parse(&address)
                .map_err(|error| ClientError::bad_reply("host", host, address.as_bytes(), error)),
            None => Err(ClientError::refused(host, reply.error)),
        }
    }

    /// Asks the host at `host` for `request`, made with the user's id
    /// there; its `SUCCESS` reply, or why it refused.
    pub fn ask_host(
        &mut self,
        host: &Address,
        request: impl FnOnce(String) -> HostRequest,
    ) -> Result<Reply, ClientError> {
        let request = encode(&request(self.user_for(host)?));
        let reply = self.requester.request("host", host, &request)?;
        let reply = decode_reply(&reply).map_err(|error| ClientError::bad_reply("host", host, &reply, error))?;
        match reply.response {
            Status::Success => Ok(reply),
            Status::Failed => Err(ClientError::refused(host, reply.error)),
        }
    }

    /// Who watches which of the host's groups (asked from its machine).
    pub fn host_status(&mut self, host: &Address) -> Result<Vec<crate::protocol::Watched>, ClientError> {
        let reply = self.ask_host(host, |user_uuid| HostRequest::Status(Membership { user_uuid }))?;
        Ok(reply.watched.unwrap_or_default())
    }

    /// Waits, `timeout` at most, for the directory to list `name` at
    /// `address` (a group just started registers in the background);
    /// whether it did.
    pub fn wait_listed(&mut self, directory: &Address, name: &str, address: &Address, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let listed = self.group_list(directory).is_ok_and(|groups| {
                groups.iter().any(|group| group.name == name && group.address.host_port() == address.host_port())
            });
            if listed || std::time::Instant::now() >= deadline {
                return listed;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sets the name the user is shown by in `group`.
    pub fn set_nick(&mut self, group: &Address, nick: &str) -> Result<(), ClientError> {
        let request = GroupRequest::SetNick(SetNick { user_uuid: self.user_for(group)?, nick: nick.to_owned() });
        self.group_request(group, &request)?;
        Ok(())
    }

    /// A group found by name in the directory's list, or read as `IP:PORT`.
    pub fn resolve(&mut self, directory: &Address, group: &str) -> Result<NamedGroup, ClientError> {
        match Address::parse(group) {
            Ok(address) => return Ok(NamedGroup { name: None, address }),
            // Meant as KEY@HOST:PORT, not as a name.
            Err(error @ crate::protocol::address::BadAddress::BadKey(_)) => return Err(error.into()),
            Err(_) => {}
        }
        let matches: Vec<NamedGroup> = self
            .group_list(directory)?
            .into_iter()
            .filter(|listed| listed.name == group)
            .map(NamedGroup::from)
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one match")),
            0 => Err(ClientError::UnknownGroup { name: group.to_owned(), directory: directory.clone() }),
            _ => Err(ClientError::AmbiguousGroup { name: group.to_owned(), candidates: matches }),
        }
    }

    /// One page of history after `after_seq`, and whether more follows. A
    /// seed group sends its whole history and no `more`.
    pub fn page_after(
        &mut self,
        group: &Address,
        after_seq: u64,
        limit: usize,
    ) -> Result<(Vec<WireMessage>, bool), ClientError> {
        self.read(group, None, Some(after_seq), limit)
    }

    /// The latest `limit` messages before `before_seq` (scrollback), and
    /// whether older ones remain.
    pub fn page_before(
        &mut self,
        group: &Address,
        before_seq: u64,
        limit: usize,
    ) -> Result<(Vec<WireMessage>, bool), ClientError> {
        let user_uuid = self.user_for(group)?;
        self.get(
            group,
            GetMessages { user_uuid, before_seq: Some(before_seq), limit: Some(limit), ..GetMessages::default() },
        )
    }

    /// The latest `limit` messages, at or after `since` if given.
    pub fn latest(
        &mut self,
        group: &Address,
        since: Option<&Since>,
        limit: usize,
    ) -> Result<Vec<WireMessage>, ClientError> {
        let (mut messages, _) = self.read(group, since, None, limit)?;
        // A seed group ignores the limit: keep the latest ones.
        let excess = messages.len().saturating_sub(limit);
        messages.drain(..excess);
        Ok(messages)
    }

    /// The group's history, all of it or from `since` on. It is read a page
    /// at a time from a huddle group; a seed group ignores the paging and
    /// sends it all at once.
    pub fn messages(&mut self, group: &Address, since: Option<&Since>) -> Result<Vec<WireMessage>, ClientError> {
        let mut messages = Vec::new();
        let mut after_seq = 0;
        loop {
            let (page, more) = self.read(group, since, Some(after_seq), HISTORY_PAGE)?;
            let last_seq = page.last().and_then(|message| message.seq);
            messages.extend(page);
            match last_seq {
                Some(last_seq) if more && last_seq > after_seq => after_seq = last_seq,
                _ => return Ok(messages),
            }
        }
    }

    /// One paged `getMessage`: the messages and whether the page left some out.
    fn read(
        &mut self,
        group: &Address,
        since: Option<&Since>,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<WireMessage>, bool), ClientError> {
        let request = GetMessages {
            user_uuid: self.user_for(group)?,
            timestamp: since.map(|since| since.timestamp.clone()),
            since_utc: since.and_then(|since| since.utc.clone()),
            after_seq,
            limit: Some(limit),
            ..GetMessages::default()
        };
        self.get(group, request)
    }

    /// One `getMessage`: the messages and whether the page left some out.
    fn get(&mut self, group: &Address, request: GetMessages) -> Result<(Vec<WireMessage>, bool), ClientError> {
        let reply = self.group_request(group, &GroupRequest::Get(request))?;
        Ok((reply.messages.unwrap_or_default(), reply.more.unwrap_or(false)))
    }

    fn group_request(&mut self, group: &Address, request: &GroupRequest) -> Result<Reply, ClientError> {
        let reply = self.requester.request("group", group, &encode(request))?;
        let reply = decode_reply(&reply).map_err(|error| ClientError::bad_reply("group", group, &reply, error))?;
        match reply.response {
            Status::Success => Ok(reply),
            Status::Failed => Err(ClientError::refused(group, reply.error)),
        }
    }
}
