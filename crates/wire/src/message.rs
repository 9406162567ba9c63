//! Peer messages after the handshake: BEP 3, the BEP 6 fast extension and the BEP 10 envelope.
//!
//! Every message is `<length: u32 big-endian><id: u8><payload>`; a length of zero is a
//! keep-alive. Decoding lives in [`MessageDecoder`](crate::MessageDecoder).

use std::fmt;

use bytes::{BufMut, Bytes};

/// Message ids (the byte after the length prefix).
pub(crate) mod id {
    pub(crate) const CHOKE: u8 = 0;
    pub(crate) const UNCHOKE: u8 = 1;
    pub(crate) const INTERESTED: u8 = 2;
    pub(crate) const NOT_INTERESTED: u8 = 3;
    pub(crate) const HAVE: u8 = 4;
    pub(crate) const BITFIELD: u8 = 5;
    pub(crate) const REQUEST: u8 = 6;
    pub(crate) const PIECE: u8 = 7;
    pub(crate) const CANCEL: u8 = 8;
    pub(crate) const PORT: u8 = 9;
    pub(crate) const SUGGEST: u8 = 0x0d;
    pub(crate) const HAVE_ALL: u8 = 0x0e;
    pub(crate) const HAVE_NONE: u8 = 0x0f;
    pub(crate) const REJECT_REQUEST: u8 = 0x10;
    pub(crate) const ALLOWED_FAST: u8 = 0x11;
    pub(crate) const EXTENDED: u8 = 20;
}

/// A block of a piece: what `request`, `cancel` and `reject request` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    /// Piece index.
    pub index: u32,
    /// Byte offset inside the piece.
    pub begin: u32,
    /// Length in bytes.
    pub length: u32,
}

/// A `piece` message: a block of data. `data` shares the receive buffer (no copy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Piece {
    /// Piece index.
    pub index: u32,
    /// Byte offset inside the piece.
    pub begin: u32,
    /// The block's bytes.
    pub data: Bytes,
}

impl Piece {
    /// The 13 bytes before `data` on the wire, for vectored writes that send `data` without
    /// copying it.
    pub fn header(&self) -> [u8; 13] {
        let mut out = [0u8; 13];
        let mut w = &mut out[..];
        w.put_u32(frame_len(9 + self.data.len()));
        w.put_u8(id::PIECE);
        w.put_u32(self.index);
        w.put_u32(self.begin);
        out
    }

