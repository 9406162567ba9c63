//! Small helpers around `bendy`: a depth-bounded decoder, integer parsing, raw value capture and
//! a canonical writer. Crate-private: the public types own their bencode forms.

use bendy::decoding::{Decoder, Object};

/// Deepest nesting accepted. Torrents nest at most 4 levels (`info.files[].path[]`); unknown keys
/// get some slack. Bounded because bendy's `Drop` of nested decoders recurses.
pub(crate) const MAX_DEPTH: usize = 32;

/// A decoder over `bytes` with the crate's depth bound.
pub(crate) fn decoder(bytes: &[u8]) -> Decoder<'_> {
    Decoder::new(bytes).with_max_depth(MAX_DEPTH)
}

/// A bencode integer token (already syntax-checked by bendy) as a `u64`; `None` when it is
/// negative or does not fit.
pub(crate) fn parse_u64(token: &str) -> Option<u64> {
    token.parse().ok()
}

/// A bencode integer token as an `i64`; `None` when it does not fit.
pub(crate) fn parse_i64(token: &str) -> Option<i64> {
    token.parse().ok()
}

/// The exact bencoded bytes of `object`, consuming it. Byte strings and integers are re-encoded,
/// which is exact because bendy only accepts their canonical forms.
pub(crate) fn raw_value(object: Object<'_, '_>) -> Result<Vec<u8>, bendy::decoding::Error> {
    Ok(match object {
        Object::Bytes(b) => {
            let mut w = Writer::new();
            w.bytes(b);
            w.into_bytes()
        }
        Object::Integer(i) => format!("i{i}e").into_bytes(),
        Object::List(l) => l.into_raw()?.to_vec(),
        Object::Dict(d) => d.into_raw()?.to_vec(),
    })
}

/// The content of `raw` when it is exactly one bencoded byte string.
pub(crate) fn as_single_bytes(raw: &[u8]) -> Option<&[u8]> {
    let mut d = decoder(raw);
    let value = match d.next_object().ok()?? {
        Object::Bytes(b) => b,
        _ => return None,
    };
    d.next_object().ok()?.is_none().then_some(value)
}

/// Whether `raw` is exactly one well-formed bencoded value.
pub(crate) fn is_single_value(raw: &[u8]) -> bool {
    let mut d = decoder(raw);
    match d.next_object() {
        Ok(Some(obj)) => {
            if raw_value(obj).is_err() {
                return false;
            }
        }
        _ => return false,
    }
    matches!(d.next_object(), Ok(None))
}

/// Appends canonical bencode to a buffer. Dictionary keys must be written in sorted order by the
/// caller.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b.len().to_string().as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(b);
        self
    }

    pub(crate) fn int(&mut self, i: i64) -> &mut Self {
        self.out.push(b'i');
        self.out.extend_from_slice(i.to_string().as_bytes());
        self.out.push(b'e');
        self
    }

    pub(crate) fn uint(&mut self, i: u64) -> &mut Self {
        self.out.push(b'i');
        self.out.extend_from_slice(i.to_string().as_bytes());
        self.out.push(b'e');
        self
    }

    /// Already-encoded bytes, copied verbatim.
    pub(crate) fn raw(&mut self, raw: &[u8]) -> &mut Self {
        self.out.extend_from_slice(raw);
        self
    }

    pub(crate) fn begin_dict(&mut self) -> &mut Self {
        self.out.push(b'd');
        self
    }

    pub(crate) fn begin_list(&mut self) -> &mut Self {
        self.out.push(b'l');
        self
    }

    pub(crate) fn end(&mut self) -> &mut Self {
        self.out.push(b'e');
        self
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_value_is_exact_for_every_kind() {
        for raw in [
            &b"4:spam"[..],
            b"0:",
            b"i-42e",
            b"i0e",
            b"l4:spami3ee",
            b"d1:ai1e1:bl1:cee",
        ] {
            let mut d = decoder(raw);
            let obj = d.next_object().unwrap().unwrap();
            assert_eq!(raw_value(obj).unwrap(), raw);
            assert!(is_single_value(raw));
        }
    }

    #[test]
    fn single_value_checks() {
        assert!(!is_single_value(b"i1ei2e"));
        assert!(!is_single_value(b""));
        assert!(!is_single_value(b"d1:b0:1:a0:e"), "unsorted keys");
        assert!(!is_single_value(b"i01e"));
        assert_eq!(as_single_bytes(b"3:abc"), Some(&b"abc"[..]));
        assert_eq!(as_single_bytes(b"i3e"), None);
        assert_eq!(as_single_bytes(b"3:abc3:abc"), None);
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}{}", "l".repeat(MAX_DEPTH + 1), "e".repeat(MAX_DEPTH + 1));
        assert!(!is_single_value(deep.as_bytes()));
        let ok = format!("{}{}", "l".repeat(8), "e".repeat(8));
        assert!(is_single_value(ok.as_bytes()));
    }

    #[test]
    fn writer_and_integers() {
        let mut w = Writer::new();
        w.begin_dict()
            .bytes(b"a")
            .int(-3)
            .bytes(b"b")
            .begin_list()
            .uint(7)
            .end()
            .end();
        assert_eq!(w.into_bytes(), b"d1:ai-3e1:bli7eee");
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), None);
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_i64("-1"), Some(-1));
    }
}
