//! The resume file: the completion bitfield and file stamps persisted beside the data.
//!
//! Layout (all integers little-endian), with an exact expected length so that loading is bounded:
//!
//! ```text
//! "SWFSRES1"                 8 bytes magic
//! fingerprint               20 bytes: SHA-1 of the geometry and piece hashes it belongs to
//! file count                 4 bytes
//! per file: present (1), len (8), modified (8)
//! bitfield                   ceil(pieces / 8) bytes, BEP 3 layout
//! checksum                  20 bytes: SHA-1 of everything before it
//! ```
//!
//! A torn, truncated, foreign or corrupt file fails to decode and is treated as absent, which can
//! only make the store re-check or re-download, never trust unverified data.

use sha1::{Digest, Sha1};
use swarmfs_metainfo::{Bitfield, Geometry};

use crate::{FileStamp, PieceHashes};

const MAGIC: &[u8; 8] = b"SWFSRES1";
const PER_FILE: usize = 17;

/// Why a resume file was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The length is not the one this torrent's resume file has.
    #[error("resume file is {len} bytes, expected {expected}")]
    BadLength {
        /// Length found.
        len: usize,
        /// Length expected.
        expected: usize,
    },
    /// Wrong magic or checksum: not a resume file, or a damaged one.
    #[error("resume file is damaged or not a resume file")]
    Damaged,
    /// The resume file belongs to another torrent or geometry.
    #[error("resume file belongs to another torrent")]
    Foreign,
}

/// Decoded resume data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    /// Stamp of each file when the data was persisted (`None`: the file did not exist).
    pub stamps: Vec<Option<FileStamp>>,
    /// Verified pieces.
    pub verified: Bitfield,
}

impl ResumeData {
    /// Exact encoded length for this geometry.
    pub fn encoded_len(geometry: &Geometry) -> usize {
        8 + 20
            + 4
            + PER_FILE * geometry.file_count()
            + geometry.piece_count().div_ceil(8) as usize
            + 20
    }

    /// Encodes for the torrent described by `geometry` and `hashes`.
    pub fn encode(&self, geometry: &Geometry, hashes: &PieceHashes) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::encoded_len(geometry));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&fingerprint(geometry, hashes));
        out.extend_from_slice(&(self.stamps.len() as u32).to_le_bytes());
        for stamp in &self.stamps {
            let (present, s) = match stamp {
                Some(s) => (1u8, *s),
                None => (
                    0,
                    FileStamp {
                        len: 0,
                        modified: 0,
                    },
                ),
            };
            out.push(present);
            out.extend_from_slice(&s.len.to_le_bytes());
            out.extend_from_slice(&s.modified.to_le_bytes());
        }
        out.extend_from_slice(self.verified.as_bytes());
        let sum = Sha1::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Decodes a resume file, checking that it belongs to this torrent.
    pub fn decode(
        bytes: &[u8],
        geometry: &Geometry,
        hashes: &PieceHashes,
    ) -> Result<Self, ResumeError> {
        let expected = Self::encoded_len(geometry);
        if bytes.len() != expected {
            return Err(ResumeError::BadLength {
                len: bytes.len(),
                expected,
            });
        }
        let (body, sum) = bytes.split_at(expected - 20);
        if &body[..8] != MAGIC || Sha1::digest(body).as_slice() != sum {
            return Err(ResumeError::Damaged);
        }
        if body[8..28] != fingerprint(geometry, hashes) {
            return Err(ResumeError::Foreign);
        }
        let files = geometry.file_count();
        if u32_at(body, 28) as usize != files {
            return Err(ResumeError::Foreign);
        }
        let mut stamps = Vec::with_capacity(files);
        let mut pos = 32;
        for _ in 0..files {
            let present = body[pos];
            let len = u64_at(body, pos + 1);
            let modified = u64_at(body, pos + 9);
            stamps.push(match present {
                0 => None,
                1 => Some(FileStamp { len, modified }),
                _ => return Err(ResumeError::Damaged),
            });
            pos += PER_FILE;
        }
        let verified = Bitfield::from_bytes(&body[pos..], geometry.piece_count())
            .ok_or(ResumeError::Damaged)?;
        Ok(Self { stamps, verified })
    }
}

/// SHA-1 over the geometry and piece hashes: binds a resume file to one torrent.
pub fn fingerprint(geometry: &Geometry, hashes: &PieceHashes) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(geometry.piece_length().to_le_bytes());
    h.update(geometry.total_length().to_le_bytes());
    h.update((geometry.file_count() as u64).to_le_bytes());
    for i in 0..geometry.file_count() {
        h.update(geometry.file_length(i).unwrap_or(0).to_le_bytes());
    }
    for hash in hashes.as_slice() {
        h.update(hash);
    }
    h.finalize().into()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Geometry, PieceHashes) {
        let g = Geometry::new(16384, &[20_000, 0, 30_000]).unwrap();
        let h = PieceHashes::new(vec![[7; 20]; g.piece_count() as usize], &g).unwrap();
        (g, h)
    }

    #[test]
    fn round_trip_and_rejects_damage() {
        let (g, h) = setup();
        let mut verified = Bitfield::new(g.piece_count());
        verified.set(1, true);
        let data = ResumeData {
            stamps: vec![
                Some(FileStamp {
                    len: 20_000,
                    modified: 99,
                }),
                None,
                Some(FileStamp {
                    len: 5,
                    modified: 1,
                }),
            ],
            verified,
        };
        let bytes = data.encode(&g, &h);
        assert_eq!(bytes.len(), ResumeData::encoded_len(&g));
        assert_eq!(ResumeData::decode(&bytes, &g, &h), Ok(data));
        for i in [0, 10, 40, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert_eq!(
                ResumeData::decode(&bad, &g, &h),
                Err(ResumeError::Damaged),
                "flip at {i}"
            );
        }
        assert!(matches!(
            ResumeData::decode(&bytes[..bytes.len() - 1], &g, &h),
            Err(ResumeError::BadLength { .. })
        ));
        let other = PieceHashes::new(vec![[8; 20]; g.piece_count() as usize], &g).unwrap();
        assert_eq!(
            ResumeData::decode(&bytes, &g, &other),
            Err(ResumeError::Foreign)
        );
    }
}
