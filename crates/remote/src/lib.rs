//! swarmfs remote control: run the engine in one process, drive it from others.
//!
//! The messages are those of the npm `webtorrent-remote` 2.1.0 package (and its README), field
//! for field: a client sends `subscribe`, `add-torrent`, `create-server`, `heartbeat` and
//! `destroy`; the server answers `torrent-subscribed`, `infohash`, `metadata`, `download`,
//! `upload`, `done`, `update`, `warning`, `error` and `server-ready`. Every message carries the
//! `clientKey` of the one client it is for.
//!
//! - [`protocol`]: the message types and a bounded, typed decoder.
//! - [`RemoteServer`]: the transport-agnostic server core over a swarmfs [`swarmfs::Client`];
//!   it hands outgoing messages to a [`Transport`].
//! - [`RemoteClient`]: the Rust client (heartbeats sent automatically, an event stream).
//! - Transports: [`Router`] (routes by `clientKey` to bounded queues), in-process clients, and
//!   newline-delimited JSON over TCP ([`TcpServer`], [`RemoteClient::connect_tcp`]; loopback
//!   by default, a token required on any other address).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod client;
pub mod protocol;
mod server;
mod tcp;
mod transport;

pub use client::{ClientError, ClientOptions, RemoteClient};
pub use protocol::{ClientMessage, DecodeError, MAX_MESSAGE_LEN, ServerMessage, TorrentInfo};
pub use server::{RemoteServer, ServerConfig};
pub use tcp::{MAX_BAD_LINES, TcpError, TcpServer};
pub use transport::{CLIENT_QUEUE, Router, Transport};
