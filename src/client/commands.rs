//! The scriptable subcommands: `huddle groups`, `join`, `leave`, `send`,
//! `history`, `watch`. Each prints plain lines, or with `--json` one JSON
//! object a line, and returns an error (exit status 1) when it did not do
//! what was asked.

use super::display::{local_time, quoted_if_spaced, show, shown};
use super::live::Watch;
use super::{Client, ClientError, NamedGroup, since};
use crate::protocol::{Address, WireMessage};
use serde_json::json;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

/// Where results go, and in which form.
pub struct Output<W: Write> {
    pub out: W,
    /// One JSON object a line, with the exact text.
    pub json: bool,
    /// A person reads it: text from others is made visible (see
    /// [`super::display::visible`]).
    pub terminal: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Since(#[from] since::BadSince),
    #[error("cannot read the message from stdin: {0}")]
    Stdin(io::Error),
    #[error("the message is empty: give it as an argument or on stdin")]
    EmptyMessage,
    #[error(transparent)]
    Output(#[from] io::Error),
    #[error("you are not a member of {group}: `huddle join {group}` first")]
    NotAMember { group: String },
}

/// Names the group as the user gave it in a "join first" error.
fn as_given(group: &str) -> impl Fn(ClientError) -> CommandError + '_ {
    move |error| match error {
        ClientError::NotAMember { .. } => CommandError::NotAMember { group: quoted_if_spaced(group) },
        error => CommandError::Client(error),
    }
}

impl<W: Write> Output<W> {
    fn line(&mut self, text: impl std::fmt::Display, value: serde_json::Value) -> io::Result<()> {
        if self.json {
            writeln!(self.out, "{value}")
        } else {
            writeln!(self.out, "{}", shown(&text.to_string(), self.terminal))
        }
    }

    fn message(&mut self, group: &NamedGroup, message: &WireMessage) -> io::Result<()> {
        let mut value = json!({
            "group": group.address.to_string(),
            "seq": message.seq,
            "user_uuid": message.user_uuid,
            "message": message.message,
            "timestamp": message.timestamp,
        });
        if let Some(name) = &group.name {
            value["name"] = json!(name);
        }
        if let Some(nick) = &message.nick {
            value["nick"] = json!(nick);
        }
        // The time in the reader's zone, with its offset.
        if let Some(at) = local_time(message) {
            value["time"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false));
        }
        self.line(show(message), value)?;
        self.out.flush()
    }
}

/// `huddle groups`: the directory's list.
pub fn groups<W: Write>(client: &mut Client, directory: &Address, out: &mut Output<W>) -> Result<(), CommandError> {
    for group in client.group_list(directory)? {
        let mut value = json!({"name": group.name, "address": group.address.to_string()});
        if let Some(key) = &group.address.key {
            value["key"] = json!(key.as_str());
        }
        out.line(&group, value)?;
    }
    Ok(())
}

/// `huddle create NAME [--private]`: asks a host for a new group.
pub fn create<W: Write>(
    client: &mut Client,
    directory: &Address,
    host: &Address,
    (name, private): (&str, bool),
    out: &mut Output<W>,
) -> Result<(), CommandError> {
    let address = client.create_unlisted(directory, host, name, private)?;
    let json = json!({"name": name, "address": address.to_string(), "private": private});
    out.line(format!("created {name} at {address}"), json)?;
    Ok(())
}

/// `huddle join GROUP`.
pub fn join<W: Write>(
    client: &mut Client,
    directory: &Address,
    group: &str,
    out: &mut Output<W>,
) -> Result<(), CommandError> {
    change_membership(client, directory, group, out, Membership::Join)
}

/// `huddle leave GROUP`.
pub fn leave<W: Write>(
    client: &mut Client,
    directory: &Address,
    group: &str,
    out: &mut Output<W>,
) -> Result<(), CommandError> {
    change_membership(client, directory, group, out, Membership::Leave)
}

#[derive(Clone, Copy)]
enum Membership {
    Join,
    Leave,
}

fn change_membership<W: Write>(
    client: &mut Client,
    directory: &Address,
    group: &str,
    out: &mut Output<W>,
    change: Membership,
) -> Result<(), CommandError> {
    let group = client.resolve(directory, group)?;
    let key = match change {
        Membership::Join => {
            client.join(&group.address)?;
            "joined"
        }
        Membership::Leave => {
            client.leave(&group.address)?;
            "left"
        }
    };
    out.line(format!("{key} {group}"), json!({"group": group.address.to_string(), "name": group.name, key: true}))?;
    Ok(())
}

/// `huddle send GROUP [TEXT]`: the text, or stdin when there is none.
pub fn send<W: Write>(
    client: &mut Client,
    directory: &Address,
    group: &str,
    text: Option<String>,
    out: &mut Output<W>,
) -> Result<(), CommandError> {
    let text = match text {
        Some(text) => text,
        None => {
            if io::stdin().is_terminal() {
                eprintln!("type the message; end it with Ctrl-D on a line of its own");
            }
            io::read_to_string(io::stdin()).map_err(CommandError::Stdin)?.trim_end_matches('\n').to_owned()
        }
    };
    if text.is_empty() {
        return Err(CommandError::EmptyMessage);
    }
    let given = group;
    let group = client.resolve(directory, group)?;
    let seq = client.send(&group.address, &text).map_err(as_given(given))?;
    let shown = match seq {
        Some(seq) => format!("sent to {group} as #{seq}"),
        None => format!("sent to {group}"),
    };
    let mut value = json!({"group": group.address.to_string(), "seq": seq});
    if let Some(name) = &group.name {
        value["name"] = json!(name);
    }
    out.line(shown, value)?;
    Ok(())
}

/// `huddle history GROUP [--since WHEN] [--limit N]`.
pub fn history<W: Write>(
    client: &mut Client,
    directory: &Address,
    group: &str,
    since: Option<&str>,
    limit: Option<usize>,
    out: &mut Output<W>,
) -> Result<(), CommandError> {
    let given = group;
    let group = client.resolve(directory, group)?;
    let since = since.map(|text| since::parse(text, chrono::Local::now())).transpose()?;
    let messages = match limit {
        Some(limit) => client.latest(&group.address, since.as_ref(), limit),
        None => client.messages(&group.address, since.as_ref()),
    };
    let messages = messages.map_err(as_given(given))?;
    for message in &messages {
        out.message(&group, message)?;
    }
    Ok(())
}

/// `huddle watch GROUP`: the latest `backlog` messages, then each new one as
/// it arrives, until interrupted.
pub fn watch<W: Write>(
    client: &mut Client,
    directory: &Address,
    group: &str,
    backlog: u64,
    out: &mut Output<W>,
) -> Result<(), CommandError> {
    let given = group;
    let group = client.resolve(directory, group)?;
    let mut watch = Watch::start(client.fresh()?, &group.address, None, backlog).map_err(as_given(given))?;
    loop {
        for message in watch.next(Duration::from_secs(3600)).map_err(as_given(given))? {
            out.message(&group, &message)?;
        }
    }
}
