//! The groups the directory knows, keyed by address as the seed keys them
//! (registering an address again replaces its name and keeps its place), and
//! whether each one is alive. Only the living are listed; the dead are kept,
//! and listed again as soon as they are heard from.
//!
//! A huddle group heartbeats: it registers every `heartbeat_ms`, and is
//! alive while it was heard from within [`SILENT_HEARTBEATS`] intervals. A
//! group of a `huddle host` names its host (`host`): it is alive while any
//! registration naming that host was heard within the intervals, so a host
//! of 10,000 groups heartbeats once an interval, not 10,000 times. A seed
//! group registers once: the directory's prober asks it, and it is alive
//! while it answers.
//!
//! Over CURVE a group registers with its own key, and the directory holds
//! it to that key: a name first registered with a key belongs to that key,
//! and so does an address; a registration from another key is refused and
//! changes nothing. The listing gives huddle's clients each group's key.

use crate::keys::PublicKey;
use crate::protocol::group_list_entry;
use crate::store::SavedRegistration;
use crate::transport::is_loopback;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A group silent this long is forgotten, in memory and on disk: a
/// directory does not keep the dead (or the fake) forever.
pub const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// A heartbeating group missing this many intervals in a row is unlisted.
pub const SILENT_HEARTBEATS: u32 = 3;
/// Heartbeat intervals outside these bounds are taken as the nearest bound.
const HEARTBEAT_BOUNDS: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(60));

#[derive(Debug, Clone, PartialEq)]
enum Liveness {
    /// Registers every `every`; last heard at `last_heard` (`None`: not since
    /// the directory started).
    Heartbeat { every: Duration, last_heard: Option<Instant> },
    /// Alive while its host is heard from every `every`.
    Hosted { host: String, every: Duration },
    /// Registers once; alive while it answers the prober.
    Probed { answering: bool },
}

#[derive(Debug)]
struct Entry {
    address: String,
    name: String,
    liveness: Liveness,
    /// The key it registered with, over CURVE.
    key: Option<PublicKey>,
    /// When it was last heard from or answered a probe (for a restored
    /// entry: when the directory started).
    last_alive: Instant,
}

impl Entry {
    /// Whether it is alive at `now`, its host last heard at `hosts`.
    fn is_alive(&self, now: Instant, hosts: &HashMap<String, Instant>) -> bool {
        let heard_within = |heard: Option<&Instant>, every: Duration| {
            heard.is_some_and(|heard| now.saturating_duration_since(*heard) <= every * SILENT_HEARTBEATS)
        };
        match &self.liveness {
            Liveness::Heartbeat { every, last_heard } => heard_within(last_heard.as_ref(), *every),
            Liveness::Hosted { host, every } => heard_within(hosts.get(host), *every),
            Liveness::Probed { answering } => *answering,
        }
    }

    fn saved(&self) -> SavedRegistration {
        let (heartbeat_ms, host) = match &self.liveness {
            Liveness::Heartbeat { every, .. } => (Some(every.as_millis() as u64), None),
            Liveness::Hosted { host, every } => (Some(every.as_millis() as u64), Some(host.clone())),
            Liveness::Probed { .. } => (None, None),
        };
        let key = self.key.as_ref().map(|key| key.as_str().to_owned());
        SavedRegistration { address: self.address.clone(), name: self.name.clone(), heartbeat_ms, key, host }
    }
}

/// What registers: a name at an address, how it keeps alive, with which
/// key, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration<'a> {
    pub name: &'a str,
    /// `HOST:PORT`, normalised (see [`crate::protocol::Address::normalized`]).
    pub address: &'a str,
    pub heartbeat_ms: Option<u64>,
    /// The host serving the group (`HOST:PORT`, normalised), when it heartbeats for it.
    pub host: Option<&'a str>,
    pub key: Option<&'a PublicKey>,
    /// The IP address the registration came from, as ZeroMQ saw it.
    pub from: Option<&'a str>,
}

