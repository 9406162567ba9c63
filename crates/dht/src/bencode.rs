//! Minimal bencode writing helpers and a bendy-backed validator.
//!
//! KRPC messages are written by hand (keys in sorted order) so that a BEP 44 value, which is kept as
//! raw bencode, can be spliced in byte-for-byte. Reading goes through `bendy`'s decoder.

use bendy::decoding::{Decoder, Object};

/// Deepest nesting accepted in any datagram (a BEP 44 value is at most 1000 bytes anyway).
pub(crate) const MAX_DEPTH: usize = 32;

/// Appends a bencoded byte string.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(bytes.len().to_string().as_bytes());
    buf.push(b':');
    buf.extend_from_slice(bytes);
}

/// Appends a bencoded integer.
pub(crate) fn put_int(buf: &mut Vec<u8>, value: i64) {
    buf.push(b'i');
    buf.extend_from_slice(value.to_string().as_bytes());
    buf.push(b'e');
}

/// Appends `key` (a byte string) then the bencoded byte string `value`.
pub(crate) fn put_key_bytes(buf: &mut Vec<u8>, key: &str, value: &[u8]) {
    put_bytes(buf, key.as_bytes());
    put_bytes(buf, value);
}

/// Appends `key` then the bencoded integer `value`.
pub(crate) fn put_key_int(buf: &mut Vec<u8>, key: &str, value: i64) {
    put_bytes(buf, key.as_bytes());
    put_int(buf, value);
}

/// Parses a bencode integer token as `i64`.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    text.parse().ok()
}

/// Returns the raw bytes of one object already started in a decoder, re-serialising scalars.
///
/// Strings and integers come back from bendy without their framing; their canonical encoding is
/// the only one bendy accepts, so re-framing gives back the bytes received.
pub(crate) fn raw_object(object: Object<'_, '_>) -> Result<Vec<u8>, bendy::decoding::Error> {
    Ok(match object {
        Object::Bytes(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 6);
            put_bytes(&mut out, bytes);
            out
        }
        Object::Integer(text) => {
            let mut out = Vec::with_capacity(text.len() + 2);
            out.push(b'i');
            out.extend_from_slice(text.as_bytes());
            out.push(b'e');
            out
        }
        Object::List(list) => list.into_raw()?.to_vec(),
        Object::Dict(dict) => dict.into_raw()?.to_vec(),
    })
}

/// True when `bytes` is exactly one complete, well-formed bencoded value.
pub(crate) fn is_single_value(bytes: &[u8]) -> bool {
    let mut decoder = Decoder::new(bytes).with_max_depth(MAX_DEPTH);
    let ok = match decoder.next_object() {
        Ok(Some(Object::List(list))) => list.into_raw().is_ok(),
        Ok(Some(Object::Dict(dict))) => dict.into_raw().is_ok(),
        Ok(Some(Object::Integer(text))) => parse_int(text).is_some(),
        Ok(Some(Object::Bytes(_))) => true,
        Ok(None) | Err(_) => false,
    };
    ok && matches!(decoder.next_object(), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_single_values() {
        assert!(is_single_value(b"12:Hello World!"));
        assert!(is_single_value(b"d2:ih3:abce"));
        assert!(is_single_value(b"li1ei2ee"));
        assert!(is_single_value(b"i-5e"));
        assert!(!is_single_value(b""));
        assert!(!is_single_value(b"3:ab"));
        assert!(!is_single_value(b"i1ei2e"));
        assert!(!is_single_value(b"d2:ih3:abc"));
        assert!(!is_single_value(b"x"));
    }

    #[test]
    fn writes_canonical_forms() {
        let mut buf = Vec::new();
        put_key_bytes(&mut buf, "id", b"ab");
        put_key_int(&mut buf, "seq", -3);
        assert_eq!(buf, b"2:id2:ab3:seqi-3e");
    }
}
