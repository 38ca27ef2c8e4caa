//! Starting a client session on stdin: the chat client at a terminal (line
//! editor, live messages, group names learnt in the background for
//! completion), the plain command reader for a script.

use super::chat::Live;
use super::input::{KnownGroups, Piped, Terminal};
use super::repl::{Outcome, Repl, group_names};
use super::{Client, NamedGroup, Requester};
use crate::protocol::Address;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::Duration;

/// Runs a session on stdin. `current` is the group plain text goes to.
pub fn run(
    client: &mut Client,
    directory: Address,
    host: Address,
    current: Option<NamedGroup>,
    timeout: Duration,
    config_dir: &Path,
) -> io::Result<Outcome> {
    let known_groups = KnownGroups::default();
    if io::stdin().is_terminal() {
        learn_group_names(&directory, client.user_uuid(), timeout, &known_groups);
        let mut terminal = Terminal::new(config_dir, known_groups.clone()).map_err(io::Error::other)?;
        let live = match (terminal.printer(), client.fresh()) {
            (Ok(printer), Ok(watcher)) => Some(Live::new(watcher, printer, config_dir)),
            _ => None,
        };
        let repl = Repl {
            client,
            directory,
            host: host.clone(),
            input: terminal,
            out: io::stdout(),
            err: io::stderr(),
            interactive: true,
            current,
            live,
            known_groups,
        };
        repl.run()
    } else {
        let repl = Repl {
            client,
            directory,
            host: host.clone(),
            input: Piped(io::stdin().lock()),
            out: io::stdout(),
            err: io::stderr(),
            interactive: false,
            current,
            live: None,
            known_groups,
        };
        repl.run()
    }
}

/// Fills `known` with the directory's group names, in the background, so
/// that completion knows them before the first `/groups`.
fn learn_group_names(directory: &Address, user_uuid: &str, timeout: Duration, known: &KnownGroups) {
    let (directory, known) = (directory.clone(), known.clone());
    let mut client = Client::new(Requester::new(zmq::Context::new(), timeout), user_uuid.to_owned());
    std::thread::spawn(move || {
        if let (Ok(groups), Ok(mut known)) = (client.group_list(&directory), known.lock()) {
            *known = group_names(&groups);
        }
    });
}
