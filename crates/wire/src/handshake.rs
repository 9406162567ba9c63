//! The BEP 3 peer handshake: protocol string, reserved bits, info-hash and peer id.
//!
//! ```text
//! <pstrlen=19><pstr="BitTorrent protocol"><reserved: 8><info_hash: 20><peer_id: 20>
//! ```

use std::fmt;

use bytes::BufMut;
use swarmfs_metainfo::InfoHash;

/// The protocol string every BEP 3 handshake carries.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// The length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 1 + PROTOCOL.len() + 8 + 20 + 20;

/// Why bytes are not a BEP 3 handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The first byte (length of the protocol string) is not 19.
    #[error("protocol string length is {len}, expected 19")]
    BadProtocolLength {
        /// The length byte received.
        len: u8,
    },
    /// The protocol string is not `BitTorrent protocol`.
    #[error("protocol string is not \"BitTorrent protocol\"")]
    BadProtocol,
}

/// The 8 reserved bytes of a handshake, where peers advertise protocol extensions.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// No extension bits set.
    pub const NONE: Self = Self([0; 8]);

    /// What swarmfs advertises: extension protocol, fast extension and DHT.
    pub const SWARMFS: Self = Self::NONE
        .with_extension_protocol(true)
        .with_fast(true)
        .with_dht(true);

    /// BEP 10: "reserved_byte[5] & 0x10".
    const EXTENSION: (usize, u8) = (5, 0x10);
    /// BEP 6: "reserved[7] |= 0x04".
    const FAST: (usize, u8) = (7, 0x04);
    /// BEP 5: "the last bit of the 8-byte reserved flags".
    const DHT: (usize, u8) = (7, 0x01);

    /// Whether the peer speaks the extension protocol (BEP 10).
    pub const fn extension_protocol(&self) -> bool {
        self.get(Self::EXTENSION)
    }

    /// Whether the peer speaks the fast extension (BEP 6).
    pub const fn fast(&self) -> bool {
        self.get(Self::FAST)
    }

    /// Whether the peer runs a DHT node and may send `port` (BEP 5).
    pub const fn dht(&self) -> bool {
        self.get(Self::DHT)
    }

    /// These bits with the extension protocol bit set or cleared.
    pub const fn with_extension_protocol(self, on: bool) -> Self {
        self.with(Self::EXTENSION, on)
    }

    /// These bits with the fast extension bit set or cleared.
    pub const fn with_fast(self, on: bool) -> Self {
        self.with(Self::FAST, on)
    }

    /// These bits with the DHT bit set or cleared.
    pub const fn with_dht(self, on: bool) -> Self {
        self.with(Self::DHT, on)
    }

    const fn get(&self, (byte, mask): (usize, u8)) -> bool {
        self.0[byte] & mask != 0
    }

    const fn with(mut self, (byte, mask): (usize, u8), on: bool) -> Self {
        if on {
            self.0[byte] |= mask;
        } else {
            self.0[byte] &= !mask;
        }
        self
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reserved(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(
            f,
            "; ext={} fast={} dht={})",
            self.extension_protocol(),
            self.fast(),
            self.dht()
        )
    }
}

/// A 20-byte peer id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Debug for PeerId {
    /// Printable ASCII as is, other bytes as `\xNN` (peer ids usually start `-LT2110-`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId(\"{}\")", self.0.escape_ascii())
    }
}

