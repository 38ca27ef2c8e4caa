//! Addresses as users write them: `IP:PORT` for a group, `HOST[:PORT]` for
//! the directory (port 5555 when left out, as the seed assumed), either one
//! optionally preceded by the server's CURVE public key: `KEY@HOST:PORT`, so
//! that one line says both where a server is and who it is. Z85's alphabet
//! holds `@` and `:`, so the key is the first 40 characters, followed by `@`.

use crate::keys::{PublicKey, Z85_KEY_LEN};
use std::fmt;

/// The directory's port when an address names only a host.
pub const DIRECTORY_PORT: u16 = 5555;

/// A host and a port, as written in group lists and on the command line,
/// and the key of the server there when it speaks CURVE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub host: String,
    pub port: u16,
    /// The server's public key: talk CURVE and accept only this server.
    pub key: Option<PublicKey>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadAddress {
    #[error("address {0:?} has no port: write it as IP:PORT, e.g. 127.0.0.1:5560")]
    NoPort(String),
    #[error("address {0:?} has no host: write it as IP:PORT, e.g. 127.0.0.1:5560")]
    NoHost(String),
    #[error("address {given:?} has a bad port {port:?}: use a number from 0 to 65535")]
    BadPort { given: String, port: String },
    #[error(
        "address {0:?} has an '@' but no server key before it: write KEY@HOST:PORT with the 40 characters \
         the server printed (or `huddle key --data DIR` prints)"
    )]
    BadKey(String),
}

impl Address {
    /// Parses `[KEY@]HOST:PORT` (IPv6 hosts in brackets: `[::1]:5560`).
    pub fn parse(text: &str) -> Result<Address, BadAddress> {
        let (key, text) = split_key(text.trim());
        let text = text.strip_prefix("tcp://").unwrap_or(text);
        let (host, port) = text.rsplit_once(':').ok_or_else(|| BadAddress::NoPort(text.to_owned()))?;
        Ok(Address { key, ..Self::from_parts(text, host, port)? })
    }

    /// Parses `[KEY@]HOST[:PORT]`, taking `default_port` when there is none.
    pub fn parse_with_default_port(text: &str, default_port: u16) -> Result<Address, BadAddress> {
        let (key, trimmed) = split_key(text.trim());
        let bare = trimmed.strip_prefix("tcp://").unwrap_or(trimmed);
        let has_port = match bare.rsplit_once(':') {
            Some((host, _)) => !bare.starts_with('[') || host.ends_with(']'),
            None => false,
        };
        let address =
            if has_port { Self::parse(bare)? } else { Self::from_parts(bare, bare, &default_port.to_string())? };
        Ok(Address { key, ..address })
    }

    /// The same place written one way: an IP in its canonical form
    /// (`127.000.0.1` is `127.0.0.1`, IPv6 compressed), a host name in
    /// lower case; the key is kept.
    pub fn normalized(&self) -> Address {
        let host = match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => self.host.to_ascii_lowercase(),
        };
        Address { host, ..self.clone() }
    }

    /// The same place, with `key` as its server's key.
    pub fn with_key(self, key: Option<PublicKey>) -> Address {
        Address { key, ..self }
    }

    /// `HOST:PORT`, without the key: the form the seed's wire carries.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn from_parts(given: &str, host: &str, port: &str) -> Result<Address, BadAddress> {
        // No host name or IP holds an '@': what comes before one was meant as a key.
        if host.contains('@') {
            return Err(BadAddress::BadKey(given.to_owned()));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(BadAddress::NoHost(given.to_owned()));
        }
        let port = port.parse().map_err(|_| BadAddress::BadPort { given: given.to_owned(), port: port.to_owned() })?;
        Ok(Address { host: host.to_owned(), port, key: None })
    }

    /// The ZeroMQ endpoint to connect to or bind.
    pub fn endpoint(&self) -> String {
        format!("tcp://{}", self.host_port())
    }

    /// Reads the address back from a ZeroMQ endpoint such as
    /// `tcp://127.0.0.1:41234` (what a socket reports after binding port 0).
    pub fn from_endpoint(endpoint: &str) -> Result<Address, BadAddress> {
        Self::parse(endpoint)
    }
}

