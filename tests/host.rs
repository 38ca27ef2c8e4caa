//! `huddle host`: many groups in one process, created on request, each at
//! its own address, each usable by the seed's client, all back after kill -9.

mod common;

use common::{Peer, home, huddle, run_huddle, seed, start_directory, start_server};
use std::path::Path;
use std::process::Command;

fn host_command(home: &Path, directory: &str, first_port: u16) -> Command {
    let mut command = huddle(home);
    let ports = format!("{first_port}-{}", first_port + 9);
    command.args(["host", "--listen", "127.0.0.1:0", "--ports", &ports, "--directory", directory]);
    command
}

fn created(home: &Path, directory: &str, host: &str, name: &str) -> String {
    let output = run_huddle(home, &["create", name, "--host", host, "--directory", directory, "--json"], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    reply["address"].as_str().unwrap().to_owned()
}

#[test]
fn a_host_creates_groups_that_the_seeds_client_uses_and_keeps_them_across_kill_9() {
    let home = home();
    let directory = start_directory(home.path());
    let first_port = huddle::bench::host::free_ports(10).unwrap();
    let mut host = start_server(host_command(home.path(), &directory.address, first_port));
    let d = directory.address.as_str();
    let ops = created(home.path(), d, &host.address, "ops");
    let cool = created(home.path(), d, &host.address, "Cool Group");
    assert_eq!(ops, format!("127.0.0.1:{first_port}"));
    assert_eq!(cool, format!("127.0.0.1:{}", first_port + 1));

    // A name is one group's: on the host, and in the directory (here a lone
    // group's, elsewhere).
    let again = run_huddle(home.path(), &["create", "ops", "--host", &host.address, "--directory", d], "");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("pick another name"));
    let _lone = start_server(common::group_command(home.path(), "lone", "127.0.0.1:0", d, &home.path().join("lone")));
    common::eventually("lone listed", || Peer::req(d).ask_str(&seed::group_list("u")).contains("lone"));
    let taken = run_huddle(home.path(), &["create", "lone", "--host", &host.address, "--directory", d], "");
    assert!(String::from_utf8_lossy(&taken.stderr).contains("the directory lists a group named \"lone\" already"));

    // The directory lists both; the seed's requests work against each.
    let lister = Peer::req(&directory.address);
    common::eventually("both listed", || {
        let list = lister.ask_str(&seed::group_list("u"));
        list.contains(&format!("ops - {ops}")) && list.contains(&format!("Cool Group - {cool}"))
    });
    // The host registers one group an interval (each of these four every
    // 8 s), naming itself: all stay listed past three intervals (6 s) on
    // the host's heartbeat alone.
    for name in ["dev", "qa"] {
        created(home.path(), d, &host.address, name);
    }
    let created_at = std::time::Instant::now();
    while created_at.elapsed() < std::time::Duration::from_secs(7) {
        let list = lister.ask_str(&seed::group_list("u"));
        assert!(["ops", "Cool Group", "dev", "qa"].iter().all(|name| list.contains(&format!("{name} - "))), "{list}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    for (address, text) in [(&ops, "to ops"), (&cool, "to cool")] {
        let peer = Peer::req(address);
        assert_eq!(peer.ask_str(&seed::join("u")), seed::SUCCESS);
        assert_eq!(peer.ask_str(&seed::send("u", text)), seed::SUCCESS);
    }

    // kill -9: the directory stops listing every group of the host (its
    // registrations name the host, heard from no more); start again: same
    // addresses, same histories, listed again.
    host.kill();
    common::eventually("the dead host's groups unlisted", || {
        let list = lister.ask_str(&seed::group_list("u"));
        !list.contains("ops - ") && !list.contains("Cool Group - ") && list.contains("lone - ")
    });
    let _host = start_server(host_command(home.path(), &directory.address, first_port));
    common::eventually("listed again", || lister.ask_str(&seed::group_list("u")).contains(&format!("ops - {ops}")));
    for (address, text) in [(&ops, "to ops"), (&cool, "to cool")] {
        let history = Peer::req(address).ask_str(&seed::get("u", None));
        assert!(history.contains(text), "{address}: {history}");
    }
}

/// The user id `huddle` uses in `home`, made on first use.
fn user_id(home: &Path, directory: &str) -> String {
    run_huddle(home, &["user", "--directory", directory], "/whoami\n");
    std::fs::read_to_string(home.join("config/huddle/user-id")).unwrap().trim().to_owned()
}

#[test]
fn a_groups_creator_owns_it_invites_removes_and_deletes() {
    let (owner, other) = (home(), home());
    let directory = start_directory(owner.path());
    let d = directory.address.as_str();
    let first_port = huddle::bench::host::free_ports(10).unwrap();
    let host = start_server(host_command(owner.path(), d, first_port));
    let h = host.address.as_str();
    let output =
        run_huddle(owner.path(), &["create", "secret", "--private", "--host", h, "--directory", d, "--json"], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let secret = reply["address"].as_str().unwrap().to_owned();
    let other_id = user_id(other.path(), d);
    let stranger = Peer::req(&secret);
    let refused = stranger.ask_str(&seed::join(&other_id));
    assert!(refused.contains("this group is private"), "{refused}");

    // Only the owner may let someone in; then they are in.
    let chat = |home: &Path, script: &str| {
        let output = run_huddle(home, &["user", "--directory", d, "--host", h], script);
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (_, errors) = chat(other.path(), &format!("/join {secret}\n/invite {other_id}\n"));
    assert!(errors.contains("join it by its name") || errors.contains("private"), "{errors}");
    let (said, errors) = chat(owner.path(), &format!("/join secret\n/invite {other_id}\n"));
    assert!(said.contains(&format!("invited {other_id} to secret")), "{said}\n{errors}");
    assert_eq!(stranger.ask_str(&seed::join(&other_id)), seed::SUCCESS);
    assert_eq!(stranger.ask_str(&seed::send(&other_id, "hello")), seed::SUCCESS);
    let (_, errors) = chat(other.path(), "/join secret\n/remove nobody\n/delete secret\n");
    assert!(errors.contains("only the owner of secret"), "{errors}");

    // Removed, they are out; deleted, the group is gone for everyone.
    let (said, errors) = chat(owner.path(), &format!("/join secret\n/remove {other_id}\n"));
    assert!(said.contains(&format!("removed {other_id} from secret")), "{said}\n{errors}");
    assert!(stranger.ask_str(&seed::send(&other_id, "still here?")).contains("private"));
    let (said, errors) = chat(owner.path(), "/delete secret\n");
    assert!(said.contains("deleted secret"), "{said}\n{errors}");
    let port = secret.rsplit(':').next().unwrap();
    assert!(std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(), "nothing listens there");
    let lister = Peer::req(d);
    common::eventually("unlisted", || !lister.ask_str(&seed::group_list("u")).contains("secret"));
    let folders = owner.path().join("data/huddle/host/groups");
    assert!(folders.exists() && !folders.join("secret").exists(), "its folder is gone");
}
