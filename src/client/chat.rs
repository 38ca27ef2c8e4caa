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
use crate::protocol::{Address, WireMessage};
use crate::shutdown::Shutdown;
use console::style;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages shown on joining a group the user has not watched before.
const JOIN_BACKLOG: u64 = 10;
/// Messages shown per group when catching up after time away; earlier
/// ones are counted, not shown.
const CATCH_UP: usize = 20;
/// The group the user last talked in, in the config directory.
const CURRENT_FILE: &str = "current-group.json";
/// The name the user chose with /nick, in the config directory.
const NICK_FILE: &str = "nick";
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
    current_file: std::path::PathBuf,
    outbox: Outbox,
}

/// Messages typed for groups that did not answer: (msg_id, text) by
/// group, sent by the group's watch when it answers again.
type Outbox = Arc<Mutex<HashMap<Address, Vec<(String, String)>>>>;

/// How often a watch with messages waiting looks whether they can go.
const OUTBOX_RETRY: Duration = Duration::from_secs(5);

impl Live {
    pub fn new(client: Client, printer: SharedPrinter, config_dir: &Path) -> Live {
        let seen = Arc::new(Mutex::new(LastSeen::load(config_dir)));
        let current_file = config_dir.join(CURRENT_FILE);
        Live { client, printer, seen, watchers: HashMap::new(), current_file, outbox: Outbox::default() }
    }