/// What the directory takes in, bounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// The most groups it remembers (`--max-groups`).
    pub max_groups: usize,
    /// Probe a group that registers once from any host, not only from its
    /// own (`--probe-any-host`): the seed's groups registering across hosts.
    pub probe_any_host: bool,
}

/// The longest group name taken, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
pub const DEFAULT_MAX_GROUPS: usize = 10_000;

impl Default for Admission {
    fn default() -> Admission {
        Admission { max_groups: DEFAULT_MAX_GROUPS, probe_any_host: false }
    }
}

/// Why a registration is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refused {
    #[error("the name {name:?} belongs to the group with key {owner}: pick another name")]
    NameTaken { name: String, owner: PublicKey },
    #[error("{address} is registered by the group with key {owner}: only that group can register it again")]
    AddressTaken { address: String, owner: PublicKey },
    #[error("a group name is 1 to {MAX_NAME_BYTES} bytes; this one is {0}")]
    BadName(usize),
    #[error("the directory holds {0} groups already (--max-groups)")]
    Full(usize),
    #[error(
        "a group that registers once is probed for liveness, and the directory probes only the host a \
         registration comes from ({from}): register from {host}, heartbeat (huddle's groups do), or start the \
         directory with --probe-any-host"
    )]
    ProbeElsewhere { host: String, from: String },
    #[error("a group's host must be on the group's own IP: {group} names {host}")]
    HostElsewhere { group: String, host: String },
    #[error("a group that names its host heartbeats: send heartbeat_ms with host")]
    HostWithoutHeartbeat,
}

#[derive(Debug, Default)]
pub struct Registry {
    /// In the order the addresses first registered.
    entries: Vec<Entry>,
    /// Where each address's entry is.
    by_address: HashMap<String, usize>,
    /// The entries of each name (the seed lets a name be registered at
    /// several addresses).
    by_name: HashMap<String, Vec<usize>>,
    /// When each host was last heard from.
    hosts: HashMap<String, Instant>,
    admission: Admission,
}

impl Registry {
    /// A registry that remembers `saved` registrations, none of them alive
    /// until heard from or probed.
    pub fn restore(saved: Vec<SavedRegistration>, admission: Admission) -> Registry {
        let entries = saved
            .into_iter()
            .map(|saved| Entry {
                liveness: liveness(saved.heartbeat_ms, saved.host, None),
                key: saved.key.and_then(|key| PublicKey::parse(&key).ok()),
                last_alive: Instant::now(),
                address: saved.address,
                name: saved.name,
            })
            .collect();
        let mut registry = Registry { entries, admission, ..Registry::default() };
        registry.reindex();
        registry
    }

    /// Rebuilds the look-ups from the entries.
    fn reindex(&mut self) {
        self.by_address.clear();
        self.by_name.clear();
        for (index, entry) in self.entries.iter().enumerate() {
            self.by_address.insert(entry.address.clone(), index);
            self.by_name.entry(entry.name.clone()).or_default().push(index);
        }
    }

    fn entry(&self, address: &str) -> Option<&Entry> {
        self.by_address.get(address).map(|index| &self.entries[*index])
    }

