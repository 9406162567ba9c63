//! BEP 11 peer exchange (`ut_pex`): peers the sender connected to or dropped since its last
//! message, in compact form.
//!
//! `added`, `dropped`: 6 bytes per IPv4 peer (address, port, big-endian); `added6`,
//! `dropped6`: 18 bytes per IPv6 peer; `added.f`, `added6.f`: one flag byte per added peer.
//! A compact list whose length is not a multiple of its entry size is an error. A flag list
//! whose length does not match its peer list is ignored (the peers keep empty flags), as
//! libtorrent does.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bendy::decoding::Object;
use bytes::BufMut;

use crate::bencode;

/// Why bytes are not a ut_pex message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PexError {
    /// Not one well-formed bencoded dictionary.
    #[error("ut_pex message is not a bencoded dictionary: {reason}")]
    Bencode {
        /// What is wrong, from the bencode decoder.
        reason: String,
    },
    /// Bytes follow the dictionary.
    #[error("{len} bytes after the ut_pex dictionary")]
    TrailingBytes {
        /// How many.
        len: usize,
    },
    /// A peer list is not a byte string.
    #[error("ut_pex key {key:?} is not a byte string")]
    NotBytes {
        /// The key.
        key: &'static str,
    },
    /// A compact peer list's length is not a multiple of its entry size.
    #[error("ut_pex key {key:?} has {len} bytes, not a multiple of {entry}")]
    BadCompactLength {
        /// The key.
        key: &'static str,
        /// The list's length.
        len: usize,
        /// The size of one entry (6 or 18).
        entry: usize,
    },
}

/// BEP 11 flags of an added peer.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// 0x01: prefers encryption.
    pub const PREFERS_ENCRYPTION: Self = Self(0x01);
    /// 0x02: seed or upload-only.
    pub const SEED: Self = Self(0x02);
    /// 0x04: supports uTP.
    pub const UTP: Self = Self(0x04);
    /// 0x08: supports ut_holepunch.
    pub const HOLEPUNCH: Self = Self(0x08);
    /// 0x10: reachable (the sender connected to it, so it accepts connections).
    pub const REACHABLE: Self = Self(0x10);

    /// Whether every flag of `other` is set here.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags and those of `other`.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for PexFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::PREFERS_ENCRYPTION, "encryption"),
            (Self::SEED, "seed"),
            (Self::UTP, "utp"),
            (Self::HOLEPUNCH, "holepunch"),
            (Self::REACHABLE, "reachable"),
        ];
        write!(f, "PexFlags({:#04x}", self.0)?;
        for (flag, name) in names {
            if self.contains(flag) {
                write!(f, " {name}")?;
            }
        }
        write!(f, ")")
    }
}

/// A ut_pex message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// `added` with `added.f`: IPv4 peers the sender connected to.
    pub added: Vec<(SocketAddrV4, PexFlags)>,
    /// `dropped`: IPv4 peers the sender disconnected from.
    pub dropped: Vec<SocketAddrV4>,
    /// `added6` with `added6.f`: IPv6 peers the sender connected to.
    pub added6: Vec<(SocketAddrV6, PexFlags)>,
    /// `dropped6`: IPv6 peers the sender disconnected from.
    pub dropped6: Vec<SocketAddrV6>,
}

