//! Asks the seed's groups, which register once and never again, whether they
//! are still there. Every [`PROBE_INTERVAL`] each one gets a harmless request
//! (a `getMessage` from a user who is no member): any answer at all means
//! alive, none within [`PROBE_TIMEOUT`] means not.
//!
//! The prober runs on its own thread with its own sockets. The directory
//! hands it the current targets over a channel and reads the outcomes back
//! from another whenever it answers requests; nothing is shared.

use crate::protocol::{Address, GetMessages, GroupRequest, encode};
use crate::transport;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// How often each probed group is asked.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(3);
/// How long a probed group has to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The user id a probe asks as: never a member, so it changes nothing.
const PROBE_USER: &str = "huddle-directory-probe";

/// The directory's side of the prober.
pub struct Prober {
    targets: Sender<Vec<String>>,
    outcomes: Receiver<(String, bool)>,
}

impl Prober {
    /// Starts the prober thread; it stops when this handle is dropped.
    pub fn start(context: zmq::Context) -> Prober {
        let (targets, target_updates) = mpsc::channel();
        let (outcome_sender, outcomes) = mpsc::channel();
        std::thread::Builder::new()
            .name("directory prober".into())
            .spawn(move || probe_loop(&context, &target_updates, &outcome_sender))
            .expect("the OS can start a thread");
        Prober { targets, outcomes }
    }

    /// Replaces the addresses to probe; they are probed at once.
    pub fn set_targets(&self, targets: Vec<String>) {
        let _ = self.targets.send(targets);
    }

    /// The outcomes of probes since the last call: `(address, answered)`.
    pub fn outcomes(&self) -> impl Iterator<Item = (String, bool)> + '_ {
        self.outcomes.try_iter()
    }
}

fn probe_loop(context: &zmq::Context, updates: &Receiver<Vec<String>>, outcomes: &Sender<(String, bool)>) {
    let mut targets: Vec<String> = Vec::new();
    loop {
        // Nothing to probe: sleep until there is. Otherwise wake for the next
        // round, or at once for new targets.
        let update = if targets.is_empty() {
            updates.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            updates.recv_timeout(PROBE_INTERVAL)
        };
        match update {
            Ok(newest) => targets = updates.try_iter().last().unwrap_or(newest),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        for outcome in probe_all(context, &targets) {
            if outcomes.send(outcome).is_err() {
                return;
            }
        }
    }
}

/// Probes every target at once and waits up to [`PROBE_TIMEOUT`] for them.
fn probe_all(context: &zmq::Context, targets: &[String]) -> Vec<(String, bool)> {
    // A page of one: a group that served probes from non-members anyway
    // would build no more than that.
    let probe = GetMessages { user_uuid: PROBE_USER.into(), limit: Some(1), ..GetMessages::default() };
    let probe = encode(&GroupRequest::Get(probe));
    let sockets: Vec<Option<zmq::Socket>> = targets.iter().map(|target| send_probe(context, target, &probe)).collect();
    let mut answered = vec![false; targets.len()];
    let deadline = Instant::now() + PROBE_TIMEOUT;
    loop {
        let waiting: Vec<usize> = (0..targets.len()).filter(|&i| !answered[i] && sockets[i].is_some()).collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if waiting.is_empty() || left.is_zero() {
            break;
        }
        let mut items: Vec<zmq::PollItem> =
            waiting.iter().filter_map(|&i| sockets[i].as_ref()).map(|s| s.as_poll_item(zmq::POLLIN)).collect();
        if zmq::poll(&mut items, left.as_millis().max(1) as i64).is_err() {
            break;
        }
        for (item, &i) in items.iter().zip(&waiting) {
            if item.is_readable() {
                answered[i] = true;
            }
        }
    }
    for (target, answered) in targets.iter().zip(&answered) {
        debug!(%target, answered, "probe");
    }
    targets.iter().cloned().zip(answered).collect()
}

/// Connects a DEALER and sends the probe in a REQ envelope (an empty frame
/// first), which is what the seed's group expects.
fn send_probe(context: &zmq::Context, target: &str, probe: &[u8]) -> Option<zmq::Socket> {
    let address = Address::parse(target).ok()?;
    let socket = transport::connect(context, zmq::DEALER, &address).ok()?;
    if let Err(error) = socket.send_multipart([&b""[..], probe], zmq::DONTWAIT) {
        info!(%target, %error, "cannot send a probe");
        return None;
    }
    Some(socket)
}