    /// What a registration would change on disk: the registration to save
    /// when the address is new or its name, kind or key changed, `None` for
    /// a plain heartbeat; refused when the name or the address belongs to
    /// another key. Nothing changes until [`Registry::register`].
    pub fn change(&self, registration: &Registration) -> Result<Option<SavedRegistration>, Refused> {
        if registration.name.is_empty() || registration.name.len() > MAX_NAME_BYTES {
            return Err(Refused::BadName(registration.name.len()));
        }
        self.check_probe_host(registration)?;
        check_host(registration)?;
        let other_owner = |entry: &Entry| entry.key.clone().filter(|owner| Some(owner) != registration.key);
        let same_name = self.by_name.get(registration.name).into_iter().flatten().map(|index| &self.entries[*index]);
        if let Some(owner) = same_name.filter_map(other_owner).next() {
            return Err(Refused::NameTaken { name: registration.name.to_owned(), owner });
        }
        let existing = self.entry(registration.address);
        if let Some(owner) = existing.and_then(other_owner) {
            return Err(Refused::AddressTaken { address: registration.address.to_owned(), owner });
        }
        let wanted = SavedRegistration {
            address: registration.address.to_owned(),
            name: registration.name.to_owned(),
            heartbeat_ms: registration.heartbeat_ms.map(|ms| clamp_heartbeat(ms).as_millis() as u64),
            key: registration.key.map(|key| key.as_str().to_owned()),
            host: registration.host.map(str::to_owned),
        };
        match existing {
            Some(entry) if entry.saved() == wanted => Ok(None),
            Some(_) => Ok(Some(wanted)),
            None if self.entries.len() >= self.admission.max_groups => Err(Refused::Full(self.entries.len())),
            None => Ok(Some(wanted)),
        }
    }

    /// A group that will be probed must register from its own host (or
    /// from this machine), so that nobody can point the prober at a third
    /// party.
    fn check_probe_host(&self, registration: &Registration) -> Result<(), Refused> {
        let (None, Some(from), false) = (registration.heartbeat_ms, registration.from, self.admission.probe_any_host)
        else {
            return Ok(());
        };
        let host = registration.address.rsplit_once(':').map_or("", |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if is_loopback(from) || host == from {
            return Ok(());
        }
        Err(Refused::ProbeElsewhere { host: host.to_owned(), from: from.to_owned() })
    }

    /// Records a registration heard `now` (saved first, when
    /// [`Registry::change`] said so).
    pub fn register(&mut self, registration: &Registration, now: Instant) {
        let host = registration.host.map(str::to_owned);
        // Port 0 is no host: a host names it for a group it deleted, which
        // is then never alive again.
        if let Some(host) = host.as_ref().filter(|host| !host.ends_with(":0")) {
            self.hosts.insert(host.clone(), now);
        }
        let liveness = liveness(registration.heartbeat_ms, host, Some(now));
        let (name, key) = (registration.name.to_owned(), registration.key.cloned());
        let index = match self.by_address.get(registration.address) {
            Some(&index) => index,
            None => {
                self.entries.push(Entry {
                    address: registration.address.to_owned(),
                    name: name.clone(),
                    liveness: liveness.clone(),
                    key: key.clone(),
                    last_alive: now,
                });
                let index = self.entries.len() - 1;
                self.by_address.insert(registration.address.to_owned(), index);
                self.by_name.entry(name.clone()).or_default().push(index);
                index
            }
        };
        let entry = &mut self.entries[index];
        if entry.name != name {
            if let Some(named) = self.by_name.get_mut(&entry.name) {
                named.retain(|other| *other != index);
            }
            self.by_name.entry(name.clone()).or_default().push(index);
        }
        entry.name = name;
        entry.liveness = liveness;
        entry.key = key;
        entry.last_alive = now;
    }

    /// The living groups as the seed lists them: `"NAME - IP:PORT"`; with
    /// `keys`, a keyed group's address is `KEY@IP:PORT`.
    pub fn list(&self, now: Instant, keys: bool) -> Vec<String> {
        let address = |entry: &Entry| match (&entry.key, keys) {
            (Some(key), true) => format!("{key}@{}", entry.address),
            _ => entry.address.clone(),
        };
        self.entries
            .iter()
            .filter(|entry| entry.is_alive(now, &self.hosts))
            .map(|entry| group_list_entry(&entry.name, &address(entry)))
            .collect()
    }

    /// The addresses of the groups that only a probe can tell about.
    pub fn probe_targets(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|entry| matches!(entry.liveness, Liveness::Probed { .. }))
            .map(|entry| entry.address.clone())
            .collect()
    }

