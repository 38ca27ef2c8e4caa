//! `--allow FILE`: the public keys a private server admits, one a line,
//! each optionally followed by a `#` comment; a line starting with `#` is a
//! comment (unless it is a key: Z85 holds `#`). A key not in the file is refused during the
//! CURVE handshake, before it can send anything; the file is read again
//! whenever it changes, without a restart, and a key taken out of it is
//! refused from its next request on (its subscriptions end with it).

use crate::keys::PublicKey;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tracing::{info, warn};

/// A shared, self-refreshing allow-list: cheap to clone.
#[derive(Debug, Clone)]
pub struct AllowList {
    inner: Arc<Mutex<Loaded>>,
}

#[derive(Debug)]
struct Loaded {
    path: PathBuf,
    /// When and how big the file was when read: a change to either means read it again.
    stamp: Option<(SystemTime, u64)>,
    keys: HashSet<PublicKey>,
    /// The `user_uuid`s the keys stand for.
    users: HashSet<String>,
    /// Bumped at every change, so that holders can tell.
    generation: u64,
}

impl AllowList {
    /// Reads `path`; an unreadable file or a bad line is an error that names it.
    pub fn load(path: &Path) -> io::Result<AllowList> {
        let keys = read_file(path)?;
        let users = keys.iter().map(PublicKey::user_uuid).collect();
        let loaded = Loaded { path: path.to_owned(), stamp: stamp(path), keys, users, generation: 0 };
        Ok(AllowList { inner: Arc::new(Mutex::new(loaded)) })
    }

    /// Whether `key` may connect (reading the file again if it changed).
    pub fn allows_key(&self, key: &PublicKey) -> bool {
        self.refreshed(|loaded| loaded.keys.contains(key))
    }

    /// Reads the file again if it changed; returns a number that changes
    /// whenever the list does. A server calls this once per batch, then
    /// asks [`AllowList::holds_key`] per request without touching the file.
    pub fn generation(&self) -> u64 {
        self.refreshed(|loaded| loaded.generation)
    }

    /// Whether `key` was in the file when it was last read.
    pub fn holds_key(&self, key: &PublicKey) -> bool {
        self.loaded().keys.contains(key)
    }

    /// Whether the user a key stands for was allowed when the file was last read.
    pub fn holds_user(&self, user_uuid: &str) -> bool {
        self.loaded().users.contains(user_uuid)
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refreshed<T>(&self, read: impl FnOnce(&Loaded) -> T) -> T {
        let mut loaded = self.loaded();
        let now = stamp(&loaded.path);
        if now != loaded.stamp {
            loaded.stamp = now;
            match read_file(&loaded.path) {
                Ok(keys) => {
                    info!(path = %loaded.path.display(), keys = keys.len(), "allow-list read again");
                    loaded.users = keys.iter().map(PublicKey::user_uuid).collect();
                    loaded.keys = keys;
                    loaded.generation += 1;
                }
                Err(error) => warn!(%error, "allow-list not read again; the last good one stays"),
            }
        }
        read(&loaded)
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read_file(path: &Path) -> io::Result<HashSet<PublicKey>> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        io::Error::new(error.kind(), format!("cannot read the allow-list {}: {error}", path.display()))
    })?;
    let mut keys = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let bad = |why: String| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}:{}: {why}", path.display(), number + 1))
        };
        // Z85 holds '#': a line's first word is a key when it reads as one,
        // else a comment when it starts with '#'.
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let key = match PublicKey::parse(first) {
            Ok(key) => key,
            Err(_) if first.starts_with('#') => continue,
            Err(error) => return Err(bad(error.to_string())),
        };
        if words.next().is_some_and(|next| !next.starts_with('#')) {
            return Err(bad("one key a line, then at most a # comment".into()));
        }
        keys.insert(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;

    #[test]
    fn the_list_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow");
        let (alice, bob) = (KeyPair::generate().unwrap().public, KeyPair::generate().unwrap().public);
        // Keys with '#' in them are keys, not comments.
        let hashed = std::iter::repeat_with(|| KeyPair::generate().unwrap().public)
            .find(|key| key.as_str().contains('#'))
            .unwrap();
        std::fs::write(&path, format!("# the team\n{alice}  # alice\n\n{hashed}\n")).unwrap();
        let allow = AllowList::load(&path).unwrap();
        assert!(allow.allows_key(&alice) && !allow.allows_key(&bob));
        assert!(allow.holds_user(&alice.user_uuid()));
        assert!(allow.allows_key(&hashed));
        let before = allow.generation();
        std::fs::write(&path, format!("{bob}\n")).unwrap();
        assert!(!allow.allows_key(&alice) && allow.allows_key(&bob), "read again");
        assert!(!allow.holds_user(&alice.user_uuid()) && allow.holds_key(&bob));
        assert_ne!(allow.generation(), before);
        std::fs::write(&path, "not a key\n").unwrap();
        assert!(allow.allows_key(&bob), "a bad file leaves the last good list");
        let error = AllowList::load(&path).unwrap_err().to_string();
        assert!(error.contains("allow:1") && error.contains("not a CURVE public key"), "{error}");
    }
}