impl PexMessage {
    /// All added peers, IPv4 first.
    pub fn added_peers(&self) -> impl Iterator<Item = (SocketAddr, PexFlags)> + '_ {
        let v4 = self.added.iter().map(|&(a, f)| (SocketAddr::V4(a), f));
        v4.chain(self.added6.iter().map(|&(a, f)| (SocketAddr::V6(a), f)))
    }

    /// All dropped peers, IPv4 first.
    pub fn dropped_peers(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let v4 = self.dropped.iter().map(|&a| SocketAddr::V4(a));
        v4.chain(self.dropped6.iter().map(|&a| SocketAddr::V6(a)))
    }

    /// Decodes the payload of a ut_pex extended message (after the extended id byte).
    pub fn decode(payload: &[u8]) -> Result<Self, PexError> {
        let bencode_err = |reason: String| PexError::Bencode { reason };
        let len = bencode::leading_dict_len(payload).map_err(bencode_err)?;
        if len != payload.len() {
            return Err(PexError::TrailingBytes {
                len: payload.len() - len,
            });
        }
        let mut lists: [&[u8]; 6] = [&[]; 6];
        let mut dec = bencode::decoder(payload);
        let Some(Object::Dict(mut dict)) =
            dec.next_object().map_err(|e| bencode_err(e.to_string()))?
        else {
            return Err(bencode_err("not a dictionary".to_owned()));
        };
        while let Some((key, value)) = dict.next_pair().map_err(|e| bencode_err(e.to_string()))? {
            let Some(slot) = KEYS.iter().position(|k| k.as_bytes() == key) else {
                continue; // unknown keys are skipped
            };
            lists[slot] = bencode::bytes(value).ok_or(PexError::NotBytes { key: KEYS[slot] })?;
        }
        let [added, added_f, added6, added6_f, dropped, dropped6] = lists;
        let added = compact(KEYS[0], added, 6, v4_from)?;
        let added6 = compact(KEYS[2], added6, 18, v6_from)?;
        Ok(Self {
            added: with_flags(added, added_f),
            added6: with_flags(added6, added6_f),
            dropped: compact(KEYS[4], dropped, 6, v4_from)?,
            dropped6: compact(KEYS[5], dropped6, 18, v6_from)?,
        })
    }

    /// Writes the bencoded dictionary. Every key is written, even for empty lists, as
    /// libtorrent does.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let mut added = Vec::with_capacity(self.added.len() * 6);
        let mut added6 = Vec::with_capacity(self.added6.len() * 18);
        let mut dropped = Vec::with_capacity(self.dropped.len() * 6);
        let mut dropped6 = Vec::with_capacity(self.dropped6.len() * 18);
        self.added.iter().for_each(|(a, _)| put_v4(&mut added, a));
        self.added6.iter().for_each(|(a, _)| put_v6(&mut added6, a));
        self.dropped.iter().for_each(|a| put_v4(&mut dropped, a));
        self.dropped6.iter().for_each(|a| put_v6(&mut dropped6, a));
        let added_f: Vec<u8> = self.added.iter().map(|(_, f)| f.0).collect();
        let added6_f: Vec<u8> = self.added6.iter().map(|(_, f)| f.0).collect();
        let values = [&added, &added_f, &added6, &added6_f, &dropped, &dropped6];
        buf.put_slice(&bencode::encode_dict(|d| {
            // KEYS is in byte order, as bencode requires.
            for (key, value) in KEYS.iter().zip(values) {
                d.emit_pair_with(key.as_bytes(), |e| e.emit_bytes(value))?;
            }
            Ok(())
        }));
    }
}

/// The dictionary keys, in byte order.
const KEYS: [&str; 6] = [
    "added", "added.f", "added6", "added6.f", "dropped", "dropped6",
];

fn compact<A>(
    key: &'static str,
    bytes: &[u8],
    entry: usize,
    from: fn(&[u8]) -> A,
) -> Result<Vec<A>, PexError> {
    if !bytes.len().is_multiple_of(entry) {
        return Err(PexError::BadCompactLength {
            key,
            len: bytes.len(),
            entry,
        });
    }
    Ok(bytes.chunks_exact(entry).map(from).collect())
}

fn with_flags<A>(peers: Vec<A>, flags: &[u8]) -> Vec<(A, PexFlags)> {
    let flags = (flags.len() == peers.len()).then_some(flags);
    peers
        .into_iter()
        .enumerate()
        .map(|(i, a)| (a, PexFlags(flags.map_or(0, |f| f[i]))))
        .collect()
}

/// `b` is one 6-byte entry.
fn v4_from(b: &[u8]) -> SocketAddrV4 {
    let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    SocketAddrV4::new(ip, u16::from_be_bytes([b[4], b[5]]))
}

