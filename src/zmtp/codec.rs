//! ZMTP 3.x on the wire (RFC 23 and 37): the greeting, frames and commands,
//! as plain functions over bytes. No I/O and no state: [`super::connection`]
//! drives them.
//!
//! ```text
//! greeting = %xFF 8OCTET %x7F major minor mechanism(20) as-server filler(31)
//! frame    = flags (1 byte: MORE %x01, LONG %x02, COMMAND %x04)
//!            size  (1 byte, or 8 bytes big-endian when LONG)
//!            body
//! command  = name-size (1 byte) name data
//! metadata = *(name-size name value-size(4 bytes big-endian) value)
//! ```

use std::fmt;

/// Bytes of a greeting.
pub const GREETING_LEN: usize = 64;
/// The version spoken: ZMTP 3.1, as libzmq 4.2 and later.
const VERSION: [u8; 2] = [3, 1];

pub const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
pub const COMMAND: u8 = 0x04;

/// Why a connection is closed: what the peer sent that is not ZMTP, or
/// not acceptable. Shown in debug logs only; the peer is told nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault(pub &'static str);

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A security mechanism named in a greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Null,
    Curve,
}

impl Mechanism {
    fn name(self) -> &'static [u8] {
        match self {
            Mechanism::Null => b"NULL",
            Mechanism::Curve => b"CURVE",
        }
    }
}

/// This side's greeting. The eight bytes after the first hold, as libzmq
/// writes them, an identity length of 0 plus one: a ZMTP 1.0 peer reads them
/// as a frame size.
pub fn greeting(mechanism: Mechanism, as_server: bool) -> [u8; GREETING_LEN] {
    let mut greeting = [0; GREETING_LEN];
    greeting[0] = 0xFF;
    greeting[8] = 1;
    greeting[9] = 0x7F;
    greeting[10..12].copy_from_slice(&VERSION);
    let name = mechanism.name();
    greeting[12..12 + name.len()].copy_from_slice(name);
    greeting[32] = as_server as u8;
    greeting
}

/// Checks as much of a peer's greeting as has come (`partial`, up to
/// [`GREETING_LEN`] bytes): a peer that is not speaking ZMTP 3 is found out
/// at its first bytes, not after a timeout.
pub fn check_greeting_start(partial: &[u8]) -> Result<(), Fault> {
    if partial.first().is_some_and(|&byte| byte != 0xFF) || partial.get(9).is_some_and(|&byte| byte != 0x7F) {
        return Err(Fault("not a ZMTP greeting"));
    }
    if partial.get(10).is_some_and(|&major| major < 3) {
        return Err(Fault("ZMTP before 3.0 is not spoken"));
    }
    Ok(())
}

/// The mechanism a whole greeting asks for.
pub fn greeting_mechanism(greeting: &[u8]) -> Result<Mechanism, Fault> {
    check_greeting_start(greeting)?;
    let name = &greeting[12..32];
    let name = &name[..name.iter().position(|&byte| byte == 0).unwrap_or(name.len())];
    match name {
        b"NULL" => Ok(Mechanism::Null),
        b"CURVE" => Ok(Mechanism::Curve),
        _ => Err(Fault("unknown security mechanism")),
    }
}

/// One frame, borrowed from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub flags: u8,
    pub body: &'a [u8],
}

impl Frame<'_> {
    pub fn more(&self) -> bool {
        self.flags & MORE != 0
    }

    pub fn is_command(&self) -> bool {
        self.flags & COMMAND != 0
    }
}

/// The frame at the start of `input` and the bytes it takes; `None` until
/// it has all come. A frame longer than `max_body` is refused from its
/// header, before any of its body is held.
pub fn parse_frame(input: &[u8], max_body: usize) -> Result<Option<(Frame<'_>, usize)>, Fault> {
    let Some(&flags) = input.first() else { return Ok(None) };
    let (size, header) = if flags & LONG != 0 {
        let Some(size) = input.get(1..9) else { return Ok(None) };
        (u64::from_be_bytes(size.try_into().expect("8 bytes")), 9)
    } else {
        let Some(&size) = input.get(1) else { return Ok(None) };
        (u64::from(size), 2)
    };
    if size > max_body as u64 {
        return Err(Fault("frame larger than allowed"));
    }
    let end = usize::try_from(size).ok().and_then(|size| size.checked_add(header)).ok_or(Fault("frame too large"))?;
    Ok(input.get(header..end).map(|body| (Frame { flags: flags & (MORE | COMMAND), body }, end)))
}

/// Appends a frame header for a body of `size` bytes.
pub fn write_header(out: &mut Vec<u8>, flags: u8, size: usize) {
    if size > 255 {
        out.push(flags | LONG);
        out.extend_from_slice(&(size as u64).to_be_bytes());
    } else {
        out.push(flags);
        out.push(size as u8);
    }
}

