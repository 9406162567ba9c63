//! The `Range` request header (RFC 9110 section 14.2), single byte ranges only.

/// A satisfiable byte range of a resource: `start..start + len`, `len > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

impl ByteRange {
    /// The last byte (inclusive), as `Content-Range` writes it.
    pub fn last(&self) -> u64 {
        self.start + self.len - 1
    }
}

/// Why a `Range` header is not served as a partial response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The header is not a `bytes=` range the server understands (RFC 9110: such a header is
    /// ignored and the whole resource sent).
    #[error("unsupported range header")]
    Unsupported,
    /// The range starts past the end of the resource (or asks for a suffix of zero bytes).
    #[error("range not satisfiable for {len} bytes")]
    Unsatisfiable {
        /// Length of the resource.
        len: u64,
    },
}

/// Parses a `Range` header value against a resource of `len` bytes.
///
/// Supports `bytes=a-b`, `bytes=a-` and `bytes=-n`. Several ranges (`bytes=0-1,5-6`) are
/// [`RangeError::Unsupported`]: the caller sends the whole resource, which RFC 9110 allows.
pub fn parse_range(header: &str, len: u64) -> Result<ByteRange, RangeError> {
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Unsupported)?
        .trim();
    if spec.contains(',') {
        return Err(RangeError::Unsupported);
    }
    let (first, last) = spec.split_once('-').ok_or(RangeError::Unsupported)?;
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Result<u64, RangeError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RangeError::Unsupported);
        }
        // Digits only: the one failure left is overflow, which no resource can satisfy.
        s.parse::<u64>()
            .map_err(|_| RangeError::Unsatisfiable { len })
    };
    if first.is_empty() {
        // Suffix range: the last n bytes.
        let n = number(last)?;
        if n == 0 || len == 0 {
            return Err(RangeError::Unsatisfiable { len });
        }
        let n = n.min(len);
        return Ok(ByteRange {
            start: len - n,
            len: n,
        });
    }
    let start = number(first)?;
    let end = if last.is_empty() {
        None
    } else {
        let end = number(last);
        match end {
            Ok(e) if e < start => return Err(RangeError::Unsupported),
            Ok(e) => Some(e),
            // An overflowing last byte means "to the end".
            Err(RangeError::Unsatisfiable { .. }) => None,
            Err(e) => return Err(e),
        }
    };
    if start >= len {
        return Err(RangeError::Unsatisfiable { len });
    }
    let end = end.map_or(len - 1, |e| e.min(len - 1));
    Ok(ByteRange {
        start,
        len: end - start + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, len: u64) -> Result<ByteRange, RangeError> {
        Ok(ByteRange { start, len })
    }

    #[test]
    fn closed_open_and_suffix_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), r(0, 10));
        assert_eq!(parse_range("bytes=90-200", 100), r(90, 10));
        assert_eq!(parse_range("bytes=50-", 100), r(50, 50));
        assert_eq!(parse_range("bytes=-10", 100), r(90, 10));
        assert_eq!(parse_range("bytes=-1000", 100), r(0, 100));
        assert_eq!(parse_range(" bytes= 3 - 4 ", 100), r(3, 2));
        assert_eq!(parse_range("bytes=0-99999999999999999999999", 10), r(0, 10));
    }

    #[test]
    fn unsatisfiable_ranges() {
        let bad = Err(RangeError::Unsatisfiable { len: 100 });
        assert_eq!(parse_range("bytes=100-", 100), bad);
        assert_eq!(parse_range("bytes=100-200", 100), bad);
        assert_eq!(parse_range("bytes=-0", 100), bad);
        assert_eq!(parse_range("bytes=99999999999999999999999-", 100), bad);
        assert_eq!(
            parse_range("bytes=0-", 0),
            Err(RangeError::Unsatisfiable { len: 0 })
        );
    }

    #[test]
    fn unsupported_headers_are_ignored() {
        for h in [
            "items=0-1",
            "bytes=0-1,4-5",
            "bytes=5-4",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1",
            "",
        ] {
            assert_eq!(parse_range(h, 100), Err(RangeError::Unsupported), "{h}");
        }
    }

    #[test]
    fn last_byte() {
        assert_eq!(ByteRange { start: 5, len: 1 }.last(), 5);
        assert_eq!(ByteRange { start: 0, len: 10 }.last(), 9);
    }
}
