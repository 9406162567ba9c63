//! Incremental, bounded decoding of length-prefixed peer messages.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::message::{BlockRequest, Extended, Message, MessageKind, Piece, id};

/// The default limit on a message's length prefix: 1 MiB, room for a 16 KiB block, a
/// ut_metadata piece, or the bitfield of a torrent with 8 million pieces.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1 << 20;

/// How far ahead of the received bytes [`MessageDecoder::decode`] reserves buffer space.
const RESERVE_STEP: usize = 64 << 10;

/// Why bytes are not a peer message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length prefix is over the decoder's limit; nothing was allocated for it.
    #[error("message length {len} exceeds the limit of {max}")]
    FrameTooLarge {
        /// The length prefix received.
        len: u32,
        /// The decoder's limit.
        max: u32,
    },
    /// The message id is none swarmfs knows.
    #[error("unknown message id {id} (length {len})")]
    UnknownId {
        /// The id byte.
        id: u8,
        /// The message's length prefix.
        len: u32,
    },
    /// A fixed-size message has another length.
    #[error("{kind} message has length {len}, expected {expected}")]
    BadLength {
        /// The message kind.
        kind: MessageKind,
        /// The length prefix received.
        len: u32,
        /// The only valid length prefix for this kind.
        expected: u32,
    },
    /// A variable-size message is shorter than its fixed fields.
    #[error("{kind} message has length {len}, expected at least {min}")]
    TooShort {
        /// The message kind.
        kind: MessageKind,
        /// The length prefix received.
        len: u32,
        /// The smallest valid length prefix for this kind.
        min: u32,
    },
}

/// Decodes a stream of peer messages; holds only its limit, so it is `Copy`.
///
/// After any error the stream cannot be trusted: close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageDecoder {
    max_frame_len: u32,
}

impl Default for MessageDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageDecoder {
    /// A decoder with [`DEFAULT_MAX_FRAME_LEN`].
    pub const fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A decoder that rejects length prefixes over `max_frame_len`.
    pub const fn with_max_frame_len(max_frame_len: u32) -> Self {
        Self { max_frame_len }
    }

    /// The limit on a length prefix.
    pub const fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Decodes one message from the front of `buf` and removes its bytes from `buf`.
    ///
    /// Payloads (`bitfield`, `piece` data, extended payloads) are split off `buf` and frozen,
    /// so they share its memory. Returns `Ok(None)` when `buf` does not yet hold a whole
    /// message (having reserved room for more of it, at most 64 KiB), else the message and
    /// the number of bytes it took, length prefix included.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<(Message, usize)>, DecodeError> {
        let Some(total) = self.frame_total(buf)? else {
            if let Some(total) = self.peek_total(buf) {
                // Room for the rest, but no more than RESERVE_STEP ahead of the bytes that
                // arrived: a peer that announces a large frame and stalls costs little.
                buf.reserve((total - buf.len()).min(RESERVE_STEP));
            }
            return Ok(None);
        };
        if total == 4 {
            buf.advance(4);
            return Ok(Some((Message::KeepAlive, 4)));
        }
        let mut frame = buf.split_to(total);
        frame.advance(4);
        let frame = frame.freeze();
        let msg = parse(frame[0], &frame[1..], |r| {
            frame.slice(r.start + 1..r.end + 1)
        })?;
        Ok(Some((msg, total)))
    }

    /// Decodes one message from the front of `buf`, copying payloads out of it.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold a whole message, else the message and
    /// the number of bytes it took from `buf`, length prefix included.
    pub fn decode_slice(&self, buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
        let Some(total) = self.frame_total(buf)? else {
            return Ok(None);
        };
        if total == 4 {
            return Ok(Some((Message::KeepAlive, 4)));
        }
        let payload = &buf[5..total];
        let msg = parse(buf[4], payload, |r| Bytes::copy_from_slice(&payload[r]))?;
        Ok(Some((msg, total)))
    }

    /// The whole frame's size if `buf` holds all of it; checks the limit and the id first.
    fn frame_total(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        let Some(prefix) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix);
        if len > self.max_frame_len {
            return Err(DecodeError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if len > 0 {
            if let Some(&id) = buf.get(4) {
                check_len(id, len)?;
            }
        }
        // len <= max_frame_len <= u32::MAX, which fits usize on every platform we build for.
        let total = 4 + len as usize;
        Ok((buf.len() >= total).then_some(total))
    }

    /// The whole frame's size once the prefix is known (and within the limit).
    fn peek_total(&self, buf: &[u8]) -> Option<usize> {
        let prefix = buf.first_chunk::<4>()?;
        let len = u32::from_be_bytes(*prefix);
        (len <= self.max_frame_len).then_some(4 + len as usize)
    }
}

