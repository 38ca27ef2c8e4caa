//! One group's poll loop: drain the waiting requests, apply them in one store
//! transaction, commit once, then send every reply and push the batch's new
//! messages to the subscribed connections. A reply or a push is sent only
//! after the batch that holds it has committed, so `SUCCESS` means "on disk"
//! and nothing pushed can be lost by a crash.

use super::handlers::{self, Batch, Effect};
use super::limits::{Limits, MAX_FRAME_BYTES};
use super::registration;
use super::subscriptions::{PUSH_INTERVAL, PUSH_QUEUE_BYTES, Subscriptions};
use crate::protocol::envelope::Envelope;
use crate::protocol::{Address, GroupRequest, Push, PushEvent, Reply, WireMessage, decode, json, timestamp};
use crate::serve::{ReplyFrames, Service};
use crate::shutdown::Shutdown;
use crate::store::{Access, GroupStore, StoreConfig, StoreError, StoredMessage};
use crate::transport::{AllowList, RouterOptions, Security};
use crate::zmtp;
use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Requests applied in one transaction at most.
const MAX_BATCH: usize = 1024;

/// Everything a group server needs to start.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub name: String,
    /// Where to listen; port 0 picks a free port.
    pub bind: Address,
    /// The directory to register with; `None` to stay unlisted.
    pub directory: Option<Address>,
    /// Where and how the group keeps its members and history.
    pub store: StoreConfig,
    /// Plaintext, or CURVE with the group's key pair.
    pub security: Security,
    /// Under CURVE, the only keys admitted (`--allow`): a private group.
    pub allow: Option<AllowList>,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("cannot listen on {address}: {source}; is another server using that port? pick another IP:PORT")]
    Bind { address: Address, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ZeroMQ failed: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("the group's connections failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the group server stopped on an internal error (a bug): its log above says where")]
    Crashed,
}

pub struct GroupServer {
    address: Address,
    server: zmtp::Server,
    group: Group,
}

/// The group's state and rules, apart from its socket: a [`Service`] that
/// a lone group serves on its own engine, and a host serves beside others.
pub struct Group {
    name: String,
    store: Box<dyn GroupStore + Send>,
    limits: Limits,
    subscriptions: Subscriptions,
    /// Committed messages not yet pushed to the subscribers.
    unpushed: Vec<StoredMessage>,
    last_push: Instant,
    /// The allow-list of a private group, and the version of it last seen.
    allow: Option<(u64, AllowList)>,
    /// The names members chose (`setNick`), by user: put on every message
    /// read or pushed, without a look-up per message.
    nicks: HashMap<String, String>,
    /// Who owns the group and, when it is private, who may use it.
    access: Access,
}

impl Group {
    /// Opens the group's store: ready to serve requests from any socket.
    pub fn open(config: &GroupConfig) -> Result<Group, GroupError> {
        Group::on_store(config, config.store.open_group()?)
    }

    /// The group on `store` (one of a host's), ready to serve.
    pub fn on_store(config: &GroupConfig, mut store: Box<dyn GroupStore + Send>) -> Result<Group, GroupError> {
        let nicks = store.nicks()?.into_iter().collect();
        let access = store.access()?;
        Ok(Group {
            name: config.name.clone(),
            store,
            limits: config.limits.clone(),
            subscriptions: Subscriptions::default(),
            unpushed: Vec::new(),
            last_push: Instant::now(),
            allow: config.allow.clone().map(|allow| (allow.generation(), allow)),
            nicks,
            access,
        })
    }

    /// What the socket of a group with `config` bounds.
    pub fn router_options(config: &GroupConfig) -> RouterOptions {
        RouterOptions {
            security: config.security.clone(),
            allow: config.allow.clone(),
            max_frame_bytes: Some(MAX_FRAME_BYTES),
            max_queued_bytes: Some(PUSH_QUEUE_BYTES),
            per_connection: Some(config.limits.max_in_flight),
            ..RouterOptions::default()
        }
    }
}