    /// Keeps a message for `group`, which did not answer, to send when it
    /// does (under the same `msg_id`: stored once even if the first try got
    /// through after all).
    pub fn hold(&self, group: &NamedGroup, msg_id: String, text: String) {
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.entry(group.address.clone()).or_default().push((msg_id, text));
        }
        self.print(format!(
            "{} {} does not answer: your message waits and goes when it is back",
            style("⧗").yellow(),
            visible(&group.to_string())
        ));
    }

    /// Messages still waiting, by group, as the session ends.
    pub fn pending(&self) -> Vec<(Address, usize)> {
        let outbox = self.outbox.lock().map(|outbox| outbox.clone()).unwrap_or_default();
        outbox.into_iter().filter(|(_, held)| !held.is_empty()).map(|(group, held)| (group, held.len())).collect()
    }

    /// The group the user last talked in, if it is still remembered.
    pub fn last_current(&self) -> Option<NamedGroup> {
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&self.current_file).ok()?).ok()?;
        let address = Address::parse(saved["address"].as_str()?).ok()?;
        let remembered = self.seen.lock().ok()?.get(&address.to_string()).is_some();
        let name = saved["name"].as_str().map(str::to_owned);
        remembered.then_some(NamedGroup { name, address })
    }

    /// The name the user chose with /nick, if any.
    pub fn nick(&self) -> Option<String> {
        let dir = self.current_file.parent()?;
        let nick = std::fs::read_to_string(dir.join(NICK_FILE)).ok()?;
        Some(nick.trim().to_owned()).filter(|nick| !nick.is_empty())
    }

    /// Remembers the name the user chose, for the groups they join later.
    pub fn remember_nick(&self, nick: &str) {
        if let Some(dir) = self.current_file.parent() {
            let _ = std::fs::write(dir.join(NICK_FILE), format!("{nick}\n"));
        }
    }

    /// Remembers `group` as the one the user talks in, for the next session.
    pub fn remember_current(&self, group: &NamedGroup) {
        let saved = serde_json::json!({"address": group.address.to_string(), "name": group.name});
        let temporary = self.current_file.with_extension(format!("json.{}.tmp", std::process::id()));
        if std::fs::write(&temporary, saved.to_string()).is_ok() {
            let _ = std::fs::rename(&temporary, &self.current_file);
        }
    }

    /// Shows what arrived in `groups` while the user was away, all groups
    /// merged in time order: at most [`CATCH_UP`] messages a group, the
    /// earlier ones counted ("...180 earlier messages in lobby"). What is
    /// shown is marked, so the watches started next begin after it.
    pub fn catch_up(&self, client: &mut Client, groups: &[NamedGroup]) {
        let marked: Vec<(&NamedGroup, u64)> = groups
            .iter()
            .filter_map(|group| Some((group, self.seen.lock().ok()?.get(&group.address.to_string())?)))
            .collect();
        // All groups are read at once: a group that does not answer costs
        // the start one timeout, not one timeout each.
        let reads: Vec<Option<Vec<WireMessage>>> = std::thread::scope(|scope| {
            let reading: Vec<_> = marked
                .iter()
                .map(|(group, _)| {
                    let fresh = client.fresh().ok();
                    scope.spawn(move || fresh?.latest(&group.address, None, CATCH_UP).ok())
                })
                .collect();
            reading.into_iter().map(|read| read.join().ok().flatten()).collect()
        });
        let mut shown: Vec<(String, String)> = Vec::new();
        for ((group, last), latest) in marked.into_iter().zip(reads) {
            let key = group.address.to_string();
            let Some(latest) = latest else { continue };
            let Some(newest) = latest.iter().filter_map(|message| message.seq).max() else { continue };
            let unseen: Vec<&WireMessage> = latest.iter().filter(|m| m.seq.is_some_and(|seq| seq > last)).collect();
            let missed = newest.saturating_sub(last).saturating_sub(unseen.len() as u64);
            if missed > 0 {
                let name = group.name.clone().unwrap_or_else(|| key.clone());
                self.print(format!(
                    "{} {missed} earlier messages in {}: /history to read them",
                    style("…").dim(),
                    visible(&name)
                ));
            }
            for message in unseen {
                shown.push((message.timestamp.clone(), format_message(group, message, client.user_uuid())));
            }
            if let Ok(mut seen) = self.seen.lock() {
                let _ = seen.set(&key, newest);
            }
        }
        shown.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, line) in shown {
            self.print(line);
        }
    }

    /// The groups watched in an earlier session, with their names.
    pub fn remembered(&self) -> Vec<NamedGroup> {
        self.seen.lock().expect("no panics while holding the lock").groups()
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
        let outbox = self.outbox.clone();
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
            let mut answering = true;
            while !stop.is_triggered() {
                let waiting =
                    outbox.lock().is_ok_and(|outbox| outbox.get(&group.address).is_some_and(|held| !held.is_empty()));
                match watch.next(if waiting { OUTBOX_RETRY } else { WAIT_FOR_NEWS }) {
                    Ok(messages) => {
                        failing = false;
                        if waiting && watch.answering() {
                            send_held(&outbox, &group, watch.client(), &print);
                        }
                        if watch.answering() != answering {
                            answering = watch.answering();
                            print(match answering {
                                true => format!("{} {} answers again", style("✓").green(), visible(&group.to_string())),
                                false => format!(
                                    "{} {} does not answer: what arrives meanwhile is shown when it is back",
                                    style("!").red(),
                                    visible(&group.to_string())
                                ),
                            });
                        }
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

/// Sends what waits in the outbox for `group`, in the order typed; what
/// fails again stays for the next try.
fn send_held(outbox: &Outbox, group: &NamedGroup, client: &mut Client, print: &impl Fn(String)) {
    let held = outbox.lock().map(|mut outbox| outbox.remove(&group.address).unwrap_or_default()).unwrap_or_default();
    let mut sent = 0;
    let mut left = Vec::new();
    for (msg_id, text) in held {
        if left.is_empty() && client.send_with_id(&group.address, &text, &msg_id).is_ok() {
            sent += 1;
        } else {
            left.push((msg_id, text));
        }
    }
    if !left.is_empty()
        && let Ok(mut outbox) = outbox.lock()
    {
        let entry = outbox.entry(group.address.clone()).or_default();
        left.append(entry);
        *entry = left;
    }
    if sent > 0 {
        print(format!("{} sent {sent} waiting message(s) to {}", style("✓").green(), visible(&group.to_string())));
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
