//! The last message the user was shown, per group, kept next to the user's
//! id (`$XDG_CONFIG_HOME/huddle/last-seen.json`), so that a client starting
//! again shows what arrived while it was away, once.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub const LAST_SEEN_FILE: &str = "last-seen.json";

/// Group address -> the last seq shown.
#[derive(Debug, Default)]
pub struct LastSeen {
    path: PathBuf,
    seqs: BTreeMap<String, u64>,
}

impl LastSeen {
    /// Reads the file in `dir`; a missing or unreadable file is an empty map.
    pub fn load(dir: &Path) -> LastSeen {
        let path = dir.join(LAST_SEEN_FILE);
        let seqs = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
        LastSeen { path, seqs }
    }

    pub fn get(&self, group: &str) -> Option<u64> {
        self.seqs.get(group).copied()
    }

    pub fn groups(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.seqs.iter()
    }

    /// Records `seq` for `group` and writes the file (atomically: a temporary
    /// file renamed over it).
    pub fn set(&mut self, group: &str, seq: u64) -> io::Result<()> {
        if self.seqs.get(group) == Some(&seq) {
            return Ok(());
        }
        self.seqs.insert(group.to_owned(), seq);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(&self.seqs)?)?;
        std::fs::rename(&temporary, &self.path)
    }

    pub fn forget(&mut self, group: &str) -> io::Result<()> {
        if self.seqs.remove(group).is_some() {
            std::fs::write(&self.path, serde_json::to_vec_pretty(&self.seqs)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_seen_survives_reloading() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = LastSeen::load(dir.path());
        assert_eq!(seen.get("h:1"), None);
        seen.set("h:1", 7).unwrap();
        seen.set("h:2", 3).unwrap();
        seen.forget("h:2").unwrap();
        let seen = LastSeen::load(dir.path());
        assert_eq!(seen.get("h:1"), Some(7));
        assert_eq!(seen.get("h:2"), None);
    }
}
