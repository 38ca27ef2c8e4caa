//! The few libsodium calls CurveZMQ needs, made safe: public-key boxes
//! (`crypto_box`, Curve25519 + XSalsa20 + Poly1305), the same with a
//! precomputed shared key, secret-key boxes for cookies, fresh key pairs
//! and random bytes. This is the libsodium libzmq itself is linked with,
//! so both ends of a connection compute with one implementation.
//!
//! Every box here is in libsodium's "easy" layout: a 16-byte tag, then the
//! ciphertext, exactly the bytes CurveZMQ puts on the wire.

use libsodium_sys as ffi;
use std::sync::Once;

/// Bytes of a key (public, secret or precomputed).
pub const KEY: usize = 32;
/// Bytes of a box's nonce.
pub const NONCE: usize = 24;
/// Bytes a box adds to its plaintext.
pub const TAG: usize = 16;

pub type Key = [u8; KEY];
pub type Nonce = [u8; NONCE];

/// A box failed to open: forged, tampered with, or for someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forged;

fn init() {
    static INIT: Once = Once::new();
    // SAFETY: sodium_init may be called from any thread; Once calls it once.
    INIT.call_once(|| assert!(unsafe { ffi::sodium_init() } >= 0, "libsodium failed to initialise"));
}

/// `N` random bytes from the operating system's generator.
pub fn random<const N: usize>() -> [u8; N] {
    init();
    let mut bytes = [0; N];
    // SAFETY: the buffer is N bytes long.
    unsafe { ffi::randombytes_buf(bytes.as_mut_ptr().cast(), N) };
    bytes
}

/// Whether `a` and `b` hold the same bytes, in a time that depends on
/// their length only (for comparing secrets).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    init();
    // SAFETY: both buffers are a.len() bytes long when the lengths match.
    a.len() == b.len() && unsafe { ffi::sodium_memcmp(a.as_ptr().cast(), b.as_ptr().cast(), a.len()) } == 0
}

/// A fresh key pair: (public, secret).
pub fn key_pair() -> (Key, Key) {
    init();
    let (mut public, mut secret) = ([0; KEY], [0; KEY]);
    // SAFETY: both buffers are crypto_box's 32 bytes.
    let status = unsafe { ffi::crypto_box_keypair(public.as_mut_ptr(), secret.as_mut_ptr()) };
    assert_eq!(status, 0, "crypto_box_keypair failed");
    (public, secret)
}

/// A box of `plain` from the holder of `secret` to the holder of `public`.
pub fn seal(plain: &[u8], nonce: &Nonce, public: &Key, secret: &Key) -> Vec<u8> {
    init();
    let mut sealed = vec![0; plain.len() + TAG];
    // SAFETY: `sealed` has room for the plaintext and the tag; keys and
    // nonce have crypto_box's sizes.
    let status = unsafe {
        ffi::crypto_box_easy(
            sealed.as_mut_ptr(),
            plain.as_ptr(),
            plain.len() as u64,
            nonce.as_ptr(),
            public.as_ptr(),
            secret.as_ptr(),
        )
    };
    assert_eq!(status, 0, "crypto_box_easy failed");
    sealed
}

/// Opens a box [`seal`]ed for the holder of `secret` by the holder of `public`.
pub fn open(sealed: &[u8], nonce: &Nonce, public: &Key, secret: &Key) -> Result<Vec<u8>, Forged> {
    init();
    let length = sealed.len().checked_sub(TAG).ok_or(Forged)?;
    let mut plain = vec![0; length];
    // SAFETY: `plain` holds the box less its tag.
    let status = unsafe {
        ffi::crypto_box_open_easy(
            plain.as_mut_ptr(),
            sealed.as_ptr(),
            sealed.len() as u64,
            nonce.as_ptr(),
            public.as_ptr(),
            secret.as_ptr(),
        )
    };
    if status == 0 { Ok(plain) } else { Err(Forged) }
}

/// The key that boxes between `public` and `secret` share: computing it once
/// makes every later box of a connection cheaper.
pub fn shared_key(public: &Key, secret: &Key) -> Key {
    init();
    let mut shared = [0; KEY];
    // SAFETY: all three are 32 bytes.
    let status = unsafe { ffi::crypto_box_beforenm(shared.as_mut_ptr(), public.as_ptr(), secret.as_ptr()) };
    // Fails only for a public key of low order, which no honest peer sends;
    // a key of zeros then makes every later box fail to open.
    if status != 0 { [0; KEY] } else { shared }
}

