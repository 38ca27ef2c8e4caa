//! CURVE keys: who a huddle process is on the network.
//!
//! Every user and every server has a key pair, made on first use and kept in
//! a file only its owner can read ([`KEY_FILE`], mode 0600): the user's in
//! the config directory beside their id, each server's in its data
//! directory, so that its public key never changes across restarts. A key
//! is written in Z85, 40 characters, as ZeroMQ writes it.
//!
//! Under CURVE a user *is* their key: the `user_uuid` they act as is
//! derived from their public key ([`PublicKey::user_uuid`]), so a server that
//! knows who connected (ZeroMQ authenticates the key) knows which
//! `user_uuid` they may claim, in every group alike.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The key pair's file, in the config directory (a user) or the data
/// directory (a server).
pub const KEY_FILE: &str = "curve.key";
/// The length of a Z85 key.
pub const Z85_KEY_LEN: usize = 40;
/// The characters of Z85 (ZeroMQ RFC 32).
const Z85_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
/// The namespace of user ids derived from keys (a UUID v5 of the key's 32 bytes).
const USER_ID_NAMESPACE: uuid::Uuid = uuid::uuid!("6f2b1c52-5a0e-4d6b-9f7e-8a1d3c4b5e60");

/// A CURVE public key, checked to be 40 characters of Z85 that decode to 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(String);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0:?} is not a CURVE public key: give the 40 characters `huddle key` prints")]
pub struct BadKey(pub String);

impl PublicKey {
    pub fn parse(text: &str) -> Result<PublicKey, BadKey> {
        let text = text.trim();
        let decodes = text.len() == Z85_KEY_LEN
            && text.bytes().all(|byte| Z85_ALPHABET.contains(&byte))
            && zmq::z85_decode(text).is_ok_and(|bytes| bytes.len() == 32);
        if decodes { Ok(PublicKey(text.to_owned())) } else { Err(BadKey(text.to_owned())) }
    }

    /// The key whose 32 bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> PublicKey {
        PublicKey(zmq::z85_encode(bytes).expect("32 bytes are a multiple of 4"))
    }

    /// The key's 32 bytes.
    pub fn bytes(&self) -> [u8; 32] {
        let decoded = zmq::z85_decode(&self.0).expect("checked when parsed");
        decoded.try_into().expect("checked when parsed")
    }

    /// The key in Z85.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `user_uuid` that this key stands for under CURVE.
    pub fn user_uuid(&self) -> String {
        uuid::Uuid::new_v5(&USER_ID_NAMESPACE, &self.bytes()).to_string()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A public key and its secret.
#[derive(Clone)]
pub struct KeyPair {
    pub public: PublicKey,
    secret: [u8; 32],
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new key pair, from libsodium's random source.
    pub fn generate() -> io::Result<KeyPair> {
        let pair = zmq::CurveKeyPair::new().map_err(io::Error::other)?;
        let public = zmq::z85_encode(&pair.public_key).map_err(|e| io::Error::other(format!("{e:?}")))?;
        Ok(KeyPair { public: PublicKey(public), secret: pair.secret_key })
    }

    /// The secret key's 32 bytes.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The key pair kept in `dir`, made and kept there (mode 0600) if there
    /// is none.
    pub fn load_or_create(dir: &Path) -> io::Result<KeyPair> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse_key_file(&text).map_err(|why| bad_file(&path, why)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        std::fs::create_dir_all(dir)?;
        restrict_dir(dir)?;
        let pair = KeyPair::generate()?;
        let secret = zmq::z85_encode(&pair.secret).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let text = format!(
            "# huddle CURVE key pair: the secret key proves who you are; never share this file.\n\
             public = {}\nsecret = {secret}\n",
            pair.public
        );
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(pair)
    }
}

fn bad_file(path: &Path, why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}; move it aside to make a new key", path.display()))
}

fn parse_key_file(text: &str) -> Result<KeyPair, String> {
    let field = |name: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_owned())
            .ok_or(format!("no `{name} =` line"))
    };
    let public = PublicKey::parse(&field("public")?).map_err(|e| e.to_string())?;
    let secret = zmq::z85_decode(&field("secret")?).map_err(|_| "the secret key is not Z85".to_owned())?;
    let secret: [u8; 32] = secret.try_into().map_err(|_| "the secret key is not 32 bytes".to_owned())?;
    Ok(KeyPair { public, secret })
}

/// Makes `dir` readable by its owner only.
pub fn restrict_dir(dir: &Path) -> io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_pair_is_made_once_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let made = KeyPair::load_or_create(&keys).unwrap();
        let read = KeyPair::load_or_create(&keys).unwrap();
        assert_eq!(made.public, read.public);
        assert_eq!(made.secret(), read.secret());
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keys.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&keys), 0o700);
    }

    #[test]
    fn keys_are_checked_and_stand_for_one_user_id() {
        let pair = KeyPair::generate().unwrap();
        let public = PublicKey::parse(pair.public.as_str()).unwrap();
        assert_eq!(public.user_uuid(), pair.public.user_uuid());
        assert!(uuid::Uuid::parse_str(&public.user_uuid()).is_ok());
        assert_ne!(KeyPair::generate().unwrap().public.user_uuid(), public.user_uuid());
        assert!(PublicKey::parse("short").is_err());
        assert!(PublicKey::parse(&"~".repeat(40)).is_err(), "not Z85");
    }
}
