//! How messages look: the seed's line for scripts, the coloured chat line at
//! a terminal.

use super::NamedGroup;
use crate::protocol::WireMessage;
use console::style;

/// A message as the seed's client prints it.
pub fn show(message: &WireMessage) -> String {
    format!("{} : {} ({})", message.user_uuid, message.message, message.timestamp)
}

/// `[14:05:09] lobby 1f3a9c2e: hello`, coloured.
pub fn format_message(group: &NamedGroup, message: &WireMessage, me: &str) -> String {
    let time = message.timestamp.get(11..19).unwrap_or(&message.timestamp);
    let group_name = group.name.clone().unwrap_or_else(|| group.address.to_string());
    let short: String = message.user_uuid.chars().take(8).collect();
    let author = if message.user_uuid == me { style(short).green().bold() } else { style(short).yellow() };
    format!("{} {} {}: {}", style(format!("[{time}]")).dim(), style(group_name).cyan(), author, message.message)
}
