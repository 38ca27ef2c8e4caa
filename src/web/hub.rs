//! The user's side of `huddle web`, shared by every open tab: the user's
//! client (their key and id), the groups they are in, each followed by a
//! [`Watch`] on a thread of its own (new messages in seq order, gaps filled
//! from history, as the terminal client does), what they have seen (the
//! same last-seen file as the terminal client), and a thread that asks the
//! directory every few seconds. Whatever changes is sent to every tab.

use super::wire::{FromPage, GroupView, ToPage};
use crate::client::live::Watch;
use crate::client::seen::LastSeen;
use crate::client::{Client, ClientError};
use crate::protocol::{Address, ListedGroup};
use crate::shutdown::Shutdown;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;

/// The longest message id taken from the page (a UUID is 36 bytes).
const MAX_MSG_ID_BYTES: usize = 64;
/// Messages a page of scrollback holds.
pub const HISTORY_PAGE: usize = 50;
/// How often the directory is asked for its groups.
const DIRECTORY_INTERVAL: Duration = Duration::from_secs(3);
/// How long a watch waits for news before looking again.
const WAIT_FOR_NEWS: Duration = Duration::from_secs(3600);
/// How long a watch whose group failed waits before trying again.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// Events kept for a tab that reads slowly; one further behind is sent the
/// whole state again.
pub const EVENT_BUFFER: usize = 1024;

pub struct Hub {
    client: Mutex<Client>,
    directory: Address,
    host: Address,
    seen: Arc<Mutex<LastSeen>>,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<ToPage>,
}

#[derive(Default)]
struct State {
    listed: Vec<ListedGroup>,
    directory_answers: bool,
    /// The groups the user is in, by name.
    followed: HashMap<String, Followed>,
}

