//! CURVE, shown with real processes: what crosses the wire cannot be read,
//! a user is their key and cannot act as anyone else, and a server off
//! loopback speaks CURVE unless its operator says otherwise.

mod common;

use common::{DEADLINE, data_dir, group_command, home, run_huddle, start_server};
use huddle::keys::KeyPair;
use huddle::protocol::Address;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

const NO_DIRECTORY: &str = "127.0.0.1:1";

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn curve_group(home: &Path) -> common::Server {
    let mut command = group_command(home, "g", "127.0.0.1:0", NO_DIRECTORY, &data_dir(home));
    command.arg("--curve");
    start_server(command)
}

/// A REQ socket speaking CURVE as `keys` to the group at `address`.
fn curve_peer(context: &zmq::Context, address: &Address, keys: &KeyPair) -> zmq::Socket {
    huddle::transport::connect_as(context, zmq::REQ, address, keys).unwrap()
}

fn ask(socket: &zmq::Socket, body: &str) -> Option<String> {
    socket.send(body, 0).unwrap();
    if socket.poll(zmq::POLLIN, 1000).unwrap() == 0 {
        return None;
    }
    Some(socket.recv_string(0).unwrap().unwrap())
}

#[test]
fn a_curve_group_prints_its_key_and_serves_huddle_clients() {
    let home = home();
    let group = curve_group(home.path());
    let address = Address::parse(&group.address).unwrap();
    let key = address.key.clone().expect("the ready line gives KEY@HOST:PORT");
    let printed = succeeded(&run_huddle(home.path(), &["key", "--data", data_dir(home.path()).to_str().unwrap()], ""));
    assert_eq!(printed.trim(), key.as_str(), "huddle key --data prints the group's key");

    let at = group.address.as_str();
    succeeded(&run_huddle(home.path(), &["join", at], ""));
    succeeded(&run_huddle(home.path(), &["send", at, "over curve"], ""));
    let history = succeeded(&run_huddle(home.path(), &["history", at, "--json"], ""));
    let message: serde_json::Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    assert_eq!(message["message"], "over curve");
    let mine = succeeded(&run_huddle(home.path(), &["key"], ""));
    let me = huddle::keys::PublicKey::parse(mine.trim()).unwrap();
    assert_eq!(message["user_uuid"], me.user_uuid(), "over CURVE the user is their key");

    // A plaintext client, or one expecting another server key, gets nothing.
    let context = zmq::Context::new();
    let plain = huddle::transport::connect(&context, zmq::REQ, &address.clone().with_key(None)).unwrap();
    assert_eq!(ask(&plain, r#"{"action": "joinGroup", "user_uuid": "u"}"#), None);
    let impostor = address.clone().with_key(Some(KeyPair::generate().unwrap().public));
    let fooled = curve_peer(&context, &impostor, &KeyPair::generate().unwrap());
    assert_eq!(ask(&fooled, r#"{"action": "joinGroup", "user_uuid": "u"}"#), None, "the server's key is checked");
}

#[test]
fn a_user_id_that_does_not_belong_to_the_key_is_refused_and_stores_nothing() {
    let home = home();
    let group = curve_group(home.path());
    let address = Address::parse(&group.address).unwrap();
    let context = zmq::Context::new();
    let mallory = KeyPair::generate().unwrap();
    let socket = curve_peer(&context, &address, &mallory);
    let alice = KeyPair::generate().unwrap().public.user_uuid();
    let own = mallory.public.user_uuid();

    let forged = ask(&socket, &format!(r#"{{"action": "joinGroup", "user_uuid": "{alice}"}}"#)).unwrap();
    assert!(forged.contains("FAILED") && forged.contains("does not belong to your key"), "{forged}");
    let joined = ask(&socket, &format!(r#"{{"action": "joinGroup", "user_uuid": "{own}"}}"#)).unwrap();
    assert_eq!(joined, r#"{"response": "SUCCESS"}"#);
    let send = format!(r#"{{"action": "sendMessage", "user_uuid": "{alice}", "message": "I am alice"}}"#);
    assert!(ask(&socket, &send).unwrap().contains("does not belong to your key"));
    let history = ask(&socket, &format!(r#"{{"action": "getMessage", "user_uuid": "{own}", "timestamp": null}}"#));
    assert_eq!(history.unwrap(), r#"{"response": "SUCCESS", "messages": []}"#, "the forged message is stored nowhere");
}

#[test]
fn off_loopback_a_server_speaks_curve_unless_told_plaintext() {
    let home = home();
    let data = data_dir(home.path());
    let default = start_server(group_command(home.path(), "g", "0.0.0.0:0", NO_DIRECTORY, &data));
    assert!(Address::parse(&default.address).unwrap().key.is_some(), "CURVE by default: {}", default.address);
    drop(default);

    let mut command = group_command(home.path(), "g", "0.0.0.0:0", NO_DIRECTORY, &data);
    command.arg("--plaintext").stderr(Stdio::piped());
    let mut plain = start_server(command);
    assert!(Address::parse(&plain.address).unwrap().key.is_none(), "{}", plain.address);
    plain.kill();
    let mut warning = String::new();
    plain.child.stderr.take().unwrap().read_to_string(&mut warning).unwrap();
    assert!(warning.contains("anyone who can reach the port can read"), "a warning at start: {warning}");
}

/// tcpdump on loopback, writing what it captures on `port` to `file`.
struct Capture {
    child: Child,
    /// Kept open: tcpdump writes its summary there as it stops.
    _stderr: std::process::ChildStderr,
}

impl Capture {
    fn start(port: u16, file: &Path) -> Capture {
        common::require("tcpdump", || Command::new("tcpdump").arg("--version").output().is_ok());
        let mut child = Command::new("tcpdump")
            .args(["-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w"])
            .arg(file)
            .args(["tcp", "port", &port.to_string()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tcpdump says where it listens once the capture runs.
        let mut stderr = child.stderr.take().unwrap();
        let mut said = Vec::new();
        let started = Instant::now();
        while !String::from_utf8_lossy(&said).contains("listening on") {
            assert!(started.elapsed() < DEADLINE, "tcpdump did not start: {}", String::from_utf8_lossy(&said));
            let mut byte = [0; 1];
            if stderr.read(&mut byte).unwrap() == 0 {
                panic!("tcpdump stopped: {}", String::from_utf8_lossy(&said));
            }
            said.push(byte[0]);
        }
        Capture { child, _stderr: stderr }
    }

    /// Stops the capture once everything before now is in it, and returns
    /// what it holds. Packets are captured in order: once a sentinel sent
    /// now is in the file, so is all that came before.
    fn finish(mut self, port: u16, file: &Path) -> Vec<u8> {
        let sentinel = format!("end-of-capture-{}", uuid::Uuid::new_v4());
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut stream, sentinel.as_bytes()).unwrap();
        common::eventually("the capture holds everything sent", || {
            std::fs::read(file).is_ok_and(|captured| contains(&captured, sentinel.as_bytes()))
        });
        // SAFETY: kill(2) on our own child with a valid signal.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.child.wait().unwrap();
        std::fs::read(file).unwrap()
    }
}

impl Drop for Capture {
    /// A test that fails midway leaves no tcpdump behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[test]
fn a_message_sent_over_curve_cannot_be_read_on_the_wire_and_one_in_plaintext_can() {
    for curve in [true, false] {
        let home = home();
        let mut command = group_command(home.path(), "g", "127.0.0.1:0", NO_DIRECTORY, &data_dir(home.path()));
        if curve {
            command.arg("--curve");
        }
        let group = start_server(command);
        let address = Address::parse(&group.address).unwrap();
        let file = home.path().join("capture.pcap");
        let capture = Capture::start(address.port, &file);
        let marker = format!("secret-marker-{}", uuid::Uuid::new_v4());
        let at = group.address.as_str();
        succeeded(&run_huddle(home.path(), &["join", at], ""));
        succeeded(&run_huddle(home.path(), &["send", at, &marker], ""));
        let captured = capture.finish(address.port, &file);
        assert!(captured.len() > 1000, "the capture holds the exchange ({} bytes)", captured.len());
        assert_eq!(contains(&captured, marker.as_bytes()), !curve, "curve: {curve}: the message on the wire");
    }
}

fn curve_directory(home: &Path) -> common::Server {
    let mut command = common::huddle(home);
    command.args(["directory", "--bind", "127.0.0.1:0", "--curve", "--data"]).arg(home.join("directory"));
    start_server(command)
}

fn curve_group_registered(home: &Path, name: &str, directory: &str, data: &Path) -> common::Server {
    let mut command = group_command(home, name, "127.0.0.1:0", directory, data);
    command.arg("--curve");
    start_server(command)
}

fn listed(home: &Path, directory: &str) -> Vec<serde_json::Value> {
    let output = succeeded(&run_huddle(home, &["groups", "--directory", directory, "--json"], ""));
    output.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn one_directory_line_reaches_every_group_securely_and_a_name_cannot_be_hijacked() {
    let home = home();
    let directory = curve_directory(home.path());
    assert!(Address::parse(&directory.address).unwrap().key.is_some(), "{}", directory.address);
    let d = directory.address.as_str();
    let ops = curve_group_registered(home.path(), "ops", d, &home.path().join("ops"));
    let ops_key = Address::parse(&ops.address).unwrap().key.unwrap();
    common::eventually("ops is listed", || !listed(home.path(), d).is_empty());
    let groups = listed(home.path(), d);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "ops");
    assert_eq!(groups[0]["key"], ops_key.as_str(), "the listing gives the group's key");

    // By name, through the directory: CURVE all the way, as the user's key.
    succeeded(&run_huddle(home.path(), &["join", "ops", "--directory", d], ""));
    succeeded(&run_huddle(home.path(), &["send", "ops", "found by name", "--directory", d], ""));
    let history = succeeded(&run_huddle(home.path(), &["history", "ops", "--directory", d], ""));
    assert!(history.contains("found by name"), "{history}");

    // Another group, with another key, cannot take the name.
    let mut thief = group_command(home.path(), "ops", "127.0.0.1:0", d, &home.path().join("thief"));
    thief.arg("--curve").stderr(Stdio::piped());
    let mut thief = start_server(thief);
    let mut refused = String::new();
    let mut stderr = thief.child.stderr.take().unwrap();
    let started = Instant::now();
    while !refused.contains("belongs to the group with key") {
        assert!(started.elapsed() < DEADLINE, "the thief is told: {refused}");
        let mut chunk = [0; 256];
        let read = stderr.read(&mut chunk).unwrap();
        assert!(read > 0, "the thief stopped: {refused}");
        refused.push_str(&String::from_utf8_lossy(&chunk[..read]));
    }
    let groups = listed(home.path(), d);
    assert_eq!(groups.len(), 1, "the listing is unchanged: {groups:?}");
    assert_eq!(groups[0]["key"], ops_key.as_str());
}

#[test]
fn a_key_that_starts_with_a_hyphen_is_taken_as_an_address_not_a_flag() {
    let home = home();
    let keys = std::iter::repeat_with(|| KeyPair::generate().unwrap())
        .find(|keys| keys.public.as_str().starts_with('-'))
        .expect("one key in 85 starts with '-'");
    let data = data_dir(home.path());
    std::fs::create_dir_all(&data).unwrap();
    let secret = zmq::z85_encode(keys.secret()).unwrap();
    let file = format!("public = {}\nsecret = {secret}\n", keys.public);
    std::fs::write(data.join(huddle::keys::KEY_FILE), file).unwrap();
    let group = curve_group(home.path());
    assert!(group.address.starts_with('-'), "{}", group.address);
    let at = group.address.as_str();
    succeeded(&run_huddle(home.path(), &["join", at, "--json"], ""));
    succeeded(&run_huddle(home.path(), &["send", at, "-1 is a fine message"], ""));
    let history = succeeded(&run_huddle(home.path(), &["history", "--json", at], ""));
    assert!(history.contains("-1 is a fine message"), "{history}");
}

#[test]
fn a_private_group_admits_only_the_keys_it_allows_and_follows_its_file() {
    let (alice_home, bob_home) = (home(), home());
    let alice = KeyPair::load_or_create(&alice_home.path().join("config/huddle")).unwrap();
    let bob = KeyPair::load_or_create(&bob_home.path().join("config/huddle")).unwrap();
    let allow = alice_home.path().join("allow");
    std::fs::write(&allow, format!("# who may talk here\n{}  # alice\n", alice.public)).unwrap();
    let mut command = group_command(alice_home.path(), "g", "127.0.0.1:0", NO_DIRECTORY, &data_dir(alice_home.path()));
    command.arg("--curve").arg("--allow").arg(&allow);
    let group = start_server(command);
    let at = group.address.as_str();

    succeeded(&run_huddle(alice_home.path(), &["join", at], ""));
    let refused = run_huddle(bob_home.path(), &["join", at], "");
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains(&format!("refused your key {}", bob.public)), "{error}");
    succeeded(&run_huddle(alice_home.path(), &["send", at, "still serving"], ""));

    // Alice taken off the list: her open connection is refused from its next
    // request on, and a new one at the handshake.
    let context = zmq::Context::new();
    let open = curve_peer(&context, &Address::parse(at).unwrap(), &alice);
    let get = format!(r#"{{"action": "getMessage", "user_uuid": "{}", "timestamp": null}}"#, alice.public.user_uuid());
    assert!(ask(&open, &get).unwrap().contains("still serving"));
    std::fs::write(&allow, format!("{}\n", bob.public)).unwrap();
    let reply = ask(&open, &get).unwrap();
    assert!(reply.contains("is not allowed in this group"), "{reply}");
    let error = run_huddle(alice_home.path(), &["send", at, "let me in"], "");
    assert!(String::from_utf8_lossy(&error.stderr).contains("refused your key"));
    succeeded(&run_huddle(bob_home.path(), &["join", at], ""));
}

#[test]
fn a_private_directory_lists_groups_only_to_the_keys_it_allows() {
    let (alice_home, bob_home) = (home(), home());
    let alice = KeyPair::load_or_create(&alice_home.path().join("config/huddle")).unwrap();
    let bob = KeyPair::load_or_create(&bob_home.path().join("config/huddle")).unwrap();
    let allow = alice_home.path().join("allow");
    std::fs::write(&allow, format!("{}\n", alice.public)).unwrap();
    let mut command = common::huddle(alice_home.path());
    command.args(["directory", "--bind", "127.0.0.1:0", "--curve", "--allow"]).arg(&allow);
    command.arg("--data").arg(alice_home.path().join("directory"));
    let directory = start_server(command);
    let d = directory.address.as_str();

    assert!(listed(alice_home.path(), d).is_empty(), "alice is let in (and nothing is listed yet)");
    let refused = run_huddle(bob_home.path(), &["groups", "--directory", d], "");
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains(&format!("directory {d} refused your key {}", bob.public)), "{error}");

    let context = zmq::Context::new();
    let open = curve_peer(&context, &Address::parse(d).unwrap(), &alice);
    let list = r#"{"action": "get_group_list", "user_uuid": "u"}"#;
    assert_eq!(ask(&open, list).unwrap(), "[]");
    std::fs::write(&allow, format!("{}\n", bob.public)).unwrap();
    let reply = ask(&open, list).unwrap();
    assert!(reply.contains("is not allowed by this directory"), "{reply}");
}

#[test]
fn over_curve_only_listed_creators_create_and_only_the_owners_key_changes_a_group() {
    let (owner, stranger) = (home(), home());
    let directory = curve_directory(owner.path());
    let d = directory.address.as_str();
    let owner_key = succeeded(&run_huddle(owner.path(), &["key"], "")).trim().to_owned();
    let creators = owner.path().join("creators.txt");
    std::fs::write(&creators, format!("{owner_key}\n")).unwrap();
    let first_port = huddle::bench::host::free_ports(10).unwrap();
    let mut command = common::huddle(owner.path());
    let ports = format!("{first_port}-{}", first_port + 9);
    command.args(["host", "--listen", "127.0.0.1:0", "--ports", &ports, "--directory", d, "--curve", "--creators"]);
    command.arg(&creators).arg("--data").arg(owner.path().join("host"));
    let host = start_server(command);
    let h = host.address.as_str();
    assert!(Address::parse(h).unwrap().key.is_some(), "the host speaks CURVE: {h}");

    // A key not among the creators may not create.
    let refused = run_huddle(stranger.path(), &["create", "theirs", "--host", h, "--directory", d], "");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("may not create groups here"), "{refused:?}");
    let created = succeeded(&run_huddle(
        owner.path(),
        &["create", "secret", "--private", "--host", h, "--directory", d, "--json"],
        "",
    ));
    let secret: serde_json::Value = serde_json::from_str(&created).unwrap();
    let secret = Address::parse(secret["address"].as_str().unwrap()).unwrap();

    // Someone else's key cannot act as the owner by sending the owner's id,
    // nor get into the private group.
    let owner_id = huddle::keys::PublicKey::parse(&owner_key).unwrap().user_uuid();
    let intruder = KeyPair::generate().unwrap();
    let context = zmq::Context::new();
    let control = curve_peer(&context, &Address::parse(h).unwrap(), &intruder);
    let invite = |user: &str| {
        format!(r#"{{"action": "invite", "user_uuid": "{user}", "name": "secret", "member": "{}"}}"#, intruder.public)
    };
    let posing = ask(&control, &invite(&owner_id)).unwrap();
    assert!(posing.contains("does not belong to your key"), "{posing}");
    let as_itself = ask(&control, &invite(&intruder.public.user_uuid())).unwrap();
    assert!(as_itself.contains("only the owner of secret"), "{as_itself}");
    let group = curve_peer(&context, &secret, &intruder);
    let join = format!(r#"{{"action": "joinGroup", "user_uuid": "{}"}}"#, intruder.public.user_uuid());
    assert!(ask(&group, &join).unwrap().contains("this group is private"));

    // The owner invites the key: it is in.
    let script = format!("/join secret\n/invite {}\n", intruder.public);
    let chat = run_huddle(owner.path(), &["user", "--directory", d, "--host", h], &script);
    assert!(String::from_utf8_lossy(&chat.stdout).contains("invited"), "{chat:?}");
    assert_eq!(ask(&group, &join).unwrap(), common::seed::SUCCESS);
}
