//! The bench's users. On plaintext a user is a name; under CURVE (a group
//! address with a key) a user is a key pair, connects with it, and acts as
//! the `user_uuid` derived from it, as every CURVE client must.

use crate::keys::KeyPair;
use crate::protocol::Address;
use crate::transport::{self, ConnectOptions};
use std::io;

pub struct Users {
    /// One key pair per user under CURVE; none on plaintext.
    keys: Vec<KeyPair>,
}

impl Users {
    /// No users yet.
    pub fn none() -> Users {
        Users { keys: Vec::new() }
    }

    /// `count` users for the group at `group`.
    pub fn for_group(group: &Address, count: usize) -> io::Result<Users> {
        let keys = match group.key {
            Some(_) => (0..count).map(|_| KeyPair::generate()).collect::<io::Result<_>>()?,
            None => Vec::new(),
        };
        Ok(Users { keys })
    }

    /// The id user `user` acts as.
    pub fn id(&self, user: usize) -> String {
        match self.keys.get(user) {
            Some(keys) => keys.public.user_uuid(),
            None => format!("bench-user-{user}"),
        }
    }

    /// The CURVE keys user `user` connects to `group` with, on huddle's
    /// own client; `None` on plaintext.
    pub fn curve_keys(&self, group: &Address, user: usize) -> Option<crate::zmtp::client::CurveKeys> {
        let (server, keys) = (group.key.as_ref()?, self.keys.get(user)?);
        Some(crate::zmtp::client::CurveKeys {
            server: server.bytes(),
            public: keys.public.bytes(),
            secret: *keys.secret(),
        })
    }

    /// A socket of `kind` connected to `group` as user `user`.
    pub fn connect(
        &self,
        context: &zmq::Context,
        kind: zmq::SocketType,
        group: &Address,
        user: usize,
        options: ConnectOptions,
    ) -> Result<zmq::Socket, zmq::Error> {
        transport::connect_with(context, kind, group, ConnectOptions { keys: self.keys.get(user), ..options })
    }
}
