//! A line typed at the client, read into a [`Command`] without touching the
//! network: the seed's six commands with their exact words, huddle's short
//! commands, and plain text for the current group.

use crate::protocol::Address;
use crate::protocol::address::BadAddress;

/// What a line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Quit,
    /// `get_group_list`, `/groups`.
    Groups,
    /// The seed's `join_group IP:PORT`.
    JoinAddress(Address),
    /// The seed's `leave_group IP:PORT`.
    LeaveAddress(Address),
    /// The seed's `send_message IP:PORT`: the text follows on the next lines.
    SendTyped(Address),
    /// The seed's `get_messages IP:PORT [TIMESTAMP]`.
    Messages {
        group: Address,
        since: Option<String>,
    },
    /// `/join GROUP`: join and talk there.
    Join(String),
    /// `/leave [GROUP]`: the current group when none is named.
    Leave(Option<String>),
    /// `/msg GROUP TEXT`.
    Msg {
        group: String,
        text: String,
    },
    /// `/history [WHEN]`.
    History(Option<String>),
    /// `/nick NAME`: the name to be shown by.
    Nick(String),
    /// `/create [--private] NAME`: a new group on the user's host.
    Create {
        name: String,
        private: bool,
    },
    /// `/invite USER`: let a user (a key or an id) into the current group.
    Invite(String),
    /// `/remove USER`: take a user out of the current group.
    Remove(String),
    /// `/delete NAME`: delete a group one owns, naming it to be sure.
    Delete(String),
    /// `/whoami`: the user's id, and key.
    WhoAmI,
    /// Plain text, for the current group. `first_word` names it in errors.
    Say {
        text: String,
        first_word: String,
    },
}

/// Why a line is no command.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error(transparent)]
    Address(#[from] BadAddress),
    #[error("`{0}` is not a command, or its arguments are wrong: type help")]
    Usage(String),
    #[error("`{command}` needs {what}: {usage}")]
    Missing { command: &'static str, what: &'static str, usage: &'static str },
    #[error("a quote is not closed: {0}")]
    Unclosed(String),
}

/// The commands that take a group, and how they are written.
const GROUP_USAGE: [(&str, &str); 6] = [
    ("/join", "/join GROUP (a name from /groups, or IP:PORT)"),
    ("/msg", "/msg GROUP TEXT (quote a name with spaces: /msg \"Cool Group\" hi)"),
    ("join_group", "join_group IP:PORT"),
    ("leave_group", "leave_group IP:PORT"),
    ("send_message", "send_message IP:PORT"),
    ("get_messages", "get_messages IP:PORT [TIMESTAMP]"),
];

fn missing_group(command: &str) -> ParseError {
    let (command, usage) = GROUP_USAGE.iter().find(|(name, _)| *name == command).copied().unwrap_or(GROUP_USAGE[0]);
    ParseError::Missing { command, what: "a group", usage }
}

/// Reads `line`; `None` for a blank line.
pub fn parse(line: &str) -> Result<Option<Command>, ParseError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&command, args)) = words.split_first() else { return Ok(None) };
    let parsed = match (command, args) {
        ("exit" | "/quit", _) => Command::Quit,
        ("help" | "/help", _) => Command::Help,
        ("get_group_list" | "/groups", []) => Command::Groups,
        ("join_group", [group]) => Command::JoinAddress(Address::parse(group)?),
        ("leave_group", [group]) => Command::LeaveAddress(Address::parse(group)?),
        ("send_message", [group]) => Command::SendTyped(Address::parse(group)?),
        ("get_messages", [group, since @ ..]) => {
            Command::Messages { group: Address::parse(group)?, since: (!since.is_empty()).then(|| since.join(" ")) }
        }
        ("join_group" | "leave_group" | "send_message" | "get_messages", []) => return Err(missing_group(command)),
        ("/join", []) => return Err(missing_group(command)),
        // A name runs to the end of the line, spaces and all, or is quoted.
        ("/join", _) => Command::Join(whole_name(rest_after(line, 1))?),
        ("/leave", []) => Command::Leave(None),
        ("/leave", _) => Command::Leave(Some(whole_name(rest_after(line, 1))?)),
        ("/msg", []) => return Err(missing_group(command)),
        ("/msg", _) => {
            let (group, text) = first_name(rest_after(line, 1))?;
            if text.is_empty() {
                return Err(ParseError::Missing { command: "/msg", what: "a message", usage: GROUP_USAGE[1].1 });
            }
            Command::Msg { group, text: text.to_owned() }
        }
        ("/create", []) => {
            return Err(ParseError::Missing { command: "/create", what: "a name", usage: "/create NAME" });
        }
        ("/create", ["--private"]) => {
            return Err(ParseError::Missing { command: "/create", what: "a name", usage: "/create --private NAME" });
        }
        ("/create", ["--private", ..]) => Command::Create { name: whole_name(rest_after(line, 2))?, private: true },
        ("/create", _) => Command::Create { name: whole_name(rest_after(line, 1))?, private: false },
        ("/invite", [user]) => Command::Invite((*user).to_owned()),
        ("/remove", [user]) => Command::Remove((*user).to_owned()),
        ("/invite" | "/remove", _) => {
            let command = if command == "/invite" { "/invite" } else { "/remove" };
            return Err(ParseError::Missing {
                command,
                what: "one user",
                usage: "/invite KEY-OR-ID (/whoami shows yours)",
            });
        }
        ("/delete", []) => {
            return Err(ParseError::Missing {
                command: "/delete",
                what: "the group's name, to be sure",
                usage: "/delete NAME (for everyone, with its history)",
            });
        }
        ("/delete", _) => Command::Delete(whole_name(rest_after(line, 1))?),
        ("/whoami", []) => Command::WhoAmI,
        ("/nick", []) => {
            return Err(ParseError::Missing {
                command: "/nick",
                what: "a name",
                usage: "/nick NAME (shown beside your id)",
            });
        }
        ("/nick", _) => Command::Nick(rest_after(line, 1).trim_end().to_owned()),
        ("/history", []) => Command::History(None),
        ("/history", when) => Command::History(Some(when.join(" "))),
        (slash, _) if slash.starts_with('/') => return Err(ParseError::Usage(command.to_owned())),
        _ => Command::Say { text: line.trim().to_owned(), first_word: command.to_owned() },
    };
    Ok(Some(parsed))
}

