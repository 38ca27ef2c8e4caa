//! Where huddle keeps things on disk, by the XDG base directory rules:
//! the user's identity under the config directory, the groups' and the
//! directory's data under the data directory.

use directories::ProjectDirs;
use std::path::PathBuf;

fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "huddle")
}

/// `$XDG_CONFIG_HOME/huddle` (usually `~/.config/huddle`).
pub fn config_dir() -> PathBuf {
    project().map(|dirs| dirs.config_dir().to_path_buf()).unwrap_or_else(|| PathBuf::from(".huddle"))
}

/// `$XDG_DATA_HOME/huddle` (usually `~/.local/share/huddle`).
pub fn data_dir() -> PathBuf {
    project().map(|dirs| dirs.data_dir().to_path_buf()).unwrap_or_else(|| PathBuf::from(".huddle"))
}

/// `$XDG_DATA_HOME/huddle/groups/NAME`, NAME made one folder name.
///
/// Older huddles made a name's folder by replacing every unusual character
/// with `_`, so `a/b`, `a\b` and `a_b` shared one; names now map one to one.
/// A group whose data sits in such an older folder finds it there and moves
/// it to its own folder, once.
pub fn group_data_dir(name: &str) -> PathBuf {
    let groups = data_dir().join("groups");
    let dir = groups.join(folder_name(name));
    let legacy = groups.join(legacy_folder_name(name));
    if legacy != dir && !dir.exists() && legacy.is_dir() {
        // Moving is a convenience: should it fail, the group starts afresh
        // in its own folder, and the old data stays where it was.
        let _ = std::fs::rename(&legacy, &dir);
    }
    dir
}

/// `$XDG_DATA_HOME/huddle/directory/PORT`: one per port, so that two
/// directories on one machine keep their registrations apart.
pub fn directory_data_dir(port: u16) -> PathBuf {
    data_dir().join("directory").join(port.to_string())
}

/// A group name as one folder name, one to one: letters, digits, `-`, `_`
/// and `.` stay (but a leading `.`), every other character is written as
/// `%` and the hex of its UTF-8 bytes, `%` itself included.
pub fn folder_name(name: &str) -> String {
    if name.is_empty() {
        return "%".to_owned();
    }
    let mut folder = String::with_capacity(name.len());
    for (index, c) in name.chars().enumerate() {
        if c.is_alphanumeric() || "-_".contains(c) || (c == '.' && index > 0) {
            folder.push(c);
        } else {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                folder.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    folder
}

/// The folder older huddles used for a name.
fn legacy_folder_name(name: &str) -> String {
    let safe: String = name.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if safe.is_empty() || safe.starts_with('.') { format!("_{safe}") } else { safe }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_become_single_folders_one_to_one() {
        assert_eq!(folder_name("lobby"), "lobby");
        assert_eq!(folder_name("Cool Group"), "Cool%20Group");
        assert_eq!(folder_name("../etc"), "%2E.%2Fetc");
        assert_eq!(folder_name("é-v1.2"), "é-v1.2");
        assert_eq!(folder_name(""), "%");
        let names = ["a/b", "a\\b", "a_b", "a%2Fb", "a b", "a_b ", ".", ".."];
        let folders: std::collections::HashSet<String> = names.iter().map(|name| folder_name(name)).collect();
        assert_eq!(folders.len(), names.len(), "no two names share a folder: {folders:?}");
        assert!(folders.iter().all(|folder| !folder.contains('/') && folder != "." && folder != ".."));
    }
}
