//! Magnet URIs: `magnet:?xt=urn:btih:<hash>` (BEP 9) and BEP 46 mutable magnets
//! `magnet:?xs=urn:btpk:<public key>&s=<salt>`.
//!
//! Parsing is strict about what it understands and keeps everything else: unknown parameters
//! (and `xt`/`xs` values of other URN kinds) survive a parse/format round trip in order.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use crate::infohash::{InfoHash, InfoHashParseError};
use crate::percent::{self, PercentError};

/// Longest magnet URI accepted, in bytes.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;
/// Longest BEP 44 salt, in bytes.
pub const MAX_SALT_LEN: usize = 64;

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// What the magnet names: an info-hash or a mutable item's key.
    pub target: MagnetTarget,
    /// `dn`: the display name.
    pub display_name: Option<String>,
    /// `tr`: tracker URLs, kept though swarmfs does not use trackers.
    pub trackers: Vec<String>,
    /// `ws`: web seed URLs.
    pub web_seeds: Vec<String>,
    /// `x.pe`: peer addresses to try first.
    pub peers: Vec<PeerAddr>,
    /// Every other parameter as `(key, value)`, decoded, in order (including `xt`/`xs` values of
    /// other URN kinds). Formatting writes them as they are, so they should not repeat a
    /// parameter the fields above hold.
    pub extra: Vec<(String, String)>,
}

/// What a magnet names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MagnetTarget {
    /// `xt=urn:btih:`: a fixed torrent.
    InfoHash(InfoHash),
    /// `xs=urn:btpk:` (+ `s=`): the newest torrent published under a key (BEP 46).
    Mutable(MutableTarget),
}

/// A BEP 46 mutable target: an ed25519 public key and an optional salt.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MutableTarget {
    public_key: [u8; 32],
    salt: Vec<u8>,
}

/// A peer address from `x.pe`: an IP socket address or a host name with a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// `1.2.3.4:6881` or `[::1]:6881`.
    Ip(SocketAddr),
    /// `host.example:6881`.
    Host {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

/// Why a magnet URI was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MagnetError {
    /// Longer than [`MAX_MAGNET_LEN`].
    #[error("magnet is {len} bytes, more than {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Does not start with `magnet:?`.
    #[error("not a magnet uri")]
    NotMagnet,
    /// A key or value has a bad escape or is not UTF-8 once decoded.
    #[error("parameter {key:?}: {source}")]
    Percent {
        /// The key as written (still encoded).
        key: String,
        /// What is wrong.
        #[source]
        source: PercentError,
    },
    /// `xt=urn:btih:` does not hold 40 hex or 32 base32 characters.
    #[error("bad info-hash: {0}")]
    BadInfoHash(#[source] InfoHashParseError),
    /// `xs=urn:btpk:` does not hold 64 hex characters.
    #[error("bad public key {value:?}")]
    BadPublicKey {
        /// The value after `urn:btpk:`.
        value: String,
    },
    /// `s` is not hex or is longer than [`MAX_SALT_LEN`] bytes.
    #[error("bad salt {value:?}")]
    BadSalt {
        /// The value.
        value: String,
    },
    /// `s` without `xs=urn:btpk:`.
    #[error("salt without a public key")]
    SaltWithoutKey,
    /// `x.pe` is not `ip:port`, `[ipv6]:port` or `host:port`.
    #[error("bad peer address {value:?}")]
    BadPeer {
        /// The value.
        value: String,
    },
    /// A parameter that may appear once appears again.
    #[error("parameter {key:?} repeated")]
    Duplicate {
        /// The key.
        key: String,
    },
    /// Both `xt=urn:btih:` and `xs=urn:btpk:`.
    #[error("magnet names both an info-hash and a public key")]
    BothTargets,
    /// Neither `xt=urn:btih:` nor `xs=urn:btpk:`.
    #[error("magnet names neither an info-hash nor a public key")]
    NoTarget,
}

impl Magnet {
    /// A magnet for an info-hash with no other parameters.
    pub fn from_info_hash(info_hash: InfoHash) -> Self {
        Self::with_target(MagnetTarget::InfoHash(info_hash))
    }

    /// A magnet with only a target.
    pub fn with_target(target: MagnetTarget) -> Self {
        Self {
            target,
            display_name: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            peers: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Parses a magnet URI.
    pub fn parse(uri: &str) -> Result<Self, MagnetError> {
        if uri.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong {
                len: uri.len(),
                max: MAX_MAGNET_LEN,
            });
        }
        let query = match uri.get(..8) {
            Some(p) if p.eq_ignore_ascii_case("magnet:?") => &uri[8..],
            _ => return Err(MagnetError::NotMagnet),
        };
        let mut info_hash = None;
        let mut key = None;
        let mut salt = None;
        let mut m = Self::with_target(MagnetTarget::InfoHash(InfoHash([0; 20])));
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (k_raw, v_raw) = param.split_once('=').unwrap_or((param, ""));
            let pct = |source| MagnetError::Percent {
                key: k_raw.to_owned(),
                source,
            };
            let k = percent::decode(k_raw).map_err(pct)?;
            let v = percent::decode(v_raw).map_err(pct)?;
            match k.as_str() {
                "xt" if has_prefix(&v, "urn:btih:") => {
                    let ih = InfoHash::parse(&v[9..]).map_err(MagnetError::BadInfoHash)?;
                    set_once(&mut info_hash, ih, "xt")?;
                }
                "xs" if has_prefix(&v, "urn:btpk:") => {
                    let pk = parse_key(&v[9..])?;
                    set_once(&mut key, pk, "xs")?;
                }
                "s" => {
                    let s = hex::decode(&v)
                        .ok()
                        .filter(|s| s.len() <= MAX_SALT_LEN)
                        .ok_or_else(|| MagnetError::BadSalt { value: v.clone() })?;
                    set_once(&mut salt, s, "s")?;
                }
                "dn" => {
                    if m.display_name.is_some() {
                        return Err(MagnetError::Duplicate { key: k });
                    }
                    m.display_name = Some(v);
                }
                "tr" => m.trackers.push(v),
                "ws" => m.web_seeds.push(v),
                "x.pe" => m.peers.push(v.parse()?),
                _ => m.extra.push((k, v)),
            }
        }
        m.target = match (info_hash, key, salt) {
            (Some(_), Some(_), _) => return Err(MagnetError::BothTargets),
            (Some(_), None, Some(_)) => return Err(MagnetError::SaltWithoutKey),
            (Some(ih), None, None) => MagnetTarget::InfoHash(ih),
            (None, Some(public_key), salt) => MagnetTarget::Mutable(MutableTarget {
                public_key,
                salt: salt.unwrap_or_default(),
            }),
            (None, None, Some(_)) => return Err(MagnetError::SaltWithoutKey),
            (None, None, None) => return Err(MagnetError::NoTarget),
        };
        Ok(m)
    }

    /// The info-hash, for a non-mutable magnet.
    pub fn info_hash(&self) -> Option<InfoHash> {
        match &self.target {
            MagnetTarget::InfoHash(ih) => Some(*ih),
            MagnetTarget::Mutable(_) => None,
        }
    }

    /// The mutable target, for a BEP 46 magnet.
    pub fn mutable(&self) -> Option<&MutableTarget> {
        match &self.target {
            MagnetTarget::InfoHash(_) => None,
            MagnetTarget::Mutable(m) => Some(m),
        }
    }
}

