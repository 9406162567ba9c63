//! BEP 9 metadata exchange (`ut_metadata`): request, data and reject messages.
//!
//! Each message is a bencoded dictionary with `msg_type` and `piece`; a data message adds
//! `total_size` and is followed by the raw piece. BEP 9: "The metadata is handled in blocks of
//! 16KiB (16384 Bytes)" and "every piece is 16KiB, except the last", so the length of a data
//! message's piece is checked against `piece` and `total_size` here.

use bendy::decoding::Object;
use bytes::{BufMut, Bytes};

use crate::bencode;
use crate::message::{Extended, Message};

/// The size of a metadata piece (all but the last).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// The largest `total_size` accepted: 32 MiB (libtorrent's default limit is 30 MiB).
pub const MAX_METADATA_SIZE: u32 = 32 << 20;

const REQUEST: i64 = 0;
const DATA: i64 = 1;
const REJECT: i64 = 2;

/// Why bytes are not a ut_metadata message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UtMetadataError {
    /// The message does not start with one well-formed bencoded dictionary.
    #[error("ut_metadata message is not a bencoded dictionary: {reason}")]
    Bencode {
        /// What is wrong, from the bencode decoder.
        reason: String,
    },
    /// A required key is missing or is not an integer in range.
    #[error("ut_metadata key {key:?} is missing or not a valid integer")]
    BadKey {
        /// The key.
        key: &'static str,
    },
    /// `msg_type` is not 0, 1 or 2.
    #[error("unknown ut_metadata msg_type {msg_type}")]
    UnknownMsgType {
        /// The value received.
        msg_type: i64,
    },
    /// `total_size` is 0 or over [`MAX_METADATA_SIZE`].
    #[error("ut_metadata total_size {total_size} is out of range")]
    BadTotalSize {
        /// The value received.
        total_size: u32,
    },
    /// The piece index is past the last piece of `total_size`.
    #[error("ut_metadata piece {piece} out of range: metadata has {count} pieces")]
    PieceOutOfRange {
        /// The piece index.
        piece: u32,
        /// The number of pieces `total_size` makes.
        count: u32,
    },
    /// A data message's piece has the wrong length.
    #[error("ut_metadata piece {piece} has {len} bytes, expected {expected}")]
    BadPieceLength {
        /// The piece index.
        piece: u32,
        /// The number of bytes after the dictionary.
        len: usize,
        /// The length `piece` and `total_size` imply.
        expected: u32,
    },
    /// A request or reject is followed by bytes.
    #[error("{len} bytes after a ut_metadata request or reject")]
    TrailingBytes {
        /// How many.
        len: usize,
    },
}

/// A piece of the info dictionary, sent in answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetadataPiece {
    /// Piece index.
    pub piece: u32,
    /// The size of the whole info dictionary.
    pub total_size: u32,
    /// The piece's bytes (zero-copy from the message payload).
    pub data: Bytes,
}

/// A BEP 9 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UtMetadata {
    /// `msg_type` 0: asks for a piece.
    Request {
        /// Piece index.
        piece: u32,
    },
    /// `msg_type` 1: a piece.
    Data(MetadataPiece),
    /// `msg_type` 2: the sender will not send this piece.
    Reject {
        /// Piece index.
        piece: u32,
    },
}

/// The number of metadata pieces of an info dictionary of `total_size` bytes.
pub fn piece_count(total_size: u32) -> u32 {
    total_size.div_ceil(METADATA_PIECE_LEN)
}

/// The length of metadata piece `piece` of `total_size` bytes, if there is such a piece.
pub fn piece_len(total_size: u32, piece: u32) -> Option<u32> {
    let start = piece.checked_mul(METADATA_PIECE_LEN)?;
    (start < total_size).then(|| (total_size - start).min(METADATA_PIECE_LEN))
}

