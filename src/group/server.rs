//! One group's poll loop: drain the waiting requests, apply them in one store
//! transaction, commit once, then send every reply and push the batch's new
//! messages to the subscribed connections. A reply or a push is sent only
//! after the batch that holds it has committed, so `SUCCESS` means "on disk"
//! and nothing pushed can be lost by a crash.

use super::handlers::{self, Context};
use super::limits::{Limits, MAX_FRAME_BYTES};
use super::registration;
use super::subscriptions::{PUSH_HWM, PUSH_INTERVAL, Subscriptions};
use crate::protocol::envelope::Envelope;
use crate::protocol::{Address, GroupRequest, Push, PushEvent, Reply, decode, json, timestamp};
use crate::serve::{ReplyFrames, Service, serve};
use crate::shutdown::Shutdown;
use crate::store::{GroupStore, SqliteStore, StoreError, StoredMessage};
use std::collections::HashMap;
use std::path::PathBuf;
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
    pub data_dir: PathBuf,
    /// The most the store may take on disk, in bytes; `None`: no bound but the disk's.
    pub max_data_bytes: Option<u64>,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("cannot listen on {address}: {source}; is another server using that port? pick another IP:PORT")]
    Bind { address: Address, source: zmq::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ZeroMQ failed: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("the group server stopped on an internal error (a bug): its log above says where")]
    Crashed,
}

pub struct GroupServer {
    address: Address,
    socket: zmq::Socket,
    group: Group,
}

/// The group's state and rules, apart from its socket.
struct Group {
    name: String,
    store: Box<dyn GroupStore + Send>,
    limits: Limits,
    subscriptions: Subscriptions,
    /// Committed messages not yet pushed to the subscribers.
    unpushed: Vec<StoredMessage>,
    last_push: Instant,
}

impl GroupServer {
    /// Opens the store and binds the socket; nothing is served yet.
    pub fn bind(context: &zmq::Context, config: &GroupConfig) -> Result<GroupServer, GroupError> {
        let store = SqliteStore::open_with_limit(&config.data_dir, config.max_data_bytes)?;
        let socket = context.socket(zmq::ROUTER)?;
        socket.set_linger(0)?;
        socket.set_maxmsgsize(MAX_FRAME_BYTES)?;
        socket.set_sndhwm(PUSH_HWM)?;
        let bind_error = |source| GroupError::Bind { address: config.bind.clone(), source };
        socket.bind(&config.bind.endpoint()).map_err(bind_error)?;
        let address = bound_address(&socket).unwrap_or_else(|| config.bind.clone());
        let group = Group {
            name: config.name.clone(),
            store: Box::new(store),
            limits: config.limits.clone(),
            subscriptions: Subscriptions::default(),
            unpushed: Vec::new(),
            last_push: Instant::now(),
        };
        Ok(GroupServer { address, socket, group })
    }

    /// The address the group listens on (with the real port when 0 was asked).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves until `shutdown` is triggered.
    pub fn run(mut self, shutdown: &Shutdown) -> Result<(), GroupError> {
        let group = &mut self.group;
        info!(group = %group.name, address = %self.address, "group serving");
        serve(&self.socket, shutdown, MAX_BATCH, group)?;
        info!(group = %group.name, "group stopped");
        Ok(())
    }
}

