//! Keeps a group listed: registers with the directory at start and again
//! every [`REGISTER_INTERVAL`] (the directory's heartbeat), in the background.
//! A group serves its users whether or not a directory answers. A CURVE
//! group registers with its own key pair, so that a CURVE directory knows
//! the group's key (and binds the name to it) from the handshake itself.

use crate::keys::KeyPair;
use crate::protocol::{Address, DirectoryRequest, REGISTERED, encode};
use crate::shutdown::Shutdown;
use crate::transport::Requester;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tracing::{info, warn};

/// How often a group registers again.
pub const REGISTER_INTERVAL: Duration = Duration::from_secs(2);
/// How long one registration may take before the group tries again later.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(1);

/// What a group registers, and where.
pub struct Registration {
    pub name: String,
    /// Where the group is: registered as `HOST:PORT`, the seed's form.
    pub address: Address,
    pub directory: Address,
    /// The group's key pair, under CURVE.
    pub keys: Option<Arc<KeyPair>>,
}

/// Registers the group until `shutdown`. The receiver hears once, when the
/// directory first lists the group.
pub fn start(context: zmq::Context, registration: Registration, shutdown: &Shutdown) -> mpsc::Receiver<()> {
    let shutdown = shutdown.clone();
    let (listed, first_listed) = mpsc::sync_channel(1);
    let Registration { name, address, directory, keys } = registration;
    std::thread::Builder::new()
        .name(format!("register {name}"))
        .spawn(move || {
            let mut requester = Requester::new(context, REGISTER_TIMEOUT);
            if let Some(keys) = keys {
                requester = requester.with_keys(keys);
            }
            let request = encode(&DirectoryRequest::Register {
                group_name: name.clone(),
                ip_port: address.host_port(),
                heartbeat_ms: Some(REGISTER_INTERVAL.as_millis() as u64),
            });
            let mut registered: Option<bool> = None;
            loop {
                let outcome = requester.request("directory", &directory, &request);
                let ok = matches!(&outcome, Ok(reply) if reply == REGISTERED);
                if ok && registered != Some(true) {
                    let _ = listed.try_send(());
                }
                if registered != Some(ok) {
                    match outcome {
                        Ok(_) if ok => info!(group = %name, %directory, "registered with the directory"),
                        Ok(reply) => warn!(group = %name, %directory, reply = %String::from_utf8_lossy(&reply), "directory refused the registration; retrying"),
                        Err(error) => warn!(group = %name, %error, "not registered; retrying in the background"),
                    }
                    registered = Some(ok);
                }
                if shutdown.wait(REGISTER_INTERVAL) {
                    return;
                }
            }
        })
        .expect("the OS can start a thread");
    first_listed
}
