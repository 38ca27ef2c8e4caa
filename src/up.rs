//! `huddle up`: the newcomer's one command. Starts a directory on loopback
//! port 5555 (or uses the one already answering there), a group `lobby` with
//! its data in the XDG data directory, joins it, and hands over to the
//! interactive client. When the client ends, everything started here stops.

use crate::client::NamedGroup;
use crate::client::repl::Outcome;
use crate::client::session;
use crate::client::{Client, Requester};
use crate::directory::{Admission, DirectoryConfig, DirectoryError, DirectoryServer};
use crate::group::Limits;
use crate::host::{Host, HostConfig, HostError, catalog};
use crate::keys::KeyPair;
use crate::protocol::Address;
use crate::service;
use crate::shutdown::Shutdown;
use crate::store::StoreConfig;
use crate::transport::Security;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The group everyone lands in.
pub const LOBBY: &str = "lobby";
/// How long to wait for the directory to list a lobby started here.
const LISTING_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait for a directory already on the port to answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

pub struct UpConfig {
    /// Where the directory listens (its host is where the lobby listens too),
    /// with its key under CURVE.
    pub directory: Address,
    /// Plaintext on loopback, CURVE elsewhere: see `huddle up --listen`.
    pub directory_security: Security,
    /// Where the host that serves the lobby (and groups created with
    /// /create) takes requests: a free port if this one is taken.
    pub host: Address,
    pub directory_data: PathBuf,
    pub lobby_data: PathBuf,
    pub user_id: String,
    /// The user's key pair, for CURVE servers.
    pub keys: Arc<KeyPair>,
    pub timeout: Duration,
    /// Where the client keeps its input history and last-seen seqs.
    pub config_dir: PathBuf,
    /// The user's huddle data (the service's record and log are there).
    pub data: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("{0}; and nothing answering there is a huddle directory: free port {1} and run `huddle up` again")]
    DirectoryPort(DirectoryError, u16),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("cannot watch for Ctrl-C: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Join(#[from] crate::client::ClientError),
    #[error("reading commands failed: {0}")]
    Input(std::io::Error),
}

/// `huddle serve`: the directory and the host (with the lobby), in the
/// foreground until a stop; recorded as the user's service while it runs.
pub fn serve(config: UpConfig) -> Result<(), UpError> {
    let context = zmq::Context::new();
    let shutdown = Shutdown::new().map_err(UpError::Signals)?;
    shutdown.on_signals().map_err(UpError::Signals)?;
    let requester = Requester::new(context.clone(), config.timeout).with_keys(config.keys.clone());
    let mut client = Client::new(requester, config.user_id.clone());
    let (directory, directory_address) = start_directory(&context, &config, &shutdown, client.user_uuid())?;
    let config = UpConfig { directory: directory_address, ..config };
    let ((host, host_address), lobby) = start_host(&config, &shutdown)?;
    // Listed before anyone is told it serves: `get_group_list` shows it.
    client.wait_listed(&config.directory, LOBBY, &lobby, LISTING_TIMEOUT);
    let state = service::Running {
        pid: std::process::id(),
        directory: config.directory.to_string(),
        host: host_address.to_string(),
        lobby: lobby.to_string(),
        data: config.data.clone(),
        log: service::log_file(&config.data),
    };
    service::record(&config.data, &state).map_err(UpError::Input)?;
    println!("huddle serve listening on {}, host {}, lobby {lobby}", config.directory, host_address);
    while !shutdown.wait(Duration::from_secs(3600)) {}
    let stopped = host.join().unwrap_or(Err(HostError::Crashed));
    if let Some(directory) = directory {
        let _ = directory.join();
    }
    service::forget(&config.data);
    Ok(stopped?)
}

/// The arguments of `huddle serve` for `config`.
fn serve_args(config: &UpConfig) -> Vec<String> {
    // The port alone: `--listen` says the host.
    let directory = config.directory.port.to_string();
    let host = format!("{}:{}", config.host.host, config.host.port);
    ["--listen", &config.directory.host, "--directory", &directory, "--host", &host].map(str::to_owned).to_vec()
}