impl GroupServer {
    /// Opens the store and binds the socket; nothing is served yet.
    pub fn bind(config: &GroupConfig) -> Result<GroupServer, GroupError> {
        let group = Group::open(config)?;
        let bind_error = |source| GroupError::Bind { address: config.bind.clone(), source };
        let server = zmtp::bind(&config.bind.endpoint(), Group::router_options(config)).map_err(bind_error)?;
        let address = server.local_address().map_err(bind_error)?;
        Ok(GroupServer { address, server, group })
    }

    /// The address the group listens on (with the real port when 0 was
    /// asked, and its key under CURVE: `KEY@HOST:PORT`).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves until `shutdown` is triggered.
    pub fn run(mut self, shutdown: &Shutdown) -> Result<(), GroupError> {
        let group = &mut self.group;
        info!(group = %group.name, address = %self.address, "group serving");
        self.server.serve(shutdown, MAX_BATCH, group)?;
        info!(group = %group.name, "group stopped");
        Ok(())
    }
}

/// A request of a batch, and what becomes of it.
enum Slot {
    /// Answered without the store: unreadable, or over a limit.
    Answered(Reply),
    /// Read, to be applied in the batch's transaction.
    Pending(GroupRequest),
    /// Applied; its reply stands if the transaction commits.
    Applied(Reply),
}

/// A batch applied inside the store's open transaction, waiting for the
/// commit that decides its replies.
pub struct Staged {
    requests: Vec<(Envelope, Slot)>,
    effects: Vec<Effect>,
    stored: Vec<StoredMessage>,
    instant: Instant,
    /// It went to the store, so it has a commit to wait for.
    pub used_store: bool,
    /// The store error it met, if it met one.
    pub error: Option<StoreError>,
}

impl Group {
    /// A lone group's batch: applied in one transaction, committed once,
    /// then answered.
    fn apply_batch(&mut self, batch: Vec<Envelope>) -> Vec<ReplyFrames> {
        let mut staged = self.stage(batch);
        let committed = match staged.error.take() {
            Some(error) => Err(error),
            None if staged.used_store => self.store.commit(),
            None => Ok(()),
        };
        self.settle(staged, committed.as_ref().err())
    }

    /// Reads a batch and applies it to the store, inside the store's
    /// transaction (begun here, or the host's that it joins). Nothing is
    /// answered and nothing in memory changes until [`Group::settle`].
    pub fn stage(&mut self, batch: Vec<Envelope>) -> Staged {
        self.follow_allow_list();
        let mut in_flight: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut requests: Vec<(Envelope, Slot)> = batch
            .into_iter()
            .map(|mut envelope| {
                let slot = self.admit(&mut envelope, &mut in_flight);
                (envelope, slot)
            })
            .collect();
        let mut batch = Batch::new(&self.limits, &self.subscriptions, timestamp::now());
        batch.allow = self.allow.as_ref().map(|(_, allow)| allow);
        batch.nicks = Some(&self.nicks);
        batch.access = Some(&self.access);
        let used_store = requests.iter().any(|(_, slot)| matches!(slot, Slot::Pending(_)));
        let applied = match used_store {
            true => self.store.begin().and_then(|()| apply_each(self.store.as_mut(), &mut requests, &mut batch)),
            false => Ok(()),
        };
        let Batch { effects, stored, instant, .. } = batch;
        Staged { requests, effects, stored, instant, used_store, error: applied.err() }
    }