    /// Records a probe's outcome at `now`; `true` when it changed the
    /// group's state.
    pub fn probed(&mut self, address: &str, answering: bool, now: Instant) -> bool {
        let Some(&index) = self.by_address.get(address) else { return false };
        let entry = &mut self.entries[index];
        if answering {
            entry.last_alive = now;
        }
        match &mut entry.liveness {
            Liveness::Probed { answering: known } if *known != answering => {
                *known = answering;
                true
            }
            _ => false,
        }
    }

    /// The addresses of groups silent for [`FORGET_AFTER`] at `now`.
    pub fn long_dead(&self, now: Instant) -> Vec<String> {
        let dead = |entry: &&Entry| {
            !entry.is_alive(now, &self.hosts) && now.saturating_duration_since(entry.last_alive) >= FORGET_AFTER
        };
        self.entries.iter().filter(dead).map(|entry| entry.address.clone()).collect()
    }

    /// Forgets the group at `address` (removed from disk first).
    pub fn forget(&mut self, address: &str) {
        self.entries.retain(|entry| entry.address != address);
        self.reindex();
        let hosts: std::collections::HashSet<&str> = self
            .entries
            .iter()
            .filter_map(|entry| match &entry.liveness {
                Liveness::Hosted { host, .. } => Some(host.as_str()),
                _ => None,
            })
            .collect();
        self.hosts.retain(|host, _| hosts.contains(host.as_str()));
    }
}

/// A group may name as its host only a server on its own IP, so that its
/// liveness cannot be tied to some other machine's.
fn check_host(registration: &Registration) -> Result<(), Refused> {
    let Some(host) = registration.host else { return Ok(()) };
    if registration.heartbeat_ms.is_none() {
        return Err(Refused::HostWithoutHeartbeat);
    }
    let ip = |address: &str| address.rsplit_once(':').map_or("", |(ip, _)| ip).to_owned();
    if ip(host) != ip(registration.address) {
        return Err(Refused::HostElsewhere { group: registration.address.to_owned(), host: host.to_owned() });
    }
    Ok(())
}

fn liveness(heartbeat_ms: Option<u64>, host: Option<String>, heard: Option<Instant>) -> Liveness {
    match (heartbeat_ms, host) {
        (Some(ms), Some(host)) => Liveness::Hosted { host, every: clamp_heartbeat(ms) },
        (Some(ms), None) => Liveness::Heartbeat { every: clamp_heartbeat(ms), last_heard: heard },
        (None, _) => Liveness::Probed { answering: heard.is_some() },
    }
}

