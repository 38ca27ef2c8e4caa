//! How messages look: the seed's line for scripts, the coloured chat line at
//! a terminal. Everything shown comes from other people (names, ids,
//! messages, a server's error text), so at a terminal it is made
//! [`visible`] first: an escape sequence could otherwise clear the screen,
//! retitle the window, fill the clipboard or forge whole lines. Scripts and
//! `--json` get the exact text.

use super::NamedGroup;
use crate::protocol::WireMessage;
use chrono::{DateTime, Local};
use console::style;
use std::borrow::Cow;
use std::fmt::Write;

/// A message as the seed's client prints it, exactly.
pub fn show(message: &WireMessage) -> String {
    format!("{} : {} ({})", message.user_uuid, message.message, message.timestamp)
}

/// When `message` was sent, in the reader's own zone: from huddle's `utc`
/// (a seed group gives only its own local time, which is shown as it is).
pub fn local_time(message: &WireMessage) -> Option<DateTime<Local>> {
    let at = DateTime::parse_from_rfc3339(message.utc.as_deref()?).ok()?;
    Some(at.with_timezone(&Local))
}

/// `[14:05:09] lobby 1f3a9c2e: hello`, coloured, every part made visible;
/// the time in the reader's zone.
pub fn format_message(group: &NamedGroup, message: &WireMessage, me: &str) -> String {
    let local = local_time(message).map(|at| at.format("%H:%M:%S").to_string());
    let time = local.as_deref().unwrap_or_else(|| message.timestamp.get(11..19).unwrap_or(&message.timestamp));
    let group_name = group.name.clone().unwrap_or_else(|| group.address.to_string());
    let prefix: String = message.user_uuid.chars().take(8).collect();
    let short = match &message.nick {
        Some(nick) => format!("{} ({})", visible(nick), visible(&prefix)),
        None => visible(&prefix).into_owned(),
    };
    let author = if message.user_uuid == me { style(short).green().bold() } else { style(short).yellow() };
    format!(
        "{} {} {}: {}",
        style(format!("[{}]", visible(time))).dim(),
        style(visible(&group_name)).cyan(),
        author,
        continued(&visible(&message.message))
    )
}

/// A group name as typed in a command, at the prompt or in a shell: quoted
/// when it holds spaces.
pub fn quoted_if_spaced(name: &str) -> String {
    if name.contains(char::is_whitespace) { format!("{name:?}") } else { name.to_owned() }
}

/// A message's later lines, each marked as the same message's: [`visible`]
/// indents them; here the indent becomes a bar.
fn continued(text: &str) -> String {
    text.split("\n    ").collect::<Vec<_>>().join(&format!("\n{}", style("    │ ").dim()))
}

/// `text` as it is shown: [`visible`] to a person at a terminal, exact to a
/// script.
pub fn shown(text: &str, terminal: bool) -> Cow<'_, str> {
    if terminal { visible(text) } else { Cow::Borrowed(text) }
}

/// `text` safe to print at a terminal: control characters (escape, carriage
/// return, backspace, C1 controls, ...) and the invisible marks that reorder
/// text (bidirectional overrides) are written out as `\u{..}`, and each line
/// after the first is indented, so a message can only ever look like one
/// message. Tabs stay.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| needs_escape(c) || c == '\n') {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\n    "),
            c if needs_escape(c) => {
                let _ = write!(shown, "\\u{{{:x}}}", c as u32);
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n') || crate::protocol::is_direction_mark(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_terminal_would_obey_is_shown_instead() {
        assert_eq!(visible("plain text, tabs\tand all"), "plain text, tabs\tand all");
        assert_eq!(visible("\x1b[2J\x1b]0;pwned\x07"), "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}");
        assert_eq!(visible("ok\rfake"), "ok\\u{d}fake");
        assert_eq!(visible("a\u{202e}txt.exe"), "a\\u{202e}txt.exe");
        assert_eq!(visible("\u{9b}31m"), "\\u{9b}31m", "a C1 control");
        assert_eq!(visible("one\n[12:00] lobby x: forged"), "one\n    [12:00] lobby x: forged");
        assert_eq!(visible("héllo 👋"), "héllo 👋");
    }

    #[test]
    fn a_message_of_several_lines_marks_each_later_line_as_its_own() {
        let group =
            NamedGroup { name: Some("lobby".into()), address: crate::protocol::Address::parse("127.0.0.1:1").unwrap() };
        let message = WireMessage {
            user_uuid: "1f3a9c2e-0000".into(),
            message: "first\nsecond\n[12:00] lobby x: forged".into(),
            timestamp: "2026-11-25T10:00:00".into(),
            seq: Some(1),
            utc: None,
            nick: None,
        };
        let shown = console::strip_ansi_codes(&format_message(&group, &message, "me")).into_owned();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[1], "    │ second");
        assert_eq!(lines[2], "    │ [12:00] lobby x: forged", "no later line looks like a message of its own");
    }
}
