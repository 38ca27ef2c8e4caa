//! The last message the user was shown, per group, and the group's name,
//! kept next to the user's id (`$XDG_CONFIG_HOME/huddle/last-seen.json`),
//! so that a client starting again shows what arrived while it was away,
//! once, under the names the user knows the groups by.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub const LAST_SEEN_FILE: &str = "last-seen.json";

/// Where the user was in one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Mark {
    /// The last seq shown.
    pub seq: u64,
    /// The group's name in the directory, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A mark as files hold it: a bare seq in files of earlier versions.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Seq(u64),
    Mark {
        seq: u64,
        #[serde(default)]
        name: Option<String>,
    },
}

impl From<Stored> for Mark {
    fn from(stored: Stored) -> Mark {
        match stored {
            Stored::Seq(seq) => Mark { seq, name: None },
            Stored::Mark { seq, name } => Mark { seq, name },
        }
    }
}

/// Group address -> where the user was.
#[derive(Debug, Default)]
pub struct LastSeen {
    path: PathBuf,
    marks: BTreeMap<String, Mark>,
}

impl LastSeen {
    /// Reads the file in `dir`; a missing or unreadable file is an empty map.
    pub fn load(dir: &Path) -> LastSeen {
        let path = dir.join(LAST_SEEN_FILE);
        let marks = read(&path);
        LastSeen { path, marks }
    }

    pub fn get(&self, group: &str) -> Option<u64> {
        self.marks.get(group).map(|mark| mark.seq)
    }

    /// The groups followed, by address, with the names they were known by.
    pub fn groups(&self) -> Vec<super::NamedGroup> {
        let named = |(address, mark): (&String, &Mark)| {
            let address = crate::protocol::Address::parse(address).ok()?;
            Some(super::NamedGroup { name: mark.name.clone(), address })
        };
        self.marks.iter().filter_map(named).collect()
    }

    /// Records `seq` for `group` and writes the file.
    pub fn set(&mut self, group: &str, seq: u64) -> io::Result<()> {
        let mark = self.marks.entry(group.to_owned()).or_default();
        if mark.seq == seq && seq != 0 {
            return Ok(());
        }
        mark.seq = seq;
        self.write(None)
    }

    /// Records the name `group` is listed under.
    pub fn set_name(&mut self, group: &str, name: &str) -> io::Result<()> {
        let mark = self.marks.entry(group.to_owned()).or_default();
        if mark.name.as_deref() == Some(name) {
            return Ok(());
        }
        mark.name = Some(name.to_owned());
        self.write(None)
    }

    /// Drops the mark of `group`, here and in the file (where another
    /// client of the user may have put it).
    pub fn forget(&mut self, group: &str) -> io::Result<()> {
        self.marks.remove(group);
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
        for (group, theirs) in read(&self.path) {
            if Some(group.as_str()) != forgotten {
                let ours = self.marks.entry(group).or_default();
                ours.seq = ours.seq.max(theirs.seq);
                if ours.name.is_none() {
                    ours.name = theirs.name;
                }
            }
        }
        let temporary = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&temporary, serde_json::to_vec_pretty(&self.marks)?)?;
        std::fs::rename(&temporary, &self.path)
    }
}

fn read(path: &Path) -> BTreeMap<String, Mark> {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
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
        seen.set_name("h:1", "lobby").unwrap();
        seen.set("h:2", 3).unwrap();
        seen.forget("h:2").unwrap();
        let seen = LastSeen::load(dir.path());
        assert_eq!(seen.get("h:1"), Some(7));
        let followed = seen.groups();
        assert_eq!(followed.iter().map(|group| group.name.as_deref()).collect::<Vec<_>>(), [Some("lobby")]);
        assert_eq!(seen.get("h:2"), None);
    }

    #[test]
    fn a_file_of_bare_seqs_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LAST_SEEN_FILE), r#"{"127.0.0.1:5560": 42}"#).unwrap();
        assert_eq!(LastSeen::load(dir.path()).get("127.0.0.1:5560"), Some(42));
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
