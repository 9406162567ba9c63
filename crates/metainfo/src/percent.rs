//! Percent-encoding for magnet URI query components (RFC 3986 section 2.1).

/// Why a query component could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PercentError {
    /// `%` is not followed by two hex digits.
    #[error("bad percent escape at byte {offset}")]
    BadEscape {
        /// Offset of the `%` in the component.
        offset: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("decoded text is not utf-8")]
    NotUtf8,
}

/// Decodes `%XX` escapes and `+` (as a space, the form encoding browsers and libtorrent use).
pub(crate) fn decode(s: &str) -> Result<String, PercentError> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| hex_value(*c));
                let lo = b.get(i + 2).and_then(|c| hex_value(*c));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(PercentError::BadEscape { offset: i }),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| PercentError::NotUtf8)
}

/// Appends `s` with everything but unreserved characters and `:/@[]` escaped.
pub(crate) fn encode_into(out: &mut String, s: &str) {
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~:/@[]".contains(&c) {
            out.push(char::from(c));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode("a%20b+c%2Bd%2fe").unwrap(), "a b c+d/e");
        assert_eq!(decode("%C3%A9t%C3%A9").unwrap(), "été");
        assert_eq!(decode("plain").unwrap(), "plain");
    }

    #[test]
    fn rejects_bad_escapes_and_invalid_utf8() {
        assert_eq!(decode("ab%"), Err(PercentError::BadEscape { offset: 2 }));
        assert_eq!(decode("%4"), Err(PercentError::BadEscape { offset: 0 }));
        assert_eq!(decode("x%zz"), Err(PercentError::BadEscape { offset: 1 }));
        // A multi-byte character split by an escape must not be accepted half-way.
        assert_eq!(decode("%C3"), Err(PercentError::NotUtf8));
        assert_eq!(decode("%FF%FE"), Err(PercentError::NotUtf8));
    }

    #[test]
    fn encode_then_decode_is_identity() {
        for s in ["a b&c=d+e%f#g", "été/[::1]:80", "", "~-._"] {
            let mut e = String::new();
            encode_into(&mut e, s);
            assert!(!e.contains(['&', '=', '+', ' ', '#']), "{e}");
            assert_eq!(decode(&e).unwrap(), s);
        }
        let mut e = String::new();
        encode_into(&mut e, "a b&c");
        assert_eq!(e, "a%20b%26c");
    }
}