    /// The [`BlockRequest`] this block answers.
    pub fn block(&self) -> BlockRequest {
        BlockRequest {
            index: self.index,
            begin: self.begin,
            // `data.len()` fits a u32: it came from (or must fit in) a u32 length prefix.
            length: u32::try_from(self.data.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A BEP 10 extended message: id 20, then the extension's id, then its payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extended {
    /// The extension message id: 0 is the extension handshake, others were assigned by the
    /// receiver's handshake `m` dictionary.
    pub id: u8,
    /// The extension's payload (zero-copy from the receive buffer).
    pub payload: Bytes,
}

impl Extended {
    /// The extended message id of the extension handshake.
    pub const HANDSHAKE_ID: u8 = 0;
}

/// A message exchanged after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Message {
    /// A zero-length message that keeps the connection open.
    KeepAlive,
    /// The sender will not upload to the receiver.
    Choke,
    /// The sender will upload to the receiver.
    Unchoke,
    /// The sender wants pieces the receiver has.
    Interested,
    /// The sender wants nothing from the receiver.
    NotInterested,
    /// The sender has verified this piece.
    Have(u32),
    /// The pieces the sender has, high bit of the first byte first. Validated against the
    /// piece count by the caller, which knows it.
    Bitfield(Bytes),
    /// Asks for a block.
    Request(BlockRequest),
    /// A block of data.
    Piece(Piece),
    /// Withdraws a request.
    Cancel(BlockRequest),
    /// The sender's DHT port (BEP 5).
    Port(u16),
    /// BEP 6: the receiver might like this piece.
    Suggest(u32),
    /// BEP 6: the sender has every piece.
    HaveAll,
    /// BEP 6: the sender has no piece.
    HaveNone,
    /// BEP 6: the sender will not serve this request.
    RejectRequest(BlockRequest),
    /// BEP 6: the receiver may request this piece even while choked.
    AllowedFast(u32),
    /// BEP 10 extended message.
    Extended(Extended),
}

/// The kind of a [`Message`], for error reports and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// [`Message::KeepAlive`]
    KeepAlive,
    /// [`Message::Choke`]
    Choke,
    /// [`Message::Unchoke`]
    Unchoke,
    /// [`Message::Interested`]
    Interested,
    /// [`Message::NotInterested`]
    NotInterested,
    /// [`Message::Have`]
    Have,
    /// [`Message::Bitfield`]
    Bitfield,
    /// [`Message::Request`]
    Request,
    /// [`Message::Piece`]
    Piece,
    /// [`Message::Cancel`]
    Cancel,
    /// [`Message::Port`]
    Port,
    /// [`Message::Suggest`]
    Suggest,
    /// [`Message::HaveAll`]
    HaveAll,
    /// [`Message::HaveNone`]
    HaveNone,
    /// [`Message::RejectRequest`]
    RejectRequest,
    /// [`Message::AllowedFast`]
    AllowedFast,
    /// [`Message::Extended`]
    Extended,
}

impl MessageKind {
    /// The kind carried by message id `id`, if any.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            id::CHOKE => Self::Choke,
            id::UNCHOKE => Self::Unchoke,
            id::INTERESTED => Self::Interested,
            id::NOT_INTERESTED => Self::NotInterested,
            id::HAVE => Self::Have,
            id::BITFIELD => Self::Bitfield,
            id::REQUEST => Self::Request,
            id::PIECE => Self::Piece,
            id::CANCEL => Self::Cancel,
            id::PORT => Self::Port,
            id::SUGGEST => Self::Suggest,
            id::HAVE_ALL => Self::HaveAll,
            id::HAVE_NONE => Self::HaveNone,
            id::REJECT_REQUEST => Self::RejectRequest,
            id::ALLOWED_FAST => Self::AllowedFast,
            id::EXTENDED => Self::Extended,
            _ => return None,
        })
    }

    /// The message id on the wire (`None` for keep-alive, which has none).
    pub fn id(self) -> Option<u8> {
        Some(match self {
            Self::KeepAlive => return None,
            Self::Choke => id::CHOKE,
            Self::Unchoke => id::UNCHOKE,
            Self::Interested => id::INTERESTED,
            Self::NotInterested => id::NOT_INTERESTED,
            Self::Have => id::HAVE,
            Self::Bitfield => id::BITFIELD,
            Self::Request => id::REQUEST,
            Self::Piece => id::PIECE,
            Self::Cancel => id::CANCEL,
            Self::Port => id::PORT,
            Self::Suggest => id::SUGGEST,
            Self::HaveAll => id::HAVE_ALL,
            Self::HaveNone => id::HAVE_NONE,
            Self::RejectRequest => id::REJECT_REQUEST,
            Self::AllowedFast => id::ALLOWED_FAST,
            Self::Extended => id::EXTENDED,
        })
    }

    /// The exact length prefix of this kind, or `None` if its payload is variable.
    ///
    /// BEP 3: "'choke', 'unchoke', 'interested', and 'not interested' have no payload";
    /// "'have' messages have a single payload, which is the index"; "'request' messages
    /// contain an index, begin, and length"; BEP 5: "The payload is the UDP port of the DHT
    /// node in network byte order"; BEP 6 gives have all / have none no payload, suggest and
    /// allowed fast a piece index, and reject request the request's three fields.
    pub(crate) fn fixed_len(self) -> Option<u32> {
        match self {
            Self::KeepAlive => Some(0),
            Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => Some(1),
            Self::Have | Self::Suggest | Self::AllowedFast => Some(5),
            Self::Request | Self::Cancel | Self::RejectRequest => Some(13),
            Self::Port => Some(3),
            Self::Bitfield | Self::Piece | Self::Extended => None,
        }
    }

    /// The smallest length prefix of this kind.
    pub(crate) fn min_len(self) -> u32 {
        match self {
            Self::Piece => 9,
            Self::Extended => 2,
            Self::Bitfield => 1,
            other => other.fixed_len().unwrap_or(1),
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KeepAlive => "keep-alive",
            Self::Choke => "choke",
            Self::Unchoke => "unchoke",
            Self::Interested => "interested",
            Self::NotInterested => "not interested",
            Self::Have => "have",
            Self::Bitfield => "bitfield",
            Self::Request => "request",
            Self::Piece => "piece",
            Self::Cancel => "cancel",
            Self::Port => "port",
            Self::Suggest => "suggest",
            Self::HaveAll => "have all",
            Self::HaveNone => "have none",
            Self::RejectRequest => "reject request",
            Self::AllowedFast => "allowed fast",
            Self::Extended => "extended",
        })
    }
}

