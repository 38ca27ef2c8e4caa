//! JSON encoded byte for byte as the seed's Python does (`json.dumps` with its
//! defaults): `", "` between items, `": "` after keys, and every character
//! outside printable ASCII escaped as `\uXXXX` (UTF-16, lowercase hex).
//!
//! Decoding needs no such care: any valid JSON is accepted.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};
use std::io::{self, Write};

/// Encodes `value` exactly as Python's `json.dumps(value)` would.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut serializer).expect("protocol types always serialize: string keys, no floats");
    out
}

/// How many bytes [`to_vec`] would write for `value`, without writing them.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let mut serializer = Serializer::with_formatter(&mut counter, PythonFormatter);
    value.serialize(&mut serializer).expect("protocol types always serialize: string keys, no floats");
    counter.0
}

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        if fragment.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return w.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for ch in fragment.chars() {
            if (' '..='~').contains(&ch) {
                w.write_all(&[ch as u8])?;
            } else {
                for unit in ch.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, w: &mut W, escape: CharEscape) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(w, "\\u{byte:04x}"),
        };
        w.write_all(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_match_python() {
        let value = json!({"response": "SUCCESS", "messages": ["a", "b"]});
        // serde_json's json! keeps keys sorted (no preserve_order), Python keeps
        // insertion order: compare a struct-free shape where both agree.
        assert_eq!(String::from_utf8(to_vec(&value)).unwrap(), r#"{"messages": ["a", "b"], "response": "SUCCESS"}"#);
    }

    #[test]
    fn non_ascii_is_escaped_like_ensure_ascii() {
        // python3 -c 'import json; print(json.dumps("é😀\x7f\x01\n\"\\"))'
        assert_eq!(
            String::from_utf8(to_vec("é😀\u{7f}\u{1}\n\"\\")).unwrap(),
            r#""\u00e9\ud83d\ude00\u007f\u0001\n\"\\""#
        );
    }
}