fn clamp_heartbeat(ms: u64) -> Duration {
    Duration::from_millis(ms).clamp(HEARTBEAT_BOUNDS.0, HEARTBEAT_BOUNDS.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;

    fn plain<'a>(name: &'a str, address: &'a str, heartbeat_ms: Option<u64>) -> Registration<'a> {
        Registration { name, address, heartbeat_ms, host: None, key: None, from: None }
    }

    #[test]
    fn what_the_directory_takes_in_is_bounded() {
        let mut registry = Registry::restore(Vec::new(), Admission { max_groups: 2, probe_any_host: false });
        let now = Instant::now();
        assert_eq!(registry.change(&plain("", "h:1", None)), Err(Refused::BadName(0)));
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(matches!(registry.change(&plain(&long, "h:1", None)), Err(Refused::BadName(_))));
        registry.register(&plain("a", "h:1", Some(2000)), now);
        registry.register(&plain("b", "h:2", Some(2000)), now);
        assert_eq!(registry.change(&plain("c", "h:3", Some(2000))), Err(Refused::Full(2)));
        assert!(registry.change(&plain("renamed", "h:2", Some(2000))).is_ok(), "a known address is no new group");
    }

    #[test]
    fn only_a_groups_own_host_may_have_it_probed() {
        let registry = Registry::default();
        let from = |from, heartbeat_ms| Registration {
            name: "g",
            address: "10.0.0.5:5560",
            heartbeat_ms,
            host: None,
            key: None,
            from: Some(from),
        };
        assert!(registry.change(&from("10.0.0.5", None)).is_ok());
        assert!(registry.change(&from("127.0.0.1", None)).is_ok(), "this machine");
        assert!(matches!(registry.change(&from("10.0.0.9", None)), Err(Refused::ProbeElsewhere { .. })));
        assert!(registry.change(&from("10.0.0.9", Some(2000))).is_ok(), "a heartbeating group is never probed");
        let open = Registry::restore(Vec::new(), Admission { probe_any_host: true, ..Admission::default() });
        assert!(open.change(&from("10.0.0.9", None)).is_ok());
    }

    #[test]
    fn re_registering_an_address_replaces_its_name_in_place() {
        let mut registry = Registry::default();
        let now = Instant::now();
        for (name, address) in [("a", "h:1"), ("b", "h:2"), ("b", "h:2"), ("c", "h:1")] {
            registry.register(&plain(name, address, None), now);
        }
        assert_eq!(registry.list(now, false), ["c - h:1", "b - h:2"]);
    }

    #[test]
    fn a_change_is_only_planned_until_registered() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let change = registry.change(&plain("a", "h:1", Some(2000))).unwrap().expect("a new address is saved");
        let expected = SavedRegistration {
            address: "h:1".into(),
            name: "a".into(),
            heartbeat_ms: Some(2000),
            key: None,
            host: None,
        };
        assert_eq!(change, expected);
        assert!(registry.list(now, false).is_empty(), "nothing changed yet");
        assert!(registry.change(&plain("a", "h:1", Some(2000))).unwrap().is_some(), "still to save until registered");
        registry.register(&plain("a", "h:1", Some(2000)), now);
        assert!(registry.change(&plain("a", "h:1", Some(2000))).unwrap().is_none());
        assert!(registry.change(&plain("renamed", "h:1", Some(2000))).unwrap().is_some());
        assert!(registry.change(&plain("a", "h:1", None)).unwrap().is_some(), "a change of kind is saved");
    }

    #[test]
    fn a_name_and_an_address_belong_to_the_key_that_registered_them() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let (owner, thief) = (KeyPair::generate().unwrap().public, KeyPair::generate().unwrap().public);
        let keyed = |name, address, key| Registration {
            name,
            address,
            heartbeat_ms: Some(2000),
            host: None,
            key: Some(key),
            from: None,
        };
        registry.register(&keyed("ops", "h:1", &owner), now);
        let refused = registry.change(&keyed("ops", "h:9", &thief)).unwrap_err();
        assert_eq!(refused, Refused::NameTaken { name: "ops".into(), owner: owner.clone() });
        assert!(matches!(registry.change(&keyed("other", "h:1", &thief)), Err(Refused::AddressTaken { .. })));
        assert!(matches!(registry.change(&plain("ops", "h:9", Some(2000))), Err(Refused::NameTaken { .. })));
        assert!(registry.change(&keyed("ops", "h:2", &owner)).is_ok(), "the owner may move");
        assert_eq!(registry.list(now, false), ["ops - h:1"]);
        assert_eq!(registry.list(now, true), [format!("ops - {owner}@h:1")]);
    }

    #[test]
    fn a_silent_heartbeat_group_is_unlisted_and_comes_back() {
        let mut registry = Registry::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        registry.register(&plain("g", "h:1", Some(2000)), start);
        assert_eq!(registry.list(start + 6 * second, false), ["g - h:1"]);
        assert!(registry.list(start + 7 * second, false).is_empty());
        assert!(registry.change(&plain("g", "h:1", Some(2000))).unwrap().is_none(), "a heartbeat saves nothing");
        registry.register(&plain("g", "h:1", Some(2000)), start + 8 * second);
        assert_eq!(registry.list(start + 8 * second, false), ["g - h:1"]);
    }

    #[test]
    fn a_group_silent_for_a_week_is_forgotten() {
        let mut registry = Registry::default();
        let start = Instant::now();
        registry.register(&plain("gone", "h:1", Some(2000)), start);
        registry.register(&plain("probed", "h:2", None), start);
        registry.register(&plain("alive", "h:3", Some(2000)), start);
        registry.probed("h:2", false, start);
        let later = start + FORGET_AFTER;
        registry.register(&plain("alive", "h:3", Some(2000)), later);
        assert!(registry.long_dead(later - Duration::from_secs(1)).is_empty(), "not yet");
        assert_eq!(registry.long_dead(later), ["h:1", "h:2"]);
        registry.forget("h:1");
        registry.forget("h:2");
        assert_eq!(registry.list(later, false), ["alive - h:3"]);
        assert!(registry.change(&plain("gone", "h:1", Some(2000))).unwrap().is_some(), "a forgotten group may return");
    }

    #[test]
    fn a_probed_group_is_listed_while_it_answers() {
        let mut registry = Registry::default();
        let now = Instant::now();
        registry.register(&plain("seed", "h:1", None), now);
        registry.register(&plain("huddle", "h:2", Some(2000)), now);
        assert_eq!(registry.probe_targets(), ["h:1"]);
        assert!(registry.probed("h:1", false, now));
        assert_eq!(registry.list(now, false), ["huddle - h:2"]);
        assert!(registry.probed("h:1", true, now));
        assert_eq!(registry.list(now, false), ["seed - h:1", "huddle - h:2"]);
    }

    #[test]
    fn restored_groups_wait_to_be_heard_from() {
        let saved = vec![
            SavedRegistration { address: "h:1".into(), name: "seed".into(), heartbeat_ms: None, key: None, host: None },
            SavedRegistration {
                address: "h:2".into(),
                name: "huddle".into(),
                heartbeat_ms: Some(2000),
                key: None,
                host: None,
            },
        ];
        let mut registry = Registry::restore(saved, Admission::default());
        let now = Instant::now();
        assert!(registry.list(now, false).is_empty());
        assert_eq!(registry.probe_targets(), ["h:1"]);
        registry.probed("h:1", true, now);
        registry.register(&plain("huddle", "h:2", Some(2000)), now);
        assert_eq!(registry.list(now, false), ["seed - h:1", "huddle - h:2"]);
    }

    #[test]
    fn a_hosts_groups_live_while_any_registration_names_the_host() {
        let mut registry = Registry::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let hosted = |name, address| Registration {
            name,
            address,
            heartbeat_ms: Some(2000),
            host: Some("h:5599"),
            key: None,
            from: None,
        };
        registry.register(&hosted("a", "h:1"), start);
        registry.register(&hosted("b", "h:2"), start);
        // Only "a" is heard from again: "b" lives on through the host.
        registry.register(&hosted("a", "h:1"), start + 5 * second);
        assert_eq!(registry.list(start + 10 * second, false), ["a - h:1", "b - h:2"]);
        assert!(registry.list(start + 12 * second, false).is_empty(), "the host went silent: all its groups go");
        assert!(registry.change(&hosted("b", "h:2")).unwrap().is_none(), "a heartbeat saves nothing");
        let elsewhere = Registration { host: Some("other:5599"), ..hosted("c", "h:3") };
        assert!(matches!(registry.change(&elsewhere), Err(Refused::HostElsewhere { .. })));
        let silent = Registration { heartbeat_ms: None, ..hosted("c", "h:3") };
        assert_eq!(registry.change(&silent), Err(Refused::HostWithoutHeartbeat));
    }

    #[test]
    fn a_renamed_address_is_found_by_its_new_name_only() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let owner = KeyPair::generate().unwrap().public;
        let keyed = |name, address| Registration {
            name,
            address,
            heartbeat_ms: Some(2000),
            host: None,
            key: Some(&owner),
            from: None,
        };
        registry.register(&keyed("old", "h:1"), now);
        registry.register(&keyed("new", "h:1"), now);
        assert!(registry.change(&plain("old", "h:2", Some(2000))).is_ok(), "the old name is free");
        assert!(matches!(registry.change(&plain("new", "h:2", Some(2000))), Err(Refused::NameTaken { .. })));
    }
}