impl Message {
    /// This message's kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::KeepAlive => MessageKind::KeepAlive,
            Self::Choke => MessageKind::Choke,
            Self::Unchoke => MessageKind::Unchoke,
            Self::Interested => MessageKind::Interested,
            Self::NotInterested => MessageKind::NotInterested,
            Self::Have(_) => MessageKind::Have,
            Self::Bitfield(_) => MessageKind::Bitfield,
            Self::Request(_) => MessageKind::Request,
            Self::Piece(_) => MessageKind::Piece,
            Self::Cancel(_) => MessageKind::Cancel,
            Self::Port(_) => MessageKind::Port,
            Self::Suggest(_) => MessageKind::Suggest,
            Self::HaveAll => MessageKind::HaveAll,
            Self::HaveNone => MessageKind::HaveNone,
            Self::RejectRequest(_) => MessageKind::RejectRequest,
            Self::AllowedFast(_) => MessageKind::AllowedFast,
            Self::Extended(_) => MessageKind::Extended,
        }
    }

    /// The number of bytes [`encode`](Self::encode) writes, length prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + match self {
            Self::Bitfield(bits) => 1 + bits.len(),
            Self::Piece(p) => 9 + p.data.len(),
            Self::Extended(e) => 2 + e.payload.len(),
            // Fixed-size kinds always have a fixed length.
            other => other.kind().fixed_len().unwrap_or(0) as usize,
        }
    }

    /// Writes the message, length prefix included.
    ///
    /// # Panics
    ///
    /// If a bitfield, piece or extended payload is longer than a u32 length prefix can say
    /// (4 GiB), which no valid message is.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_u32(frame_len(self.encoded_len() - 4));
        let Some(id) = self.kind().id() else {
            return; // keep-alive: the zero length is all
        };
        buf.put_u8(id);
        match self {
            Self::KeepAlive
            | Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => {}
            Self::Have(index) | Self::Suggest(index) | Self::AllowedFast(index) => {
                buf.put_u32(*index)
            }
            Self::Bitfield(bits) => buf.put_slice(bits),
            Self::Request(r) | Self::Cancel(r) | Self::RejectRequest(r) => {
                buf.put_u32(r.index);
                buf.put_u32(r.begin);
                buf.put_u32(r.length);
            }
            Self::Piece(p) => {
                buf.put_u32(p.index);
                buf.put_u32(p.begin);
                buf.put_slice(&p.data);
            }
            Self::Port(port) => buf.put_u16(*port),
            Self::Extended(e) => {
                buf.put_u8(e.id);
                buf.put_slice(&e.payload);
            }
        }
    }

    /// The encoded message as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.into()
    }
}

/// `len` as a u32 length prefix.
fn frame_len(len: usize) -> u32 {
    #[allow(clippy::expect_used)]
    u32::try_from(len).expect("message payload longer than a u32 length prefix")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_id() {
        for id in 0..=u8::MAX {
            if let Some(kind) = MessageKind::from_id(id) {
                assert_eq!(kind.id(), Some(id));
            }
        }
        assert_eq!(MessageKind::KeepAlive.id(), None);
        assert_eq!(MessageKind::from_id(10), None);
        assert_eq!(MessageKind::from_id(21), None);
    }

    #[test]
    fn encodes_fixed_messages_byte_exact() {
        let cases: Vec<(Message, &[u8])> = vec![
            (Message::KeepAlive, &[0, 0, 0, 0]),
            (Message::Choke, &[0, 0, 0, 1, 0]),
            (Message::Unchoke, &[0, 0, 0, 1, 1]),
            (Message::Interested, &[0, 0, 0, 1, 2]),
            (Message::NotInterested, &[0, 0, 0, 1, 3]),
            (Message::Have(0x01020304), &[0, 0, 0, 5, 4, 1, 2, 3, 4]),
            (Message::Port(6881), &[0, 0, 0, 3, 9, 0x1a, 0xe1]),
            (Message::Suggest(7), &[0, 0, 0, 5, 0x0d, 0, 0, 0, 7]),
            (Message::HaveAll, &[0, 0, 0, 1, 0x0e]),
            (Message::HaveNone, &[0, 0, 0, 1, 0x0f]),
            (Message::AllowedFast(9), &[0, 0, 0, 5, 0x11, 0, 0, 0, 9]),
        ];
        for (msg, bytes) in cases {
            assert_eq!(&msg.to_bytes()[..], bytes, "{msg:?}");
            assert_eq!(msg.encoded_len(), bytes.len(), "{msg:?}");
        }
    }

    #[test]
    fn encodes_block_messages() {
        let r = BlockRequest {
            index: 1,
            begin: 0x4000,
            length: 0x4000,
        };
        let body = [0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0];
        for (msg, id) in [
            (Message::Request(r), 6),
            (Message::Cancel(r), 8),
            (Message::RejectRequest(r), 0x10),
        ] {
            let bytes = msg.to_bytes();
            assert_eq!(bytes[..5], [0, 0, 0, 13, id]);
            assert_eq!(bytes[5..], body);
        }
    }

    #[test]
    fn encodes_variable_messages() {
        let bf = Message::Bitfield(Bytes::from_static(&[0b1010_0000, 0x01]));
        assert_eq!(&bf.to_bytes()[..], &[0, 0, 0, 3, 5, 0b1010_0000, 0x01]);
        let piece = Piece {
            index: 2,
            begin: 16,
            data: Bytes::from_static(b"abc"),
        };
        let bytes = Message::Piece(piece.clone()).to_bytes();
        assert_eq!(bytes[..], *b"\0\0\0\x0c\x07\0\0\0\x02\0\0\0\x10abc");
        assert_eq!(piece.header(), bytes[..13]);
        assert_eq!(
            piece.block(),
            BlockRequest {
                index: 2,
                begin: 16,
                length: 3
            }
        );
        let ext = Message::Extended(Extended {
            id: 3,
            payload: Bytes::from_static(b"de"),
        });
        assert_eq!(&ext.to_bytes()[..], b"\0\0\0\x04\x14\x03de");
    }

    #[test]
    fn kinds_have_names() {
        assert_eq!(MessageKind::RejectRequest.to_string(), "reject request");
        assert_eq!(Message::Have(1).kind(), MessageKind::Have);
    }
}
