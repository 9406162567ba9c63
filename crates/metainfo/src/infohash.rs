//! The v1 info-hash: SHA-1 of the bencoded info dictionary.

use std::fmt;
use std::str::FromStr;

/// A BitTorrent v1 info-hash (20 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

/// Why a string is not an info-hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoHashParseError {
    /// Neither 40 hex digits nor 32 base32 characters.
    #[error("info-hash must be 40 hex or 32 base32 characters, got {len}")]
    BadLength {
        /// Length of the input.
        len: usize,
    },
    /// The characters are not valid hex or base32.
    #[error("info-hash has invalid characters")]
    BadCharacters,
}

impl InfoHash {
    /// The SHA-1 of `info_bytes`, the bencoded info dictionary exactly as received.
    pub fn of_info_bytes(info_bytes: &[u8]) -> Self {
        use sha1::Digest;
        Self(sha1::Sha1::digest(info_bytes).into())
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase hex (40 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Uppercase RFC 4648 base32 (32 characters), as some magnet links carry it.
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// Parses 40 hex digits or 32 base32 characters (either case).
    pub fn parse(s: &str) -> Result<Self, InfoHashParseError> {
        let mut out = [0u8; 20];
        match s.len() {
            40 => {
                hex::decode_to_slice(s, &mut out).map_err(|_| InfoHashParseError::BadCharacters)?
            }
            32 => {
                let upper = s.to_ascii_uppercase();
                let v = data_encoding::BASE32_NOPAD
                    .decode(upper.as_bytes())
                    .map_err(|_| InfoHashParseError::BadCharacters)?;
                out.copy_from_slice(&v);
            }
            len => return Err(InfoHashParseError::BadLength { len }),
        }
        Ok(Self(out))
    }
}

impl FromStr for InfoHash {
    type Err = InfoHashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base32_round_trip() {
        let ih = InfoHash::of_info_bytes(b"d4:name1:ae");
        assert_eq!(InfoHash::parse(&ih.to_hex()), Ok(ih));
        assert_eq!(InfoHash::parse(&ih.to_base32()), Ok(ih));
        assert_eq!(InfoHash::parse(&ih.to_base32().to_lowercase()), Ok(ih));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            InfoHash::parse("abc"),
            Err(InfoHashParseError::BadLength { len: 3 })
        );
        assert_eq!(
            InfoHash::parse(&"z".repeat(40)),
            Err(InfoHashParseError::BadCharacters)
        );
        assert_eq!(
            InfoHash::parse(&"1".repeat(32)),
            Err(InfoHashParseError::BadCharacters)
        );
    }
}
