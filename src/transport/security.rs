//! Plaintext or CURVE for a server, and the rule that picks it: plaintext
//! only on loopback unless the operator says otherwise, as Redis's protected
//! mode does. On loopback the seed's scripts and `huddle up` work as they
//! always did; anywhere else nobody reads or forges unless the operator
//! asked for exactly that with `--plaintext`.

use crate::keys::{KeyPair, PublicKey};
use std::net::IpAddr;

/// How a server talks.
#[derive(Debug, Clone, Default)]
pub enum Security {
    /// ZMTP's NULL mechanism: anyone who reaches the port reads and writes.
    #[default]
    Plaintext,
    /// CurveZMQ with the server's key pair: encrypted, and every client
    /// known by its public key.
    Curve(KeyPair),
}

impl Security {
    /// What a server bound to `host` runs: CURVE when asked, or when bound
    /// off loopback unless `plaintext` is asked. `keys` gives the server's
    /// key pair, called only when CURVE is chosen.
    pub fn choose<E>(
        host: &str,
        curve: bool,
        plaintext: bool,
        keys: impl FnOnce() -> Result<KeyPair, E>,
    ) -> Result<Security, E> {
        if curve || !(plaintext || is_loopback(host)) { keys().map(Security::Curve) } else { Ok(Security::Plaintext) }
    }

    pub fn is_curve(&self) -> bool {
        matches!(self, Security::Curve(_))
    }

    /// The server's key pair, under CURVE.
    pub fn keys(&self) -> Option<&KeyPair> {
        match self {
            Security::Curve(keys) => Some(keys),
            Security::Plaintext => None,
        }
    }

    /// The server's public key, under CURVE: what its clients must know.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.keys().map(|keys| keys.public.clone())
    }
}

/// Whether `host` reaches only this machine: a loopback IP or `localhost`.
/// A wildcard (`*`, `0.0.0.0`, `::`) is every interface, so not loopback.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(host: &str, curve: bool, plaintext: bool) -> bool {
        Security::choose(host, curve, plaintext, KeyPair::generate).unwrap().is_curve()
    }

    #[test]
    fn plaintext_only_on_loopback_unless_asked() {
        assert!(!chosen("127.0.0.1", false, false));
        assert!(!chosen("localhost", false, false));
        assert!(!chosen("::1", false, false));
        assert!(chosen("127.0.0.1", true, false), "--curve on loopback");
        assert!(chosen("10.0.0.5", false, false), "off loopback: CURVE by default");
        assert!(chosen("*", false, false), "every interface is off loopback");
        assert!(chosen("0.0.0.0", false, false));
        assert!(!chosen("10.0.0.5", false, true), "--plaintext");
    }
}
