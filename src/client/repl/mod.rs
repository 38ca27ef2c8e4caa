//! The interactive client: the seed's six commands, same words, same output,
//! plus short commands (`/join lobby`, `/msg`, `/history 10m`, plain text to
//! the current group) and `help`. A line is first read into a [`Command`]
//! ([`command`], no network), then applied here. At a terminal it is a chat
//! client (live messages from [`super::chat`]); with a script piped on stdin
//! it prints only results, so a script written for the seed keeps running.

mod command;

pub use command::{Command, ParseError, parse};

use super::chat::Live;
use super::display::{self, format_message, quoted_if_spaced, show};
use super::input::{KnownGroups, LineSource};
use super::{Client, ClientError, NamedGroup, Since, since};
use crate::protocol::{Address, HostRequest, ListedGroup, MemberChange, OwnedGroup};
use crate::transport::RequestError;
use std::io::{self, Write};

pub const HELP: &str = "\
commands:
  /join GROUP                         join a group (a name from /groups, or IP:PORT) and talk in it
  TEXT                                send TEXT to the group you are talking in
  /msg GROUP TEXT                     send TEXT to another group
  /history [WHEN]                     recent messages here; WHEN: 10m, 2h, 14:05, 2026-11-25T09:00:00Z
  /nick NAME                          the name you are shown by, beside your id, in your groups
  /create [--private] NAME            a new group, on your host (--host, HUDDLE_HOST), joined at once;
                                      you own it; a private one admits only you and those you invite
  /invite USER, /remove USER          let a user (their key or id) into your group here, or take them out
  /delete NAME                        delete a group you own, with its history, for everyone
  /whoami                             your id and key, for others to /invite
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

/// How a session went.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Commands that failed (a server that did not answer, a refusal, a typo).
    pub failures: usize,
}