    /// Answers a staged batch once its transaction has ended: with what
    /// each request did when it committed, or with `failed` (and the
    /// store's memory of the batch dropped) when it did not.
    pub fn settle(&mut self, staged: Staged, failed: Option<&StoreError>) -> Vec<ReplyFrames> {
        let Staged { mut requests, effects, stored, instant, used_store, .. } = staged;
        match failed {
            None => {
                for effect in effects {
                    match effect {
                        Effect::Subscribe { route, user_uuid } => {
                            self.subscriptions.subscribe(&route, &user_uuid, instant)
                        }
                        Effect::Unsubscribe { route } => self.subscriptions.unsubscribe(&route),
                        Effect::ForgetUser { user_uuid } => {
                            self.subscriptions.forget_user(&user_uuid);
                            self.nicks.remove(&user_uuid);
                        }
                        Effect::SetNick { user_uuid, nick } => {
                            self.nicks.insert(user_uuid, nick);
                        }
                    }
                }
                if !self.subscriptions.is_empty() {
                    self.unpushed.extend(stored);
                }
            }
            Some(error) => {
                warn!(group = %self.name, %error, "batch failed; nothing in it was acknowledged");
                if used_store {
                    self.store.rollback();
                }
                for (_, slot) in &mut requests {
                    if !matches!(slot, Slot::Answered(_)) {
                        *slot = Slot::Answered(Reply::failed(error.to_string()));
                    }
                }
            }
        }
        requests
            .into_iter()
            .map(|(envelope, slot)| {
                let reply = match slot {
                    Slot::Answered(reply) | Slot::Applied(reply) => reply,
                    Slot::Pending(_) => unreachable!("a committed batch applied every request"),
                };
                envelope.reply(reply.encode())
            })
            .collect()
    }

    /// The users watching the group live now, shown as `NICK (ID…)` when
    /// they chose a nick, else by id.
    pub fn watching(&self) -> Vec<String> {
        let users = self.subscriptions.live_users(Instant::now());
        let shown = |user: &str| match self.nicks.get(user) {
            Some(nick) => format!("{nick} ({})", user.chars().take(8).collect::<String>()),
            None => user.to_owned(),
        };
        users.into_iter().map(shown).collect()
    }

    /// Who owns the group and who may use it.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Sets who may use the group (durably, before it returns); users no
    /// longer admitted are pushed nothing more.
    pub fn set_access(&mut self, access: Access) -> Result<(), StoreError> {
        self.in_own_transaction(|store| store.set_access(&access))?;
        self.subscriptions.retain_users(|user| access.admits(user));
        self.access = access;
        Ok(())
    }

    /// Ends `user_uuid`'s membership, as their leaving would; whether they
    /// were a member.
    pub fn remove_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let removed = self.in_own_transaction(|store| store.remove_member(user_uuid))?;
        self.subscriptions.forget_user(user_uuid);
        self.nicks.remove(user_uuid);
        Ok(removed)
    }

    /// Runs `change` on the store in a transaction of its own, committed.
    fn in_own_transaction<T>(
        &mut self,
        change: impl FnOnce(&mut dyn GroupStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.store.begin()?;
        match change(self.store.as_mut()).and_then(|value| self.store.commit().map(|()| value)) {
            Ok(value) => Ok(value),
            Err(error) => {
                self.store.rollback();
                Err(error)
            }
        }
    }

    /// A key taken off a private group's allow-list is pushed nothing more.
    fn follow_allow_list(&mut self) {
        let Some((seen, allow)) = &mut self.allow else { return };
        let generation = allow.generation();
        if generation != *seen {
            *seen = generation;
            self.subscriptions.retain_users(|user| allow.holds_user(user));
        }
    }

    /// Reads a request, or answers it at once when it cannot be read or its
    /// sender has too many requests in this batch: its key under CURVE
    /// (however many connections it opens), else its connection.
    fn admit(&self, envelope: &mut Envelope, in_flight: &mut HashMap<Vec<u8>, usize>) -> Slot {
        let (sender, who) = match &envelope.peer.user_id {
            Some(key) => (key.as_bytes().to_vec(), "key"),
            None => (envelope.peer.route.first().cloned().unwrap_or_default(), "connection"),
        };
        let waiting = in_flight.entry(sender).or_default();
        *waiting += 1;
        if *waiting > self.limits.max_in_flight {
            return Slot::Answered(Reply::failed(format!(
                "too many requests in flight from this {who} (at most {}, --max-in-flight): \
                 wait for replies before sending more",
                self.limits.max_in_flight
            )));
        }
        match envelope.take_body().and_then(|body| decode::<GroupRequest>(&body)) {
            Ok(request) => {
                debug!(?request, "request");
                Slot::Pending(request)
            }
            Err(error) => {
                debug!(%error, "bad request");
                Slot::Answered(Reply::failed(error.to_string()))
            }
        }
    }

    /// One frame per live subscription holding every message not pushed yet.
    fn pushes(&mut self) -> Vec<ReplyFrames> {
        if self.unpushed.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        self.last_push = now;
        let nicks = &self.nicks;
        let with_nick =
            |message: StoredMessage| WireMessage { nick: nicks.get(&message.user_uuid).cloned(), ..message.into() };
        let messages = std::mem::take(&mut self.unpushed).into_iter().map(with_nick).collect();
        let push = json::to_vec(&Push { event: PushEvent::Messages, messages });
        self.subscriptions
            .live_routes(now)
            .map(|route| {
                let mut frames = route.clone();
                frames.push(push.clone());
                frames
            })
            .collect()
    }
}