/// `b` is one 18-byte entry.
fn v6_from(b: &[u8]) -> SocketAddrV6 {
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&b[..16]);
    SocketAddrV6::new(Ipv6Addr::from(ip), u16::from_be_bytes([b[16], b[17]]), 0, 0)
}

fn put_v4(out: &mut Vec<u8>, a: &SocketAddrV4) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn put_v6(out: &mut Vec<u8>, a: &SocketAddrV6) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PexMessage {
        PexMessage {
            added: vec![
                ("10.0.0.1:6881".parse().unwrap(), PexFlags::SEED),
                (
                    "192.168.1.2:80".parse().unwrap(),
                    PexFlags::REACHABLE.union(PexFlags::UTP),
                ),
            ],
            dropped: vec!["1.2.3.4:5".parse().unwrap()],
            added6: vec![("[::1]:6881".parse().unwrap(), PexFlags::PREFERS_ENCRYPTION)],
            dropped6: vec!["[fe80::2]:1".parse().unwrap()],
        }
    }

    #[test]
    fn encodes_compact_lists_with_flags() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        let mut want =
            b"d5:added12:\x0a\0\0\x01\x1a\xe1\xc0\xa8\x01\x02\0\x507:added.f2:\x02\x14".to_vec();
        want.extend_from_slice(b"6:added618:");
        want.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        want.extend_from_slice(
            b"\x1a\xe18:added6.f1:\x017:dropped6:\x01\x02\x03\x04\0\x058:dropped618:",
        );
        want.extend_from_slice(&"fe80::2".parse::<Ipv6Addr>().unwrap().octets());
        want.extend_from_slice(b"\0\x01e");
        assert_eq!(out, want);
        assert_eq!(PexMessage::decode(&out), Ok(sample()));
    }

    #[test]
    fn empty_message_round_trips() {
        let mut out = Vec::new();
        PexMessage::default().encode(&mut out);
        assert_eq!(
            out,
            b"d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e"
        );
        assert_eq!(PexMessage::decode(&out), Ok(PexMessage::default()));
        assert_eq!(PexMessage::decode(b"de"), Ok(PexMessage::default()));
    }

    #[test]
    fn mismatched_flags_are_ignored() {
        let m = PexMessage::decode(b"d5:added6:\x7f\0\0\x01\0\x017:added.f2:\x02\x02e").unwrap();
        assert_eq!(m.added, vec![("127.0.0.1:1".parse().unwrap(), PexFlags(0))]);
    }

    #[test]
    fn iterates_both_families() {
        let m = sample();
        let added: Vec<_> = m.added_peers().map(|(a, _)| a.to_string()).collect();
        assert_eq!(added, ["10.0.0.1:6881", "192.168.1.2:80", "[::1]:6881"]);
        assert_eq!(m.dropped_peers().count(), 2);
    }

    #[test]
    fn rejects_malformed_lists() {
        assert_eq!(
            PexMessage::decode(b"d5:added5:abcdee"),
            Err(PexError::BadCompactLength {
                key: "added",
                len: 5,
                entry: 6
            })
        );
        assert_eq!(
            PexMessage::decode(b"d8:dropped66:abcdefe"),
            Err(PexError::BadCompactLength {
                key: "dropped6",
                len: 6,
                entry: 18
            })
        );
        assert_eq!(
            PexMessage::decode(b"d7:droppedi1ee"),
            Err(PexError::NotBytes { key: "dropped" })
        );
        assert_eq!(
            PexMessage::decode(b"dee"),
            Err(PexError::TrailingBytes { len: 1 })
        );
        assert!(matches!(
            PexMessage::decode(b"d7:dropped"),
            Err(PexError::Bencode { .. })
        ));
    }

    #[test]
    fn flags_debug_names_bits() {
        let f = PexFlags::SEED.union(PexFlags::REACHABLE);
        assert!(f.contains(PexFlags::SEED) && !f.contains(PexFlags::UTP));
        assert_eq!(format!("{f:?}"), "PexFlags(0x12 seed reachable)");
    }
}
