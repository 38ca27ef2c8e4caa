//! The user's id, kept across runs. The seed made a new UUID each run and so
//! lost its memberships; huddle makes one once and keeps it in
//! `$XDG_CONFIG_HOME/huddle/user-id`.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file name of the stored id, inside the config directory.
pub const USER_ID_FILE: &str = "user-id";

/// Reads the id stored in `dir`, making and storing a new one if there is none.
pub fn load_or_create(dir: &Path) -> io::Result<String> {
    let path = dir.join(USER_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::create_dir_all(dir)?;
    crate::keys::restrict_dir(dir)?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
    file.write_all(format!("{id}\n").as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
        assert!(uuid::Uuid::parse_str(&first).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(USER_ID_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads it");
    }
}
