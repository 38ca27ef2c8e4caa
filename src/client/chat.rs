//! The client at a terminal: a line editor (history, completion of commands
//! and group names) and live messages printed above the prompt without
//! breaking the line being typed, in colour.
//!
//! [`Terminal`] reads lines with rustyline; [`Live`] runs one [`Watch`] per
//! group the user is in, each on its own thread, printing through
//! rustyline's external printer and remembering the last seq shown, so the
//! next session starts with what arrived while away, once.

use super::NamedGroup;
use super::live::Watch;
use super::repl::LineSource;
use super::seen::LastSeen;
use crate::protocol::{Address, WireMessage};
use console::style;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, ExternalPrinter, Helper};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Words the editor completes at the start of a line.
const COMMANDS: &[&str] = &[
    "/join",
    "/leave",
    "/msg",
    "/history",
    "/groups",
    "/help",
    "/quit",
    "join_group",
    "leave_group",
    "send_message",
    "get_messages",
    "get_group_list",
    "help",
    "exit",
];
/// Messages shown on joining a group the user has not watched before.
const JOIN_BACKLOG: u64 = 10;
/// Lines of input history kept in the config directory.
const HISTORY_FILE: &str = "history.txt";

/// Group names for completion, shared with the session that learns them.
pub type KnownGroups = Arc<Mutex<Vec<String>>>;

struct ChatHelper {
    groups: KnownGroups,
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos].rfind(' ').map_or(0, |space| space + 1);
        let word = &line[start..pos];
        let candidates: Vec<String> = if start == 0 {
            COMMANDS.iter().map(|c| c.to_string()).collect()
        } else {
            self.groups.lock().map(|groups| groups.clone()).unwrap_or_default()
        };
        let pairs = candidates
            .into_iter()
            .filter(|candidate| candidate.starts_with(word))
            .map(|candidate| Pair { display: candidate.clone(), replacement: candidate })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}
impl Highlighter for ChatHelper {}
impl Validator for ChatHelper {}
impl Helper for ChatHelper {}

/// Lines typed at the terminal.
pub struct Terminal {
    editor: Editor<ChatHelper, DefaultHistory>,
    history_file: std::path::PathBuf,
}

impl Terminal {
    pub fn new(config_dir: &Path, groups: KnownGroups) -> rustyline::Result<Terminal> {
        let mut editor = Editor::new()?;
        editor.set_helper(Some(ChatHelper { groups }));
        let history_file = config_dir.join(HISTORY_FILE);
        let _ = editor.load_history(&history_file);
        Ok(Terminal { editor, history_file })
    }

    /// Something other threads print through, above the prompt.
    pub fn printer(&mut self) -> rustyline::Result<SharedPrinter> {
        let printer = self.editor.create_external_printer()?;
        Ok(Arc::new(Mutex::new(Box::new(printer))))
    }
}

impl LineSource for Terminal {
    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.editor.add_history_entry(line.as_str());
                }
                Ok(Some(line))
            }
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(None),
            Err(error) => Err(io::Error::other(error)),
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Losing the input history is not worth an error at exit.
        let _ = self.editor.save_history(&self.history_file);
    }
}

pub type SharedPrinter = Arc<Mutex<Box<dyn ExternalPrinter + Send>>>;

/// The groups being watched, each on its own thread.
pub struct Live {
    context: zmq::Context,
    user_uuid: String,
    timeout: Duration,
    printer: SharedPrinter,
    seen: Arc<Mutex<LastSeen>>,
    watchers: HashMap<Address, Arc<AtomicBool>>,
}

impl Live {
    pub fn new(user_uuid: &str, timeout: Duration, printer: SharedPrinter, config_dir: &Path) -> Live {
        Live {
            context: zmq::Context::new(),
            user_uuid: user_uuid.to_owned(),
            timeout,
            printer,
            seen: Arc::new(Mutex::new(LastSeen::load(config_dir))),
            watchers: HashMap::new(),
        }
    }

    /// The groups watched in an earlier session.
    pub fn remembered(&self) -> Vec<Address> {
        let seen = self.seen.lock().expect("no panics while holding the lock");
        seen.groups().filter_map(|(address, _)| Address::parse(address).ok()).collect()
    }

    /// Starts printing `group`'s new messages (and those since the last one
    /// shown in an earlier session).
    pub fn watch(&mut self, group: &NamedGroup) {
        if self.watchers.contains_key(&group.address) {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        self.watchers.insert(group.address.clone(), stop.clone());
        let (context, user, timeout) = (self.context.clone(), self.user_uuid.clone(), self.timeout);
        let (printer, seen, group) = (self.printer.clone(), self.seen.clone(), group.clone());
        std::thread::spawn(move || {
            let key = group.address.to_string();
            let last = seen.lock().ok().and_then(|seen| seen.get(&key));
            // Ending each line itself: outside `readline` rustyline writes
            // the text as it is, inside it adds the line break only if missing.
            let print = |line: String| {
                if let Ok(mut printer) = printer.lock() {
                    let _ = printer.print(format!("{line}\n"));
                }
            };
            let mut watch = match Watch::start(&context, &group.address, &user, last, JOIN_BACKLOG, timeout) {
                Ok(watch) => watch,
                Err(error) => return print(format!("{} {error}", style("!").red())),
            };
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                match watch.next(Duration::from_millis(250)) {
                    Ok(messages) => {
                        failing = false;
                        for message in &messages {
                            print(format_message(&group, message, &user));
                        }
                        if let (Some(seq), Ok(mut seen)) = (watch.last_seq(), seen.lock()) {
                            let _ = seen.set(&key, seq);
                        }
                    }
                    Err(error) if !failing => {
                        failing = true;
                        print(format!("{} {error}", style("!").red()));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(250)),
                }
            }
            watch.stop();
        });
    }

    /// Stops printing `group`'s messages and forgets where the user was.
    pub fn unwatch(&mut self, group: &Address) {
        if let Some(stop) = self.watchers.remove(group) {
            stop.store(true, Ordering::Relaxed);
        }
        if let Ok(mut seen) = self.seen.lock() {
            let _ = seen.forget(&group.to_string());
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        for stop in self.watchers.values() {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// `[14:05:09] lobby 1f3a9c2e: hello`, coloured.
pub fn format_message(group: &NamedGroup, message: &WireMessage, me: &str) -> String {
    let time = message.timestamp.get(11..19).unwrap_or(&message.timestamp);
    let group_name = group.name.clone().unwrap_or_else(|| group.address.to_string());
    let short: String = message.user_uuid.chars().take(8).collect();
    let author = if message.user_uuid == me { style(short).green().bold() } else { style(short).yellow() };
    format!("{} {} {}: {}", style(format!("[{time}]")).dim(), style(group_name).cyan(), author, message.message)
}
