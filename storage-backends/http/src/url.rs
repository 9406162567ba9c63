//! `http://` URLs: the only scheme this backend speaks (no TLS).

use std::fmt;

use crate::HttpError;

/// A parsed `http://host[:port]/path[?query]` URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    host: String,
    port: u16,
    /// Path and query as sent in the request line (always starts with `/`).
    target: String,
}

/// Longest URL accepted.
const MAX_URL_LEN: usize = 8 * 1024;

impl HttpUrl {
    /// Parses an `http://` URL. `https://` is refused: this backend has no TLS.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = |reason: &'static str| HttpError::BadUrl {
            url: url.chars().take(200).collect(),
            reason,
        };
        if url.len() > MAX_URL_LEN {
            return Err(bad("too long"));
        }
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad("https is not supported (no tls)"));
            }
            _ => return Err(bad("not an http:// url")),
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let target = target.split('#').next().unwrap_or("/").to_owned();
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("control character or space in the path"));
        }
        if authority.contains('@') {
            return Err(bad("credentials in urls are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed ipv6 bracket"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => 80,
                None => return Err(bad("junk after ipv6 address")),
            };
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), 80),
            }
        };
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == b'/') {
            return Err(bad("bad host"));
        }
        Ok(Self { host, port, target })
    }

    /// Resolves `location` (a redirect target, absolute or absolute-path) against this URL.
    pub fn join(&self, location: &str) -> Result<Self, HttpError> {
        if location.starts_with('/') && !location.starts_with("//") {
            return Self::parse(&format!("http://{}{location}", self.authority()));
        }
        Self::parse(location)
    }

    /// `host:port`, the key connections are pooled under.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The host (IPv6 addresses in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, as sent in the request line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header value (the port is omitted when it is 80).
    pub(crate) fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            self.authority()
        }
    }

    /// `host:port` with brackets stripped, for connecting.
    pub(crate) fn connect_addr(&self) -> (String, u16) {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        (h.to_owned(), self.port)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/a/b.bin?x=1#frag").unwrap();
        assert_eq!(u.authority(), "127.0.0.1:8080");
        assert_eq!(u.target(), "/a/b.bin?x=1");
        let u = HttpUrl::parse("http://[::1]/f").unwrap();
        assert_eq!(u.connect_addr(), ("::1".to_owned(), 80));
        assert_eq!(HttpUrl::parse("http://h").unwrap().target(), "/");
        for bad in [
            "https://h/x",
            "ftp://h/x",
            "http://",
            "http://h:99999/",
            "http://u@h/",
            "http://h/a b",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
        let j = u.join("/other").unwrap();
        assert_eq!(j.to_string(), "http://[::1]:80/other");
    }
}
