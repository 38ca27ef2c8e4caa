//! Addresses as users write them: `IP:PORT` for a group, `HOST[:PORT]` for
//! the directory (port 5555 when left out, as the seed assumed).

use std::fmt;

/// The directory's port when an address names only a host.
pub const DIRECTORY_PORT: u16 = 5555;

/// A host and a port, as written in group lists and on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadAddress {
    #[error("address {0:?} has no port: write it as IP:PORT, e.g. 127.0.0.1:5560")]
    NoPort(String),
    #[error("address {0:?} has no host: write it as IP:PORT, e.g. 127.0.0.1:5560")]
    NoHost(String),
    #[error("address {given:?} has a bad port {port:?}: use a number from 0 to 65535")]
    BadPort { given: String, port: String },
}

impl Address {
    /// Parses `HOST:PORT` (IPv6 hosts in brackets: `[::1]:5560`).
    pub fn parse(text: &str) -> Result<Address, BadAddress> {
        let text = text.trim();
        let text = text.strip_prefix("tcp://").unwrap_or(text);
        let (host, port) = text.rsplit_once(':').ok_or_else(|| BadAddress::NoPort(text.to_owned()))?;
        Self::from_parts(text, host, port)
    }

    /// Parses `HOST[:PORT]`, taking `default_port` when there is none.
    pub fn parse_with_default_port(text: &str, default_port: u16) -> Result<Address, BadAddress> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix("tcp://").unwrap_or(trimmed);
        let has_port = match bare.rsplit_once(':') {
            Some((host, _)) => !bare.starts_with('[') || host.ends_with(']'),
            None => false,
        };
        if has_port { Self::parse(bare) } else { Self::from_parts(bare, bare, &default_port.to_string()) }
    }

    fn from_parts(given: &str, host: &str, port: &str) -> Result<Address, BadAddress> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(BadAddress::NoHost(given.to_owned()));
        }
        let port = port.parse().map_err(|_| BadAddress::BadPort { given: given.to_owned(), port: port.to_owned() })?;
        Ok(Address { host: host.to_owned(), port })
    }

    /// The ZeroMQ endpoint to connect to or bind.
    pub fn endpoint(&self) -> String {
        format!("tcp://{self}")
    }

    /// Reads the address back from a ZeroMQ endpoint such as
    /// `tcp://127.0.0.1:41234` (what a socket reports after binding port 0).
    pub fn from_endpoint(endpoint: &str) -> Result<Address, BadAddress> {
        Self::parse(endpoint)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16) -> Address {
        Address { host: host.into(), port }
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
    fn errors_say_how_to_write_it() {
        assert!(matches!(Address::parse("10.0.0.5"), Err(BadAddress::NoPort(_))));
        assert!(matches!(Address::parse(":5560"), Err(BadAddress::NoHost(_))));
        let error = Address::parse("h:99999").unwrap_err();
        assert!(error.to_string().contains("0 to 65535"), "{error}");
    }
}
