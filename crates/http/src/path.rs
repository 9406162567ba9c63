//! Request paths: percent-decoding into an archive path.

/// Why a request path is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PathRefused {
    /// Not valid percent-encoding, not UTF-8, or a NUL byte.
    Malformed,
    /// A `.` or `..` component, or a backslash: an attempt to leave the archive.
    Traversal,
}

/// Longest request path accepted, in bytes.
const MAX_PATH: usize = 4096;

/// Decodes the path of a request URI (without its query) into an archive path starting with
/// `/`, refusing traversal attempts.
pub(crate) fn decode(raw: &str) -> Result<String, PathRefused> {
    if raw.len() > MAX_PATH || !raw.starts_with('/') {
        return Err(PathRefused::Malformed);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(PathRefused::Malformed)?;
                let hex = std::str::from_utf8(hex).map_err(|_| PathRefused::Malformed)?;
                let b = u8::from_str_radix(hex, 16).map_err(|_| PathRefused::Malformed)?;
                out.push(b);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let path = String::from_utf8(out).map_err(|_| PathRefused::Malformed)?;
    if path.contains('\0') {
        return Err(PathRefused::Malformed);
    }
    if path.contains('\\') || path.split('/').any(|c| c == "." || c == "..") {
        return Err(PathRefused::Traversal);
    }
    Ok(path)
}

/// Percent-encodes an archive path for a link (keeps `/` and unreserved characters).
pub(crate) fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_round_trips() {
        assert_eq!(decode("/a%20b/c.txt").as_deref(), Ok("/a b/c.txt"));
        assert_eq!(
            decode(&encode("/dir/ünï code #1?.mp4")).as_deref(),
            Ok("/dir/ünï code #1?.mp4")
        );
    }

    #[test]
    fn refuses_traversal_and_garbage() {
        for p in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/a/./b",
            "/a%5c..%5cb",
            "/..",
        ] {
            assert_eq!(decode(p), Err(PathRefused::Traversal), "{p}");
        }
        for p in ["/%zz", "/%4", "/%ff", "/a%00b", "relative", ""] {
            assert_eq!(decode(p), Err(PathRefused::Malformed), "{p}");
        }
        assert_eq!(
            decode(&format!("/{}", "a".repeat(5000))),
            Err(PathRefused::Malformed)
        );
    }
}