impl Group {
    fn apply_batch(&mut self, batch: Vec<Envelope>) -> Vec<ReplyFrames> {
        let limits = self.limits.clone();
        let mut replies: Vec<(Envelope, Result<Reply, usize>)> = Vec::with_capacity(batch.len());
        let mut requests = Vec::new();
        let mut in_flight: HashMap<Vec<u8>, usize> = HashMap::new();
        for mut envelope in batch {
            let waiting = in_flight.entry(envelope.route[0].clone()).or_default();
            *waiting += 1;
            if *waiting > limits.max_in_flight {
                let error = format!(
                    "too many requests in flight from this connection (at most {}, --max-in-flight): \
                     wait for replies before sending more",
                    limits.max_in_flight
                );
                replies.push((envelope, Ok(Reply::failed(error))));
                continue;
            }
            let body = std::mem::replace(&mut envelope.body, Ok(Vec::new()));
            match body.and_then(|body| decode::<GroupRequest>(&body)) {
                Ok(request) => {
                    debug!(?request, "request");
                    replies.push((envelope, Err(requests.len())));
                    requests.push(request);
                }
                Err(error) => {
                    debug!(%error, "bad request");
                    replies.push((envelope, Ok(Reply::failed(error.to_string()))));
                }
            }
        }
        let routes: Vec<&[Vec<u8>]> =
            replies.iter().filter(|(_, reply)| reply.is_err()).map(|(envelope, _)| envelope.route.as_slice()).collect();
        let mut context = Context {
            now: timestamp::now(),
            instant: Instant::now(),
            limits: &limits,
            subscriptions: &mut self.subscriptions,
            stored: Vec::new(),
        };
        let applied = apply_in_one_transaction(self.store.as_mut(), &self.name, &requests, &routes, &mut context);
        let stored = std::mem::take(&mut context.stored);
        let mut frames: Vec<ReplyFrames> = replies
            .into_iter()
            .map(|(envelope, reply)| {
                let reply = reply.unwrap_or_else(|index| match &applied {
                    Ok(replies) => replies[index].clone(),
                    Err(error) => Reply::failed(error.to_string()),
                });
                envelope.reply(reply.encode())
            })
            .collect();
        if applied.is_ok() && !self.subscriptions.is_empty() {
            self.unpushed.extend(stored);
        }
        if self.wake_at().is_some_and(|at| at <= Instant::now()) {
            frames.extend(self.pushes());
        }
        frames
    }

    /// One frame per live subscription holding every message not pushed yet.
    fn pushes(&mut self) -> Vec<ReplyFrames> {
        if self.unpushed.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        self.last_push = now;
        let messages = std::mem::take(&mut self.unpushed).into_iter().map(StoredMessage::into_wire).collect();
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

/// Applies the requests in one transaction and commits once. On any store
/// error the whole transaction is rolled back and no request succeeds.
fn apply_in_one_transaction(
    store: &mut dyn GroupStore,
    name: &str,
    requests: &[GroupRequest],
    routes: &[&[Vec<u8>]],
    context: &mut Context,
) -> Result<Vec<Reply>, StoreError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    store.begin()?;
    let replies: Result<Vec<Reply>, StoreError> =
        requests.iter().zip(routes).map(|(request, route)| handlers::apply(store, request, route, context)).collect();
    let applied = started.elapsed();
    let result = replies.and_then(|replies| store.commit().map(|()| replies));
    debug!(
        requests = requests.len(),
        apply_us = applied.as_micros() as u64,
        commit_us = (started.elapsed() - applied).as_micros() as u64,
        "batch"
    );
    if let Err(error) = &result {
        warn!(group = %name, %error, "batch failed; nothing in it was acknowledged");
        store.rollback();
        context.stored.clear();
    }
    result
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
        let server = GroupServer::bind(context, config)?;
        let address = server.address().clone();
        let stop = shutdown.clone();
        if let Some(directory) = config.directory.clone() {
            registration::start(context.clone(), config.name.clone(), address.clone(), directory, shutdown);
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

/// The address a bound socket really listens on.
pub fn bound_address(socket: &zmq::Socket) -> Option<Address> {
    let endpoint = socket.get_last_endpoint().ok()?.ok()?;
    Address::from_endpoint(&endpoint).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Status;

    fn group(dir: &std::path::Path, limits: Limits) -> Group {
        Group {
            name: "g".into(),
            store: Box::new(SqliteStore::open(dir).unwrap()),
            limits,
            subscriptions: Subscriptions::default(),
            unpushed: Vec::new(),
            last_push: Instant::now(),
        }
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
}
