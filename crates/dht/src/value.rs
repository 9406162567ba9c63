//! A BEP 44 value: any bencoded value, kept as its raw bytes, at most 1000 bytes.

use crate::bencode;

/// Largest BEP 44 value accepted, in bencoded bytes ("v field too big" above it, error 205).
pub const MAX_VALUE_LEN: usize = 1000;

/// A bencoded BEP 44 value (`v`): a byte string, integer, list or dict, stored as the exact bytes
/// that are signed and hashed.
///
/// BEP 44: "the bencoded `v` must be less than 1000 bytes" (we accept up to 1000 inclusive, as
/// libtorrent does). A BEP 46 pointer `{ih: <20 bytes>}` is a dict value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value(Vec<u8>);

/// Why bytes are not a valid BEP 44 value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is longer than [`MAX_VALUE_LEN`].
    #[error("value is {len} bytes, more than {max}")]
    TooBig {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The bytes are not exactly one bencoded value.
    #[error("value is not exactly one bencoded value")]
    NotBencode,
}

impl Value {
    /// Validates raw bencoded bytes.
    pub fn from_bencode(bytes: impl Into<Vec<u8>>) -> Result<Self, ValueError> {
        let bytes = bytes.into();
        if bytes.len() > MAX_VALUE_LEN {
            return Err(ValueError::TooBig {
                len: bytes.len(),
                max: MAX_VALUE_LEN,
            });
        }
        if !bencode::is_single_value(&bytes) {
            return Err(ValueError::NotBencode);
        }
        Ok(Value(bytes))
    }

    /// Encodes `bytes` as a bencoded byte string value.
    pub fn from_byte_string(bytes: &[u8]) -> Result<Self, ValueError> {
        let mut out = Vec::with_capacity(bytes.len() + 6);
        bencode::put_bytes(&mut out, bytes);
        Self::from_bencode(out)
    }

    /// The BEP 46 pointer value `d2:ih20:<info-hash>e`.
    pub fn bep46(info_hash: &[u8; 20]) -> Self {
        let mut out = Vec::with_capacity(30);
        out.extend_from_slice(b"d2:ih20:");
        out.extend_from_slice(info_hash);
        out.push(b'e');
        Value(out)
    }

    /// The raw bencoded bytes.
    pub fn as_bencode(&self) -> &[u8] {
        &self.0
    }

    /// If the value is a bencoded byte string, its content.
    pub fn as_byte_string(&self) -> Option<&[u8]> {
        let colon = self.0.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&self.0[..colon]).ok()?.parse().ok()?;
        let rest = &self.0[colon + 1..];
        (rest.len() == len).then_some(rest)
    }

    /// If the value is a BEP 46 pointer dict with an `ih` key of 20 bytes, that info-hash.
    pub fn bep46_info_hash(&self) -> Option<[u8; 20]> {
        let mut decoder = bendy::decoding::Decoder::new(&self.0).with_max_depth(bencode::MAX_DEPTH);
        let object = decoder.next_object().ok()??;
        let mut dict = object.try_into_dictionary().ok()?;
        while let Ok(Some((key, value))) = dict.next_pair() {
            if key == b"ih" {
                return value.try_into_bytes().ok()?.try_into().ok();
            }
        }
        None
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({})", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_shapes() {
        assert!(Value::from_bencode(b"12:Hello World!".to_vec()).is_ok());
        assert_eq!(
            Value::from_bencode(b"3:ab".to_vec()),
            Err(ValueError::NotBencode)
        );
        let big = vec![b'a'; 996];
        assert!(Value::from_byte_string(&big).is_ok()); // 4 + 996 = 1000 bytes
        let too_big = vec![b'a'; 997];
        assert!(matches!(
            Value::from_byte_string(&too_big),
            Err(ValueError::TooBig { len: 1001, .. })
        ));
        let ih = [7u8; 20];
        let v = Value::bep46(&ih);
        assert_eq!(Value::from_bencode(v.as_bencode().to_vec()), Ok(v.clone()));
        assert_eq!(v.bep46_info_hash(), Some(ih));
        assert_eq!(v.as_byte_string(), None);
        assert_eq!(
            Value::from_byte_string(b"hi").unwrap().as_byte_string(),
            Some(&b"hi"[..])
        );
    }
}