pub struct Repl<'a, L, W, E> {
    pub client: &'a mut Client,
    pub directory: Address,
    /// The host that creates groups (/create).
    pub host: Address,
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
        if self.live.is_some() {
            self.greet()?;
        }
        loop {
            let prompt = match &self.current {
                Some(group) => format!("{}> ", group.name.clone().unwrap_or_else(|| group.address.to_string())),
                None => "huddle> ".to_owned(),
            };
            let Some(line) = self.input.read_line(&prompt)? else { break };
            let applied = match parse(&line) {
                Ok(None) => Ok(()),
                Ok(Some(Command::Quit)) => break,
                Ok(Some(command)) => self.apply(command),
                Err(error) => Err(error.into()),
            };
            if let Err(error) = applied {
                outcome.failures += 1;
                let error = self.at_the_prompt(error);
                writeln!(self.err, "error: {}", self.shown(&error.to_string()))?;
            }
        }
        for (group, count) in self.live.as_ref().map(Live::pending).unwrap_or_default() {
            writeln!(self.err, "{count} message(s) to {group} were not sent: it never answered again")?;
        }
        Ok(outcome)
    }

    /// At a terminal: a line on where the user is, what arrived while away
    /// (all groups merged in time order), then live messages; the user is
    /// back in the group they last talked in.
    fn greet(&mut self) -> io::Result<()> {
        let Some(live) = &mut self.live else { return Ok(()) };
        if self.current.is_none() {
            self.current = live.last_current();
        }
        let me: String = self.client.user_uuid().chars().take(8).collect();
        let banner = match &self.current {
            Some(group) => {
                format!("huddle: you are {me}, talking in {group}; /groups, /join NAME, /help; Ctrl-D leaves")
            }
            None => {
                format!("huddle: you are {me}; /groups lists the groups, /join NAME joins one, /help; Ctrl-D leaves")
            }
        };
        writeln!(self.out, "{}", display::visible(&banner))?;
        let mut following = live.remembered();
        if let Some(current) = &self.current {
            live.remember_current(current);
            if !following.iter().any(|group| group.address == current.address) {
                following.push(current.clone());
            }
        }
        live.catch_up(self.client, &following);
        for group in &following {
            live.watch(group);
        }
        Ok(())
    }

    /// Makes `group` the one plain text goes to (and remembers it); the
    /// user's nick goes there too.
    fn talk_in(&mut self, group: NamedGroup) {
        if let Some(live) = &mut self.live {
            live.watch(&group);
            live.remember_current(&group);
            if let Some(nick) = live.nick() {
                let _ = self.client.set_nick(&group.address, &nick);
            }
        }
        self.current = Some(group);
    }

    /// Asks the host, as the current group's owner, to let `member` in or
    /// out; the group's name.
    fn change_member(
        &mut self,
        member: String,
        request: fn(MemberChange) -> HostRequest,
    ) -> Result<String, CommandError> {
        let current = self.current.clone().ok_or(CommandError::NoCurrentGroup)?;
        let name = current.name.ok_or(CommandError::Unnamed)?;
        let named = name.clone();
        self.client.ask_host(&self.host, |user_uuid| request(MemberChange { user_uuid, name: named, member }))?;
        Ok(name)
    }

    fn apply(&mut self, command: Command) -> Result<(), CommandError> {
        match command {
            Command::Quit => {}
            Command::Help => writeln!(self.out, "{HELP}")?,
            Command::Groups => {
                let groups = self.client.group_list(&self.directory)?;
                if groups.is_empty() && self.interactive {
                    writeln!(self.out, "(no groups are registered with {})", self.directory)?;
                }
                if let Ok(mut known) = self.known_groups.lock() {
                    *known = group_names(&groups);
                }
                for group in groups {
                    writeln!(self.out, "{}", self.shown(&group.to_string()))?;
                }
            }
            Command::JoinAddress(group) => {
                self.client.join(&group)?;
                writeln!(self.out, "{}", self.shown(&format!("joined {group}")))?;
                // At a terminal, joining by address is joining: the group
                // comes alive and becomes the one talked in, as with /join.
                if self.live.is_some() {
                    let group = NamedGroup { name: self.name_of(&group), address: group };
                    self.talk_in(group);
                }
            }
            Command::LeaveAddress(group) => {
                self.client.leave(&group)?;
                writeln!(self.out, "{}", self.shown(&format!("left {group}")))?;
            }
            Command::SendTyped(group) => {
                let text = self.read_message()?;
                self.client.send(&group, &text)?;
                writeln!(self.out, "sent to {group}")?;
            }
            Command::Messages { group, since } => {
                let since = since.as_deref().map(Since::wire).transpose().map_err(ClientError::BadTimestamp)?;
                let messages = self.client.messages(&group, since.as_ref())?;
                for message in &messages {
                    writeln!(self.out, "{}", self.shown(&show(message)))?;
                }
                let last = messages.iter().filter_map(|message| message.seq).max();
                if let (Some(live), Some(last)) = (&self.live, last) {
                    live.mark_shown(&group, last);
                }
            }
            Command::Join(name) => {
                let group = self.resolve(&name)?;
                self.client.join(&group.address)?;
                writeln!(self.out, "{}", self.shown(&format!("joined {group}: what you type now goes there")))?;
                self.talk_in(group);
            }
            Command::Leave(name) => {
                let group = match name {
                    Some(name) => self.resolve(&name)?,
                    None => self.current.clone().ok_or(CommandError::NoCurrentGroup)?,
                };
                self.client.leave(&group.address)?;
                if let Some(live) = &mut self.live {
                    live.unwatch(&group.address);
                }
                if self.current.as_ref().is_some_and(|current| current.address == group.address) {
                    self.current = None;
                }
                writeln!(self.out, "{}", self.shown(&format!("left {group}")))?;
            }
            Command::Msg { group, text } => {
                let group = self.resolve(&group)?;
                self.send(&group, &text)?;
            }
            Command::History(when) => {
                let group = self.current.clone().ok_or(CommandError::NoCurrentGroup)?;
                let messages = match when {
                    None => self.client.latest(&group.address, None, HISTORY_LINES)?,
                    Some(when) => {
                        let since = since::parse(&when, chrono::Local::now())?;
                        self.client.messages(&group.address, Some(&since))?
                    }
                };
                for message in &messages {
                    let shown = match &self.live {
                        Some(_) => format_message(&group, message, self.client.user_uuid()),
                        None => self.shown(&show(message)).into_owned(),
                    };
                    writeln!(self.out, "{shown}")?;
                }
            }
            Command::Create { name, private } => {
                let address = self.client.create_unlisted(&self.directory, &self.host, &name, private)?;
                self.client.join(&address)?;
                // Listed before the next command: /groups shows it.
                self.client.wait_listed(&self.directory, &name, &address, std::time::Duration::from_secs(3));
                let group = NamedGroup { name: Some(name), address };
                writeln!(self.out, "{}", self.shown(&format!("created {group}: what you type now goes there")))?;
                self.talk_in(group);
            }
            Command::Invite(member) => {
                let name = self.change_member(member.clone(), HostRequest::Invite)?;
                writeln!(self.out, "{}", self.shown(&format!("invited {member} to {name}")))?;
            }
            Command::Remove(member) => {
                let name = self.change_member(member.clone(), HostRequest::Remove)?;
                writeln!(self.out, "{}", self.shown(&format!("removed {member} from {name}")))?;
            }
            Command::Delete(name) => {
                self.client.ask_host(&self.host, |user_uuid| {
                    HostRequest::Delete(OwnedGroup { user_uuid, name: name.clone() })
                })?;
                if self.current.as_ref().is_some_and(|current| current.name.as_deref() == Some(name.as_str())) {
                    self.current = None;
                }
                writeln!(self.out, "{}", self.shown(&format!("deleted {name}, with its history")))?;
            }
            Command::WhoAmI => {
                let keys = self.client.keys()?;
                let line = format!(
                    "you are {} on loopback; over CURVE your key is {} (id {})",
                    self.client.user_uuid(),
                    keys.public,
                    keys.public.user_uuid()
                );
                writeln!(self.out, "{}", self.shown(&line))?;
            }
            Command::Nick(nick) => {
                let mut groups = self.live.as_ref().map(Live::remembered).unwrap_or_default();
                if let Some(current) = &self.current
                    && !groups.iter().any(|group| group.address == current.address)
                {
                    groups.push(current.clone());
                }
                let group = groups.first().cloned().ok_or(CommandError::NoCurrentGroup)?;
                // The first group says whether the name will do; the rest follow.
                self.client.set_nick(&group.address, &nick)?;
                for other in &groups[1..] {
                    let _ = self.client.set_nick(&other.address, &nick);
                }
                if let Some(live) = &self.live {
                    live.remember_nick(&nick);
                }
                let names: Vec<String> =
                    groups.iter().map(|g| g.name.clone().unwrap_or_else(|| g.address.to_string())).collect();
                writeln!(self.out, "{}", self.shown(&format!("you are {nick} in {}", names.join(", "))))?;
            }
            Command::Say { text, first_word } => match self.current.clone() {
                Some(group) => self.send(&group, &text)?,
                None if self.interactive => return Err(CommandError::NotTalking),
                None => return Err(ParseError::Usage(first_word).into()),
            },
        }
        Ok(())
    }

    /// The name the directory lists `address` under, if it answers.
    fn name_of(&mut self, address: &Address) -> Option<String> {
        let listed = self.client.group_list(&self.directory).ok()?;
        let group = listed.into_iter().find(|group| group.address.host_port() == address.host_port())?;
        Some(group.name)
    }

    /// An error as a person at the prompt needs it: the prompt's commands
    /// in its hints, not the shell's.
    fn at_the_prompt(&self, error: CommandError) -> CommandError {
        if !self.interactive {
            return error;
        }
        match error {
            CommandError::Client(ClientError::UnknownGroup { name, directory }) => {
                CommandError::UnknownGroup { name, directory }
            }
            CommandError::Client(ClientError::NotAMember { address }) => {
                let name = match &self.current {
                    Some(group) if group.address == address => group.name.clone(),
                    _ => None,
                };
                let group = name.map_or_else(|| address.to_string(), |name| quoted_if_spaced(&name));
                CommandError::NotAMember { group }
            }
            error => error,
        }
    }

    /// `text` from others as this session shows it: exact for a script,
    /// made visible for a person.
    fn shown<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        display::shown(text, self.interactive)
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
        let msg_id = crate::client::new_msg_id();
        let seq = match self.client.send_with_id(&group.address, text, &msg_id) {
            // At a terminal, a message to a group that does not answer waits
            // in the outbox and goes, under the same id, when it is back.
            Err(ClientError::Request(RequestError::NoAnswer { .. })) if self.live.is_some() => {
                if let Some(live) = &self.live {
                    live.hold(group, msg_id, text.to_owned());
                }
                return Ok(());
            }
            sent => sent?,
        };
        let echoed = self.live.is_some() && self.current.as_ref().is_some_and(|c| c.address == group.address);
        if !echoed {
            match seq {
                Some(seq) => writeln!(self.out, "{}", self.shown(&format!("sent to {group} as #{seq}")))?,
                None => writeln!(self.out, "{}", self.shown(&format!("sent to {group}")))?,
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

/// The names in a directory's list.
pub(super) fn group_names(list: &[ListedGroup]) -> Vec<String> {
    list.iter().map(|group| group.name.clone()).collect()
}

#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Since(#[from] since::BadSince),
    #[error("you are not talking in a group: /join one first")]
    NoCurrentGroup,
    #[error("the group you talk in was joined by its address: /join it by its name (/groups) first")]
    Unnamed,
    #[error("you are not talking in a group, so that was not sent: /join GROUP first (/groups lists them)")]
    NotTalking,
    #[error("no group named {name:?} is listed by the directory {directory}: /groups lists them")]
    UnknownGroup { name: String, directory: Address },
    #[error("you are not a member of {group}: /join {group} first")]
    NotAMember { group: String },
    #[error("no group chosen: answer with one of the numbers shown, or give the group as IP:PORT")]
    NoChoice,
    #[error("the input ended before the line {END_OF_MESSAGE}: the message was not sent")]
    UnfinishedMessage,
    #[error(transparent)]
    Io(#[from] io::Error),
}