impl UtMetadata {
    /// Decodes the payload of a ut_metadata extended message (after the extended id byte).
    /// A data message's piece is a slice of `payload`, not a copy.
    pub fn decode(payload: Bytes) -> Result<Self, UtMetadataError> {
        let bencode_err = |reason: String| UtMetadataError::Bencode { reason };
        let dict_len = bencode::leading_dict_len(&payload).map_err(bencode_err)?;
        let (mut msg_type, mut piece, mut total_size) = (None, None, None);
        let mut dec = bencode::decoder(&payload[..dict_len]);
        let Some(Object::Dict(mut dict)) =
            dec.next_object().map_err(|e| bencode_err(e.to_string()))?
        else {
            return Err(bencode_err("not a dictionary".to_owned()));
        };
        while let Some((key, value)) = dict.next_pair().map_err(|e| bencode_err(e.to_string()))? {
            match key {
                b"msg_type" => msg_type = bencode::int(value),
                b"piece" => piece = bencode::int(value),
                b"total_size" => total_size = bencode::int(value),
                _ => {} // unknown keys are skipped
            }
        }
        let msg_type = msg_type.ok_or(UtMetadataError::BadKey { key: "msg_type" })?;
        let piece = piece
            .and_then(|p| u32::try_from(p).ok())
            .ok_or(UtMetadataError::BadKey { key: "piece" })?;
        let rest = payload.len() - dict_len;
        match msg_type {
            REQUEST | REJECT if rest != 0 => Err(UtMetadataError::TrailingBytes { len: rest }),
            REQUEST => Ok(Self::Request { piece }),
            REJECT => Ok(Self::Reject { piece }),
            DATA => {
                let total_size = total_size
                    .and_then(|t| u32::try_from(t).ok())
                    .ok_or(UtMetadataError::BadKey { key: "total_size" })?;
                if total_size == 0 || total_size > MAX_METADATA_SIZE {
                    return Err(UtMetadataError::BadTotalSize { total_size });
                }
                let expected =
                    piece_len(total_size, piece).ok_or(UtMetadataError::PieceOutOfRange {
                        piece,
                        count: piece_count(total_size),
                    })?;
                if rest != expected as usize {
                    return Err(UtMetadataError::BadPieceLength {
                        piece,
                        len: rest,
                        expected,
                    });
                }
                Ok(Self::Data(MetadataPiece {
                    piece,
                    total_size,
                    data: payload.slice(dict_len..),
                }))
            }
            msg_type => Err(UtMetadataError::UnknownMsgType { msg_type }),
        }
    }

