//! `huddle host`: many groups in one process, each still reached at its own
//! `IP:PORT` (so the seed's client works against every one of them), all
//! served by one engine loop on one thread: an idle group costs a listening
//! socket and a few KiB, no thread and no CPU. One more thread keeps every
//! group listed ([`Registrar`]).
//!
//! All groups keep their members and history in one store (one SQLite file,
//! `host.sqlite3`), and each turn of the loop applies every group's
//! requests in one transaction: one commit, one `fsync`, however many
//! groups had work. Replies go out only after it.
//!
//! Listener 0 is the host's own control socket, where `createGroup` asks for
//! a new group ([`control`]); every other listener is one group's. The
//! groups' folders, names and ports are kept in [`catalog`], so each group
//! comes back at its address after a restart, its history intact.

pub mod catalog;
mod control;

use crate::group::registration::{Registrar, Registration};
use crate::group::{Group, GroupConfig, GroupError, Limits};
use crate::keys::KeyPair;
use crate::protocol::Address;
use crate::protocol::envelope::Envelope;
use crate::serve::{ReplyFrames, Service};
use crate::shutdown::Shutdown;
use crate::store::{HostStore, StoreConfig, StoreError};
use crate::transport::{AllowList, RouterOptions, Security};
use crate::zmtp::{self, Binder, MultiService};
use std::collections::HashMap;
use std::io;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// Descriptors a host needs besides one per group: its control socket,
/// store, directory connections, and its users' connections.
const DESCRIPTORS_BESIDE_GROUPS: u64 = 1024;

/// Requests applied in one turn at most, across all groups.
const MAX_BATCH: usize = 1024;

/// Everything a host needs to start.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the control socket listens; its host is where groups listen.
    pub control: Address,
    /// The ports groups take, each its own.
    pub ports: RangeInclusive<u16>,
    /// The directory every group registers with.
    pub directory: Option<Address>,
    /// Where the groups' folders are.
    pub data: PathBuf,
    /// CURVE (each group with its own key pair, kept in its folder) or plaintext.
    pub curve: bool,
    /// Under CURVE, the keys that may create groups (`None`: any key).
    pub creators: Option<AllowList>,
    pub limits: Limits,
    /// The most the host's data may take on disk (`None`: the disk's bound).
    pub max_data_bytes: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot listen on {address}: {source}; is another host using that port? pick another with --listen")]
    Bind { address: Address, source: io::Error },
    #[error("cannot read the host's groups in {dir}: {source}; check the directory, or pass --data")]
    Catalog { dir: String, source: io::Error },
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the host's connections failed: {0}")]
    Io(#[from] io::Error),
    #[error("the host stopped on an internal error (a bug): its log above says where")]
    Crashed,
}

/// A group the host serves, on the listener of the same index.
struct Hosted {
    name: String,
    address: Address,
    /// Its folder, whose name is also its data's name in the store.
    dir: PathBuf,
    group: Group,
}

pub struct Host {
    config: HostConfig,
    store: Box<dyn HostStore + Send>,
    registrar: Registrar,
    shutdown: Shutdown,
    server: Option<zmtp::Server>,
    groups: HashMap<usize, Hosted>,
    ports: Vec<u16>,
}

impl Host {
    /// Opens every group kept in the data directory, each on its port.
    pub fn open(config: HostConfig, shutdown: &Shutdown) -> Result<Host, HostError> {
        // A group is a listening socket and its users' connections: the
        // range's every port needs a descriptor before anyone connects.
        let limit = zmtp::raise_descriptor_limit();
        let ports = config.ports.len() as u64;
        if limit < ports + DESCRIPTORS_BESIDE_GROUPS {
            warn!(
                limit,
                ports,
                "the open-file limit is too low for every port of --ports to hold a group, with room for \
                 connections: raise it (ulimit -n, or LimitNOFILE= in a systemd unit), or narrow --ports"
            );
        }
        let options = RouterOptions { security: security(config.curve, &config.data)?, ..RouterOptions::default() };
        let bind_error = |source| HostError::Bind { address: config.control.clone(), source };
        let server = zmtp::bind(&config.control.endpoint(), options).map_err(bind_error)?;
        let control = server.local_address().map_err(bind_error)?;
        let store = StoreConfig::Sqlite { dir: config.data.clone(), max_bytes: config.max_data_bytes }.open_host()?;
        let mut host = Host {
            config: HostConfig { control, ..config },
            store,
            registrar: Registrar::start(zmq::Context::new(), shutdown),
            shutdown: shutdown.clone(),
            server: Some(server),
            groups: HashMap::new(),
            ports: Vec::new(),
        };
        let catalog_error = |source| HostError::Catalog { dir: host.config.data.display().to_string(), source };
        let entries = catalog::load(&host.config.data).map_err(catalog_error)?;
        let mut server = host.server.take().expect("not serving yet");
        for entry in entries {
            if let Err(error) = host.start_group(&mut Binder::of(&mut server), entry.clone()) {
                warn!(group = %entry.name, %error, "group not started");
            }
        }
        host.server = Some(server);
        Ok(host)
    }

    /// Where the control socket listens (`[KEY@]IP:PORT`).
    pub fn control_address(&self) -> &Address {
        &self.config.control
    }

    /// The groups served, by name, with their addresses.
    pub fn groups(&self) -> Vec<(String, Address)> {
        let mut groups: Vec<_> =
            self.groups.values().map(|hosted| (hosted.name.clone(), hosted.address.clone())).collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
    }

