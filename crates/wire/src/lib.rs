//! The swarmfs wire layer: sans-IO codecs for everything swarmfs says to peers.
//!
//! - [`handshake`]: the BEP 3 handshake and its reserved bits (BEP 10, BEP 6, BEP 5).
//! - [`message`] and [`MessageDecoder`]: BEP 3 messages, the BEP 6 fast extension and the
//!   BEP 10 extended-message envelope. Decoding is incremental (`Ok(None)` means "need more
//!   bytes"), bounded (a length prefix over the limit is an error before anything is
//!   allocated) and zero-copy for payloads.
//! - [`extension`]: the BEP 10 extension handshake.
//! - [`ut_metadata`]: BEP 9 metadata exchange.
//! - [`ut_pex`]: BEP 11 peer exchange.
//! - [`lsd`]: the BEP 14 local service discovery datagram.
//!
//! This crate owns no sockets, timers or tasks and never depends on tokio: callers feed it
//! bytes and write out what it encodes. It does not judge messages against a torrent (piece
//! indices, bitfield length, block sizes); `swarmfs-proto` does. Every malformed input is a
//! typed error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bencode;
mod decoder;
pub mod extension;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod lsd;
pub mod message;
pub mod ut_metadata;
pub mod ut_pex;

pub use decoder::{DEFAULT_MAX_FRAME_LEN, DecodeError, MessageDecoder};
pub use extension::{ExtensionError, ExtensionHandshake};
pub use handshake::{HANDSHAKE_LEN, Handshake, HandshakeError, PeerId, Reserved};
pub use lsd::{LsdAnnounce, LsdCookie, LsdError};
pub use message::{BlockRequest, Extended, Message, MessageKind, Piece};
pub use ut_metadata::{MetadataPiece, UtMetadata, UtMetadataError};
pub use ut_pex::{PexError, PexFlags, PexMessage};