/// Appends a whole frame.
pub fn write_frame(out: &mut Vec<u8>, flags: u8, body: &[u8]) {
    write_header(out, flags, body.len());
    out.extend_from_slice(body);
}

/// A command frame's body: its name and data.
pub fn parse_command(body: &[u8]) -> Result<(&[u8], &[u8]), Fault> {
    let (&size, rest) = body.split_first().ok_or(Fault("empty command"))?;
    if rest.len() < usize::from(size) {
        return Err(Fault("command name longer than its frame"));
    }
    Ok(rest.split_at(usize::from(size)))
}

/// The body of a command named `name` with `data`.
pub fn command(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    body
}

/// Appends a command frame.
pub fn write_command(out: &mut Vec<u8>, name: &[u8], data: &[u8]) {
    write_frame(out, COMMAND, &command(name, data));
}

/// A property of metadata: its name and value.
pub type Property<'a> = (&'a [u8], &'a [u8]);

/// The properties of a READY (or of CURVE's INITIATE).
pub fn parse_metadata(mut data: &[u8]) -> Result<Vec<Property<'_>>, Fault> {
    const MALFORMED: Fault = Fault("malformed metadata");
    let mut properties = Vec::new();
    while let Some((&size, rest)) = data.split_first() {
        let (name, rest) = rest.split_at_checked(usize::from(size)).ok_or(MALFORMED)?;
        let (size, rest) = rest.split_at_checked(4).ok_or(MALFORMED)?;
        let size = u32::from_be_bytes(size.try_into().expect("4 bytes")) as usize;
        let (value, rest) = rest.split_at_checked(size).ok_or(MALFORMED)?;
        properties.push((name, value));
        data = rest;
    }
    Ok(properties)
}

/// Metadata holding `properties`.
pub fn metadata(properties: &[Property]) -> Vec<u8> {
    let mut data = Vec::new();
    for (name, value) in properties {
        data.push(name.len() as u8);
        data.extend_from_slice(name);
        data.extend_from_slice(&(value.len() as u32).to_be_bytes());
        data.extend_from_slice(value);
    }
    data
}

/// The property `name` of parsed metadata.
pub fn property<'a>(properties: &[(&[u8], &'a [u8])], name: &[u8]) -> Option<&'a [u8]> {
    properties.iter().find(|(key, _)| *key == name).map(|(_, value)| *value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greeting_names_its_mechanism_and_refuses_what_is_not_zmtp_3() {
        let ours = greeting(Mechanism::Curve, true);
        assert_eq!(greeting_mechanism(&ours), Ok(Mechanism::Curve));
        assert_eq!(&ours[..12], b"\xFF\0\0\0\0\0\0\0\x01\x7F\x03\x01");
        assert!(check_greeting_start(b"GET / HTTP/1.1").is_err());
        assert!(check_greeting_start(b"\xFF\0\0\0\0\0\0\0\x01\x7F\x02").is_err(), "ZMTP 2.0");
        assert!(check_greeting_start(b"\xFF\0\0").is_ok(), "too early to tell");
        let mut odd = greeting(Mechanism::Null, false);
        odd[12..17].copy_from_slice(b"PLAIN");
        assert!(greeting_mechanism(&odd).is_err());
    }

    #[test]
    fn frames_of_255_and_256_bytes_take_short_and_long_headers() {
        for (size, header) in [(0, 2), (255, 2), (256, 9), (70_000, 9)] {
            let body = vec![7; size];
            let mut wire = Vec::new();
            write_frame(&mut wire, MORE, &body);
            assert_eq!(wire.len(), header + size);
            let (frame, taken) = parse_frame(&wire, 1 << 20).unwrap().unwrap();
            assert_eq!((frame.body, frame.more(), frame.is_command(), taken), (&body[..], true, false, wire.len()));
            assert_eq!(parse_frame(&wire[..wire.len() - 1], 1 << 20), Ok(None), "incomplete");
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_header() {
        let header = [LONG, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(parse_frame(&header, 1 << 20).is_err());
        assert!(parse_frame(&[LONG, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], usize::MAX).is_err());
    }

    #[test]
    fn commands_and_metadata_read_back_what_was_written() {
        let data = metadata(&[(b"Socket-Type", b"ROUTER"), (b"Identity", b"")]);
        let mut wire = Vec::new();
        write_command(&mut wire, b"READY", &data);
        let (frame, _) = parse_frame(&wire, 1024).unwrap().unwrap();
        assert!(frame.is_command());
        let (name, data) = parse_command(frame.body).unwrap();
        assert_eq!(name, b"READY");
        let properties = parse_metadata(data).unwrap();
        assert_eq!(property(&properties, b"Socket-Type"), Some(&b"ROUTER"[..]));
        assert_eq!(property(&properties, b"Identity"), Some(&b""[..]));
        assert!(parse_metadata(b"\x05Ident").is_err());
        assert!(parse_metadata(b"\x01a\0\0\0\x09abc").is_err());
        assert!(parse_command(b"\x09READY").is_err());
    }
}
