//! Keeps a group listed: registers with the directory at start and again
//! every [`REGISTER_INTERVAL`] (the directory's heartbeat), in the background.
//! A group serves its users whether or not a directory answers. A CURVE
//! group registers with its own key pair, so that a CURVE directory knows
//! the group's key (and binds the name to it) from the handshake itself.

use crate::keys::KeyPair;
use crate::protocol::{Address, DirectoryRequest, REGISTERED, encode};
use crate::shutdown::Shutdown;
use crate::transport::Requester;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tracing::{info, warn};

/// How often a group registers again.
pub const REGISTER_INTERVAL: Duration = Duration::from_secs(2);
/// How long one registration may take before the group tries again later.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(1);

/// What a group registers, and where.
#[derive(Clone)]
pub struct Registration {
    pub name: String,
    /// Where the group is: registered as `HOST:PORT`, the seed's form.
    pub address: Address,
    pub directory: Address,
    /// The group's key pair, under CURVE.
    pub keys: Option<Arc<KeyPair>>,
    /// The host serving it (`IP:PORT`), which heartbeats for all its groups.
    pub host: Option<String>,
}

impl Registration {
    /// The `register` request, with huddle's heartbeat.
    fn request(&self) -> Vec<u8> {
        encode(&DirectoryRequest::Register {
            group_name: self.name.clone(),
            ip_port: self.address.host_port(),
            heartbeat_ms: Some(REGISTER_INTERVAL.as_millis() as u64),
            host: self.host.clone(),
        })
    }
}

/// Keeps many groups listed from one thread (a host's). Each group is
/// registered as soon as it is added, and again once a sweep of
/// [`SWEEP_INTERVALS`] intervals (so that a directory that lost its memory
/// learns every group again); every interval sends a slice of the sweep,
/// and each registration names the host, which keeps all its groups alive
/// in the directory. A host of 10,000 groups thus sends ~170 registrations
/// a second, not 5,000. Registrations go without waiting for the answers,
/// on one connection per key (CURVE groups each register with their own
/// key, so that the directory binds their names to them). A directory that
/// is down costs queued messages up to a bound, not time.
#[derive(Clone)]
pub struct Registrar {
    groups: Arc<std::sync::Mutex<Registered>>,
    /// Sends the registrations waiting in `fresh` at once.
    nudge: mpsc::Sender<()>,
}

/// What the registrar keeps listed, and what it must send at once.
#[derive(Default)]
struct Registered {
    all: Vec<Registration>,
    fresh: Vec<Registration>,
}

/// Intervals in which every group of a host is registered once.
pub const SWEEP_INTERVALS: usize = 30;

/// Registrations queued on one connection while its directory is away.
const QUEUED_REGISTRATIONS: i32 = 100_000;

impl Registrar {
    pub fn start(context: zmq::Context, shutdown: &Shutdown) -> Registrar {
        let (nudge, nudged) = mpsc::channel();
        let registrar = Registrar { groups: Arc::default(), nudge };
        let (groups, shutdown) = (registrar.groups.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name("registrar".into())
            .spawn(move || register_all(&context, &groups, &nudged, &shutdown))
            .expect("the OS can start a thread");
        registrar
    }

    /// Registers `registration` now, and keeps it listed.
    pub fn add(&self, registration: Registration) {
        if let Ok(mut groups) = self.groups.lock() {
            groups.fresh.push(registration.clone());
            groups.all.push(registration);
        }
        let _ = self.nudge.send(());
    }

    /// Stops keeping the group at `address` listed, and tells the directory
    /// it is gone: registered once more naming port 0 of its host as its
    /// host, which is never heard from, so that the directory unlists it
    /// at once (a directory that does not know hosts keeps it, as it keeps
    /// every dead group).
    pub fn remove(&self, address: &Address) {
        if let Ok(mut groups) = self.groups.lock() {
            let Some(at) = groups.all.iter().position(|group| &group.address == address) else { return };
            let mut gone = groups.all.remove(at);
            gone.host = Some(Address { port: 0, ..gone.address.clone() }.host_port());
            groups.fresh.push(gone);
        }
        let _ = self.nudge.send(());
    }
}

/// The registrar's connections to directories, one per (directory, key).
#[derive(Default)]
struct Connections {
    sockets: std::collections::HashMap<(String, Option<String>), zmq::Socket>,
    refusals: std::collections::HashSet<String>,
}

impl Connections {
    /// Sends `group`'s registration, without waiting.
    fn register(&mut self, context: &zmq::Context, group: &Registration) {
        let slot = (group.directory.to_string(), group.keys.as_ref().map(|keys| keys.public.to_string()));
        let socket = match self.sockets.entry(slot) {
            std::collections::hash_map::Entry::Occupied(socket) => socket.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let anonymous;
                let keys = match &group.keys {
                    Some(keys) => keys.as_ref(),
                    None => match KeyPair::generate() {
                        Ok(keys) => {
                            anonymous = keys;
                            &anonymous
                        }
                        Err(_) => return,
                    },
                };
                match crate::transport::connect_as(context, zmq::DEALER, &group.directory, keys) {
                    Ok(socket) => {
                        let _ = socket.set_sndhwm(QUEUED_REGISTRATIONS);
                        slot.insert(socket)
                    }
                    Err(error) => {
                        warn!(group = %group.name, %error, "cannot reach the directory");
                        return;
                    }
                }
            }
        };
        let _ = socket.send_multipart([&b""[..], &group.request()], zmq::DONTWAIT);
    }