struct Followed {
    address: Address,
    /// Requests to this group go on a client of their own, so that a
    /// group that does not answer holds up no other.
    requests: Arc<Mutex<Client>>,
    stop: Shutdown,
    /// The latest seq the group's watch handed out.
    latest: u64,
    answering: bool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// The hub of `client`'s user, following the groups they followed last
    /// time (in `config_dir`'s last-seen file), and watching the directory.
    pub fn start(client: Client, directory: Address, host: Address, config_dir: &std::path::Path) -> Arc<Hub> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let seen = Arc::new(Mutex::new(LastSeen::load(config_dir)));
        let hub = Arc::new(Hub { client: Mutex::new(client), directory, host, seen, state: Arc::default(), events });
        let remembered = locked(&hub.seen).groups();
        for group in remembered {
            hub.follow(group.name.clone().unwrap_or_else(|| group.address.to_string()), group.address);
        }
        let watcher = hub.clone();
        std::thread::Builder::new()
            .name("web directory".into())
            .spawn(move || watcher.watch_directory())
            .expect("the OS can start a thread");
        hub
    }

    /// Events for one more tab.
    pub fn subscribe(&self) -> broadcast::Receiver<ToPage> {
        self.events.subscribe()
    }

    /// Who the user is, for the page's header.
    pub fn hello(&self) -> ToPage {
        ToPage::Hello { user: locked(&self.client).user_uuid().to_owned() }
    }

    /// The groups as the page lists them: the directory's and the user's.
    pub fn groups(&self) -> ToPage {
        let state = locked(&self.state);
        let seen = locked(&self.seen);
        let mut groups: Vec<GroupView> = state
            .listed
            .iter()
            .filter(|listed| !state.followed.contains_key(&listed.name))
            .map(|listed| GroupView {
                name: listed.name.clone(),
                address: listed.address.to_string(),
                joined: false,
                unread: 0,
                answering: true,
            })
            .collect();
        groups.extend(state.followed.iter().map(|(name, followed)| {
            let seen_seq = seen.get(&followed.address.to_string()).unwrap_or(0);
            GroupView {
                name: name.clone(),
                address: followed.address.to_string(),
                joined: true,
                unread: followed.latest.saturating_sub(seen_seq),
                answering: followed.answering,
            }
        }));
        groups.sort_by(|a, b| (!a.joined, &a.name).cmp(&(!b.joined, &b.name)));
        ToPage::Groups { directory_answers: state.directory_answers, groups }
    }

    /// Does what the page asked; what to tell that page alone.
    pub fn handle(self: &Arc<Hub>, request: FromPage) -> Vec<ToPage> {
        match self.apply(request) {
            Ok(replies) => replies,
            Err(error) => vec![ToPage::Error { text: error.to_string() }],
        }
    }

    fn apply(self: &Arc<Hub>, request: FromPage) -> Result<Vec<ToPage>, ClientError> {
        match request {
            FromPage::Groups => Ok(vec![self.groups()]),
            FromPage::Join { group } => {
                let found = locked(&self.client).resolve(&self.directory, &group)?;
                locked(&self.client).join(&found.address)?;
                self.follow(group.clone(), found.address);
                Ok(vec![ToPage::Joined { group }])
            }
            FromPage::Create { name } => {
                let mut client = locked(&self.client);
                let address = client.create_unlisted(&self.directory, &self.host, &name, false)?;
                client.join(&address)?;
                client.wait_listed(&self.directory, &name, &address, Duration::from_secs(3));
                drop(client);
                self.follow(name.clone(), address);
                Ok(vec![ToPage::Joined { group: name }])
            }
            FromPage::Leave { group } => {
                let (address, client) = self.address_of(&group)?;
                locked(&client).leave(&address)?;
                if let Some(followed) = locked(&self.state).followed.remove(&group) {
                    followed.stop.trigger();
                }
                let _ = locked(&self.seen).forget(&address.to_string());
                self.tell_everyone(self.groups());
                Ok(Vec::new())
            }
            FromPage::Send { group, text, msg_id } => {
                let (address, client) = self.address_of(&group)?;
                if msg_id.is_empty() || msg_id.len() > MAX_MSG_ID_BYTES {
                    return Ok(vec![ToPage::Error { text: "the page sent a message without a usable id".into() }]);
                }
                match locked(&client).send_with_id(&address, &text, &msg_id) {
                    Ok(_) => Ok(Vec::new()),
                    Err(error) => Ok(vec![ToPage::NotSent { group, text, msg_id, error: error.to_string() }]),
                }
            }
            FromPage::History { group, before_seq } => {
                let (address, client) = self.address_of(&group)?;
                let before = before_seq.unwrap_or(u64::MAX);
                let (messages, more) = locked(&client).page_before(&address, before, HISTORY_PAGE)?;
                Ok(vec![ToPage::History { group, messages, more, before_seq }])
            }
            FromPage::Seen { group, seq } => {
                let (address, _) = self.address_of(&group)?;
                {
                    let mut seen = locked(&self.seen);
                    let key = address.to_string();
                    if seen.get(&key).is_none_or(|shown| shown < seq) {
                        let _ = seen.set(&key, seq);
                    }
                }
                self.tell_everyone(self.groups());
                Ok(Vec::new())
            }
        }
    }

    /// The address of a group the user is in, and the client for it.
    fn address_of(&self, group: &str) -> Result<(Address, Arc<Mutex<Client>>), ClientError> {
        let state = locked(&self.state);
        match state.followed.get(group) {
            Some(followed) => Ok((followed.address.clone(), followed.requests.clone())),
            None => Err(ClientError::UnknownGroup { name: group.to_owned(), directory: self.directory.clone() }),
        }
    }

    fn tell_everyone(&self, event: ToPage) {
        // Nobody listening (no tab open) is no error.
        let _ = self.events.send(event);
    }

    /// Follows group `name` at `address` on a thread of its own: its new
    /// messages and whether it answers go to every tab.
    fn follow(self: &Arc<Hub>, name: String, address: Address) {
        let Ok(stop) = Shutdown::new() else { return };
        let fresh = || locked(&self.client).fresh();
        let (client, requests) = match fresh().and_then(|client| Ok((client, fresh()?))) {
            Ok(clients) => clients,
            Err(error) => return self.tell_everyone(ToPage::Error { text: error.to_string() }),
        };
        {
            let mut state = locked(&self.state);
            if state.followed.contains_key(&name) {
                return;
            }
            let followed = Followed {
                address: address.clone(),
                requests: Arc::new(Mutex::new(requests)),
                stop: stop.clone(),
                latest: 0,
                answering: true,
            };
            state.followed.insert(name.clone(), followed);
        }
        let key = address.to_string();
        let last = {
            let mut seen = locked(&self.seen);
            let _ = seen.set_name(&key, &name);
            seen.get(&key)
        };
        self.tell_everyone(self.groups());
        let hub = self.clone();
        std::thread::spawn(move || hub.run_watch(name, address, client, last, stop));
    }

    fn run_watch(&self, name: String, address: Address, client: Client, last: Option<u64>, stop: Shutdown) {
        let mut client = Some(client);
        let mut watch = loop {
            let attempt = match client.take().map_or_else(|| locked(&self.client).fresh(), Ok) {
                Ok(attempt) => attempt,
                Err(error) => return self.tell_everyone(ToPage::Error { text: error.to_string() }),
            };
            match Watch::start(attempt, &address, last, 0) {
                Ok(watch) => break watch.stop_on(&stop),
                Err(error) => {
                    self.tell_everyone(ToPage::Error { text: error.to_string() });
                    if stop.wait(RETRY_INTERVAL * 20) {
                        return;
                    }
                }
            }
        };
        let mut answering = true;
        while !stop.is_triggered() {
            match watch.next(WAIT_FOR_NEWS) {
                Ok(messages) => {
                    if watch.answering() != answering {
                        answering = watch.answering();
                        self.update(&name, |followed| followed.answering = answering);
                        self.tell_everyone(ToPage::Answering { group: name.clone(), answering });
                    }
                    if let Some(seq) = watch.last_seq() {
                        self.update(&name, |followed| followed.latest = followed.latest.max(seq));
                    }
                    if !messages.is_empty() {
                        self.tell_everyone(ToPage::Messages { group: name.clone(), messages });
                        self.tell_everyone(self.groups());
                    }
                }
                Err(_) => {
                    if stop.wait(RETRY_INTERVAL) {
                        break;
                    }
                }
            }
        }
        watch.stop();
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut Followed)) {
        if let Some(followed) = locked(&self.state).followed.get_mut(name) {
            change(followed);
        }
    }

    /// Asks the directory for its groups every few seconds, telling every
    /// tab when they or its answering change.
    fn watch_directory(&self) {
        let Ok(mut client) = locked(&self.client).fresh() else { return };
        loop {
            let listed = client.group_list(&self.directory);
            let changed = {
                let mut state = locked(&self.state);
                let (answers, listed) = match listed {
                    Ok(listed) => (true, listed),
                    Err(_) => (false, state.listed.clone()),
                };
                let changed = answers != state.directory_answers || listed != state.listed;
                (state.directory_answers, state.listed) = (answers, listed);
                changed
            };
            if changed {
                self.tell_everyone(self.groups());
            }
            std::thread::sleep(DIRECTORY_INTERVAL);
        }
    }
}