impl Service for Group {
    fn handle_batch(&mut self, batch: Vec<Envelope>) -> Vec<ReplyFrames> {
        self.apply_batch(batch)
    }

    /// Pushes go out at once after a quiet spell, and otherwise at most once
    /// every [`PUSH_INTERVAL`], each carrying every message since the last.
    fn wake_at(&self) -> Option<Instant> {
        (!self.unpushed.is_empty()).then_some(self.last_push + PUSH_INTERVAL)
    }

    fn wake(&mut self) -> Vec<ReplyFrames> {
        self.pushes()
    }
}

/// Applies the pending requests in order; the first store error stops the
/// batch, which the caller then rolls back whole.
fn apply_each(
    store: &mut dyn GroupStore,
    requests: &mut [(Envelope, Slot)],
    batch: &mut Batch,
) -> Result<(), StoreError> {
    for (envelope, slot) in requests {
        if let Slot::Pending(request) = slot {
            *slot = Slot::Applied(handlers::apply(store, request, &envelope.peer, batch)?);
        }
    }
    Ok(())
}

/// A group server running on its own thread, with its registration beside it.
pub struct RunningGroup {
    pub address: Address,
    server: JoinHandle<Result<(), GroupError>>,
}

impl RunningGroup {
    /// Binds, then serves and registers on threads until `shutdown`.
    pub fn start(
        context: &zmq::Context,
        config: &GroupConfig,
        shutdown: &Shutdown,
    ) -> Result<RunningGroup, GroupError> {
        let server = GroupServer::bind(config)?;
        let address = server.address().clone();
        let stop = shutdown.clone();
        if let Some(directory) = config.directory.clone() {
            let keys = config.security.keys().map(|keys| std::sync::Arc::new(keys.clone()));
            let registration = registration::Registration {
                name: config.name.clone(),
                address: address.clone(),
                directory,
                keys,
                host: None,
            };
            registration::start(context.clone(), registration, shutdown);
        }
        let server = std::thread::Builder::new()
            .name(format!("group {}", config.name))
            .spawn(move || server.run(&stop))
            .expect("the OS can start a thread");
        Ok(RunningGroup { address, server })
    }

    /// Waits for the server to stop (after the shutdown is triggered). The
    /// registration thread stops on its own: nothing it holds needs a flush.
    pub fn wait(self) -> Result<(), GroupError> {
        self.server.join().unwrap_or(Err(GroupError::Crashed))
    }
}

#[cfg(test)]
impl Group {
    /// A group on a SQLite store in `dir`, for tests.
    fn in_dir(dir: &std::path::Path, limits: Limits) -> Group {
        Group::on(crate::store::SqliteStore::open(dir).expect("a store in a temporary directory"), limits)
    }

