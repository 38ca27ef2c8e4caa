//! The interactive client: the seed's six commands, same words, same output,
//! plus short commands (`/join lobby`, `/msg`, `/history 10m`, plain text to
//! the current group) and `help`. At a terminal it is a chat client (see
//! [`super::chat`]); with a script piped on stdin it prints only results, so
//! a script written for the seed keeps running.

use super::chat::{KnownGroups, Live, Terminal, format_message};
use super::{Client, ClientError, NamedGroup, since};
use crate::protocol::{Address, WireMessage, split_group_list_entry};
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

pub const HELP: &str = "\
commands:
  /join GROUP                         join a group (a name from /groups, or IP:PORT) and talk in it
  TEXT                                send TEXT to the group you are talking in
  /msg GROUP TEXT                     send TEXT to another group
  /history [WHEN]                     recent messages here; WHEN: 10m, 2h, 14:05, 2026-11-25T09:00:00Z
  /leave [GROUP]                      leave a group (the current one by default)
  /groups                             list the groups the directory knows
  /quit                               leave huddle (also: exit, Ctrl-D)
the seed's commands work too:
  get_group_list                      list the groups the directory knows
  join_group IP:PORT                  join a group
  leave_group IP:PORT                 leave a group
  send_message IP:PORT                send a message: type it on the next lines, end with a line END
  get_messages IP:PORT [TIMESTAMP]    show a group's messages, all or from TIMESTAMP on
                                      (YYYY-MM-DDTHH:MM:SS, YYYY-MM-DD HH:MM:SS or HH:MM:SS for today)
  help                                show this
  exit                                leave huddle";

/// The line that ends a message typed after `send_message`.
const END_OF_MESSAGE: &str = "END";
/// Messages `/history` shows when given no time.
const HISTORY_LINES: usize = 20;

/// Where command lines come from.
pub trait LineSource {
    /// The next line, without its line ending; `None` at the end of input.
    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>>;
}

/// Lines from a pipe or a file: no prompts.
pub struct Piped<R>(pub R);

impl<R: BufRead> LineSource for Piped<R> {
    fn read_line(&mut self, _prompt: &str) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.0.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        Ok(Some(line))
    }
}

/// How a session went.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Commands that failed (a server that did not answer, a refusal, a typo).
    pub failures: usize,
}

pub struct Repl<'a, L, W, E> {
    pub client: &'a mut Client,
    pub directory: Address,
    pub input: L,
    pub out: W,
    pub err: E,
    /// A person at a terminal (prompts, hints) rather than a script.
    pub interactive: bool,
    /// The group plain text goes to.
    pub current: Option<NamedGroup>,
    /// Live messages, at a terminal.
    pub live: Option<Live>,
    /// Group names learnt from the directory, for completion.
    pub known_groups: KnownGroups,
}

