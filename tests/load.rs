//! 1,000 concurrent clients joining, sending and reading: every one answered,
//! nothing lost, and the server's memory bounded. `HUDDLE_LOAD_CLIENTS` sets
//! the number (`scripts/load.sh` runs a bigger one).

mod common;

use common::{DEADLINE, Peer, data_dir, eventually, group_command, home, seed, start_server};
use huddle::zmtp::client::Client;

const CLIENTS_PER_CONTEXT: usize = 250;
/// A generous bound: a debug build with 1,000 connections stays far below.
const MAX_SERVER_RSS_KB: u64 = 200 * 1024;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends one request on every socket, then collects every reply.
fn round(sockets: &[zmq::Socket], body: impl Fn(usize) -> String) -> Vec<String> {
    for (index, socket) in sockets.iter().enumerate() {
        socket.send(body(index).as_bytes(), 0).unwrap();
    }
    sockets
        .iter()
        .map(|socket| {
            assert!(
                socket.poll(zmq::POLLIN, common::DEADLINE.as_millis() as i64).unwrap() > 0,
                "a client got no answer"
            );
            socket.recv_string(0).unwrap().unwrap()
        })
        .collect()
}

#[test]
fn a_thousand_concurrent_clients_are_all_answered_and_nothing_is_lost() {
    huddle::zmtp::raise_descriptor_limit();
    let clients: usize = std::env::var("HUDDLE_LOAD_CLIENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let home = home();
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", "127.0.0.1:1", &data_dir(home.path())));
    let threads: Vec<_> = (0..clients.div_ceil(CLIENTS_PER_CONTEXT))
        .map(|chunk| {
            let address = group.address.clone();
            let first = chunk * CLIENTS_PER_CONTEXT;
            let count = CLIENTS_PER_CONTEXT.min(clients - first);
            std::thread::spawn(move || {
                let context = zmq::Context::new();
                let sockets: Vec<zmq::Socket> = (0..count)
                    .map(|_| {
                        let socket = context.socket(zmq::REQ).unwrap();
                        socket.set_linger(0).unwrap();
                        socket.connect(&format!("tcp://{address}")).unwrap();
                        socket
                    })
                    .collect();
                let user = |index: usize| format!("user-{}", first + index);
                for reply in round(&sockets, |i| seed::join(&user(i))) {
                    assert_eq!(reply, seed::SUCCESS);
                }
                for reply in round(&sockets, |i| seed::send(&user(i), &format!("hello from {}", user(i)))) {
                    assert_eq!(reply, seed::SUCCESS);
                }
                let last_ten = |i| {
                    format!(r#"{{"action": "getMessage", "user_uuid": "{}", "timestamp": null, "limit": 10}}"#, user(i))
                };
                for reply in round(&sockets, last_ten) {
                    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
                    assert_eq!(reply["response"], "SUCCESS");
                    assert!(reply["messages"].as_array().unwrap().len() <= 10);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    let reader = Peer::req(&group.address);
    let history: serde_json::Value = serde_json::from_str(&reader.ask_str(&seed::get("user-0", None))).unwrap();
    let mut texts: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), clients, "every message stored once");
    let rss = rss_kb(group.child.id());
    assert!(rss < MAX_SERVER_RSS_KB, "server RSS {rss} kB with {clients} clients");
}

#[test]
fn members_who_never_read_cost_the_group_a_bounded_queue_given_back_when_they_go() {
    let home = home();
    let group = start_server(group_command(home.path(), "g", "127.0.0.1:0", "127.0.0.1:1", &data_dir(home.path())));
    let address = group.address.parse().unwrap();
    let mut stalled: Vec<Client> = (0..10)
        .map(|index| {
            let mut member = Client::connect(address, None, DEADLINE).unwrap();
            let user = format!("stalled-{index}");
            member.send(&[b"", seed::join(&user).as_bytes()]).unwrap();
            member.recv().unwrap();
            let subscribe = format!(r#"{{"action": "subscribe", "user_uuid": "{user}"}}"#);
            member.send(&[b"", subscribe.as_bytes()]).unwrap();
            member.recv().unwrap();
            member
        })
        .collect();
    let baseline = rss_kb(group.child.id());
    let sender = Peer::req(&group.address);
    assert_eq!(sender.ask_str(&seed::join("sender")), seed::SUCCESS);
    let big = "x".repeat(60 * 1024);
    for _ in 0..300 {
        assert_eq!(sender.ask_str(&seed::send("sender", &big)), seed::SUCCESS);
    }
    // 18 MB pushed to each of ten members that read nothing: without a
    // byte cap per connection the group would hold 180 MB for them.
    let peak = rss_kb(group.child.id());
    assert!(peak < baseline + 64 * 1024, "the group grew from {baseline} kB to {peak} kB");
    stalled.clear();
    eventually("the stalled members' memory is given back", || rss_kb(group.child.id()) < baseline + 24 * 1024);
}