/// [`seal`] with a [`shared_key`], appending the box to `out`.
pub fn seal_shared_into(out: &mut Vec<u8>, plain: &[u8], nonce: &Nonce, shared: &Key) {
    let start = out.len();
    out.resize(start + plain.len() + TAG, 0);
    // SAFETY: `out[start..]` has room for the plaintext and the tag.
    let status = unsafe {
        ffi::crypto_box_easy_afternm(
            out[start..].as_mut_ptr(),
            plain.as_ptr(),
            plain.len() as u64,
            nonce.as_ptr(),
            shared.as_ptr(),
        )
    };
    assert_eq!(status, 0, "crypto_box_easy_afternm failed");
}

/// [`open`] with a [`shared_key`].
pub fn open_shared(sealed: &[u8], nonce: &Nonce, shared: &Key) -> Result<Vec<u8>, Forged> {
    let length = sealed.len().checked_sub(TAG).ok_or(Forged)?;
    let mut plain = vec![0; length];
    // SAFETY: `plain` holds the box less its tag.
    let status = unsafe {
        ffi::crypto_box_open_easy_afternm(
            plain.as_mut_ptr(),
            sealed.as_ptr(),
            sealed.len() as u64,
            nonce.as_ptr(),
            shared.as_ptr(),
        )
    };
    if status == 0 { Ok(plain) } else { Err(Forged) }
}

/// A secret-key box of `plain` under `key` (CurveZMQ's cookie).
pub fn seal_secret(plain: &[u8], nonce: &Nonce, key: &Key) -> Vec<u8> {
    init();
    let mut sealed = vec![0; plain.len() + TAG];
    // SAFETY: `sealed` has room for the plaintext and the tag.
    let status = unsafe {
        ffi::crypto_secretbox_easy(
            sealed.as_mut_ptr(),
            plain.as_ptr(),
            plain.len() as u64,
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(status, 0, "crypto_secretbox_easy failed");
    sealed
}

/// Opens a box [`seal_secret`]ed under `key`.
pub fn open_secret(sealed: &[u8], nonce: &Nonce, key: &Key) -> Result<Vec<u8>, Forged> {
    let length = sealed.len().checked_sub(TAG).ok_or(Forged)?;
    let mut plain = vec![0; length];
    // SAFETY: `plain` holds the box less its tag.
    let status = unsafe {
        ffi::crypto_secretbox_open_easy(
            plain.as_mut_ptr(),
            sealed.as_ptr(),
            sealed.len() as u64,
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    if status == 0 { Ok(plain) } else { Err(Forged) }
}

/// A nonce of a 16-byte `prefix` and the 8-byte big-endian `counter`.
pub fn short_nonce(prefix: &[u8; 16], counter: u64) -> Nonce {
    let mut nonce = [0; NONCE];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// A nonce of an 8-byte `prefix` and 16 given bytes.
pub fn long_nonce(prefix: &[u8; 8], rest: &[u8; 16]) -> Nonce {
    let mut nonce = [0; NONCE];
    nonce[..8].copy_from_slice(prefix);
    nonce[8..].copy_from_slice(rest);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_opens_only_for_its_keys_and_untouched() {
        let (alice_public, alice_secret) = key_pair();
        let (bob_public, bob_secret) = key_pair();
        let nonce = short_nonce(b"CurveZMQMESSAGEC", 7);
        let sealed = seal(b"hello", &nonce, &bob_public, &alice_secret);
        assert_eq!(open(&sealed, &nonce, &alice_public, &bob_secret).unwrap(), b"hello");
        let shared = shared_key(&alice_public, &bob_secret);
        assert_eq!(open_shared(&sealed, &nonce, &shared).unwrap(), b"hello");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(open(&tampered, &nonce, &alice_public, &bob_secret), Err(Forged));
        let other = short_nonce(b"CurveZMQMESSAGEC", 8);
        assert_eq!(open(&sealed, &other, &alice_public, &bob_secret), Err(Forged));
        assert_eq!(open(&sealed[..10], &nonce, &alice_public, &bob_secret), Err(Forged));
    }

    #[test]
    fn a_secret_box_opens_only_under_its_key() {
        let key = random::<KEY>();
        let nonce = long_nonce(b"COOKIE--", &random());
        let sealed = seal_secret(b"cookie", &nonce, &key);
        assert_eq!(open_secret(&sealed, &nonce, &key).unwrap(), b"cookie");
        assert_eq!(open_secret(&sealed, &nonce, &random()), Err(Forged));
    }
}