    fn on(store: crate::store::SqliteStore, limits: Limits) -> Group {
        Group {
            name: "g".into(),
            store: Box::new(store),
            limits,
            subscriptions: Subscriptions::default(),
            unpushed: Vec::new(),
            last_push: Instant::now(),
            allow: None,
            nicks: HashMap::new(),
            access: Access::default(),
        }
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use crate::protocol::Status;
    use crate::store::SqliteStore;

    fn group(dir: &std::path::Path, limits: Limits) -> Group {
        Group::in_dir(dir, limits)
    }

    fn group_on(store: SqliteStore, limits: Limits) -> Group {
        Group::on(store, limits)
    }

    fn request(identity: &[u8], body: &str) -> Envelope {
        Envelope::split(vec![identity.to_vec(), Vec::new(), body.as_bytes().to_vec()])
    }

    fn response(frames: &ReplyFrames) -> Reply {
        crate::protocol::decode_reply(frames.last().unwrap()).unwrap()
    }

    #[test]
    fn one_connection_gets_at_most_max_in_flight_requests_served_per_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut group = group(dir.path(), Limits { max_in_flight: 3, ..Limits::default() });
        let join = r#"{"action": "joinGroup", "user_uuid": "u"}"#;
        let mut batch: Vec<Envelope> = (0..5).map(|_| request(b"busy", join)).collect();
        batch.push(request(b"calm", join));
        let replies = group.apply_batch(batch);
        let failed: Vec<bool> = replies.iter().map(|frames| response(frames).response == Status::Failed).collect();
        assert_eq!(failed, [false, false, false, true, true, false]);
        assert!(response(&replies[3]).error.unwrap().contains("--max-in-flight"));
    }

    #[test]
    fn one_key_gets_at_most_max_in_flight_requests_however_many_connections_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let mut group = group(dir.path(), Limits { max_in_flight: 2, ..Limits::default() });
        let key = KeyPair::generate().unwrap().public;
        let get = format!(r#"{{"action": "getMessage", "user_uuid": "{}", "timestamp": null}}"#, key.user_uuid());
        let mut batch: Vec<Envelope> = (0..4u8).map(|connection| request(&[connection], &get)).collect();
        for envelope in &mut batch {
            envelope.peer.user_id = Some(key.to_string());
        }
        let replies = group.apply_batch(batch);
        let errors: Vec<String> = replies.iter().map(|frames| response(frames).error.unwrap_or_default()).collect();
        assert!(errors[..2].iter().all(|error| !error.contains("in flight")), "{errors:?}");
        assert!(errors[2..].iter().all(|error| error.contains("too many requests in flight from this key")));
    }