impl Message {
    /// Decodes one message from `buf` with a [`MessageDecoder::new`] decoder (payloads are
    /// copied; see [`MessageDecoder::decode`] for the zero-copy form).
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        MessageDecoder::new().decode_slice(buf)
    }
}

/// Checks the length prefix `len` (> 0) against what message id `id` allows.
///
/// BEP 3: "All non-keepalive messages start with a single byte which gives their type";
/// an id swarmfs does not know is an error, as is a length its kind cannot have.
fn check_len(id: u8, len: u32) -> Result<(), DecodeError> {
    let Some(kind) = MessageKind::from_id(id) else {
        return Err(DecodeError::UnknownId { id, len });
    };
    match kind.fixed_len() {
        Some(expected) if len != expected => Err(DecodeError::BadLength {
            kind,
            len,
            expected,
        }),
        None if len < kind.min_len() => Err(DecodeError::TooShort {
            kind,
            len,
            min: kind.min_len(),
        }),
        _ => Ok(()),
    }
}

/// Builds the message with id `id` from its whole `payload`, whose length [`check_len`] has
/// accepted. `bytes(range)` yields `payload[range]` as [`Bytes`].
fn parse(
    id: u8,
    payload: &[u8],
    bytes: impl Fn(Range<usize>) -> Bytes,
) -> Result<Message, DecodeError> {
    // Re-checked so that this function alone never indexes out of bounds; the length fits a
    // u32 since it came from a length prefix.
    check_len(id, u32::try_from(payload.len() + 1).unwrap_or(u32::MAX))?;
    let u32_at = |at: usize| {
        let mut b = &payload[at..at + 4];
        b.get_u32()
    };
    let block = || BlockRequest {
        index: u32_at(0),
        begin: u32_at(4),
        length: u32_at(8),
    };
    Ok(match id {
        id::CHOKE => Message::Choke,
        id::UNCHOKE => Message::Unchoke,
        id::INTERESTED => Message::Interested,
        id::NOT_INTERESTED => Message::NotInterested,
        id::HAVE => Message::Have(u32_at(0)),
        id::BITFIELD => Message::Bitfield(bytes(0..payload.len())),
        id::REQUEST => Message::Request(block()),
        id::PIECE => Message::Piece(Piece {
            index: u32_at(0),
            begin: u32_at(4),
            data: bytes(8..payload.len()),
        }),
        id::CANCEL => Message::Cancel(block()),
        id::PORT => Message::Port(u16::from_be_bytes([payload[0], payload[1]])),
        id::SUGGEST => Message::Suggest(u32_at(0)),
        id::HAVE_ALL => Message::HaveAll,
        id::HAVE_NONE => Message::HaveNone,
        id::REJECT_REQUEST => Message::RejectRequest(block()),
        id::ALLOWED_FAST => Message::AllowedFast(u32_at(0)),
        id::EXTENDED => Message::Extended(Extended {
            id: payload[0],
            payload: bytes(1..payload.len()),
        }),
        // check_len rejected every other id.
        _ => {
            return Err(DecodeError::UnknownId {
                id,
                len: u32::try_from(payload.len() + 1).unwrap_or(u32::MAX),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Message> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some((msg, _)) = MessageDecoder::new().decode(&mut buf).unwrap() {
            out.push(msg);
        }
        assert!(buf.is_empty());
        out
    }

    fn sample_stream() -> Vec<Message> {
        let r = BlockRequest {
            index: 3,
            begin: 0x4000,
            length: 0x4000,
        };
        vec![
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(77),
            Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
            Message::Bitfield(Bytes::new()),
            Message::Request(r),
            Message::Piece(Piece {
                index: 3,
                begin: 0x4000,
                data: Bytes::from(vec![7u8; 0x4000]),
            }),
            Message::Piece(Piece {
                index: 0,
                begin: 0,
                data: Bytes::new(),
            }),
            Message::Cancel(r),
            Message::Port(6881),
            Message::Suggest(5),
            Message::HaveAll,
            Message::HaveNone,
            Message::RejectRequest(r),
            Message::AllowedFast(9),
            Message::Extended(Extended {
                id: 0,
                payload: Bytes::from_static(b"de"),
            }),
            Message::Extended(Extended {
                id: 3,
                payload: Bytes::new(),
            }),
        ]
    }

    #[test]
    fn decodes_every_message_kind_from_one_stream() {
        let msgs = sample_stream();
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode(&mut stream);
        }
        assert_eq!(decode_all(&stream), msgs);
    }

    #[test]
    fn slice_and_buffer_decoders_agree_and_report_consumed_bytes() {
        for msg in sample_stream() {
            let mut bytes = msg.to_bytes().to_vec();
            bytes.extend_from_slice(&[0, 0]); // start of the next message
            let want = Some((msg.clone(), msg.encoded_len()));
            assert_eq!(Message::decode(&bytes), Ok(want.clone()));
            let mut buf = BytesMut::from(&bytes[..]);
            assert_eq!(MessageDecoder::new().decode(&mut buf), Ok(want));
            assert_eq!(&buf[..], &[0, 0]);
        }
    }

    #[test]
    fn every_truncation_needs_more_bytes() {
        for msg in sample_stream() {
            let bytes = msg.to_bytes();
            for cut in 0..bytes.len() {
                let mut buf = BytesMut::from(&bytes[..cut]);
                assert_eq!(Message::decode(&bytes[..cut]), Ok(None), "{msg:?} at {cut}");
                assert_eq!(MessageDecoder::new().decode(&mut buf), Ok(None));
                assert_eq!(buf.len(), cut, "nothing consumed");
            }
        }
    }

    #[test]
    fn piece_data_shares_the_receive_buffer() {
        let msg = Message::Piece(Piece {
            index: 1,
            begin: 0,
            data: Bytes::from(vec![1u8; 1000]),
        });
        let mut buf = BytesMut::from(&msg.to_bytes()[..]);
        let start = buf.as_ptr() as usize;
        let Some((Message::Piece(p), 1013)) = MessageDecoder::new().decode(&mut buf).unwrap()
        else {
            panic!("not a piece")
        };
        assert_eq!(p.data.as_ptr() as usize, start + 13);
    }

    #[test]
    fn rejects_an_oversized_prefix_before_the_payload_arrives() {
        let dec = MessageDecoder::with_max_frame_len(100);
        assert_eq!(dec.max_frame_len(), 100);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 101][..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(DecodeError::FrameTooLarge { len: 101, max: 100 })
        );
        assert!(
            buf.capacity() < 101,
            "nothing reserved for a rejected frame"
        );
        assert_eq!(
            Message::decode(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::FrameTooLarge {
                len: u32::MAX,
                max: DEFAULT_MAX_FRAME_LEN
            })
        );
        let mut at_limit = BytesMut::from(&[0u8, 0, 0, 100, 7][..]);
        assert_eq!(dec.decode(&mut at_limit), Ok(None));
        assert!(
            at_limit.capacity() >= 104,
            "room reserved for the whole frame"
        );
    }

    #[test]
    fn rejects_unknown_ids_as_soon_as_the_id_arrives() {
        assert_eq!(
            Message::decode(&[0, 0, 0, 50, 10]),
            Err(DecodeError::UnknownId { id: 10, len: 50 })
        );
        assert_eq!(
            Message::decode(&[0, 0, 0, 1, 0xff]),
            Err(DecodeError::UnknownId { id: 0xff, len: 1 })
        );
    }

    #[test]
    fn rejects_wrong_lengths_for_fixed_messages() {
        let cases: [(&[u8], MessageKind, u32, u32); 6] = [
            (&[0, 0, 0, 2, 0, 0], MessageKind::Choke, 2, 1),
            (&[0, 0, 0, 4, 4], MessageKind::Have, 4, 5),
            (&[0, 0, 0, 6, 4], MessageKind::Have, 6, 5),
            (&[0, 0, 0, 12, 6], MessageKind::Request, 12, 13),
            (&[0, 0, 0, 5, 9], MessageKind::Port, 5, 3),
            (&[0, 0, 0, 2, 0x0e], MessageKind::HaveAll, 2, 1),
        ];
        for (bytes, kind, len, expected) in cases {
            assert_eq!(
                Message::decode(bytes),
                Err(DecodeError::BadLength {
                    kind,
                    len,
                    expected
                }),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn rejects_short_variable_messages() {
        assert_eq!(
            Message::decode(&[0, 0, 0, 8, 7]),
            Err(DecodeError::TooShort {
                kind: MessageKind::Piece,
                len: 8,
                min: 9
            })
        );
        assert_eq!(
            Message::decode(&[0, 0, 0, 1, 20]),
            Err(DecodeError::TooShort {
                kind: MessageKind::Extended,
                len: 1,
                min: 2
            })
        );
    }

    #[test]
    fn errors_have_lowercase_messages() {
        let e = DecodeError::BadLength {
            kind: MessageKind::Have,
            len: 4,
            expected: 5,
        };
        assert_eq!(e.to_string(), "have message has length 4, expected 5");
    }
}
