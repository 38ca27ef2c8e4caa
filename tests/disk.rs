//! A real full disk and a read-only one, on a small tmpfs of the test's own.
//! Mounting needs privileges: where the machine does not allow it the test
//! says so and does nothing (the full store is also tested, everywhere,
//! through `--max-data-bytes` in tests/reliability.rs).

mod common;

use common::{Peer, group_command, home, seed, start_server};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(path).output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs { path: path.to_owned() }),
            _ => None,
        }
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount").args(["-o", "remount,ro"]).arg(&self.path).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_full_or_read_only_disk_is_answered_failed_and_nothing_unstored_is_acknowledged() {
    let home = home();
    let Some(disk) = Tmpfs::mount(&home.path().join("disk"), "512k") else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs");
        return;
    };
    let data = disk.path.join("group");
    let mut group = start_server(group_command(home.path(), "g", "127.0.0.1:0", "127.0.0.1:1", &data));
    let peer = Peer::req(&group.address);
    assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
    let (acknowledged, refusal) = common::send_until_refused(&peer, 16 * 1024, 1000);
    assert!(refusal.contains("FAILED"), "{refusal}");
    assert!(refusal.contains("full"), "the reason is given: {refusal}");
    assert_eq!(common::history_len(&peer), acknowledged, "every acknowledged message, nothing else");

    // A group started on a read-only disk refuses to start and says why.
    // (Linux refuses to remount read-only while the group has files open.)
    group.kill();
    disk.remount_read_only();
    let output = group_command(home.path(), "g", "127.0.0.1:0", "127.0.0.1:1", &data).output().unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("--data") || error.contains("writable"), "{error}");
}