/// A BEP 3 handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// Extension bits.
    pub reserved: Reserved,
    /// The torrent this connection is about.
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// A handshake advertising [`Reserved::SWARMFS`].
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        Self {
            reserved: Reserved::SWARMFS,
            info_hash,
            peer_id,
        }
    }

    /// Decodes a handshake from the start of `buf`.
    ///
    /// Returns `Ok(None)` while fewer than [`HANDSHAKE_LEN`] bytes are there, and
    /// `Ok(Some((handshake, HANDSHAKE_LEN)))` once it is complete. A wrong protocol string is
    /// reported as soon as its first wrong byte arrives.
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, HandshakeError> {
        let Some(&len) = buf.first() else {
            return Ok(None);
        };
        if usize::from(len) != PROTOCOL.len() {
            return Err(HandshakeError::BadProtocolLength { len });
        }
        let pstr = &buf[1..buf.len().min(1 + PROTOCOL.len())];
        if pstr != &PROTOCOL[..pstr.len()] {
            return Err(HandshakeError::BadProtocol);
        }
        let Some(rest) = buf.get(1 + PROTOCOL.len()..HANDSHAKE_LEN) else {
            return Ok(None);
        };
        let mut reserved = [0u8; 8];
        let mut info_hash = [0u8; 20];
        let mut peer_id = [0u8; 20];
        reserved.copy_from_slice(&rest[..8]);
        info_hash.copy_from_slice(&rest[8..28]);
        peer_id.copy_from_slice(&rest[28..48]);
        let hs = Self {
            reserved: Reserved(reserved),
            info_hash: InfoHash(info_hash),
            peer_id: PeerId(peer_id),
        };
        Ok(Some((hs, HANDSHAKE_LEN)))
    }

    /// Writes the 68-byte handshake.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_u8(PROTOCOL.len() as u8);
        buf.put_slice(PROTOCOL);
        buf.put_slice(&self.reserved.0);
        buf.put_slice(self.info_hash.as_bytes());
        buf.put_slice(&self.peer_id.0);
    }

    /// The 68-byte handshake as an array.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        self.encode(&mut &mut out[..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(InfoHash([0xab; 20]), PeerId(*b"-SF0001-abcdefghijkl"))
    }

    #[test]
    fn encodes_the_bep3_layout() {
        let bytes = sample().to_bytes();
        assert_eq!(bytes[0], 19);
        assert_eq!(&bytes[1..20], PROTOCOL);
        assert_eq!(bytes[20..28], [0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(bytes[28..48], [0xab; 20]);
        assert_eq!(&bytes[48..], b"-SF0001-abcdefghijkl");
    }

    #[test]
    fn round_trips() {
        let hs = sample();
        let bytes = hs.to_bytes();
        assert_eq!(Handshake::decode(&bytes), Ok(Some((hs, HANDSHAKE_LEN))));
    }

    #[test]
    fn needs_all_68_bytes_and_ignores_what_follows() {
        let mut bytes = sample().to_bytes().to_vec();
        for cut in 0..HANDSHAKE_LEN {
            assert_eq!(Handshake::decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        let (_, used) = Handshake::decode(&bytes).unwrap().unwrap();
        assert_eq!(used, HANDSHAKE_LEN);
    }

    #[test]
    fn rejects_a_wrong_protocol_early() {
        assert_eq!(
            Handshake::decode(&[18]),
            Err(HandshakeError::BadProtocolLength { len: 18 })
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent pro"),
            Ok(None),
            "a correct prefix waits"
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrenX"),
            Err(HandshakeError::BadProtocol)
        );
        let mut bytes = sample().to_bytes();
        bytes[19] = b'L';
        assert_eq!(Handshake::decode(&bytes), Err(HandshakeError::BadProtocol));
    }

    #[test]
    fn reserved_bits_are_independent() {
        let none = Reserved::NONE;
        assert!(!none.extension_protocol() && !none.fast() && !none.dht());
        let ext = none.with_extension_protocol(true);
        assert_eq!(ext.0, [0, 0, 0, 0, 0, 0x10, 0, 0]);
        assert!(ext.extension_protocol() && !ext.fast() && !ext.dht());
        let fast = none.with_fast(true);
        assert_eq!(fast.0, [0, 0, 0, 0, 0, 0, 0, 0x04]);
        assert!(fast.fast() && !fast.dht());
        let dht = none.with_dht(true);
        assert_eq!(dht.0, [0, 0, 0, 0, 0, 0, 0, 0x01]);
        assert!(dht.dht() && !dht.fast());
        let all = Reserved([0xff; 8]).with_fast(false);
        assert_eq!(all.0[7], 0xfb);
        assert!(all.dht() && all.extension_protocol() && !all.fast());
    }

    #[test]
    fn peer_id_debug_escapes_binary() {
        let mut id = *b"-LT2110-............";
        id[19] = 0xff;
        assert_eq!(
            format!("{:?}", PeerId(id)),
            "PeerId(\"-LT2110-...........\\xff\")"
        );
    }
}
