//! Who gets new messages pushed: connections that subscribed, each for a
//! member, until its subscription expires. A subscription lasts
//! [`SUBSCRIPTION_TTL`] unless renewed (the client subscribes again), so a
//! member who went away leaves nothing behind for long.
//!
//! Pushes never wait: a connection whose queue is full (it reads too slowly,
//! see [`PUSH_QUEUE_BYTES`]) loses pushes and fills the gap from history by seq.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a subscription lasts without renewal.
pub const SUBSCRIPTION_TTL: Duration = Duration::from_secs(30);
/// Bytes queued for one connection before pushes to it are dropped.
pub const PUSH_QUEUE_BYTES: usize = 1024 * 1024;
/// Under load, pushes go out at most this often, each carrying every message
/// committed since the last: the cost per subscriber is one frame per
/// interval, not one per message. After a quiet spell a push goes at once.
pub const PUSH_INTERVAL: Duration = Duration::from_millis(5);

/// The routing frames of a connection.
pub use crate::protocol::envelope::Route;

#[derive(Debug, Default)]
pub struct Subscriptions {
    by_route: HashMap<Route, (String, Instant)>,
}

impl Subscriptions {
    /// Subscribes (or renews) `route` for `user` until `now + TTL`.
    pub fn subscribe(&mut self, route: &[Vec<u8>], user: &str, now: Instant) {
        self.by_route.insert(route.to_vec(), (user.to_owned(), now + SUBSCRIPTION_TTL));
    }

    pub fn unsubscribe(&mut self, route: &[Vec<u8>]) {
        self.by_route.remove(route);
    }

    /// Keeps only the subscriptions of users for whom `keep` holds.
    pub fn retain_users(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.by_route.retain(|_, (user, _)| keep(user));
    }

    /// Drops every subscription of `user` (who left the group).
    pub fn forget_user(&mut self, user: &str) {
        self.by_route.retain(|_, (subscriber, _)| subscriber != user);
    }

    /// Whether `route` holds a live subscription at `now`.
    pub fn contains(&self, route: &[Vec<u8>], now: Instant) -> bool {
        self.by_route.get(route).is_some_and(|(_, expires)| *expires > now)
    }

    /// How many subscriptions are live at `now`.
    pub fn live_count(&self, now: Instant) -> usize {
        self.by_route.values().filter(|(_, expires)| *expires > now).count()
    }

    /// The live subscriptions' routes, dropping the expired ones.
    pub fn live_routes(&mut self, now: Instant) -> impl Iterator<Item = &Route> {
        self.expire(now);
        self.by_route.keys()
    }

    /// The users with a live subscription at `now`, each once, sorted.
    pub fn live_users(&self, now: Instant) -> Vec<&str> {
        let live = self.by_route.values().filter(|(_, expires)| *expires > now);
        let users: std::collections::BTreeSet<&str> = live.map(|(user, _)| user.as_str()).collect();
        users.into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.by_route.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_route.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        self.by_route.retain(|_, (_, expires)| *expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_expire_unless_renewed() {
        let mut subscriptions = Subscriptions::default();
        let start = Instant::now();
        let a = vec![b"a".to_vec()];
        let b = vec![b"b".to_vec()];
        subscriptions.subscribe(&a, "u", start);
        subscriptions.subscribe(&b, "v", start);
        assert_eq!(subscriptions.live_count(start), 2);
        subscriptions.subscribe(&a, "u", start + SUBSCRIPTION_TTL / 2);
        assert!(subscriptions.contains(&a, start + SUBSCRIPTION_TTL));
        assert!(!subscriptions.contains(&b, start + SUBSCRIPTION_TTL));
        assert_eq!(subscriptions.live_routes(start + SUBSCRIPTION_TTL).count(), 1);
        assert_eq!(subscriptions.live_routes(start + SUBSCRIPTION_TTL * 2).count(), 0);
        subscriptions.subscribe(&b, "v", start + SUBSCRIPTION_TTL * 2);
        subscriptions.forget_user("v");
        assert!(subscriptions.is_empty());
    }
}
