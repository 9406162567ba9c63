//! BEP 14 local service discovery: the `BT-SEARCH` announce datagram.
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: <host>\r\n
//! Port: <port>\r\n
//! Infohash: <ihash>\r\n      (one or more)
//! cookie: <cookie>\r\n       (optional)
//! \r\n
//! \r\n
//! ```
//!
//! Parsing is tolerant where senders differ: header names in any case, bare `\n` line ends,
//! unknown headers and anything after the blank line are ignored. Host, Port and at least one
//! Infohash are required.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::NonZeroU16;
use std::str::FromStr;

use bytes::BufMut;
use swarmfs_metainfo::InfoHash;

/// The IPv4 LSD multicast group and port.
pub const LSD_IPV4: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771));

/// The IPv6 LSD multicast group and port.
pub const LSD_IPV6: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f),
    6771,
    0,
    0,
));

const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";

/// Why a datagram is not a BEP 14 announce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LsdError {
    /// The first line is not `BT-SEARCH * HTTP/1.1`.
    #[error("not a BT-SEARCH request")]
    NotBtSearch,
    /// A header line has no colon.
    #[error("header line {line} has no colon")]
    MalformedHeader {
        /// 1-based line number.
        line: usize,
    },
    /// A required header is absent.
    #[error("missing {name} header")]
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
    /// A header that may appear once appears again.
    #[error("duplicate {name} header")]
    DuplicateHeader {
        /// The header's name.
        name: &'static str,
    },
    /// The Host header is not `address:port`.
    #[error("invalid host {value:?}")]
    BadHost {
        /// The header's value.
        value: String,
    },
    /// The Port header is not a number in 1..=65535.
    #[error("invalid port {value:?}")]
    BadPort {
        /// The header's value.
        value: String,
    },
    /// An Infohash header is not 40 hex digits.
    #[error("invalid info-hash {value:?}")]
    BadInfoHash {
        /// The header's value.
        value: String,
    },
    /// The cookie is empty or holds characters other than visible ASCII.
    #[error("invalid cookie {value:?}")]
    BadCookie {
        /// The header's value.
        value: String,
    },
}

/// An LSD cookie: non-empty visible ASCII (no spaces, no control characters), so that it
/// always fits on its header line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LsdCookie(String);

impl LsdCookie {
    /// Checks `value` and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, LsdError> {
        let value = value.into();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LsdError::BadCookie { value });
        }
        Ok(Self(value))
    }

    /// The cookie text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LsdCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LsdCookie({:?})", self.0)
    }
}