    /// Serves every group until `shutdown`.
    pub fn run(mut self) -> Result<(), HostError> {
        let server = self.server.take().expect("run once");
        let shutdown = self.shutdown.clone();
        server.serve_many(&shutdown, MAX_BATCH, &mut self)?;
        info!("host stopped");
        Ok(())
    }

    /// Opens a group's store and listener, and starts its registration.
    fn start_group(&mut self, binder: &mut Binder, entry: catalog::Entry) -> Result<(usize, Address), HostError> {
        let security = security(self.config.curve, &entry.dir)?;
        let bind = Address { host: self.config.control.host.clone(), port: entry.port, key: None };
        let group_config = GroupConfig {
            name: entry.name.clone(),
            bind: bind.clone(),
            directory: self.config.directory.clone(),
            store: StoreConfig::sqlite(&entry.dir),
            security: security.clone(),
            allow: None,
            limits: self.config.limits.clone(),
        };
        let key = folder_key(&entry.dir);
        if self.store.import(&key, &entry.dir)? {
            info!(group = %entry.name, "its history, kept in its own file before, is now in the host's");
        }
        let group = Group::on_store(&group_config, self.store.group(&key)?)?;
        let mut entry = entry;
        let mut candidates = self.config.ports.clone().filter(|port| !self.ports.contains(port));
        let (index, address) = loop {
            let bind = Address { port: entry.port, ..bind.clone() };
            match binder.bind(&bind.endpoint(), Group::router_options(&group_config)) {
                Ok(bound) => break bound,
                // Another process took the group's port meanwhile: the
                // group moves to a free one of the range, and keeps it.
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => match candidates.next() {
                    Some(port) if port != entry.port => catalog::set_port(&mut entry, port)?,
                    Some(_) => {}
                    None => return Err(HostError::Bind { address: bind, source: error }),
                },
                Err(source) => return Err(HostError::Bind { address: bind, source }),
            }
        };
        if let Some(directory) = self.config.directory.clone() {
            let keys = security.keys().map(|keys| Arc::new(keys.clone()));
            let host = Some(self.config.control.host_port());
            self.registrar.add(Registration {
                name: entry.name.clone(),
                address: address.clone(),
                directory,
                keys,
                host,
            });
        }
        info!(group = %entry.name, %address, data = %entry.dir.display(), "group serving");
        self.ports.push(entry.port);
        self.groups.insert(index, Hosted { name: entry.name, address: address.clone(), dir: entry.dir, group });
        Ok((index, address))
    }

    /// Stops serving the group on `listener` and forgets it: unlisted, its
    /// connections closed, its history and folder gone.
    fn delete_group(&mut self, binder: &mut Binder, listener: usize) -> Result<(), HostError> {
        let Some(hosted) = self.groups.remove(&listener) else { return Ok(()) };
        binder.close(listener);
        self.registrar.remove(&hosted.address);
        self.ports.retain(|port| *port != hosted.address.port);
        self.store.delete(&folder_key(&hosted.dir))?;
        catalog::remove(&hosted.dir)
            .map_err(|source| HostError::Catalog { dir: hosted.dir.display().to_string(), source })?;
        info!(group = %hosted.name, "group deleted");
        Ok(())
    }
}

/// The name a group's data has in the host's store: its folder's, which
/// never changes (a group's name might not fit a folder's).
fn folder_key(dir: &std::path::Path) -> String {
    dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A server's security: CURVE with the key pair kept in `dir`, or plaintext.
fn security(curve: bool, dir: &std::path::Path) -> Result<Security, HostError> {
    Ok(match curve {
        true => Security::Curve(KeyPair::load_or_create(dir)?),
        false => Security::Plaintext,
    })
}

impl MultiService for Host {
    fn handle_batch(&mut self, batch: Vec<(usize, Envelope)>, binder: &mut Binder) -> Vec<(usize, ReplyFrames)> {
        let mut by_group: HashMap<usize, Vec<Envelope>> = HashMap::new();
        let mut replies = Vec::new();
        for (listener, envelope) in batch {
            if listener == 0 {
                replies.push((0, control::answer(self, binder, envelope)));
            } else {
                by_group.entry(listener).or_default().push(envelope);
            }
        }
        // Every group's requests in one transaction, one commit for all.
        self.store.begin();
        let mut staged = Vec::with_capacity(by_group.len());
        let mut failed = None;
        for (listener, envelopes) in by_group {
            if let Some(hosted) = self.groups.get_mut(&listener) {
                let mut batch = hosted.group.stage(envelopes);
                failed = failed.or(batch.error.take());
                staged.push((listener, batch));
            }
        }
        let committed = match failed {
            Some(error) => Err(error),
            None => self.store.commit(),
        };
        if committed.is_err() {
            self.store.rollback();
        }
        for (listener, batch) in staged {
            let hosted = self.groups.get_mut(&listener).expect("staged above");
            let frames = hosted.group.settle(batch, committed.as_ref().err());
            replies.extend(frames.into_iter().map(|frames| (listener, frames)));
        }
        replies
    }

    fn wake_at(&self) -> Option<Instant> {
        self.groups.values().filter_map(|hosted| hosted.group.wake_at()).min()
    }

    fn wake(&mut self) -> Vec<(usize, ReplyFrames)> {
        let now = Instant::now();
        let mut frames = Vec::new();
        for (listener, hosted) in &mut self.groups {
            if hosted.group.wake_at().is_some_and(|at| at <= now) {
                frames.extend(hosted.group.wake().into_iter().map(|push| (*listener, push)));
            }
        }
        frames
    }
}
