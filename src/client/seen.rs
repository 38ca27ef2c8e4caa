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

    /// Records `seq` for `group` and writes the file.
    pub fn set(&mut self, group: &str, seq: u64) -> io::Result<()> {
        if self.seqs.get(group) == Some(&seq) {
            return Ok(());
        }
        self.seqs.insert(group.to_owned(), seq);
        self.write(None)
    }

    /// Drops the mark of `group`, here and in the file (where another
    /// client of the user may have put it).
    pub fn forget(&mut self, group: &str) -> io::Result<()> {
        self.seqs.remove(group);
        self.write(Some(group))
    }

    /// Writes the marks, merged with what other clients of the same user
    /// wrote meanwhile (the higher mark wins; `forgotten` is dropped), under
    /// a lock, through a temporary file renamed over the old one: two
    /// clients never undo each other's marks, and a crash never leaves half
    /// a file.
    fn write(&mut self, forgotten: Option<&str>) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let lock = std::fs::File::create(self.path.with_extension("json.lock"))?;
        lock.lock()?;
        let on_disk: BTreeMap<String, u64> =
            std::fs::read(&self.path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
        for (group, seq) in on_disk {
            if Some(group.as_str()) != forgotten {
                let mark = self.seqs.entry(group).or_default();
                *mark = (*mark).max(seq);
            }
        }
        let temporary = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&temporary, serde_json::to_vec_pretty(&self.seqs)?)?;
        std::fs::rename(&temporary, &self.path)
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

    #[test]
    fn two_clients_of_one_user_never_undo_each_others_marks() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = LastSeen::load(dir.path());
        let mut second = LastSeen::load(dir.path());
        first.set("lobby", 200).unwrap();
        // The second client started before the first marked anything.
        second.set("ops", 5).unwrap();
        second.set("lobby", 10).unwrap();
        let seen = LastSeen::load(dir.path());
        assert_eq!((seen.get("lobby"), seen.get("ops")), (Some(200), Some(5)));
        first.forget("ops").unwrap();
        assert_eq!(LastSeen::load(dir.path()).get("ops"), None);
    }
}
