//! The `huddle` command: flags in, library calls out.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
#[cfg(feature = "bench")]
use huddle::bench;
use huddle::client::commands::{self, CommandError, Output};
use huddle::client::display::shown;
use huddle::client::session;
use huddle::client::{Client, DEFAULT_TIMEOUT, Requester};
use huddle::directory::{Admission, DirectoryConfig, DirectoryServer};
use huddle::group::{GroupConfig, Limits, RunningGroup, limits};
use huddle::keys::KeyPair;
use huddle::protocol::Address;
use huddle::protocol::address::DIRECTORY_PORT;
use huddle::service;
use huddle::shutdown::Shutdown;
use huddle::store::StoreConfig;
use huddle::transport::{AllowList, Security, is_loopback};
use huddle::{identity, paths, up};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "huddle",
    version,
    about = "Group messaging over ZeroMQ: a directory, durable group servers and a chat client."
)]
#[command(
    after_help = "Start here:  huddle up      (a directory, a group `lobby` and the client, on this machine; huddle down stops the servers)\n\
\nOther machines:  huddle up --listen 192.168.1.10   (CURVE: encrypted, everyone known by their key;\n\
                  it prints the one line others run to join, e.g. huddle user --directory KEY@192.168.1.10)\n\
\nWhere things are:  your id, key and chat history in $XDG_CONFIG_HOME/huddle (~/.config/huddle);\n\
                   groups' and directories' data in $XDG_DATA_HOME/huddle (~/.local/share/huddle),\n\
                   groups/NAME and directory/PORT; HUDDLE_DIRECTORY names the directory for every command.\n\
\nExit status: 0 when the command did what was asked, 1 when it did not (the error says why), 2 for a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start chatting: a directory and a host with the group `lobby` (in the
    /// background, once per user: `huddle down` stops them), then the client.
    #[command(
        after_help = "Examples:\n  huddle up\n  huddle up --listen 192.168.1.10   (for other machines too: CURVE, and a line for others to run)\n  echo get_group_list | huddle up\n\nData: the lobby's in $XDG_DATA_HOME/huddle/groups/lobby, the directory's in $XDG_DATA_HOME/huddle/directory/PORT."
    )]
    Up {
        #[command(flatten)]
        up: UpFlags,
    },
    /// The directory and the host (with the lobby) that `huddle up` runs in
    /// the background, in the foreground.
    #[command(hide = true)]
    Serve {
        #[command(flatten)]
        up: UpFlags,
    },
    /// Stop the servers `huddle up` left running for this user.
    Down,
    /// Show what `huddle up` runs for this user: where, its data and its log.
    Status,
    /// Run the directory that groups register with and users ask for the list.
    #[command(
        after_help = "Examples:\n  huddle directory                          (CURVE: it prints KEY@0.0.0.0:5555; give users KEY@YOUR-IP)\n  huddle directory --allow team-keys.txt    (only those keys)\n  huddle directory --plaintext              (for the seed's scripts: anyone can read and forge)\n  huddle directory --bind 127.0.0.1:6000    (loopback: plaintext)"
    )]
    Directory {
        /// Where to listen: tcp://*:5555, 10.0.0.2:5555, 127.0.0.1:0 for any free port.
        #[arg(long, default_value = "tcp://*:5555")]
        bind: String,
        /// Where registrations and the directory's key are kept [default: $XDG_DATA_HOME/huddle/directory/PORT].
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        security: SecurityFlags,
        #[command(flatten)]
        allow: AllowFlags,
        /// The most groups the directory remembers.
        #[arg(long, default_value_t = huddle::directory::registry::DEFAULT_MAX_GROUPS)]
        max_groups: usize,
        /// Probe a group that registers once (the seed's) even when it registers from another host.
        #[arg(long)]
        probe_any_host: bool,
    },
    /// Run a group server.
    #[command(
        after_help = "Examples:\n  huddle group lobby 127.0.0.1:5560\n  huddle group \"Cool Group\" 192.168.3.97:5560 --directory KEY@192.168.1.10   (CURVE, off loopback)\n  huddle group ops 192.168.3.97:5561 --directory KEY@192.168.1.10 --allow ops-keys.txt\n  huddle group \"Cool Group\" 192.168.3.97:5560 192.168.1.10 --plaintext      (the seed's form, plaintext)"
    )]
    Group {
        /// The group's name, as listed by the directory.
        name: String,
        /// Where to listen and how users reach it: IP:PORT (port 0 picks a free one).
        address: String,
        /// The directory's host, as the seed's group.py took it.
        #[arg(value_name = "DIRECTORY_HOST", conflicts_with = "directory", allow_hyphen_values = true)]
        seed_directory: Option<String>,
        /// The directory to register with: [KEY@]HOST[:PORT].
        #[arg(long, env = "HUDDLE_DIRECTORY", default_value = "127.0.0.1", allow_hyphen_values = true)]
        directory: String,
        /// Where the group keeps its members, history and key
        /// [default: $XDG_DATA_HOME/huddle/groups/NAME].
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        security: SecurityFlags,
        #[command(flatten)]
        allow: AllowFlags,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// List the groups the directory knows.
    #[command(after_help = "Examples:\n  huddle groups\n  huddle groups --directory 192.168.1.10 --json")]
    Groups {
        #[command(flatten)]
        flags: ScriptFlags,
    },
    /// Join a group, by name (as listed) or IP:PORT.
    #[command(after_help = "Examples:\n  huddle join lobby\n  huddle join 10.0.0.5:5560 --json")]
    Join {
        /// A name from `huddle groups`, IP:PORT, or KEY@IP:PORT (a key may start with `-`).
        #[arg(allow_hyphen_values = true)]
        group: String,
        #[command(flatten)]
        flags: ScriptFlags,
    },
    /// Leave a group.
    #[command(after_help = "Example:\n  huddle leave lobby")]
    Leave {
        /// A name from `huddle groups`, IP:PORT, or KEY@IP:PORT (a key may start with `-`).
        #[arg(allow_hyphen_values = true)]
        group: String,
        #[command(flatten)]
        flags: ScriptFlags,
    },
    /// Send a message: the text, or standard input when there is none.
    #[command(
        after_help = "Examples:\n  huddle send lobby \"hello everyone\"\n  uptime | huddle send ops\n  huddle send 10.0.0.5:5560 done --json"
    )]
    Send {
        /// A name from `huddle groups`, IP:PORT, or KEY@IP:PORT (a key may start with `-`).
        #[arg(allow_hyphen_values = true)]
        group: String,
        #[arg(allow_hyphen_values = true)]
        text: Option<String>,
        #[command(flatten)]
        flags: ScriptFlags,
    },
    /// Print a group's history, all of it, or recent messages.
    #[command(
        after_help = "Examples:\n  huddle history lobby\n  huddle history lobby --since 10m\n  huddle history lobby --since 09:30 --limit 20\n  huddle history lobby --since 2026-11-25T09:00:00Z --json"
    )]
    History {
        /// A name from `huddle groups`, IP:PORT, or KEY@IP:PORT (a key may start with `-`).
        #[arg(allow_hyphen_values = true)]
        group: String,
        /// From when: a duration ago (30s, 10m, 2h, 1d), a time today (14:05), RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// Only the latest N messages.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        flags: ScriptFlags,
    },
    /// Follow a group like `tail -f`: the latest messages, then each new one as it arrives.
    #[command(after_help = "Examples:\n  huddle watch lobby\n  huddle watch lobby --json | jq .message")]
    Watch {
        /// A name from `huddle groups`, IP:PORT, or KEY@IP:PORT (a key may start with `-`).
        #[arg(allow_hyphen_values = true)]
        group: String,
        /// How many earlier messages to print first.
        #[arg(long, default_value_t = 10)]
        backlog: u64,
        #[command(flatten)]
        flags: ScriptFlags,
    },
    /// Serve many groups in one process, each on its own port, and create
    /// more on request (`huddle create`).
    #[command(
        after_help = "Examples:\n  huddle host --ports 5600-5699\n  huddle host --listen 192.168.3.97:5599 --ports 5600-5699 --directory KEY@192.168.1.10 --creators team-keys.txt\n\nEach group keeps its folder, key and port under --data (default: $XDG_DATA_HOME/huddle/host), and comes back at its address after a restart."
    )]
    Host {
        /// The host's control socket, where `huddle create` asks for groups; its IP
        /// is where the groups listen too. Off loopback it speaks CURVE.
        #[arg(long, default_value = "127.0.0.1:5599")]
        listen: String,
        /// The ports the host's groups take, one each: FIRST-LAST.
        #[arg(long, default_value = "5600-5699")]
        ports: String,
        /// The directory the groups register with: [KEY@]HOST[:PORT].
        #[arg(long, env = "HUDDLE_DIRECTORY", default_value = "127.0.0.1", allow_hyphen_values = true)]
        directory: String,
        /// Where the groups' folders are [default: $XDG_DATA_HOME/huddle/host].
        #[arg(long)]
        data: Option<PathBuf>,
        /// Under CURVE, only these public keys may create groups (one a line, # comments).
        #[arg(long, value_name = "FILE")]
        creators: Option<PathBuf>,
        #[command(flatten)]
        security: SecurityFlags,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Ask a host for a new group; prints its address.
    #[command(
        after_help = "Examples:\n  huddle create ops\n  huddle create \"Cool Group\" --host KEY@192.168.3.97:5599 --json"
    )]
    Create {
        /// The new group's name.
        name: String,
        /// Only you (its owner) and those you /invite may use it.
        #[arg(long)]
        private: bool,
        #[command(flatten)]
        flags: ScriptFlags,
    },
    #[cfg(feature = "bench")]
    /// Print a public key: yours, or with --data the key of the server whose data is there.
    #[command(
        after_help = "Examples:\n  huddle key\n  huddle key --data ~/.local/share/huddle/groups/lobby\n\nGive a server's key to its users as KEY@HOST:PORT; give yours to an operator for --allow."
    )]
    Key {
        /// A server's data directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Measure huddle: acknowledgements per second, latency, server CPU and memory.
    #[command(
        after_help = "Examples:\n  huddle bench send --users 64\n  huddle bench send --users 1 --json\n  huddle bench get --history 1000000\n  huddle bench send --echo          (a bare echo on huddle's engine: the transport's ceiling)\n  huddle bench send --echo libzmq   (the same on libzmq, the reference)\n  huddle bench send --group 10.0.0.5:5560 --pid 4242"
    )]
    Bench {
        #[command(subcommand)]
        mode: BenchMode,
    },
    /// The client: a chat client at a terminal, the seed's user.py commands from a script on stdin.
    #[command(
        after_help = "Examples:\n  huddle user\n  huddle user 192.168.1.10\n  printf 'join_group 127.0.0.1:5560\\nget_messages 127.0.0.1:5560\\n' | huddle user"
    )]
    /// Chat in a browser: serves your own client as a page, on loopback, at
    /// an address with a secret token.
    #[command(
        after_help = "Examples:\n  huddle web\n  huddle web --listen 127.0.0.1:9000 --directory KEY@192.168.1.10"
    )]
    Web {
        /// Where the page is served: IP:PORT (keep it on loopback: the
        /// token is all that guards it).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The directory: [KEY@]HOST[:PORT].
        #[arg(long, env = "HUDDLE_DIRECTORY", default_value = "127.0.0.1", allow_hyphen_values = true)]
        directory: String,
        #[command(flatten)]
        user: UserFlags,
    },
    User {
        /// The directory, as the seed's user.py took it: [KEY@]HOST[:PORT].
        #[arg(value_name = "DIRECTORY", conflicts_with = "directory", allow_hyphen_values = true)]
        seed_directory: Option<String>,
        /// The directory: [KEY@]HOST[:PORT].
        #[arg(long, env = "HUDDLE_DIRECTORY", default_value = "127.0.0.1", allow_hyphen_values = true)]
        directory: String,
        #[command(flatten)]
        user: UserFlags,
    },
}