    /// Writes the message payload: the dictionary, then a data message's piece.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let (msg_type, piece, total_size) = match self {
            Self::Request { piece } => (REQUEST, *piece, None),
            Self::Data(p) => (DATA, p.piece, Some(p.total_size)),
            Self::Reject { piece } => (REJECT, *piece, None),
        };
        buf.put_slice(&bencode::encode_dict(|d| {
            d.emit_pair(b"msg_type", msg_type)?;
            d.emit_pair(b"piece", piece)?;
            if let Some(total_size) = total_size {
                d.emit_pair(b"total_size", total_size)?;
            }
            Ok(())
        }));
        if let Self::Data(p) = self {
            buf.put_slice(&p.data);
        }
    }

    /// The extended message carrying this one, sent under the peer's ut_metadata id `ext_id`.
    pub fn to_message(&self, ext_id: u8) -> Message {
        let mut payload = Vec::new();
        self.encode(&mut payload);
        Message::Extended(Extended {
            id: ext_id,
            payload: payload.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &UtMetadata) -> Vec<u8> {
        let mut out = Vec::new();
        m.encode(&mut out);
        out
    }

    #[test]
    fn encodes_request_and_reject_like_the_bep() {
        assert_eq!(
            enc(&UtMetadata::Request { piece: 0 }),
            b"d8:msg_typei0e5:piecei0ee"
        );
        assert_eq!(
            enc(&UtMetadata::Reject { piece: 3 }),
            b"d8:msg_typei2e5:piecei3ee"
        );
    }

    #[test]
    fn round_trips_data_and_shares_the_payload() {
        let data = UtMetadata::Data(MetadataPiece {
            piece: 1,
            total_size: METADATA_PIECE_LEN + 5,
            data: Bytes::from_static(b"hello"),
        });
        let bytes = Bytes::from(enc(&data));
        assert!(bytes.starts_with(b"d8:msg_typei1e5:piecei1e10:total_sizei16389eehello"));
        let decoded = UtMetadata::decode(bytes.clone()).unwrap();
        assert_eq!(decoded, data);
        let UtMetadata::Data(p) = decoded else {
            unreachable!()
        };
        assert_eq!(p.data.as_ptr(), bytes[bytes.len() - 5..].as_ptr());
        for m in [
            UtMetadata::Request { piece: 9 },
            UtMetadata::Reject { piece: 0 },
        ] {
            assert_eq!(UtMetadata::decode(enc(&m).into()), Ok(m));
        }
    }

    #[test]
    fn piece_geometry() {
        assert_eq!(piece_count(1), 1);
        assert_eq!(piece_count(METADATA_PIECE_LEN), 1);
        assert_eq!(piece_count(METADATA_PIECE_LEN + 1), 2);
        assert_eq!(
            piece_len(METADATA_PIECE_LEN + 1, 0),
            Some(METADATA_PIECE_LEN)
        );
        assert_eq!(piece_len(METADATA_PIECE_LEN + 1, 1), Some(1));
        assert_eq!(piece_len(METADATA_PIECE_LEN + 1, 2), None);
        assert_eq!(piece_len(u32::MAX, u32::MAX), None);
    }

    #[test]
    fn rejects_bad_messages() {
        let cases: [(&[u8], UtMetadataError); 9] = [
            (b"d5:piecei0ee", UtMetadataError::BadKey { key: "msg_type" }),
            (b"d8:msg_typei0ee", UtMetadataError::BadKey { key: "piece" }),
            (
                b"d8:msg_typei0e5:piecei-1ee",
                UtMetadataError::BadKey { key: "piece" },
            ),
            (
                b"d8:msg_typei3e5:piecei0ee",
                UtMetadataError::UnknownMsgType { msg_type: 3 },
            ),
            (
                b"d8:msg_typei0e5:piecei0eex",
                UtMetadataError::TrailingBytes { len: 1 },
            ),
            (
                b"d8:msg_typei1e5:piecei0eex",
                UtMetadataError::BadKey { key: "total_size" },
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei0ee",
                UtMetadataError::BadTotalSize { total_size: 0 },
            ),
            (
                b"d8:msg_typei1e5:piecei1e10:total_sizei3eeabc",
                UtMetadataError::PieceOutOfRange { piece: 1, count: 1 },
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei3eeab",
                UtMetadataError::BadPieceLength {
                    piece: 0,
                    len: 2,
                    expected: 3,
                },
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(
                UtMetadata::decode(Bytes::from_static(bytes)),
                Err(err),
                "{}",
                bytes.escape_ascii()
            );
        }
        let huge = format!(
            "d8:msg_typei1e5:piecei0e10:total_sizei{}ee",
            MAX_METADATA_SIZE + 1
        );
        assert_eq!(
            UtMetadata::decode(huge.into()),
            Err(UtMetadataError::BadTotalSize {
                total_size: MAX_METADATA_SIZE + 1
            })
        );
        assert!(matches!(
            UtMetadata::decode(Bytes::from_static(b"l8:msg_typee")),
            Err(UtMetadataError::Bencode { .. })
        ));
    }

    #[test]
    fn wraps_into_an_extended_message() {
        let Message::Extended(e) = UtMetadata::Request { piece: 2 }.to_message(7) else {
            panic!("not extended")
        };
        assert_eq!(e.id, 7);
        assert_eq!(&e.payload[..], b"d8:msg_typei0e5:piecei2ee");
    }
}