    /// Reads the answers that came back: a refusal is worth saying, once.
    fn read_answers(&mut self) {
        for socket in self.sockets.values() {
            while let Ok(frames) = socket.recv_multipart(zmq::DONTWAIT) {
                let reply = frames.last().map(|reply| String::from_utf8_lossy(reply).into_owned()).unwrap_or_default();
                if reply.as_bytes() != REGISTERED && self.refusals.insert(reply.clone()) {
                    warn!(%reply, "the directory refused a registration; retrying");
                }
            }
        }
    }
}

fn register_all(
    context: &zmq::Context,
    groups: &std::sync::Mutex<Registered>,
    nudged: &mpsc::Receiver<()>,
    shutdown: &Shutdown,
) {
    let mut connections = Connections::default();
    let mut cursor = 0;
    let mut next_slice = std::time::Instant::now();
    loop {
        if let Ok(mut groups) = groups.lock() {
            for group in std::mem::take(&mut groups.fresh) {
                connections.register(context, &group);
            }
            let all = &groups.all;
            if std::time::Instant::now() >= next_slice && !all.is_empty() {
                for _ in 0..all.len().div_ceil(SWEEP_INTERVALS) {
                    cursor %= all.len();
                    connections.register(context, &all[cursor]);
                    cursor += 1;
                }
                next_slice = std::time::Instant::now() + REGISTER_INTERVAL;
            }
        }
        // Until the next slice, or a group added; a stop ends the thread
        // at the next wake-up (nothing it holds needs a flush).
        let _ = nudged.recv_timeout(next_slice.saturating_duration_since(std::time::Instant::now()));
        while nudged.try_recv().is_ok() {}
        if shutdown.is_triggered() {
            return;
        }
        connections.read_answers();
    }
}

/// Registers the group until `shutdown`.
pub fn start(context: zmq::Context, registration: Registration, shutdown: &Shutdown) {
    let shutdown = shutdown.clone();
    let request = registration.request();
    let Registration { name, directory, keys, .. } = registration;
    std::thread::Builder::new()
        .name(format!("register {name}"))
        .spawn(move || {
            let mut requester = Requester::new(context, REGISTER_TIMEOUT);
            if let Some(keys) = keys {
                requester = requester.with_keys(keys);
            }
            let mut registered = None;
            loop {
                let outcome = requester.request("directory", &directory, &request);
                let ok = matches!(&outcome, Ok(reply) if reply == REGISTERED);
                if registered != Some(ok) {
                    match outcome {
                        Ok(_) if ok => info!(group = %name, %directory, "registered with the directory"),
                        Ok(reply) => warn!(group = %name, %directory, reply = %String::from_utf8_lossy(&reply), "directory refused the registration; retrying"),
                        Err(error) => warn!(group = %name, %error, "not registered; retrying in the background"),
                    }
                    registered = Some(ok);
                }
                if shutdown.wait(REGISTER_INTERVAL) {
                    return;
                }
            }
        })
        .expect("the OS can start a thread");
}