/// A group name that is the whole of `rest`: quoted or not.
fn whole_name(rest: &str) -> Result<String, ParseError> {
    match first_name(rest)? {
        (name, "") => Ok(name),
        _ if !rest.starts_with('"') => Ok(rest.trim_end().to_owned()),
        _ => Err(ParseError::Usage(rest.to_owned())),
    }
}

/// The group name at the start of `rest` (quoted when it holds spaces) and
/// what follows it.
fn first_name(rest: &str) -> Result<(String, &str), ParseError> {
    if let Some(quoted) = rest.strip_prefix('"') {
        let (name, after) = quoted.split_once('"').ok_or_else(|| ParseError::Unclosed(rest.to_owned()))?;
        return Ok((name.to_owned(), after.trim_start()));
    }
    let (name, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Ok((name.to_owned(), after.trim_start()))
}

/// `line` after its first `words` words.
fn rest_after(line: &str, words: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..words {
        rest = rest.split_once(char::is_whitespace).map_or("", |(_, after)| after).trim_start();
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Command {
        parse(line).unwrap().unwrap()
    }

    #[test]
    fn the_seeds_commands_keep_their_words() {
        let group = Address::parse("127.0.0.1:5560").unwrap();
        assert_eq!(parsed("get_group_list"), Command::Groups);
        assert_eq!(parsed("join_group 127.0.0.1:5560"), Command::JoinAddress(group.clone()));
        assert_eq!(parsed("leave_group 127.0.0.1:5560"), Command::LeaveAddress(group.clone()));
        assert_eq!(parsed("send_message 127.0.0.1:5560"), Command::SendTyped(group.clone()));
        assert_eq!(parsed("get_messages 127.0.0.1:5560"), Command::Messages { group: group.clone(), since: None });
        assert_eq!(
            parsed("get_messages 127.0.0.1:5560 2026-11-25 10:00:00"),
            Command::Messages { group, since: Some("2026-11-25 10:00:00".into()) }
        );
        assert_eq!(parsed("exit"), Command::Quit);
        assert!(matches!(parse("join_group nowhere"), Err(ParseError::Address(_))));
    }

    #[test]
    fn short_commands_and_plain_text() {
        assert_eq!(parsed("/join lobby"), Command::Join("lobby".into()));
        assert_eq!(parsed("/leave"), Command::Leave(None));
        assert_eq!(parsed("/msg ops deploy  done"), Command::Msg { group: "ops".into(), text: "deploy  done".into() });
        assert_eq!(parsed("/history 10m"), Command::History(Some("10m".into())));
        assert_eq!(parsed("/nick Ada L."), Command::Nick("Ada L.".into()));
        assert!(matches!(parse("/nick"), Err(ParseError::Missing { what: "a name", .. })));
        assert_eq!(parsed("  hello there "), Command::Say { text: "hello there".into(), first_word: "hello".into() });
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("/dance"), Err(ParseError::Usage("/dance".into())));
        assert!(matches!(parse("/msg ops"), Err(ParseError::Missing { what: "a message", .. })));
    }

    #[test]
    fn names_with_spaces_run_to_the_end_of_the_line_or_are_quoted() {
        assert_eq!(parsed("/join Cool Group"), Command::Join("Cool Group".into()));
        assert_eq!(parsed("/join \"Cool Group\""), Command::Join("Cool Group".into()));
        assert_eq!(parsed("/leave  Cool Group "), Command::Leave(Some("Cool Group".into())));
        assert_eq!(
            parsed("/msg \"Cool Group\" hello there"),
            Command::Msg { group: "Cool Group".into(), text: "hello there".into() }
        );
        assert!(matches!(parse("/join \"Cool Group"), Err(ParseError::Unclosed(_))));
    }

    #[test]
    fn a_command_without_its_group_says_how_it_is_written() {
        for line in ["/join", "/msg", "join_group", "get_messages"] {
            let error = parse(line).unwrap_err().to_string();
            assert!(error.starts_with(&format!("`{line}` needs a group: {line} ")), "{error}");
        }
    }

    #[test]
    fn the_text_after_the_command_words_is_kept_as_typed() {
        assert_eq!(rest_after("/msg lobby hello  there", 2), "hello  there");
        assert_eq!(rest_after("  /msg lobby", 2), "");
    }
}
