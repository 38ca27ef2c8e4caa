//! The groups the directory knows, keyed by address as the seed keys them
//! (registering an address again replaces its name and keeps its place), and
//! whether each one is alive. Only the living are listed; the dead are kept,
//! and listed again as soon as they are heard from.
//!
//! A huddle group heartbeats: it registers every `heartbeat_ms`, and is
//! alive while it was heard from within [`SILENT_HEARTBEATS`] intervals. A
//! seed group registers once: the directory's prober asks it, and it is
//! alive while it answers.

use crate::protocol::group_list_entry;
use crate::store::SavedRegistration;
use std::time::{Duration, Instant};

/// A heartbeating group missing this many intervals in a row is unlisted.
pub const SILENT_HEARTBEATS: u32 = 3;
/// Heartbeat intervals outside these bounds are taken as the nearest bound.
const HEARTBEAT_BOUNDS: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(60));

#[derive(Debug, Clone, Copy, PartialEq)]
enum Liveness {
    /// Registers every `every`; last heard at `last_heard` (`None`: not since
    /// the directory started).
    Heartbeat { every: Duration, last_heard: Option<Instant> },
    /// Registers once; alive while it answers the prober.
    Probed { answering: bool },
}

#[derive(Debug)]
struct Entry {
    address: String,
    name: String,
    liveness: Liveness,
}

impl Entry {
    fn is_alive(&self, now: Instant) -> bool {
        match self.liveness {
            Liveness::Heartbeat { every, last_heard } => {
                last_heard.is_some_and(|heard| now.saturating_duration_since(heard) <= every * SILENT_HEARTBEATS)
            }
            Liveness::Probed { answering } => answering,
        }
    }

    fn saved(&self) -> SavedRegistration {
        let heartbeat_ms = match self.liveness {
            Liveness::Heartbeat { every, .. } => Some(every.as_millis() as u64),
            Liveness::Probed { .. } => None,
        };
        SavedRegistration { address: self.address.clone(), name: self.name.clone(), heartbeat_ms }
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    /// In the order the addresses first registered.
    entries: Vec<Entry>,
}

impl Registry {
    /// A registry that remembers `saved` registrations, none of them alive
    /// until heard from or probed.
    pub fn restore(saved: Vec<SavedRegistration>) -> Registry {
        let entries = saved
            .into_iter()
            .map(|saved| Entry {
                liveness: liveness(saved.heartbeat_ms, None),
                address: saved.address,
                name: saved.name,
            })
            .collect();
        Registry { entries }
    }

    /// What a registration would change on disk: the registration to save
    /// when the address is new or its name or kind of group changed, `None`
    /// for a plain heartbeat. Nothing changes until [`Registry::register`].
    pub fn change(&self, name: &str, address: &str, heartbeat_ms: Option<u64>) -> Option<SavedRegistration> {
        let wanted = SavedRegistration {
            address: address.to_owned(),
            name: name.to_owned(),
            heartbeat_ms: heartbeat_ms.map(|ms| clamp_heartbeat(ms).as_millis() as u64),
        };
        match self.entries.iter().find(|entry| entry.address == address) {
            Some(entry) if entry.saved() == wanted => None,
            _ => Some(wanted),
        }
    }

    /// Records a registration heard `now` (saved first, when
    /// [`Registry::change`] said so).
    pub fn register(&mut self, name: &str, address: &str, heartbeat_ms: Option<u64>, now: Instant) {
        let liveness = liveness(heartbeat_ms, Some(now));
        match self.entries.iter_mut().find(|entry| entry.address == address) {
            Some(entry) => {
                entry.name = name.to_owned();
                entry.liveness = liveness;
            }
            None => self.entries.push(Entry { address: address.to_owned(), name: name.to_owned(), liveness }),
        }
    }

