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
fn data_dir() -> PathBuf {
    project().map(|dirs| dirs.data_dir().to_path_buf()).unwrap_or_else(|| PathBuf::from(".huddle"))
}

/// `$XDG_DATA_HOME/huddle/groups/NAME`.
pub fn group_data_dir(name: &str) -> PathBuf {
    data_dir().join("groups").join(folder_name(name))
}

/// `$XDG_DATA_HOME/huddle/directory/PORT`: one per port, so that two
/// directories on one machine keep their registrations apart.
pub fn directory_data_dir(port: u16) -> PathBuf {
    data_dir().join("directory").join(port.to_string())
}

/// A group name made safe as one folder name.
fn folder_name(name: &str) -> String {
    let safe: String = name.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if safe.is_empty() || safe.starts_with('.') { format!("_{safe}") } else { safe }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_become_single_folders() {
        assert_eq!(folder_name("Cool Group"), "Cool_Group");
        assert_eq!(folder_name("../etc"), "_.._etc");
        assert_eq!(folder_name(""), "_");
    }
}
