//! The directory's poll loop: every request answered, in the seed's bytes
//! where the seed had an answer, with `FAILED` and a reason where it had none.

use super::Registry;
use crate::group::server::bound_address;
use crate::protocol::envelope::Envelope;
use crate::protocol::{Address, DirectoryRequest, REGISTERED, Reply, decode, json};
use crate::serve::{ReplyFrames, serve};
use crate::shutdown::Shutdown;
use tracing::{debug, info};

/// Requests handled per wake-up at most.
const MAX_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot listen on {endpoint}: {source}; is another directory running? pass --bind with another address")]
    Bind { endpoint: String, source: zmq::Error },
    #[error("ZeroMQ failed: {0}")]
    Zmq(#[from] zmq::Error),
}

pub struct DirectoryServer {
    socket: zmq::Socket,
    address: Address,
    registry: Registry,
}

impl DirectoryServer {
    /// Binds to `endpoint` (`tcp://*:5555`, `127.0.0.1:0`, ...).
    pub fn bind(context: &zmq::Context, endpoint: &str) -> Result<DirectoryServer, DirectoryError> {
        let endpoint = if endpoint.contains("://") { endpoint.to_owned() } else { format!("tcp://{endpoint}") };
        let socket = context.socket(zmq::ROUTER)?;
        socket.set_linger(0)?;
        socket.bind(&endpoint).map_err(|source| DirectoryError::Bind { endpoint: endpoint.clone(), source })?;
        let address = bound_address(&socket).unwrap_or(Address { host: endpoint, port: 0 });
        Ok(DirectoryServer { socket, address, registry: Registry::default() })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves until `shutdown` is triggered.
    pub fn run(mut self, shutdown: &Shutdown) -> Result<(), DirectoryError> {
        info!(address = %self.address, "directory serving");
        let registry = &mut self.registry;
        serve(&self.socket, shutdown, MAX_BATCH, |batch| {
            batch.into_iter().map(|envelope| answer(registry, envelope)).collect::<Vec<ReplyFrames>>()
        })?;
        info!("directory stopped");
        Ok(())
    }
}

fn answer(registry: &mut Registry, mut envelope: Envelope) -> ReplyFrames {
    let body = std::mem::replace(&mut envelope.body, Ok(Vec::new()));
    let reply = match body.and_then(|body| decode::<DirectoryRequest>(&body)) {
        Ok(DirectoryRequest::Register { group_name, ip_port }) => match Address::parse(&ip_port) {
            Ok(_) => {
                if registry.register(&group_name, &ip_port) {
                    info!(group = %group_name, address = %ip_port, "group registered");
                }
                REGISTERED.to_vec()
            }
            Err(error) => Reply::failed(format!("register: {error}")).encode(),
        },
        Ok(DirectoryRequest::GroupList { .. }) => json::to_vec(&registry.list()),
        Err(error) => {
            debug!(%error, "bad request");
            Reply::failed(error.to_string()).encode()
        }
    };
    envelope.reply(reply)
}