impl<L: LineSource, W: Write, E: Write> Repl<'_, L, W, E> {
    /// Reads and runs commands until `exit` or the end of the input.
    pub fn run(mut self) -> io::Result<Outcome> {
        let mut outcome = Outcome::default();
        if let Some(live) = &mut self.live {
            for address in live.remembered() {
                live.watch(&NamedGroup { name: None, address });
            }
            if let Some(current) = &self.current {
                live.watch(current);
            }
        }
        loop {
            let prompt = match &self.current {
                Some(group) => format!("{}> ", group.name.clone().unwrap_or_else(|| group.address.to_string())),
                None => "huddle> ".to_owned(),
            };
            let Some(line) = self.input.read_line(&prompt)? else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some((&command, args)) = words.split_first() else { continue };
            if command == "exit" || command == "/quit" {
                break;
            }
            if let Err(error) = self.run_command(&line, command, args) {
                outcome.failures += 1;
                writeln!(self.err, "error: {error}")?;
            }
        }
        Ok(outcome)
    }

    fn run_command(&mut self, line: &str, command: &str, args: &[&str]) -> Result<(), CommandError> {
        match (command, args) {
            ("help" | "/help", _) => writeln!(self.out, "{HELP}")?,
            ("get_group_list" | "/groups", []) => {
                let groups = self.client.group_list(&self.directory)?;
                if groups.is_empty() && self.interactive {
                    writeln!(self.out, "(no groups are registered with {})", self.directory)?;
                }
                if let Ok(mut known) = self.known_groups.lock() {
                    *known =
                        groups.iter().filter_map(|g| split_group_list_entry(g)).map(|(n, _)| n.to_owned()).collect();
                }
                for group in groups {
                    writeln!(self.out, "{group}")?;
                }
            }
            ("join_group", [group]) => {
                let group = Address::parse(group)?;
                self.client.join(&group)?;
                writeln!(self.out, "joined {group}")?;
            }
            ("leave_group", [group]) => {
                let group = Address::parse(group)?;
                self.client.leave(&group)?;
                writeln!(self.out, "left {group}")?;
            }
            ("send_message", [group]) => {
                let group = Address::parse(group)?;
                let text = self.read_message()?;
                self.client.send(&group, &text)?;
                writeln!(self.out, "sent to {group}")?;
            }
            ("get_messages", [group, since @ ..]) => {
                let group = Address::parse(group)?;
                let since = (!since.is_empty()).then(|| since.join(" "));
                for message in self.client.messages(&group, since.as_deref())? {
                    writeln!(self.out, "{}", show(&message))?;
                }
            }
            ("/join", [group]) => {
                let group = self.resolve(group)?;
                self.client.join(&group.address)?;
                if let Some(live) = &mut self.live {
                    live.watch(&group);
                }
                writeln!(self.out, "joined {group}: what you type now goes there")?;
                self.current = Some(group);
            }
            ("/leave", [] | [_]) => {
                let group = match args.first() {
                    Some(group) => self.resolve(group)?,
                    None => self.current.clone().ok_or(CommandError::NoCurrentGroup)?,
                };
                self.client.leave(&group.address)?;
                if let Some(live) = &mut self.live {
                    live.unwatch(&group.address);
                }
                if self.current.as_ref().is_some_and(|current| current.address == group.address) {
                    self.current = None;
                }
                writeln!(self.out, "left {group}")?;
            }
            ("/msg", [group, _, ..]) => {
                let text = rest_after(line, 2).to_owned();
                let group = self.resolve(group)?;
                self.send(&group, &text)?;
            }
            ("/history", _) => {
                let group = self.current.clone().ok_or(CommandError::NoCurrentGroup)?;
                let messages = match args {
                    [] => self.client.latest(&group.address, None, HISTORY_LINES)?,
                    when => {
                        let since = since::parse(&when.join(" "), chrono::Local::now())?;
                        self.client.messages(&group.address, Some(&since))?
                    }
                };
                for message in &messages {
                    let shown = match &self.live {
                        Some(_) => format_message(&group, message, self.client.user_uuid()),
                        None => show(message),
                    };
                    writeln!(self.out, "{shown}")?;
                }
            }
            (slash, _) if slash.starts_with('/') => return Err(CommandError::Usage(command.to_owned())),
            _ => match self.current.clone() {
                Some(group) => self.send(&group, line.trim())?,
                None => return Err(CommandError::Usage(command.to_owned())),
            },
        }
        Ok(())
    }

    /// The group `name` means. A name several groups share is a question to
    /// a person at a terminal, and an error for a script.
    fn resolve(&mut self, name: &str) -> Result<NamedGroup, CommandError> {
        match self.client.resolve(&self.directory, name) {
            Err(ClientError::AmbiguousGroup { name, candidates }) if self.interactive => {
                writeln!(self.out, "{name:?} names {} groups:", candidates.len())?;
                for (number, group) in candidates.iter().enumerate() {
                    writeln!(self.out, "  {}) {}", number + 1, group.address)?;
                }
                let answer = self.input.read_line(&format!("which one? [1-{}] ", candidates.len()))?;
                let chosen = answer.and_then(|answer| answer.trim().parse::<usize>().ok());
                match chosen.and_then(|number| number.checked_sub(1)).and_then(|index| candidates.get(index)) {
                    Some(group) => Ok(group.clone()),
                    None => Err(CommandError::NoChoice),
                }
            }
            other => Ok(other?),
        }
    }

    /// Sends `text`; at a terminal the group's echo shows it, in a script a
    /// line says it went.
    fn send(&mut self, group: &NamedGroup, text: &str) -> Result<(), CommandError> {
        let seq = self.client.send(&group.address, text)?;
        let echoed = self.live.is_some() && self.current.as_ref().is_some_and(|c| c.address == group.address);
        if !echoed {
            match seq {
                Some(seq) => writeln!(self.out, "sent to {group} as #{seq}")?,
                None => writeln!(self.out, "sent to {group}")?,
            }
        }
        Ok(())
    }

    /// The lines after `send_message`, up to a line `END`.
    fn read_message(&mut self) -> Result<String, CommandError> {
        if self.interactive {
            writeln!(self.out, "type your message; end it with a line {END_OF_MESSAGE}")?;
        }
        let mut lines = Vec::new();
        loop {
            match self.input.read_line("... ")? {
                Some(line) if line.trim_end() == END_OF_MESSAGE => break,
                Some(line) => lines.push(line),
                None => return Err(CommandError::UnfinishedMessage),
            }
        }
        Ok(lines.join("\n"))
    }
}