    /// The living groups as the seed lists them: `"NAME - IP:PORT"`.
    pub fn list(&self, now: Instant) -> Vec<String> {
        self.entries
            .iter()
            .filter(|entry| entry.is_alive(now))
            .map(|entry| group_list_entry(&entry.name, &entry.address))
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

    /// Records a probe's outcome; `true` when it changed the group's state.
    pub fn probed(&mut self, address: &str, answering: bool) -> bool {
        let entry = self.entries.iter_mut().find(|entry| entry.address == address);
        match entry {
            Some(Entry { liveness: Liveness::Probed { answering: known }, .. }) if *known != answering => {
                *known = answering;
                true
            }
            _ => false,
        }
    }
}

fn liveness(heartbeat_ms: Option<u64>, heard: Option<Instant>) -> Liveness {
    match heartbeat_ms {
        Some(ms) => Liveness::Heartbeat { every: clamp_heartbeat(ms), last_heard: heard },
        None => Liveness::Probed { answering: heard.is_some() },
    }
}

fn clamp_heartbeat(ms: u64) -> Duration {
    Duration::from_millis(ms).clamp(HEARTBEAT_BOUNDS.0, HEARTBEAT_BOUNDS.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_registering_an_address_replaces_its_name_in_place() {
        let mut registry = Registry::default();
        let now = Instant::now();
        for (name, address) in [("a", "h:1"), ("b", "h:2"), ("b", "h:2"), ("c", "h:1")] {
            registry.register(name, address, None, now);
        }
        assert_eq!(registry.list(now), ["c - h:1", "b - h:2"]);
    }

    #[test]
    fn a_change_is_only_planned_until_registered() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let change = registry.change("a", "h:1", Some(2000)).expect("a new address is saved");
        assert_eq!(change, SavedRegistration { address: "h:1".into(), name: "a".into(), heartbeat_ms: Some(2000) });
        assert!(registry.list(now).is_empty(), "nothing changed yet");
        assert!(registry.change("a", "h:1", Some(2000)).is_some(), "still to save until registered");
        registry.register("a", "h:1", Some(2000), now);
        assert!(registry.change("a", "h:1", Some(2000)).is_none());
        assert!(registry.change("renamed", "h:1", Some(2000)).is_some());
        assert!(registry.change("a", "h:1", None).is_some(), "a change of kind is saved");
    }

    #[test]
    fn a_silent_heartbeat_group_is_unlisted_and_comes_back() {
        let mut registry = Registry::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        registry.register("g", "h:1", Some(2000), start);
        assert_eq!(registry.list(start + 6 * second), ["g - h:1"]);
        assert!(registry.list(start + 7 * second).is_empty());
        assert!(registry.change("g", "h:1", Some(2000)).is_none(), "a heartbeat saves nothing");
        registry.register("g", "h:1", Some(2000), start + 8 * second);
        assert_eq!(registry.list(start + 8 * second), ["g - h:1"]);
    }

    #[test]
    fn a_probed_group_is_listed_while_it_answers() {
        let mut registry = Registry::default();
        let now = Instant::now();
        registry.register("seed", "h:1", None, now);
        registry.register("huddle", "h:2", Some(2000), now);
        assert_eq!(registry.probe_targets(), ["h:1"]);
        assert!(registry.probed("h:1", false));
        assert_eq!(registry.list(now), ["huddle - h:2"]);
        assert!(registry.probed("h:1", true));
        assert_eq!(registry.list(now), ["seed - h:1", "huddle - h:2"]);
    }

    #[test]
    fn restored_groups_wait_to_be_heard_from() {
        let saved = vec![
            SavedRegistration { address: "h:1".into(), name: "seed".into(), heartbeat_ms: None },
            SavedRegistration { address: "h:2".into(), name: "huddle".into(), heartbeat_ms: Some(2000) },
        ];
        let mut registry = Registry::restore(saved);
        let now = Instant::now();
        assert!(registry.list(now).is_empty());
        assert_eq!(registry.probe_targets(), ["h:1"]);
        registry.probed("h:1", true);
        registry.register("huddle", "h:2", Some(2000), now);
        assert_eq!(registry.list(now), ["seed - h:1", "huddle - h:2"]);
    }
}
