//! The directory's poll loop: every request answered, in the seed's bytes
//! where the seed had an answer, with `FAILED` and a reason where it had none.
//! Registrations are saved before they are acknowledged, so a restarted
//! directory still knows every group.

use super::prober::Prober;
use super::registry::{Refused, Registration};
use super::{Admission, Registry};
use crate::keys::PublicKey;
use crate::protocol::envelope::Envelope;
use crate::protocol::{Address, DirectoryRequest, REGISTERED, Reply, decode, json};
use crate::serve::ReplyFrames;
use crate::shutdown::Shutdown;
use crate::store::{RegistrationStore, StoreConfig, StoreError};
use crate::transport::{self, AllowList, RouterOptions, Security};
use crate::zmtp;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Why a registration is not acknowledged.
#[derive(Debug, thiserror::Error)]
enum NotRegistered {
    #[error(transparent)]
    Address(#[from] crate::protocol::address::BadAddress),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Saves a registration before it is known, and knows it before it is
/// acknowledged: one that could not be saved is refused, and the group's
/// next heartbeat tries again. `true` when something new was saved.
fn register(
    registry: &mut Registry,
    saved: &mut dyn RegistrationStore,
    registration: &Registration,
    now: Instant,
) -> Result<bool, NotRegistered> {
    let change = registry.change(registration)?;
    if let Some(change) = &change {
        saved.save(change)?;
    }
    registry.register(registration, now);
    if change.is_some() {
        info!(group = registration.name, address = registration.address, key = ?registration.key, "group registered");
    }
    Ok(change.is_some())
}

/// How often the directory looks for groups to forget.
const FORGET_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Forgets the groups silent for [`super::registry::FORGET_AFTER`]: on disk
/// first, then in memory. `true` when any was forgotten.
fn forget_long_dead(registry: &mut Registry, saved: &mut dyn RegistrationStore, now: Instant) -> bool {
    let mut forgot = false;
    for address in registry.long_dead(now) {
        match saved.remove(&address) {
            Ok(()) => {
                info!(%address, "group silent for a week: forgotten");
                registry.forget(&address);
                forgot = true;
            }
            Err(error) => warn!(%address, %error, "cannot forget a long-dead group; trying again later"),
        }
    }
    forgot
}

/// Requests handled per wake-up at most.
const MAX_BATCH: usize = 256;
/// The largest request frame taken: a registration or a list request is a
/// few hundred bytes; ZeroMQ cuts off a peer that sends more.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot listen on {endpoint}: {source}; is another directory running? pass --bind with another address")]
    Bind { endpoint: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ZeroMQ failed: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("the directory's connections failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything a directory needs to start.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    /// Where to listen: `tcp://*:5555`, `127.0.0.1:0`, ...
    pub bind: String,
    pub store: StoreConfig,
    pub security: Security,
    /// Under CURVE, the only keys admitted (`--allow`).
    pub allow: Option<AllowList>,
    pub admission: Admission,
}

pub struct DirectoryServer {
    context: zmq::Context,
    server: zmtp::Server,
    address: Address,
    registry: Registry,
    saved: Box<dyn RegistrationStore + Send>,
    allow: Option<AllowList>,
}

impl DirectoryServer {
    /// Binds and restores the registrations kept in the store.
    pub fn bind(context: &zmq::Context, config: &DirectoryConfig) -> Result<DirectoryServer, DirectoryError> {
        let endpoint = config.bind.as_str();
        let options = RouterOptions {
            security: config.security.clone(),
            allow: config.allow.clone(),
            max_frame_bytes: Some(MAX_REQUEST_BYTES),
            ..RouterOptions::default()
        };
        let bind_error = |source| DirectoryError::Bind { endpoint: transport::normalize_endpoint(endpoint), source };
        let server = zmtp::bind(endpoint, options).map_err(bind_error)?;
        let address = server.local_address().map_err(bind_error)?;
        let saved = config.store.open_registrations()?;
        let registry = Registry::restore(saved.load()?, config.admission.clone());
        let allow = config.allow.clone();
        Ok(DirectoryServer { context: context.clone(), server, address, registry, saved, allow })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves until `shutdown` is triggered.
    pub fn run(self, shutdown: &Shutdown) -> Result<(), DirectoryError> {
        info!(address = %self.address, "directory serving");
        let DirectoryServer { context, server, mut registry, mut saved, allow, .. } = self;
        let prober = Prober::start(context);
        prober.set_targets(registry.probe_targets());
        let mut next_forget = Instant::now();
        server.serve(shutdown, MAX_BATCH, &mut |batch: Vec<Envelope>| {
            let now = Instant::now();
            for (address, answered) in prober.outcomes() {
                if registry.probed(&address, answered, now) {
                    info!(%address, answered, "probed group changed state");
                }
            }
            let mut targets_changed = false;
            if now >= next_forget {
                next_forget = now + FORGET_CHECK_INTERVAL;
                targets_changed |= forget_long_dead(&mut registry, saved.as_mut(), now);
            }
            // The allow-list's file is looked at once a batch.
            if let Some(allow) = &allow {
                allow.generation();
            }
            let replies = batch
                .into_iter()
                .map(|envelope| match refused_key(allow.as_ref(), &envelope) {
                    Some(refusal) => envelope.reply(refusal),
                    None => answer(&mut registry, saved.as_mut(), &mut targets_changed, envelope, now),
                })
                .collect::<Vec<ReplyFrames>>();
            if targets_changed {
                prober.set_targets(registry.probe_targets());
            }
            replies
        })?;
        info!("directory stopped");
        Ok(())
    }
}

/// The refusal of a request whose key a private directory no longer allows
/// (a new connection with such a key is refused at its handshake).
fn refused_key(allow: Option<&AllowList>, envelope: &Envelope) -> Option<Vec<u8>> {
    let key = PublicKey::parse(envelope.peer.user_id.as_deref()?).ok()?;
    (!allow?.holds_key(&key)).then(|| {
        let error = format!("your key {key} is not allowed by this directory: ask its operator to add it to --allow");
        Reply::failed(error).encode()
    })
}

fn answer(
    registry: &mut Registry,
    saved: &mut dyn RegistrationStore,
    targets_changed: &mut bool,
    mut envelope: Envelope,
    now: Instant,
) -> ReplyFrames {
    let reply = match envelope.take_body().and_then(|body| decode::<DirectoryRequest>(&body)) {
        Ok(DirectoryRequest::Register { group_name, ip_port, heartbeat_ms, host }) => {
            let key = envelope.peer.user_id.as_deref().and_then(|key| PublicKey::parse(key).ok());
            // One spelling per address: `127.000.0.1:5560` is `127.0.0.1:5560`.
            let normalized = |address: &str| Address::parse(address).map(|address| address.normalized().host_port());
            let address =
                normalized(&ip_port).and_then(|address| Ok((address, host.as_deref().map(normalized).transpose()?)));
            let registered = address.map_err(NotRegistered::from).and_then(|(address, host)| {
                let registration = Registration {
                    name: &group_name,
                    address: &address,
                    heartbeat_ms,
                    host: host.as_deref(),
                    key: key.as_ref(),
                    from: envelope.peer.address.as_deref(),
                };
                register(registry, saved, &registration, now)
            });
            match registered {
                Ok(saved) => {
                    *targets_changed |= saved;
                    REGISTERED.to_vec()
                }
                Err(error) => {
                    warn!(group = %group_name, address = %ip_port, %error, "registration refused");
                    Reply::failed(format!("register: {error}")).encode()
                }
            }
        }
        Ok(DirectoryRequest::GroupList { keys, .. }) => json::to_vec(&registry.list(now, keys == Some(true))),
        Err(error) => {
            debug!(%error, "bad request");
            Reply::failed(error.to_string()).encode()
        }
    };
    envelope.reply(reply)
}