    #[test]
    fn a_batch_is_applied_in_order_and_replies_keep_their_envelopes() {
        let dir = tempfile::tempdir().unwrap();
        let mut group = group(dir.path(), Limits::default());
        let batch = vec![
            request(b"a", r#"{"action": "joinGroup", "user_uuid": "u"}"#),
            request(b"b", r#"{"action": "sendMessage", "user_uuid": "u", "message": "m"}"#),
            request(b"c", "not json"),
            request(b"d", r#"{"action": "getMessage", "user_uuid": "u", "timestamp": null}"#),
        ];
        let replies = group.apply_batch(batch);
        let identities: Vec<&[u8]> = replies.iter().map(|frames| frames[0].as_slice()).collect();
        assert_eq!(identities, [b"a", b"b", b"c", b"d"]);
        assert_eq!(response(&replies[3]).messages.unwrap()[0].message, "m", "the get sees the send before it");
        assert_eq!(response(&replies[2]).response, Status::Failed);
    }

    /// The route of a REQ connection `identity`.
    fn route(identity: &[u8]) -> Vec<Vec<u8>> {
        vec![identity.to_vec(), Vec::new()]
    }

    /// A batch that fills a 64 KiB store, so that its commit fails.
    fn failing_batch(first: Envelope) -> Vec<Envelope> {
        let big = format!(r#"{{"action": "sendMessage", "user_uuid": "v", "message": "{}"}}"#, "x".repeat(8192));
        std::iter::once(first).chain((0..16).map(|_| request(b"filler", &big))).collect()
    }

    #[test]
    fn a_batch_that_rolls_back_leaves_the_subscriptions_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with_limit(dir.path(), Some(64 * 1024)).unwrap();
        let mut group = group_on(store, Limits::default());
        let replies = group.apply_batch(vec![
            request(b"u", r#"{"action": "joinGroup", "user_uuid": "u"}"#),
            request(b"v", r#"{"action": "joinGroup", "user_uuid": "v"}"#),
            request(b"u-watch", r#"{"action": "subscribe", "user_uuid": "u"}"#),
        ]);
        assert!(replies.iter().all(|frames| response(frames).response == Status::Success));
        assert_eq!(group.subscriptions.len(), 1);

        let leave = group.apply_batch(failing_batch(request(b"u", r#"{"action": "leaveGroup", "user_uuid": "u"}"#)));
        assert_eq!(response(&leave[0]).response, Status::Failed, "the batch failed: {:?}", response(&leave[0]));
        assert!(group.subscriptions.contains(&route(b"u-watch"), Instant::now()), "the leave never happened");

        let subscribe =
            group.apply_batch(failing_batch(request(b"v-watch", r#"{"action": "subscribe", "user_uuid": "v"}"#)));
        assert_eq!(response(&subscribe[0]).response, Status::Failed);
        assert!(!group.subscriptions.contains(&route(b"v-watch"), Instant::now()), "nor did the subscribe");
        assert_eq!(group.subscriptions.len(), 1);
    }

    #[test]
    fn no_history_reply_is_larger_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut group = group(dir.path(), Limits { max_reply_bytes: 4000, ..Limits::default() });
        let text = "\\u0001".repeat(100); // a control character, sent as six bytes
        let send = format!(r#"{{"action": "sendMessage", "user_uuid": "u", "message": "{text}"}}"#);
        let mut batch = vec![request(b"a", r#"{"action": "joinGroup", "user_uuid": "u"}"#)];
        batch.extend((0..20).map(|_| request(b"a", &send)));
        group.apply_batch(batch);
        let ask = |group: &mut Group, body: &str| {
            let frames = group.apply_batch(vec![request(b"r", body)]);
            (frames[0].last().unwrap().len(), response(&frames[0]))
        };

        let (_, seed) = ask(&mut group, r#"{"action": "getMessage", "user_uuid": "u", "timestamp": null}"#);
        assert_eq!(seed.response, Status::Failed);
        assert!(seed.error.unwrap().contains("--max-reply-bytes"));

        let (size, latest) =
            ask(&mut group, r#"{"action": "getMessage", "user_uuid": "u", "timestamp": null, "limit": 20}"#);
        let seqs: Vec<u64> = latest.messages.unwrap().iter().map(|m| m.seq.unwrap()).collect();
        assert!(size <= 4000, "{size} bytes");
        assert!(!seqs.is_empty() && seqs.len() < 20 && *seqs.last().unwrap() == 20, "the newest that fit: {seqs:?}");
        assert_eq!(latest.more, Some(true));

        let body = r#"{"action": "getMessage", "user_uuid": "u", "timestamp": null, "after_seq": 0, "limit": 20}"#;
        let (size, forward) = ask(&mut group, body);
        let seqs: Vec<u64> = forward.messages.unwrap().iter().map(|m| m.seq.unwrap()).collect();
        assert!(size <= 4000, "{size} bytes");
        assert_eq!(seqs[0], 1, "the oldest that fit: {seqs:?}");
        assert_eq!(forward.more, Some(true));
    }
}
