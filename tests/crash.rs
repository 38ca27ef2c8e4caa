//! The crash test: concurrent senders, the group killed with SIGKILL at
//! random moments and restarted on the same address, again and again. Every
//! acknowledged message must be stored exactly once and in its sender's
//! order; a message never acknowledged, at most once.
//!
//! `HUDDLE_CRASH_KILLS` sets the number of kills (5 by default, as in CI;
//! `scripts/crash.sh` runs 20).

mod common;

use common::{data_dir, group_command, home, start_server};
use huddle::client::{Client, ClientError, Requester};
use huddle::protocol::Address;
use huddle::transport::RequestError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SENDERS: usize = 4;

/// What one sender saw: (text, acknowledged) in sending order.
type Sent = Vec<(String, bool)>;

fn sender(address: Address, index: usize, stop: Arc<AtomicBool>) -> Sent {
    let requester = Requester::new(zmq::Context::new(), Duration::from_millis(600));
    let mut client = Client::new(requester, format!("sender-{index}"));
    let mut sent = Sent::new();
    while client.join(&address).is_err() {}
    for n in 0.. {
        let text = format!("s{index}-{n}");
        let msg_id = huddle::client::new_msg_id();
        // Retry the same message, under the same id, until it is acknowledged.
        let acknowledged = loop {
            match client.send_with_id(&address, &text, &msg_id) {
                Ok(_) => break true,
                Err(ClientError::Request(RequestError::NoAnswer { .. })) if !stop.load(Ordering::SeqCst) => continue,
                Err(ClientError::Request(RequestError::NoAnswer { .. })) => break false,
                Err(error) => panic!("{error}"),
            }
        };
        sent.push((text, acknowledged));
        if !acknowledged || stop.load(Ordering::SeqCst) {
            return sent;
        }
    }
    unreachable!()
}

/// A pseudo-random pause from 20 to 220 ms, different on every run.
fn random_pause(round: u64) -> Duration {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    Duration::from_millis(20 + (nanos ^ round.wrapping_mul(0x9e37_79b9)) % 200)
}

#[test]
fn acknowledged_messages_survive_repeated_kill_9_exactly_once_and_in_order() {
    let kills: u64 = std::env::var("HUDDLE_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(5);
    let home = home();
    let data = data_dir(home.path());
    let dead_directory = "127.0.0.1:1";
    let mut group = start_server(group_command(home.path(), "g", "127.0.0.1:0", dead_directory, &data));
    let address = Address::parse(&group.address).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|index| {
            let (address, stop, results) = (address.clone(), stop.clone(), results.clone());
            std::thread::spawn(move || {
                let sent = sender(address, index, stop);
                results.lock().unwrap().push((index, sent));
            })
        })
        .collect();

    for round in 0..kills {
        // The pause is the test's randomness, not a synchronisation.
        std::thread::sleep(random_pause(round));
        group.kill();
        group = start_server(group_command(home.path(), "g", &address.to_string(), dead_directory, &data));
    }
    std::thread::sleep(random_pause(kills));
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().unwrap();
    }

    let mut reader = Client::new(Requester::new(zmq::Context::new(), Duration::from_secs(5)), "sender-0".into());
    let stored = reader.messages(&address, None).unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for message in &stored {
        *count.entry(message.message.as_str()).or_default() += 1;
    }
    let results = results.lock().unwrap();
    let mut acknowledged_total = 0;
    for (index, sent) in results.iter() {
        let mut last_seq = 0;
        for (text, acknowledged) in sent {
            let times = count.get(text.as_str()).copied().unwrap_or(0);
            if *acknowledged {
                acknowledged_total += 1;
                assert_eq!(times, 1, "acknowledged {text} stored {times} times");
                let seq = stored.iter().find(|m| &m.message == text).unwrap().seq.unwrap();
                assert!(seq > last_seq, "sender {index}: {text} out of order");
                last_seq = seq;
            } else {
                assert!(times <= 1, "unacknowledged {text} stored {times} times");
            }
        }
    }
    assert!(acknowledged_total > SENDERS, "the senders got through: {acknowledged_total} acknowledged");
}
