//! The interactive client: the seed's six commands, same words, same output,
//! plus `help`. At a terminal it prompts; with a script piped on stdin it
//! prints only results, so the output can be read by another program.

use super::{Client, ClientError};
use crate::protocol::{Address, WireMessage};
use std::io::{self, BufRead, Write};

pub const HELP: &str = "\
commands:
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

/// How a session went.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Commands that failed (a server that did not answer, a refusal, a typo).
    pub failures: usize,
}

pub struct Repl<'a, R, W, E> {
    pub client: &'a mut Client,
    pub directory: Address,
    pub input: R,
    pub out: W,
    pub err: E,
    /// Prompts are shown only to a person at a terminal.
    pub interactive: bool,
}

impl<R: BufRead, W: Write, E: Write> Repl<'_, R, W, E> {
    /// Reads and runs commands until `exit` or the end of the input.
    pub fn run(mut self) -> io::Result<Outcome> {
        let mut outcome = Outcome::default();
        while let Some(line) = self.read_line("huddle> ")? {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some((&command, args)) = words.split_first() else { continue };
            if command == "exit" {
                break;
            }
            if let Err(error) = self.run_command(command, args) {
                outcome.failures += 1;
                writeln!(self.err, "error: {error}")?;
            }
        }
        Ok(outcome)
    }

    fn run_command(&mut self, command: &str, args: &[&str]) -> Result<(), CommandError> {
        match (command, args) {
            ("help", _) => writeln!(self.out, "{HELP}")?,
            ("get_group_list", []) => {
                let groups = self.client.group_list(&self.directory)?;
                if groups.is_empty() && self.interactive {
                    writeln!(self.out, "(no groups are registered with {})", self.directory)?;
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
            _ => return Err(CommandError::Usage(command.to_owned())),
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
            match self.read_line("... ")? {
                Some(line) if line.trim_end() == END_OF_MESSAGE => break,
                Some(line) => lines.push(line),
                None => return Err(CommandError::UnfinishedMessage),
            }
        }
        Ok(lines.join("\n"))
    }

    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        if self.interactive {
            write!(self.out, "{prompt}")?;
            self.out.flush()?;
        }
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        Ok(Some(line))
    }
}

/// A message as the seed's client prints it.
pub fn show(message: &WireMessage) -> String {
    format!("{} : {} ({})", message.user_uuid, message.message, message.timestamp)
}

#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Address(#[from] crate::protocol::address::BadAddress),
    #[error("`{0}` is not a command, or its arguments are wrong: type help")]
    Usage(String),
    #[error("the input ended before the line {END_OF_MESSAGE}: the message was not sent")]
    UnfinishedMessage,
    #[error(transparent)]
    Io(#[from] io::Error),
}
