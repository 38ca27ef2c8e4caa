//! `huddle up`: the newcomer's one command. Starts a directory on loopback
//! port 5555 (or uses the one already answering there), a group `lobby` with
//! its data in the XDG data directory, joins it, and hands over to the
//! interactive client. When the client ends, everything started here stops.

use crate::client::NamedGroup;
use crate::client::repl::Outcome;
use crate::client::session;
use crate::client::{Client, Requester};
use crate::directory::{Admission, DirectoryConfig, DirectoryError, DirectoryServer};
use crate::group::{GroupConfig, GroupError, Limits, RunningGroup};
use crate::keys::KeyPair;
use crate::protocol::Address;
use crate::shutdown::Shutdown;
use crate::store::StoreConfig;
use crate::transport::Security;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The group everyone lands in.
pub const LOBBY: &str = "lobby";
/// The file in the lobby's data directory that remembers its port, so that
/// the lobby keeps its address from one `huddle up` to the next.
const PORT_FILE: &str = "port";
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
    pub lobby_security: Security,
    pub directory_data: PathBuf,
    pub lobby_data: PathBuf,
    pub user_id: String,
    /// The user's key pair, for CURVE servers.
    pub keys: Arc<KeyPair>,
    pub timeout: Duration,
    /// Where the client keeps its input history and last-seen seqs.
    pub config_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("{0}; and nothing answering there is a huddle directory: free port {1} and run `huddle up` again")]
    DirectoryPort(DirectoryError, u16),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("cannot watch for Ctrl-C: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Join(#[from] crate::client::ClientError),
    #[error("reading commands failed: {0}")]
    Input(std::io::Error),
}

/// Runs everything; returns how the client session went.
pub fn run(config: UpConfig) -> Result<Outcome, UpError> {
    let context = zmq::Context::new();
    let shutdown = Shutdown::new().map_err(UpError::Signals)?;
    shutdown.on_signals().map_err(UpError::Signals)?;
    let requester = Requester::new(context.clone(), config.timeout).with_keys(config.keys.clone());
    let mut client = Client::new(requester, config.user_id.clone());

    let (directory, directory_address, directory_note) = start_directory(&context, &config, &shutdown, &mut client)?;
    let config = UpConfig { directory: directory_address, ..config };
    let (lobby, lobby_note) = match find_lobby(&mut client, &config.directory) {
        Some(address) => (StartedLobby::Existing(address), "already running".to_owned()),
        None => {
            let group = start_lobby(&context, &config, &shutdown)?;
            client.join(&group.address)?;
            // Listed before the first command: `get_group_list` shows it.
            group.wait_listed(LISTING_TIMEOUT);
            let note = format!("data in {}", config.lobby_data.display());
            (StartedLobby::Here(group), note)
        }
    };
    let lobby_address = lobby.address().clone();
    let others = match crate::transport::is_loopback(&config.directory.host) {
        true => "Others on this machine join with",
        false => "Others join with",
    };
    let up = format!(
        "huddle is up: directory {} ({directory_note}, data in {}), group {LOBBY} {lobby_address} ({lobby_note}).\n\
         {others}: huddle user --directory {}",
        config.directory,
        config.directory_data.display(),
        config.directory
    );
    // At a terminal it is the first thing to read; a script's output holds
    // only what its commands print.
    if std::io::stdin().is_terminal() {
        println!("{up}");
    } else {
        eprintln!("{up}");
    }

    let repl_done = shutdown.clone();
    let lobby_group = NamedGroup { name: Some(LOBBY.to_owned()), address: lobby_address };
    let session = std::thread::spawn(move || {
        let outcome =
            session::run(&mut client, config.directory, Some(lobby_group), config.timeout, &config.config_dir);
        repl_done.trigger();
        outcome
    });

    // Wait for the session to end or for Ctrl-C / SIGTERM, then stop.
    while !shutdown.wait(Duration::from_secs(3600)) {}
    let mut stopped = Ok(());
    if let StartedLobby::Here(group) = lobby {
        stopped = group.wait().map_err(UpError::from);
    }
    if let Some(directory) = directory {
        let _ = directory.join();
    }
    stopped?;
    if session.is_finished() {
        let outcome = session
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the client stopped on an internal error (a bug)")));
        return outcome.map_err(UpError::Input);
    }
    // Stopped by a signal while the session waits for input: nothing failed.
    Ok(Outcome::default())
}

enum StartedLobby {
    Here(RunningGroup),
    Existing(Address),
}

impl StartedLobby {
    fn address(&self) -> &Address {
        match self {
            StartedLobby::Here(group) => &group.address,
            StartedLobby::Existing(address) => address,
        }
    }
}

type DirectoryThread = JoinHandle<Result<(), DirectoryError>>;

/// Starts the directory (port 0: on any free port), or finds that one
/// already answers on its port.
fn start_directory(
    context: &zmq::Context,
    config: &UpConfig,
    shutdown: &Shutdown,
    client: &mut Client,
) -> Result<(Option<DirectoryThread>, Address, &'static str), UpError> {
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
            Ok((Some(thread), bound, "started here"))
        }
        Err(error @ DirectoryError::Bind { .. }) => {
            let mut prober = Client::new(Requester::new(context.clone(), PROBE_TIMEOUT), client.user_uuid().to_owned());
            match prober.group_list(address) {
                Ok(_) => Ok((None, address.clone(), "already running")),
                Err(_) => Err(UpError::DirectoryPort(error, address.port)),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// A lobby that an earlier `huddle up` started and that still answers: the
/// join that proves it answers also makes the user a member.
fn find_lobby(client: &mut Client, directory: &Address) -> Option<Address> {
    let groups = client.group_list(directory).ok()?;
    groups
        .into_iter()
        .filter(|group| group.name == LOBBY)
        .map(|group| group.address)
        .find(|address| client.join(address).is_ok())
}

/// Starts the lobby on its remembered port, or on a free one.
fn start_lobby(context: &zmq::Context, config: &UpConfig, shutdown: &Shutdown) -> Result<RunningGroup, UpError> {
    let port_file = config.lobby_data.join(PORT_FILE);
    let remembered = std::fs::read_to_string(&port_file).ok().and_then(|text| text.trim().parse().ok());
    let group_config = |port| GroupConfig {
        name: LOBBY.to_owned(),
        bind: Address { host: config.directory.host.clone(), port, key: None },
        directory: Some(config.directory.clone()),
        store: StoreConfig::sqlite(&config.lobby_data),
        security: config.lobby_security.clone(),
        allow: None,
        limits: Limits::default(),
    };
    let group = match remembered.map(|port| RunningGroup::start(context, &group_config(port), shutdown)) {
        Some(Ok(group)) => group,
        Some(Err(GroupError::Bind { .. })) | None => RunningGroup::start(context, &group_config(0), shutdown)?,
        Some(Err(error)) => return Err(error.into()),
    };
    // Remembering the port is a convenience: failing to is not an error.
    let _ = std::fs::write(&port_file, format!("{}\n", group.address.port));
    Ok(group)
}
