//! Live messages at a terminal: [`Live`] runs one [`Watch`] per group the
//! user is in, each on its own thread, printing above the prompt and
//! remembering the last seq shown, so the next session starts with what
//! arrived while away, once. Each thread stops through its own [`Shutdown`],
//! which its watch polls beside its sockets: no flag checked on a timer.

use super::display::{format_message, visible};
use super::input::SharedPrinter;
use super::live::Watch;
use super::seen::LastSeen;
use super::{Client, NamedGroup};
use crate::protocol::Address;
use crate::shutdown::Shutdown;
use console::style;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages shown on joining a group the user has not watched before.
const JOIN_BACKLOG: u64 = 10;
/// How long a watch waits between attempts while its group does not answer.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// The longest a watch waits for news before looking again.
const WAIT_FOR_NEWS: Duration = Duration::from_secs(3600);

/// The groups being watched, each on its own thread.
pub struct Live {
    /// The user, from whom each watch gets a client of its own.
    client: Client,
    printer: SharedPrinter,
    seen: Arc<Mutex<LastSeen>>,
    watchers: HashMap<Address, Shutdown>,
}

impl Live {
    pub fn new(client: Client, printer: SharedPrinter, config_dir: &Path) -> Live {
        Live { client, printer, seen: Arc::new(Mutex::new(LastSeen::load(config_dir))), watchers: HashMap::new() }
    }

    /// The groups watched in an earlier session, with their names.
    pub fn remembered(&self) -> Vec<NamedGroup> {
        let seen = self.seen.lock().expect("no panics while holding the lock");
        let groups = seen.groups().filter_map(|(address, mark)| {
            Some(NamedGroup { name: mark.name.clone(), address: Address::parse(address).ok()? })
        });
        groups.collect()
    }

    /// Starts printing `group`'s new messages (and those since the last one
    /// shown in an earlier session).
    pub fn watch(&mut self, group: &NamedGroup) {
        if self.watchers.contains_key(&group.address) {
            return;
        }
        let started = Shutdown::new().map_err(|error| error.to_string()).and_then(|stop| {
            let client = self.client.fresh().map_err(|error| error.to_string())?;
            Ok((stop, client))
        });
        let (stop, client) = match started {
            Ok(started) => started,
            Err(error) => return self.print(format!("{} cannot follow {group}: {error}", style("!").red())),
        };
        self.watchers.insert(group.address.clone(), stop.clone());
        if let (Some(name), Ok(mut seen)) = (&group.name, self.seen.lock()) {
            let _ = seen.set_name(&group.address.to_string(), name);
        }
        let (printer, seen, group) = (self.printer.clone(), self.seen.clone(), group.clone());
        std::thread::spawn(move || {
            let print = |line: String| print_to(&printer, line);
            let key = group.address.to_string();
            let last = seen.lock().ok().and_then(|seen| seen.get(&key));
            let mut watch = match Watch::start(client, &group.address, last, JOIN_BACKLOG) {
                Ok(watch) => watch.stop_on(&stop),
                Err(error) => return print(format!("{} {}", style("!").red(), visible(&error.to_string()))),
            };
            let user = watch.user_uuid().to_owned();
            let mut failing = false;
            while !stop.is_triggered() {
                match watch.next(WAIT_FOR_NEWS) {
                    Ok(messages) => {
                        failing = false;
                        for message in &messages {
                            print(format_message(&group, message, &user));
                        }
                        if let (Some(seq), Ok(mut seen)) = (watch.last_seq(), seen.lock()) {
                            let _ = seen.set(&key, seq);
                        }
                    }
                    Err(error) => {
                        if !failing {
                            failing = true;
                            print(format!("{} {}", style("!").red(), visible(&error.to_string())));
                        }
                        if stop.wait(RETRY_INTERVAL) {
                            break;
                        }
                    }
                }
            }
            watch.stop();
        });
    }

    /// Notes that messages of `group` up to `seq` were shown (by a command),
    /// so that following it later does not show them again.
    pub fn mark_shown(&self, group: &Address, seq: u64) {
        if let Ok(mut seen) = self.seen.lock() {
            let key = group.to_string();
            if seen.get(&key).is_none_or(|shown| shown < seq) {
                let _ = seen.set(&key, seq);
            }
        }
    }

    /// Stops printing `group`'s messages and forgets where the user was.
    pub fn unwatch(&mut self, group: &Address) {
        if let Some(stop) = self.watchers.remove(group) {
            stop.trigger();
        }
        if let Ok(mut seen) = self.seen.lock() {
            let _ = seen.forget(&group.to_string());
        }
    }

    fn print(&self, line: String) {
        print_to(&self.printer, line);
    }
}

/// Prints one line above the prompt. Each line ends itself: outside
/// `readline` rustyline writes the text as it is, inside it adds the line
/// break only if missing.
fn print_to(printer: &SharedPrinter, line: String) {
    if let Ok(mut printer) = printer.lock() {
        let _ = printer.print(format!("{line}\n"));
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        for stop in self.watchers.values() {
            stop.trigger();
        }
    }
}