/// `huddle up`: the user's service (started in the background unless it
/// runs), then the client, in the lobby; returns how the session went.
/// Leaving the chat leaves the service serving everyone else.
pub fn run(config: UpConfig) -> Result<Outcome, UpError> {
    let context = zmq::Context::new();
    let shutdown = Shutdown::new().map_err(UpError::Signals)?;
    shutdown.on_signals().map_err(UpError::Signals)?;
    let requester = Requester::new(context.clone(), config.timeout).with_keys(config.keys.clone());
    let mut client = Client::new(requester, config.user_id.clone());

    let (state, how) = match service::running(&config.data) {
        Some(state) => (state, "already running"),
        None => (service::start(&config.data, &serve_args(&config)).map_err(UpError::Input)?, "started"),
    };
    let unreadable =
        || UpError::Input(std::io::Error::other("the service's state file is damaged: `huddle down`, then up"));
    let (directory, host, lobby) = (
        state.directory().ok_or_else(unreadable)?,
        state.host().ok_or_else(unreadable)?,
        state.lobby().ok_or_else(unreadable)?,
    );
    client.join(&lobby)?;
    let others = match crate::transport::is_loopback(&directory.host) {
        true => "Others on this machine join with",
        false => "Others join with",
    };
    let up = format!(
        "huddle is up: directory {directory} with group {LOBBY} {lobby} (served in the background, pid {}, {how}; \
         data in {}; `huddle down` stops it).\n{others}: huddle user --directory {directory}",
        state.pid,
        state.data.display()
    );
    // At a terminal it is the first thing to read; a script's output holds
    // only what its commands print.
    if std::io::stdin().is_terminal() {
        println!("{up}");
    } else {
        eprintln!("{up}");
    }

    let repl_done = shutdown.clone();
    let lobby_group = NamedGroup { name: Some(LOBBY.to_owned()), address: lobby };
    let session = std::thread::spawn(move || {
        let outcome = session::run(&mut client, directory, host, Some(lobby_group), config.timeout, &config.config_dir);
        repl_done.trigger();
        outcome
    });
    // Wait for the session to end or for Ctrl-C / SIGTERM.
    while !shutdown.wait(Duration::from_secs(3600)) {}
    if session.is_finished() {
        let outcome = session
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the client stopped on an internal error (a bug)")));
        return outcome.map_err(UpError::Input);
    }
    // Stopped by a signal while the session waits for input: nothing failed.
    Ok(Outcome::default())
}

type DirectoryThread = JoinHandle<Result<(), DirectoryError>>;

/// Starts the directory (port 0: on any free port), or finds that one
/// already answers on its port.
fn start_directory(
    context: &zmq::Context,
    config: &UpConfig,
    shutdown: &Shutdown,
    user_uuid: &str,
) -> Result<(Option<DirectoryThread>, Address), UpError> {
    let address = &config.directory;
    let directory = DirectoryConfig {
        bind: address.endpoint(),
        store: StoreConfig::sqlite(&config.directory_data),
        security: config.directory_security.clone(),
        allow: None,
        admission: Admission::default(),
    };
    match DirectoryServer::bind(context, &directory) {
        Ok(server) => {
            let bound = server.address().clone();
            let stop = shutdown.clone();
            let thread = std::thread::spawn(move || server.run(&stop));
            Ok((Some(thread), bound))
        }
        Err(error @ DirectoryError::Bind { .. }) => {
            let mut prober = Client::new(Requester::new(context.clone(), PROBE_TIMEOUT), user_uuid.to_owned());
            match prober.group_list(address) {
                Ok(_) => Ok((None, address.clone())),
                Err(_) => Err(UpError::DirectoryPort(error, address.port)),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// The ports the groups of `huddle up`'s host take.
const HOST_PORTS: std::ops::RangeInclusive<u16> = 5600..=5699;

type HostThread = JoinHandle<Result<(), HostError>>;

/// Starts the host that serves the lobby (made on the first run; a lobby of
/// an earlier huddle, a lone group, is taken in with its data and port):
/// the host's thread and control address, and the lobby's address.
fn start_host(config: &UpConfig, shutdown: &Shutdown) -> Result<((HostThread, Address), Address), UpError> {
    let data = config.lobby_data.parent().and_then(Path::parent).unwrap_or(Path::new(".")).to_path_buf();
    let catalog_error = |source| HostError::Catalog { dir: data.display().to_string(), source };
    let entries = catalog::load(&data).map_err(catalog_error)?;
    if !entries.iter().any(|entry| entry.name == LOBBY)
        && !catalog::adopt(&config.lobby_data, LOBBY).map_err(catalog_error)?
    {
        let taken: Vec<u16> = entries.iter().map(|entry| entry.port).collect();
        catalog::add(&data, LOBBY, &HOST_PORTS, &taken).map_err(catalog_error)?;
    }
    let host_config = |control: Address| HostConfig {
        control,
        ports: HOST_PORTS,
        directory: Some(config.directory.clone()),
        data: data.clone(),
        curve: config.directory_security.is_curve(),
        creators: None,
        limits: Limits::default(),
        max_data_bytes: None,
    };
    let control = Address { host: config.directory.host.clone(), ..config.host.clone() };
    let host = match Host::open(host_config(control.clone()), shutdown) {
        // Another host (another user's `huddle up`) has the port: any will do.
        Err(HostError::Bind { address, .. }) if address == control => {
            Host::open(host_config(Address { port: 0, ..control }), shutdown)?
        }
        other => other?,
    };
    let lobby = host.groups().into_iter().find(|(name, _)| name == LOBBY).map(|(_, address)| address);
    let lobby = lobby.ok_or_else(|| HostError::Catalog {
        dir: data.display().to_string(),
        source: std::io::Error::other("the lobby did not start: its log above says why"),
    })?;
    let address = host.control_address().clone();
    let thread = std::thread::Builder::new().name("host".into()).spawn(move || host.run()).map_err(HostError::from)?;
    Ok(((thread, address), lobby))
}