/// `line` after its first `words` words.
fn rest_after(line: &str, words: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..words {
        rest = rest.split_once(char::is_whitespace).map_or("", |(_, after)| after).trim_start();
    }
    rest
}

/// A message as the seed's client prints it.
pub fn show(message: &WireMessage) -> String {
    format!("{} : {} ({})", message.user_uuid, message.message, message.timestamp)
}

/// Runs a session on stdin: the chat client at a terminal, the plain command
/// reader for a script. `current` is the group plain text goes to.
pub fn session(
    client: &mut Client,
    directory: Address,
    current: Option<NamedGroup>,
    timeout: Duration,
    config_dir: &Path,
) -> io::Result<Outcome> {
    let known_groups = KnownGroups::default();
    if std::io::stdin().is_terminal() {
        learn_group_names(&directory, client.user_uuid(), timeout, &known_groups);
        let mut terminal = Terminal::new(config_dir, known_groups.clone()).map_err(io::Error::other)?;
        let live = terminal.printer().ok().map(|printer| Live::new(client.user_uuid(), timeout, printer, config_dir));
        let repl = Repl {
            client,
            directory,
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
    let mut client = Client::new(super::Requester::new(zmq::Context::new(), timeout), user_uuid.to_owned());
    std::thread::spawn(move || {
        if let (Ok(groups), Ok(mut known)) = (client.group_list(&directory), known.lock()) {
            *known = group_names(&groups);
        }
    });
}

/// The names in a directory's list.
fn group_names(list: &[String]) -> Vec<String> {
    list.iter().filter_map(|entry| split_group_list_entry(entry)).map(|(name, _)| name.to_owned()).collect()
}

#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Address(#[from] crate::protocol::address::BadAddress),
    #[error(transparent)]
    Since(#[from] since::BadSince),
    #[error("`{0}` is not a command, or its arguments are wrong: type help")]
    Usage(String),
    #[error("you are not talking in a group: /join one first")]
    NoCurrentGroup,
    #[error("no group chosen: answer with one of the numbers shown, or give the group as IP:PORT")]
    NoChoice,
    #[error("the input ended before the line {END_OF_MESSAGE}: the message was not sent")]
    UnfinishedMessage,
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_after_the_command_words_is_kept_as_typed() {
        assert_eq!(rest_after("/msg lobby hello  there", 2), "hello  there");
        assert_eq!(rest_after("  /msg lobby", 2), "");
    }
}