/// A leading `KEY@`, when the text has one, and the rest.
fn split_key(text: &str) -> (Option<PublicKey>, &str) {
    let key = text.get(..Z85_KEY_LEN).filter(|_| text.as_bytes().get(Z85_KEY_LEN) == Some(&b'@'));
    match key.map(PublicKey::parse) {
        Some(Ok(key)) => (Some(key), &text[Z85_KEY_LEN + 1..]),
        _ => (None, text),
    }
}

impl fmt::Display for Address {
    /// `[KEY@]HOST:PORT`, as it is written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{key}@{}", self.host_port()),
            None => f.write_str(&self.host_port()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16) -> Address {
        Address { host: host.into(), port, key: None }
    }

    #[test]
    fn parses_group_addresses() {
        assert_eq!(Address::parse("10.0.0.5:5560").unwrap(), addr("10.0.0.5", 5560));
        assert_eq!(Address::parse("tcp://127.0.0.1:1").unwrap(), addr("127.0.0.1", 1));
        assert_eq!(Address::parse("[::1]:7").unwrap(), addr("::1", 7));
        assert_eq!(Address::parse("[::1]:7").unwrap().to_string(), "[::1]:7");
    }

    #[test]
    fn directory_port_defaults_to_5555() {
        assert_eq!(Address::parse_with_default_port("example.org", 5555).unwrap(), addr("example.org", 5555));
        assert_eq!(Address::parse_with_default_port("h:6000", 5555).unwrap(), addr("h", 6000));
        assert_eq!(Address::parse_with_default_port("[::1]", 5555).unwrap(), addr("::1", 5555));
    }

    #[test]
    fn a_key_before_the_address_is_the_first_40_characters() {
        let key = crate::keys::KeyPair::generate().unwrap().public;
        // Z85 holds '@' and ':': a key with them must still be read whole.
        let awkward = crate::keys::PublicKey::parse("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
        for key in [key, awkward] {
            let address = Address::parse(&format!("{key}@10.0.0.5:5560")).unwrap();
            assert_eq!(address, addr("10.0.0.5", 5560).with_key(Some(key.clone())));
            assert_eq!(address.to_string(), format!("{key}@10.0.0.5:5560"));
            assert_eq!(address.endpoint(), "tcp://10.0.0.5:5560");
            let directory = Address::parse_with_default_port(&format!("{key}@example.org"), 5555).unwrap();
            assert_eq!(directory, addr("example.org", 5555).with_key(Some(key)));
        }
        assert_eq!(Address::parse("10.0.0.5:5560").unwrap().key, None);
    }

    #[test]
    fn one_place_is_written_one_way() {
        assert_eq!(Address::parse("[0:0::1]:7").unwrap().normalized().host_port(), "[::1]:7");
        assert_eq!(Address::parse("Example.ORG:7").unwrap().normalized().host_port(), "example.org:7");
        assert_eq!(Address::parse("10.0.0.5:7").unwrap().normalized(), addr("10.0.0.5", 7));
    }

    #[test]
    fn errors_say_how_to_write_it() {
        assert!(matches!(Address::parse("10.0.0.5"), Err(BadAddress::NoPort(_))));
        assert!(matches!(Address::parse("-abc@127.0.0.1:1"), Err(BadAddress::BadKey(_))));
        assert!(matches!(Address::parse_with_default_port("short@example.org", 5555), Err(BadAddress::BadKey(_))));
        assert!(matches!(Address::parse(":5560"), Err(BadAddress::NoHost(_))));
        let error = Address::parse("h:99999").unwrap_err();
        assert!(error.to_string().contains("0 to 65535"), "{error}");
    }
}
