//! Small helpers around `bendy`: a depth-bounded decoder, integer parsing, raw value capture and
//! a canonical writer. Crate-private: the public types own their bencode forms.

use std::borrow::Cow;
use std::ops::Range;

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

/// `raw` with the keys of every dictionary in sorted order: borrowed when they already are (the
/// common case, no copy), an owned re-encoding when some producer wrote them out of order (BEP 3
/// asks for sorted keys; libtorrent and other clients accept both). Only the first value is
/// reordered; bytes after it are kept as they are. Malformed input is returned unchanged so that
/// the strict decoder reports the error. The copy is never longer than `raw`.
pub(crate) fn sort_keys(raw: &[u8]) -> Cow<'_, [u8]> {
    match scan(raw, 0, 0) {
        Some((_, false)) | None => Cow::Borrowed(raw),
        Some((end, true)) => {
            let mut out = Vec::with_capacity(raw.len());
            if write_sorted(raw, 0, 0, &mut out).is_none() {
                return Cow::Borrowed(raw);
            }
            out.extend_from_slice(&raw[end..]);
            Cow::Owned(out)
        }
    }
}

/// The byte range of the value of `key` in the top-level dictionary of `raw`.
pub(crate) fn dict_value_span(raw: &[u8], key: &[u8]) -> Option<Range<usize>> {
    if raw.first() != Some(&b'd') {
        return None;
    }
    let mut pos = 1;
    while raw.get(pos)? != &b'e' {
        let (k, value_start) = string_at(raw, pos)?;
        let (value_end, _) = scan(raw, value_start, 1)?;
        if k == key {
            return Some(value_start..value_end);
        }
        pos = value_end;
    }
    None
}

/// The end of the value at `pos` and whether any dictionary in it has keys out of order.
fn scan(raw: &[u8], pos: usize, depth: usize) -> Option<(usize, bool)> {
    if depth > MAX_DEPTH {
        return None;
    }
    match raw.get(pos)? {
        b'i' => Some((
            pos + raw.get(pos..)?.iter().position(|&b| b == b'e')? + 1,
            false,
        )),
        b'l' => {
            let (mut pos, mut unsorted) = (pos + 1, false);
            while raw.get(pos)? != &b'e' {
                let (end, u) = scan(raw, pos, depth + 1)?;
                (pos, unsorted) = (end, unsorted || u);
            }
            Some((pos + 1, unsorted))
        }
        b'd' => {
            let (mut pos, mut unsorted) = (pos + 1, false);
            let mut previous: Option<&[u8]> = None;
            while raw.get(pos)? != &b'e' {
                let (key, value_start) = string_at(raw, pos)?;
                unsorted |= previous.is_some_and(|p| p >= key);
                previous = Some(key);
                let (end, u) = scan(raw, value_start, depth + 1)?;
                (pos, unsorted) = (end, unsorted || u);
            }
            Some((pos + 1, unsorted))
        }
        _ => string_at(raw, pos).map(|(_, end)| (end, false)),
    }
}

/// Appends the value at `pos` to `out` with every dictionary's keys sorted; returns its end.
/// `None` when malformed or when a dictionary repeats a key.
fn write_sorted(raw: &[u8], pos: usize, depth: usize, out: &mut Vec<u8>) -> Option<usize> {
    let (end, _) = scan(raw, pos, depth)?;
    match raw[pos] {
        b'l' => {
            out.push(b'l');
            let mut p = pos + 1;
            while raw[p] != b'e' {
                p = write_sorted(raw, p, depth + 1, out)?;
            }
            out.push(b'e');
        }
        b'd' => {
            let mut entries = Vec::new();
            let mut p = pos + 1;
            while raw[p] != b'e' {
                let (key, value_start) = string_at(raw, p)?;
                let (value_end, _) = scan(raw, value_start, depth + 1)?;
                entries.push((key, p, value_start));
                p = value_end;
            }
            entries.sort_by(|a, b| a.0.cmp(b.0));
            if entries.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            out.push(b'd');
            for (_, key_start, value_start) in entries {
                out.extend_from_slice(&raw[key_start..value_start]);
                write_sorted(raw, value_start, depth + 1, out)?;
            }
            out.push(b'e');
        }
        _ => out.extend_from_slice(&raw[pos..end]),
    }
    Some(end)
}

/// The byte string at `pos` and the position after it.
fn string_at(raw: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let colon = pos + raw.get(pos..)?.iter().take(21).position(|&b| b == b':')?;
    let digits = &raw[pos..colon];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let start = colon + 1;
    let end = start.checked_add(len)?;
    Some((raw.get(start..end)?, end))
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
    fn sort_keys_borrows_sorted_input_and_reorders_the_rest() {
        let sorted = b"d1:ai1e1:bl1:cee";
        assert!(matches!(sort_keys(sorted), Cow::Borrowed(_)));
        let unsorted = b"d1:bld1:yi2e1:xi1eee1:ai1ee";
        let fixed = sort_keys(unsorted);
        assert_eq!(&*fixed, b"d1:ai1e1:bld1:xi1e1:yi2eeee");
        assert!(is_single_value(&fixed));
        // Trailing bytes are kept for the caller's own check.
        assert_eq!(&*sort_keys(b"d1:b0:1:a0:ei1e"), b"d1:a0:1:b0:ei1e");
        // Duplicate keys and malformed input stay as they are for the strict decoder to refuse.
        for bad in [
            &b"d1:ai1e1:ai1ee"[..],
            b"d1:bi1e1:a",
            b"d1:b+1:1:a0:e",
            b"d1:b99:x1:a0:e",
        ] {
            assert_eq!(&*sort_keys(bad), bad);
        }
        let deep = format!(
            "{}d1:b0:1:a0:e{}",
            "l".repeat(MAX_DEPTH + 1),
            "e".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(&*sort_keys(deep.as_bytes()), deep.as_bytes());
    }

    #[test]
    fn dict_value_span_finds_top_level_keys_only() {
        let raw = b"d1:zd4:infoi9ee4:infod1:b0:1:a0:e1:ai1ee";
        let span = dict_value_span(raw, b"info").unwrap();
        assert_eq!(&raw[span], b"d1:b0:1:a0:e");
        assert_eq!(dict_value_span(raw, b"nope"), None);
        assert_eq!(dict_value_span(b"l4:infoe", b"info"), None);
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
