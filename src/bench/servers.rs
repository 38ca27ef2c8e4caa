//! The servers a bench run drives: started here in a temporary directory
//! (a directory and a group, or a bare echo), or already running elsewhere.

use super::process::Watched;
use super::users::Users;
use super::{Echo, Options, Target};
use crate::protocol::Address;
use crate::spawn::{SpawnedServer, huddle_command};
use std::io;

/// The servers a run talks to, alive for as long as this is.
pub(super) struct Servers {
    pub(super) address: Address,
    pub(super) described: String,
    pub(super) watched: Option<Watched>,
    pub(super) processes: Vec<SpawnedServer>,
    /// Who the bench's users are: names, or key pairs under CURVE.
    pub(super) users: Users,
    _data: Option<tempfile::TempDir>,
}

impl Servers {
    /// Starts (or finds) what `options` drives, with `users` users for it.
    pub(super) fn start(options: &Options, users: usize) -> io::Result<Servers> {
        let mut servers = Self::start_target(&options.target, options.curve)?;
        servers.users = Users::for_group(&servers.address, users)?;
        Ok(servers)
    }

    fn start_target(target: &Target, curve: bool) -> io::Result<Servers> {
        match target {
            Target::Group { address, pid } => Ok(Servers {
                address: Address::parse(address).map_err(io::Error::other)?,
                described: format!("group {address}"),
                watched: pid.map(|pid| Watched { pid }),
                processes: Vec::new(),
                users: Users::none(),
                _data: None,
            }),
            Target::StartHere => {
                let data = tempfile::tempdir()?;
                let directory = start_directory(&data.path().join("directory"))?;
                let mut group = huddle_command()?;
                group
                    .args(["group", "bench", "127.0.0.1:0", "--directory", &directory.address, "--data"])
                    .arg(data.path().join("group"));
                if curve {
                    group.arg("--curve");
                }
                let group = SpawnedServer::start(quiet(group))?;
                Ok(Servers {
                    address: Address::parse(&group.address).map_err(io::Error::other)?,
                    described: if curve { "huddle group (CURVE)".into() } else { "huddle group".into() },
                    watched: Some(Watched { pid: group.pid() }),
                    processes: vec![directory, group],
                    users: Users::none(),
                    _data: Some(data),
                })
            }
            Target::Echo(transport) => {
                let mut echo = huddle_command()?;
                let transport = match transport {
                    Echo::Engine => "engine",
                    Echo::Libzmq => "libzmq",
                };
                echo.args(["bench", "echo-server", "--bind", "127.0.0.1:0", "--transport", transport]);
                if curve {
                    echo.arg("--curve");
                }
                let echo = SpawnedServer::start(quiet(echo))?;
                Ok(Servers {
                    address: Address::parse(&echo.address).map_err(io::Error::other)?,
                    described: format!("echo ({transport}{})", if curve { ", CURVE" } else { "" }),
                    watched: Some(Watched { pid: echo.pid() }),
                    processes: vec![echo],
                    users: Users::none(),
                    _data: None,
                })
            }
        }
    }
}

/// A directory on a free loopback port, its data in `data`.
pub(super) fn start_directory(data: &std::path::Path) -> io::Result<SpawnedServer> {
    let mut directory = huddle_command()?;
    directory.args(["directory", "--bind", "127.0.0.1:0", "--data"]).arg(data);
    SpawnedServer::start(quiet(directory))
}

/// A server's command, logging only warnings (the bench prints its own lines).
pub(super) fn quiet(mut command: std::process::Command) -> std::process::Command {
    command.env("RUST_LOG", "warn");
    command
}
