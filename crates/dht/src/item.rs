//! BEP 44 items: immutable (target = SHA-1 of `v`) and mutable (ed25519-signed `salt`/`seq`/`v`).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha1::{Digest, Sha1};

use crate::bencode;
use crate::id::Id;
use crate::value::Value;

/// Largest salt accepted (BEP 44: "salt ... max 64 bytes", error 207 above it).
pub const MAX_SALT_LEN: usize = 64;

/// An immutable BEP 44 item: its target is the SHA-1 of the bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableItem {
    value: Value,
}

/// A mutable BEP 44 item, signed by its owner's ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableItem {
    key: [u8; 32],
    salt: Vec<u8>,
    seq: i64,
    value: Value,
    signature: [u8; 64],
}

/// Why a mutable item is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    /// The salt is longer than [`MAX_SALT_LEN`].
    #[error("salt is {len} bytes, more than {max}")]
    SaltTooBig {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The public key is not a valid ed25519 point.
    #[error("public key is not a valid ed25519 key")]
    BadKey,
    /// The signature does not verify over `salt`/`seq`/`v`.
    #[error("signature does not verify for seq {seq}")]
    BadSignature {
        /// The item's sequence number.
        seq: i64,
    },
}

impl ImmutableItem {
    /// Wraps a value.
    pub fn new(value: Value) -> Self {
        ImmutableItem { value }
    }

    /// `SHA-1(v)`: where the item is stored.
    pub fn target(&self) -> Id {
        Id::sha1(self.value.as_bencode())
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

impl MutableItem {
    /// Signs `value` under `key` with `salt` and `seq`.
    pub fn sign(key: &SigningKey, salt: &[u8], seq: i64, value: Value) -> Result<Self, ItemError> {
        check_salt(salt)?;
        let signable = signable(salt, seq, &value);
        let signature = key.sign(&signable).to_bytes();
        Ok(MutableItem {
            key: key.verifying_key().to_bytes(),
            salt: salt.to_vec(),
            seq,
            value,
            signature,
        })
    }

    /// Builds an item from received fields and verifies its signature.
    ///
    /// BEP 44: "the signature ... must be verified" before an item is stored or returned.
    pub fn from_parts(
        key: [u8; 32],
        salt: Vec<u8>,
        seq: i64,
        value: Value,
        signature: [u8; 64],
    ) -> Result<Self, ItemError> {
        check_salt(&salt)?;
        let item = MutableItem {
            key,
            salt,
            seq,
            value,
            signature,
        };
        item.verify()?;
        Ok(item)
    }

    /// Checks the signature.
    pub fn verify(&self) -> Result<(), ItemError> {
        let key = VerifyingKey::from_bytes(&self.key).map_err(|_| ItemError::BadKey)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&signable(&self.salt, self.seq, &self.value), &signature)
            .map_err(|_| ItemError::BadSignature { seq: self.seq })
    }

    /// `SHA-1(k || salt)`: where the item is stored.
    pub fn target(&self) -> Id {
        mutable_target(&self.key, &self.salt)
    }

    /// The owner's public key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The salt (empty when none).
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The sequence number.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

/// `SHA-1(k || salt)`, the target of a mutable item.
pub fn mutable_target(key: &[u8; 32], salt: &[u8]) -> Id {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(salt);
    Id(hasher.finalize().into())
}

/// The bytes that are signed: `[4:salt<len>:<salt>]3:seqi<seq>e1:v<bencoded v>`.
///
/// BEP 44: "the salt ... is prepended ... only if it is non-empty".
pub fn signable(salt: &[u8], seq: i64, value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(salt.len() + value.as_bencode().len() + 32);
    if !salt.is_empty() {
        bencode::put_key_bytes(&mut out, "salt", salt);
    }
    bencode::put_key_int(&mut out, "seq", seq);
    out.extend_from_slice(b"1:v");
    out.extend_from_slice(value.as_bencode());
    out
}

fn check_salt(salt: &[u8]) -> Result<(), ItemError> {
    if salt.len() > MAX_SALT_LEN {
        return Err(ItemError::SaltTooBig {
            len: salt.len(),
            max: MAX_SALT_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = SigningKey::from_bytes(&[0x46; 32]);
        let item = MutableItem::sign(&key, b"s", 3, Value::bep46(&[1; 20])).unwrap();
        item.verify().unwrap();
        let tampered = MutableItem {
            seq: 4,
            ..item.clone()
        };
        assert_eq!(tampered.verify(), Err(ItemError::BadSignature { seq: 4 }));
        assert!(
            MutableItem::from_parts(
                *item.key(),
                b"t".to_vec(),
                3,
                item.value().clone(),
                *item.signature()
            )
            .is_err()
        );
        assert!(MutableItem::sign(&key, &[0; 65], 1, item.value().clone()).is_err());
    }
}