#[cfg(feature = "bench")]
#[derive(Subcommand)]
enum BenchMode {
    /// Durable sendMessage: N users, each with W requests in flight.
    Send(BenchFlags),
    /// getMessage over a history of H messages: the latest 10, and all of it.
    Get {
        #[command(flatten)]
        flags: BenchFlags,
        /// Messages in the history before reading.
        #[arg(long, default_value_t = 10_000)]
        history: u64,
    },
    /// joinGroup by ever new users.
    Join(BenchFlags),
    /// --users members watching one group while one user sends --rate messages a second.
    Fanout {
        #[command(flatten)]
        flags: BenchFlags,
        /// Messages sent a second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
    },
    /// The disk's rate of 100-byte appends each followed by fdatasync.
    Fsync {
        /// Where to write [default: the temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seconds to run.
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        #[arg(long)]
        json: bool,
    },
    /// Many groups on one host: create latency, memory per idle group, idle
    /// CPU and the time to reopen them all.
    Host {
        /// Groups to create.
        #[arg(long, default_value_t = 1000)]
        groups: usize,
        /// How many of them get one sender each, all sending at once.
        #[arg(long, default_value_t = 1000)]
        senders: usize,
        /// Seconds to watch the idle host, and to send.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Skip the lone group measured beside the host.
        #[arg(long)]
        no_lone: bool,
    },
    /// The CPU a directory and a group use while nobody talks.
    Idle {
        /// Seconds to watch.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// A bare server that echoes every request (what `--echo` drives).
    #[command(hide = true)]
    EchoServer {
        #[arg(long, default_value = "tcp://127.0.0.1:0")]
        bind: String,
        #[arg(long, value_enum, default_value = "engine")]
        transport: bench::Echo,
        /// Speak CURVE, with a key pair made for the run.
        #[arg(long)]
        curve: bool,
    },
}

#[cfg(feature = "bench")]
#[derive(clap::Args)]
struct BenchFlags {
    /// Concurrent users, each on its own connection.
    #[arg(long, default_value_t = 64)]
    users: usize,
    /// Requests each user keeps in flight.
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Bytes of text in each message.
    #[arg(long, default_value_t = 100)]
    message_bytes: usize,
    /// Drive the group at IP:PORT instead of starting one.
    #[arg(long, conflicts_with = "echo")]
    group: Option<String>,
    /// The process id of the group at --group, to report its CPU and memory.
    #[arg(long, requires = "group")]
    pid: Option<u32>,
    /// Drive a bare echo server instead, the transport's ceiling: on
    /// huddle's engine (as the servers run) or on libzmq (the reference).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "engine")]
    echo: Option<bench::Echo>,
    /// Start the group (or the echo) with --curve: every user a key pair,
    /// every frame encrypted.
    #[arg(long, conflicts_with = "group")]
    curve: bool,
    /// The load generator's connections: huddle's own ZMTP client (cheap, so
    /// the server is what is measured) or libzmq's.
    #[arg(long, value_enum, default_value = "engine")]
    client: bench::ClientKind,
    /// One JSON object a line instead of text.
    #[arg(long)]
    json: bool,
}

#[cfg(feature = "bench")]
impl BenchFlags {
    fn options(&self) -> Result<bench::Options> {
        let target = match (&self.group, self.echo) {
            (Some(address), _) => bench::Target::Group { address: address.clone(), pid: self.pid },
            (None, Some(transport)) => bench::Target::Echo(transport),
            (None, None) => bench::Target::StartHere,
        };
        Ok(bench::Options {
            target,
            users: self.users.max(1),
            window: self.window.max(1),
            duration: seconds(self.duration, "--duration")?,
            message_bytes: self.message_bytes,
            progress: bench::wants_progress(self.json),
            curve: self.curve,
            client: self.client,
        })
    }
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{flag} takes a positive number of seconds, e.g. {flag} 3"))
}

#[cfg(feature = "bench")]
fn print_reports(reports: &[bench::Report], json: bool) -> Result<()> {
    for report in reports {
        if json {
            println!("{}", serde_json::to_string(report)?);
        } else {
            println!("{report}");
        }
    }
    Ok(())
}

#[derive(clap::Args)]
struct LimitFlags {
    /// The largest message accepted, in bytes.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// The longest user id accepted, in bytes.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_USER_ID_BYTES)]
    max_user_id_bytes: usize,
    /// The most members the group takes.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_MEMBERS)]
    max_members: u64,
    /// The largest reply to getMessage, in bytes: pages stop short of it, the seed's unpaged form is refused beyond it.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_REPLY_BYTES)]
    max_reply_bytes: usize,
    /// The most requests one connection may have waiting at once.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// The most the group's data may take on disk, in bytes [default: no bound but the disk's].
    #[arg(long)]
    max_data_bytes: Option<u64>,
}

impl LimitFlags {
    fn limits(&self) -> Limits {
        Limits {
            max_message_bytes: self.max_message_bytes,
            max_user_id_bytes: self.max_user_id_bytes,
            max_members: self.max_members,
            max_in_flight: self.max_in_flight.max(1),
            max_reply_bytes: self.max_reply_bytes,
            ..Limits::default()
        }
    }
}

#[derive(clap::Args)]
struct SecurityFlags {
    /// Speak CURVE (encrypted, every user known by their key), even on loopback.
    #[arg(long, conflicts_with = "plaintext")]
    curve: bool,
    /// Speak plaintext off loopback too: anyone who can reach the port can read and forge.
    #[arg(long)]
    plaintext: bool,
}

impl SecurityFlags {
    /// CURVE or plaintext for a server bound to `host`, its key pair kept in `data`.
    fn choose(&self, host: &str, data: &std::path::Path) -> Result<Security> {
        let keys = || {
            KeyPair::load_or_create(data).with_context(|| format!("cannot keep the server's key in {}", data.display()))
        };
        let security = Security::choose(host, self.curve, self.plaintext, keys)?;
        if !security.is_curve() && !is_loopback(host) {
            tracing::warn!(
                "plaintext on {host}, which is not loopback: anyone who can reach the port can read every \
                 message and act as any user; drop --plaintext to speak CURVE"
            );
        }
        Ok(security)
    }
}

#[derive(clap::Args)]
struct AllowFlags {
    /// Admit only these CURVE public keys (one a line, # comments); read again when it changes.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
}

impl AllowFlags {
    fn load(&self, security: &Security) -> Result<Option<AllowList>> {
        let Some(path) = &self.allow else { return Ok(None) };
        anyhow::ensure!(
            security.is_curve(),
            "--allow admits keys, and only CURVE has keys: add --curve (or drop --plaintext)"
        );
        Ok(Some(AllowList::load(path)?))
    }
}

#[derive(clap::Args)]
struct UpFlags {
    /// The address to listen on: 127.0.0.1 (this machine only, plaintext), or
    /// one others can reach (then CURVE: encrypted, everyone known by their key).
    #[arg(long, default_value = "127.0.0.1")]
    listen: String,
    /// Where to run the directory, on this machine: [127.0.0.1:]PORT
    /// (port 0 picks a free one).
    #[arg(long, env = "HUDDLE_DIRECTORY", default_value = "127.0.0.1", alias = "directory-port")]
    directory: String,
    #[command(flatten)]
    user: UserFlags,
}

#[derive(clap::Args)]
struct ScriptFlags {
    /// The directory, to find groups by name: [KEY@]HOST[:PORT].
    #[arg(long, env = "HUDDLE_DIRECTORY", default_value = "127.0.0.1", allow_hyphen_values = true)]
    directory: String,
    /// One JSON object a line instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    user: UserFlags,
}

impl ScriptFlags {
    /// Runs a scriptable command with a client, the directory and the output.
    fn run(
        &self,
        command: impl FnOnce(&mut Client, &Address, &mut Output<std::io::StdoutLock<'static>>) -> Result<(), CommandError>,
    ) -> Result<ExitCode> {
        let directory = Address::parse_with_default_port(&self.directory, DIRECTORY_PORT)?;
        let mut client = self.user.client()?;
        let terminal = std::io::stdout().is_terminal();
        let mut output = Output { out: std::io::stdout().lock(), json: self.json, terminal };
        command(&mut client, &directory, &mut output)?;
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
struct UserFlags {
    /// Act as this user id instead of the one kept in $XDG_CONFIG_HOME/huddle/user-id.
    #[arg(long)]
    user_id: Option<String>,
    /// The host that creates groups (`huddle create`, /create): [KEY@]HOST:PORT.
    #[arg(long, env = "HUDDLE_HOST", default_value = "127.0.0.1:5599", allow_hyphen_values = true)]
    host: String,
    /// Give up on a request after this many seconds (retries included).
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
}

impl UserFlags {
    fn user_id(&self) -> Result<String> {
        match &self.user_id {
            Some(id) => Ok(id.clone()),
            None => {
                let dir = paths::config_dir();
                identity::load_or_create(&dir)
                    .with_context(|| format!("cannot keep the user id in {}: pass --user-id", dir.display()))
            }
        }
    }

    fn timeout(&self) -> Result<Duration> {
        seconds(self.timeout, "--timeout")
    }

    /// The user's key pair, kept in the config directory.
    fn keys(&self) -> Result<Arc<KeyPair>> {
        let dir = paths::config_dir();
        let keys = KeyPair::load_or_create(&dir)
            .with_context(|| format!("cannot keep your key in {}: check that it is writable", dir.display()))?;
        Ok(Arc::new(keys))
    }

    /// A client acting as the user.
    fn client(&self) -> Result<Client> {
        let requester = Requester::new(zmq::Context::new(), self.timeout()?).with_keys(self.keys()?);
        Ok(Client::new(requester, self.user_id()?))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Servers log their state changes; a person chatting (huddle up runs the
    // servers in-process) or a script sees only warnings, unless RUST_LOG says.
    let default_level = match cli.command {
        Command::Directory { .. } | Command::Group { .. } | Command::Host { .. } | Command::Serve { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(code) => code,
        // A reader that stopped reading (`| head`): nothing more to say, and
        // nothing failed, as for `cat`.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // An error may quote a server's words: shown, not obeyed, at a terminal.
            eprintln!("huddle: {}", shown(&format!("{error:#}"), std::io::stderr().is_terminal()));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| match cause.downcast_ref::<commands::CommandError>() {
        Some(commands::CommandError::Output(io)) => broken(io),
        _ => cause.downcast_ref::<std::io::Error>().is_some_and(broken),
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Up { up } => {
            let interactive = std::io::stdin().is_terminal();
            let outcome = up::run(up_config(up)?)?;
            Ok(session_exit_code(outcome.failures, interactive))
        }
        Command::Serve { up } => {
            up::serve(up_config(up)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Down => {
            let watching = service::running(&paths::data_dir()).and_then(|running| still_watching(&running));
            match service::stop(&paths::data_dir())? {
                Some(stopped) => {
                    println!(
                        "huddle stopped (pid {}): directory {}, lobby {}",
                        stopped.pid, stopped.directory, stopped.lobby
                    );
                    if let Some(watching) = watching {
                        println!("{watching}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    println!("huddle is not running");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Status => match service::running(&paths::data_dir()) {
            Some(running) => {
                println!("{running}");
                Ok(ExitCode::SUCCESS)
            }
            None => {
                println!("huddle is not running (`huddle up` starts it)");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Directory { bind, data, security, allow, max_groups, probe_any_host } => {
            let shutdown = stop_on_signals()?;
            let port = bind.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).unwrap_or(DIRECTORY_PORT);
            let data = data.unwrap_or_else(|| paths::directory_data_dir(port));
            let host = Address::parse(&bind).map(|address| address.host).unwrap_or_default();
            let security = security.choose(&host, &data)?;
            let config = DirectoryConfig {
                bind,
                store: StoreConfig::sqlite(data),
                allow: allow.load(&security)?,
                security,
                admission: Admission { max_groups, probe_any_host },
            };
            let server = DirectoryServer::bind(&zmq::Context::new(), &config)?;
            println!("huddle directory listening on {}", server.address());
            server.run(&shutdown)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Group { name, address, seed_directory, directory, data, security, allow, limits } => {
            let bind = Address::parse(&address)?;
            let directory =
                Address::parse_with_default_port(seed_directory.as_deref().unwrap_or(&directory), DIRECTORY_PORT)?;
            let dir = data.unwrap_or_else(|| paths::group_data_dir(&name));
            let security = security.choose(&bind.host, &dir)?;
            let config = GroupConfig {
                name: name.clone(),
                bind,
                directory: Some(directory.clone()),
                store: StoreConfig::Sqlite { dir, max_bytes: limits.max_data_bytes },
                allow: allow.load(&security)?,
                security,
                limits: limits.limits(),
            };
            let shutdown = stop_on_signals()?;
            let group = RunningGroup::start(&zmq::Context::new(), &config, &shutdown)?;
            println!(
                "huddle group {name:?} listening on {}, data in {}, registering with {directory}",
                group.address, config.store
            );
            group.wait()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { data } => {
            let dir = data.unwrap_or_else(paths::config_dir);
            let keys = KeyPair::load_or_create(&dir)
                .with_context(|| format!("cannot keep a key in {}: check that it is writable", dir.display()))?;
            println!("{}", keys.public);
            Ok(ExitCode::SUCCESS)
        }
        Command::Groups { flags } => flags.run(commands::groups),
        Command::Join { group, flags } => {
            flags.run(|client, directory, out| commands::join(client, directory, &group, out))
        }
        Command::Leave { group, flags } => {
            flags.run(|client, directory, out| commands::leave(client, directory, &group, out))
        }
        Command::Send { group, text, flags } => {
            flags.run(|client, directory, out| commands::send(client, directory, &group, text, out))
        }
        Command::History { group, since, limit, flags } => flags
            .run(|client, directory, out| commands::history(client, directory, &group, since.as_deref(), limit, out)),
        Command::Host { listen, ports, directory, data, creators, security, limits } => {
            let control = Address::parse(&listen)?;
            let data = data.unwrap_or_else(|| paths::data_dir().join("host"));
            let curve = security.choose(&control.host, &data)?.is_curve();
            anyhow::ensure!(
                curve || is_loopback(&control.host),
                "huddle host speaks plaintext only on loopback: anyone could create groups; drop --plaintext"
            );
            let creators = creators.map(|path| AllowList::load(&path)).transpose()?;
            let config = huddle::host::HostConfig {
                control,
                ports: port_range(&ports)?,
                directory: Some(Address::parse_with_default_port(&directory, DIRECTORY_PORT)?),
                data,
                curve,
                creators,
                limits: limits.limits(),
                max_data_bytes: limits.max_data_bytes,
            };
            let shutdown = stop_on_signals()?;
            let host = huddle::host::Host::open(config, &shutdown)?;
            println!("huddle host listening on {}, {} group(s)", host.control_address(), host.groups().len());
            host.run()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Create { name, private, flags } => {
            let host = Address::parse(&flags.user.host)?;
            flags.run(|client, directory, out| commands::create(client, directory, &host, (&name, private), out))
        }
        Command::Watch { group, backlog, flags } => {
            flags.run(|client, directory, out| commands::watch(client, directory, &group, backlog, out))
        }
        #[cfg(feature = "bench")]
        Command::Bench { mode } => {
            match mode {
                BenchMode::Send(flags) => print_reports(&bench::send(&flags.options()?)?, flags.json)?,
                BenchMode::Join(flags) => print_reports(&bench::join(&flags.options()?)?, flags.json)?,
                BenchMode::Fanout { flags, rate } => {
                    print_reports(&bench::fanout(&flags.options()?, rate)?, flags.json)?
                }
                BenchMode::Get { flags, history } => {
                    print_reports(&bench::get(&flags.options()?, history)?, flags.json)?
                }
                BenchMode::Fsync { dir, duration, json } => {
                    print_reports(&bench::fsync(dir, seconds(duration, "--duration")?)?, json)?
                }
                BenchMode::Host { groups, senders, duration, no_lone } => {
                    let duration = seconds(duration, "--duration")?;
                    let run = bench::host::HostBench { groups, senders, duration, lone: !no_lone };
                    println!("{}", bench::host::measure(&run)?)
                }
                BenchMode::Idle { duration } => println!("{}", bench::idle(seconds(duration, "--duration")?)?),
                BenchMode::EchoServer { bind, transport, curve } => {
                    bench::echo_server(&bind, transport, curve, &stop_on_signals()?)?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Web { listen, directory, user } => {
            let directory = Address::parse_with_default_port(&directory, DIRECTORY_PORT)?;
            let host = Address::parse(&user.host)?;
            let client = user.client()?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start huddle web's runtime")?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}: pick another with --listen IP:PORT"))?;
                let address = listener.local_addr()?;
                if !address.ip().is_loopback() {
                    eprintln!(
                        "huddle web: {address} is not loopback, and the page is plain HTTP: whoever sees the \
                         traffic sees the token. Prefer the default and an SSH tunnel (ssh -L 8080:127.0.0.1:8080)."
                    );
                }
                let token = huddle::web::Token::generate();
                let hub = huddle::web::hub::Hub::start(client, directory, host, &paths::config_dir());
                println!("huddle web: open http://{address}/?token={}", token.as_str());
                huddle::web::serve(listener, huddle::web::router(hub, token)).await?;
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
        Command::User { seed_directory, directory, user } => {
            let directory =
                Address::parse_with_default_port(seed_directory.as_ref().unwrap_or(&directory), DIRECTORY_PORT)?;
            let mut client = user.client()?;
            let interactive = std::io::stdin().is_terminal();
            let host = Address::parse(&user.host)?;
            let outcome = session::run(&mut client, directory, host, None, user.timeout()?, &paths::config_dir())?;
            Ok(session_exit_code(outcome.failures, interactive))
        }
    }
}

/// What `huddle up` (and `huddle serve`) run with.
fn up_config(UpFlags { listen, directory, user }: UpFlags) -> Result<up::UpConfig> {
    anyhow::ensure!(
        !matches!(listen.as_str(), "*" | "0.0.0.0" | "::" | "[::]"),
        "--listen {listen} is every address, which others cannot connect to: give the one they reach \
         this machine at (e.g. --listen 192.168.1.10)"
    );
    let directory_port = up_directory_port(&directory)?;
    let (directory_data, lobby_data) = (paths::directory_data_dir(directory_port), paths::group_data_dir(up::LOBBY));
    let no_flags = SecurityFlags { curve: false, plaintext: false };
    let directory_security = no_flags.choose(&listen, &directory_data)?;
    let key = directory_security.public_key();
    Ok(up::UpConfig {
        directory: Address { host: listen, port: directory_port, key },
        directory_security,
        host: Address::parse(&user.host)?,
        directory_data,
        lobby_data,
        user_id: user.user_id()?,
        keys: user.keys()?,
        timeout: user.timeout()?,
        config_dir: paths::config_dir(),
        data: paths::data_dir(),
    })
}

/// The port of the directory `huddle up` runs: `--directory` names one on
/// this machine, as `[127.0.0.1:]PORT` (a bare port, for the old
/// `--directory-port`, too).
fn up_directory_port(directory: &str) -> Result<u16> {
    if let Ok(port) = directory.parse::<u16>() {
        return Ok(port);
    }
    let address = Address::parse_with_default_port(directory, DIRECTORY_PORT)?;
    anyhow::ensure!(
        is_loopback(&address.host),
        "huddle up runs its directory on this machine: give --directory 127.0.0.1:PORT, \
         or `huddle user --directory {directory}` to join one elsewhere"
    );
    Ok(address.port)
}

/// `FIRST-LAST` as a range of ports.
fn port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>> {
    let parsed = text.split_once('-').and_then(|(first, last)| Some((first.parse().ok()?, last.parse().ok()?)));
    match parsed {
        Some((first, last)) if first <= last && first > 0 => Ok(first..=last),
        _ => anyhow::bail!("--ports {text:?}: give FIRST-LAST, e.g. --ports 5600-5699"),
    }
}

fn stop_on_signals() -> Result<Shutdown> {
    let shutdown = Shutdown::new().context("cannot create the shutdown pipe")?;
    shutdown.on_signals().context("cannot watch SIGINT/SIGTERM")?;
    Ok(shutdown)
}

/// A script that had a failing command exits non-zero; a person at a terminal
/// saw each error as it happened.
fn session_exit_code(failures: usize, interactive: bool) -> ExitCode {
    if failures > 0 && !interactive { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Who was still connected to the running service's groups, in one line
/// (`None` when nobody was, or the host did not say).
fn still_watching(running: &service::Running) -> Option<String> {
    let host = running.host()?;
    let requester = huddle::transport::Requester::new(zmq::Context::new(), Duration::from_secs(1));
    let watched = huddle::client::Client::new(requester, "huddle-down".into()).host_status(&host).ok()?;
    let people: std::collections::BTreeSet<&str> =
        watched.iter().flat_map(|group| group.users.iter().map(String::as_str)).collect();
    if people.is_empty() {
        return None;
    }
    let groups: Vec<String> =
        watched.iter().map(|group| format!("{}: {}", group.group, group.users.join(", "))).collect();
    let who = if people.len() == 1 { "1 person was".to_owned() } else { format!("{} people were", people.len()) };
    Some(huddle::client::display::visible(&format!("{who} still connected: {}", groups.join("; "))).into_owned())
}
