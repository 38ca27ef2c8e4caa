//! The groups a host keeps on disk: one folder each under `DATA/groups`,
//! holding the group's store, its key pair, its name (a folder name cannot
//! hold every name) and its port, so that a group keeps its address from
//! one start of the host to the next.

use crate::paths::folder_name;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

const NAME_FILE: &str = "name";
const PORT_FILE: &str = "port";

/// A group as the catalog knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub port: u16,
    pub dir: PathBuf,
}

/// Every group kept under `data`, in name order.
pub fn load(data: &Path) -> io::Result<Vec<Entry>> {
    let groups = data.join("groups");
    let mut entries = Vec::new();
    let Ok(listing) = std::fs::read_dir(&groups) else { return Ok(entries) };
    for folder in listing.flatten() {
        let dir = folder.path();
        let name = std::fs::read_to_string(dir.join(NAME_FILE));
        let port = std::fs::read_to_string(dir.join(PORT_FILE)).ok().and_then(|port| port.trim().parse().ok());
        if let (Ok(name), Some(port)) = (name, port) {
            entries.push(Entry { name: name.trim_end_matches('\n').to_owned(), port, dir });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// A new group's folder, on the first port of `ports` no entry holds.
/// `None` when every port is taken.
pub fn add(data: &Path, name: &str, ports: &RangeInclusive<u16>, taken: &[u16]) -> io::Result<Option<Entry>> {
    let Some(port) = ports.clone().find(|port| !taken.contains(port)) else { return Ok(None) };
    let dir = data.join("groups").join(folder_name(name));
    std::fs::create_dir_all(&dir)?;
    crate::keys::restrict_dir(&dir)?;
    std::fs::write(dir.join(NAME_FILE), format!("{name}\n"))?;
    std::fs::write(dir.join(PORT_FILE), format!("{port}\n"))?;
    Ok(Some(Entry { name: name.to_owned(), port, dir }))
}

/// Takes a group folder made before the host into the catalog under
/// `name`, when it remembers its port (as `huddle up`'s lone lobby did);
/// whether it did.
pub fn adopt(dir: &Path, name: &str) -> io::Result<bool> {
    if !dir.join(PORT_FILE).exists() {
        return Ok(false);
    }
    std::fs::write(dir.join(NAME_FILE), format!("{name}\n"))?;
    Ok(true)
}

/// Forgets a group: its folder, key and all.
pub fn remove(entry_dir: &Path) -> io::Result<()> {
    std::fs::remove_dir_all(entry_dir)
}

/// Moves a group's port (when its own was taken by another process).
pub fn set_port(entry: &mut Entry, port: u16) -> io::Result<()> {
    entry.port = port;
    std::fs::write(entry.dir.join(PORT_FILE), format!("{port}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_their_names_and_ports_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let ports = 7000..=7002;
        let ops = add(dir.path(), "ops", &ports, &[]).unwrap().unwrap();
        let cool = add(dir.path(), "Cool/Group", &ports, &[ops.port]).unwrap().unwrap();
        assert_eq!((ops.port, cool.port), (7000, 7001));
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded, [cool.clone(), ops.clone()]);
        assert_eq!(add(dir.path(), "x", &(7000..=7001), &[7000, 7001]).unwrap(), None, "no port left");
    }
}