impl MutableTarget {
    /// A target from a public key and a salt of at most [`MAX_SALT_LEN`] bytes.
    pub fn new(public_key: [u8; 32], salt: &[u8]) -> Option<Self> {
        (salt.len() <= MAX_SALT_LEN).then(|| Self {
            public_key,
            salt: salt.to_vec(),
        })
    }

    /// The ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The salt (empty when the magnet has none).
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The BEP 44 DHT target: SHA-1 of the public key followed by the salt.
    pub fn dht_target(&self) -> [u8; 20] {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        h.update(self.public_key);
        h.update(&self.salt);
        h.finalize().into()
    }
}

impl FromStr for PeerAddr {
    type Err = MagnetError;

    fn from_str(s: &str) -> Result<Self, MagnetError> {
        let bad = || MagnetError::BadPeer {
            value: s.to_owned(),
        };
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return if addr.port() == 0 {
                Err(bad())
            } else {
                Ok(PeerAddr::Ip(addr))
            };
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
            // All digits and dots is a malformed IPv4 address, not a host name.
            && !host.bytes().all(|c| c.is_ascii_digit() || c == b'.');
        if !host_ok {
            return Err(bad());
        }
        Ok(PeerAddr::Host {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Ip(a) => write!(f, "{a}"),
            PeerAddr::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Magnet {
    /// Formats as `magnet:?` + target, `s`, `dn`, `tr`, `ws`, `x.pe`, then the other parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("magnet:?");
        match &self.target {
            MagnetTarget::InfoHash(ih) => {
                out.push_str("xt=urn:btih:");
                out.push_str(&ih.to_hex());
            }
            MagnetTarget::Mutable(m) => {
                out.push_str("xs=urn:btpk:");
                out.push_str(&hex::encode(m.public_key));
                if !m.salt.is_empty() {
                    out.push_str("&s=");
                    out.push_str(&hex::encode(&m.salt));
                }
            }
        }
        let mut param = |k: &str, v: &str| {
            out.push('&');
            percent::encode_into(&mut out, k);
            out.push('=');
            percent::encode_into(&mut out, v);
        };
        if let Some(dn) = &self.display_name {
            param("dn", dn);
        }
        for t in &self.trackers {
            param("tr", t);
        }
        for w in &self.web_seeds {
            param("ws", w);
        }
        for p in &self.peers {
            param("x.pe", &p.to_string());
        }
        for (k, v) in &self.extra {
            param(k, v);
        }
        f.write_str(&out)
    }
}

fn has_prefix(v: &str, prefix: &str) -> bool {
    v.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn parse_key(hex_key: &str) -> Result<[u8; 32], MagnetError> {
    let mut pk = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut pk).map_err(|_| MagnetError::BadPublicKey {
        value: hex_key.to_owned(),
    })?;
    Ok(pk)
}

fn set_once<T>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), MagnetError> {
    if slot.is_some() {
        return Err(MagnetError::Duplicate {
            key: key.to_owned(),
        });
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests;