impl FromStr for LsdCookie {
    type Err = LsdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A BEP 14 announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsdAnnounce {
    /// The multicast group the datagram was sent to ([`LSD_IPV4`] or [`LSD_IPV6`]).
    pub host: SocketAddr,
    /// The sender's peer port.
    pub port: NonZeroU16,
    /// The torrents the sender announces (at least one, for the announce to parse back).
    pub info_hashes: Vec<InfoHash>,
    /// Lets the sender recognise its own announces.
    pub cookie: Option<LsdCookie>,
}

impl LsdAnnounce {
    /// Parses an announce datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, LsdError> {
        let mut lines = datagram
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or_default();
        let words: Vec<&[u8]> = first
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .take(4)
            .collect();
        let want: Vec<&[u8]> = REQUEST_LINE.split(' ').map(str::as_bytes).collect();
        if words.len() != want.len()
            || !words
                .iter()
                .zip(&want)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            return Err(LsdError::NotBtSearch);
        }
        let (mut host, mut port, mut cookie) = (None, None, None);
        let mut info_hashes = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                break; // the blank line ends the headers
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(LsdError::MalformedHeader { line: i + 2 })?;
            let name = line[..colon].trim_ascii();
            let raw = line[colon + 1..].trim_ascii();
            let value = || String::from_utf8_lossy(raw).into_owned();
            let text = std::str::from_utf8(raw).ok();
            if name.eq_ignore_ascii_case(b"host") {
                let addr = text.and_then(|t| t.parse().ok());
                set_once(
                    &mut host,
                    "Host",
                    addr.ok_or_else(|| LsdError::BadHost { value: value() })?,
                )?;
            } else if name.eq_ignore_ascii_case(b"port") {
                let p = text
                    .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|t| t.parse().ok());
                set_once(
                    &mut port,
                    "Port",
                    p.ok_or_else(|| LsdError::BadPort { value: value() })?,
                )?;
            } else if name.eq_ignore_ascii_case(b"infohash") {
                let ih = text
                    .filter(|t| t.len() == 40)
                    .and_then(|t| InfoHash::parse(t).ok());
                info_hashes.push(ih.ok_or_else(|| LsdError::BadInfoHash { value: value() })?);
            } else if name.eq_ignore_ascii_case(b"cookie") {
                let c = LsdCookie::new(value())?;
                set_once(&mut cookie, "cookie", c)?;
            }
        }
        if info_hashes.is_empty() {
            return Err(LsdError::MissingHeader { name: "Infohash" });
        }
        Ok(Self {
            host: host.ok_or(LsdError::MissingHeader { name: "Host" })?,
            port: port.ok_or(LsdError::MissingHeader { name: "Port" })?,
            info_hashes,
            cookie,
        })
    }

    /// Writes the datagram in the layout libtorrent sends: lowercase hex info-hashes, a
    /// lowercase `cookie` header and two blank lines at the end.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_slice(self.to_string().as_bytes());
    }

    /// The datagram.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for LsdAnnounce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{REQUEST_LINE}\r\nHost: {}\r\nPort: {}\r\n",
            self.host, self.port
        )?;
        for ih in &self.info_hashes {
            write!(f, "Infohash: {}\r\n", ih.to_hex())?;
        }
        if let Some(cookie) = &self.cookie {
            write!(f, "cookie: {}\r\n", cookie.as_str())?;
        }
        f.write_str("\r\n\r\n")
    }
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), LsdError> {
    if slot.replace(value).is_some() {
        return Err(LsdError::DuplicateHeader { name });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> LsdAnnounce {
        LsdAnnounce {
            host: LSD_IPV4,
            port: NonZeroU16::new(43463).unwrap(),
            info_hashes: vec![InfoHash([0xd5; 20])],
            cookie: Some(LsdCookie::new("5ddc3232").unwrap()),
        }
    }

    #[test]
    fn formats_like_libtorrent() {
        let text = announce().to_string();
        assert_eq!(
            text,
            format!(
                "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 43463\r\n\
                 Infohash: {}\r\ncookie: 5ddc3232\r\n\r\n\r\n",
                "d5".repeat(20)
            )
        );
        assert_eq!(LsdAnnounce::parse(text.as_bytes()), Ok(announce()));
    }

    #[test]
    fn parses_ipv6_many_hashes_any_case_and_bare_newlines() {
        let text = format!(
            "bt-search  *  http/1.1\nHOST:[ff15::efc0:988f]:6771\nport:  1\n\
             X-Other: whatever\ninfohash: {}\nINFOHASH: {}\n\ngarbage",
            "AB".repeat(20),
            "01".repeat(20)
        );
        let a = LsdAnnounce::parse(text.as_bytes()).unwrap();
        assert_eq!(a.host, LSD_IPV6);
        assert_eq!(a.port.get(), 1);
        assert_eq!(a.info_hashes, vec![InfoHash([0xab; 20]), InfoHash([1; 20])]);
        assert_eq!(a.cookie, None);
        let again = LsdAnnounce::parse(&a.to_bytes()).unwrap();
        assert_eq!(again, a);
        assert!(a.to_string().contains("Host: [ff15::efc0:988f]:6771\r\n"));
    }

    #[test]
    fn rejects_bad_datagrams() {
        let ih = "01".repeat(20);
        let ok_tail = format!("Infohash: {ih}\r\n\r\n");
        let cases: Vec<(String, LsdError)> = vec![
            ("GET / HTTP/1.1\r\n\r\n".into(), LsdError::NotBtSearch),
            ("BT-SEARCH * HTTP/1.1 x\r\n".into(), LsdError::NotBtSearch),
            (String::new(), LsdError::NotBtSearch),
            (
                "BT-SEARCH * HTTP/1.1\r\nHost 1\r\n".into(),
                LsdError::MalformedHeader { line: 2 },
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n{ok_tail}"),
                LsdError::MissingHeader { name: "Host" },
            ),
            (
                "BT-SEARCH * HTTP/1.1\r\nHost: 1.2.3.4:5\r\nPort: 1\r\n\r\n".into(),
                LsdError::MissingHeader { name: "Infohash" },
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nHost: x\r\n{ok_tail}"),
                LsdError::BadHost { value: "x".into() },
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n{ok_tail}"),
                LsdError::BadPort { value: "0".into() },
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: +5\r\n{ok_tail}"),
                LsdError::BadPort { value: "+5".into() },
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nPort: 2\r\n{ok_tail}"),
                LsdError::DuplicateHeader { name: "Port" },
            ),
            (
                "BT-SEARCH * HTTP/1.1\r\nInfohash: 0123\r\n".into(),
                LsdError::BadInfoHash {
                    value: "0123".into(),
                },
            ),
            (
                // 32 base32 characters are an info-hash elsewhere, not in LSD.
                format!("BT-SEARCH * HTTP/1.1\r\nInfohash: {}\r\n", "A".repeat(32)),
                LsdError::BadInfoHash {
                    value: "A".repeat(32),
                },
            ),
            (
                "BT-SEARCH * HTTP/1.1\r\ncookie: a\x01b\r\n".into(),
                LsdError::BadCookie {
                    value: "a\x01b".into(),
                },
            ),
        ];
        for (text, err) in cases {
            assert_eq!(LsdAnnounce::parse(text.as_bytes()), Err(err), "{text:?}");
        }
    }

    #[test]
    fn cookies_must_be_visible_ascii() {
        assert!(LsdCookie::new("abc-123").is_ok());
        assert!(LsdCookie::new("").is_err());
        assert!(LsdCookie::new("a b").is_err());
        assert!(LsdCookie::new("a\r\nHost: x").is_err());
        assert_eq!("x".parse::<LsdCookie>().unwrap().as_str(), "x");
    }
}
