//! swarmfs remote control: run the engine in one process, drive it from others.
//!
//! The messages are those of the npm `webtorrent-remote` 2.1.0 package (and its README), field
//! for field: a client sends `subscribe`, `add-torrent`, `create-server`, `heartbeat` and
//! `destroy`; the server answers `torrent-subscribed`, `infohash`, `metadata`, `download`,
//! `upload`, `done`, `update`, `warning`, `error` and `server-ready`. Every message carries the
//! `clientKey` of the one client it is for.
//!
//! # The `swarmfs/v1/` extension
//!
//! Beyond the seed, message types starting with [`EXT_PREFIX`] (`swarmfs/v1/`) form a
//! versioned namespace. A breaking change moves every one of them to `swarmfs/v2/`; a server
//! treats types of a version it does not speak as unknown (a `warning`), so an old server never
//! misreads a new request. webtorrent-remote clients never see these types unless they send
//! them. Each request carries a client-chosen `requestId` and gets exactly one answer carrying
//! it: the reply below, or `swarmfs/v1/failed` with `error.message`.
//!
//! | request (client → server) | fields | answer |
//! |---|---|---|
//! | `swarmfs/v1/list` | `after` (optional: the last info hash of the previous page) | `swarmfs/v1/torrents` {`torrents`: [torrent props + `hasMetadata`, `paused`, `done`, `subscribers`], `truncated`} |
//! | `swarmfs/v1/pause`, `swarmfs/v1/resume` | `infoHash` | `swarmfs/v1/ok` |
//! | `swarmfs/v1/remove` | `infoHash`, `deleteData` (default false) | `swarmfs/v1/ok`; its followers get `error` |
//! | `swarmfs/v1/select-files` | `infoHash`, `files` (indices into `files`) | `swarmfs/v1/ok` |
//! | `swarmfs/v1/read-dir` | `infoHash`, `path` | `swarmfs/v1/dir` {`entries`: [{`name`, `len`, `isDir`}], `truncated`} |
//! | `swarmfs/v1/read-file` | `infoHash`, `path`, `offset`, `length` (≤ [`MAX_READ_LEN`]) | `swarmfs/v1/bytes` {`offset`, `fileLength`, `data` (base64)} |
//! | `swarmfs/v1/watch-mutable` | `url` (BEP 46 magnet), `interval` (ms) | `swarmfs/v1/ok`, then `swarmfs/v1/mutable-update` {`url`, `seq`, `infoHash`, `magnet`} for the current and each newer version |
//! | `swarmfs/v1/unwatch-mutable` | `requestId` of the watch | `swarmfs/v1/ok` |
//!
//! Sizes are bounded: a list answer holds at most 256 torrents sorted by info hash and stays
//! under [`MAX_MESSAGE_LEN`] (a torrent with a huge file list is listed without it; the client
//! pages on with `after` while `truncated`), a listing 256 entries, a read 32 KiB;
//! reads wait at most [`ServerConfig::read_timeout`] and at most [`ServerConfig::max_reads`]
//! run at once.
//!
//! # Parts
//!
//! - [`protocol`]: the message types and a bounded, typed decoder.
//! - [`RemoteServer`]: the transport-agnostic server core over a swarmfs [`swarmfs::Client`]
//!   (given, or built lazily on the first add and stopped when no torrents remain); it hands
//!   outgoing messages to a [`Transport`].
//! - [`RemoteClient`]: the Rust client (heartbeats sent automatically, an event stream, the
//!   extension requests as async methods: [`RemoteClient::list`], [`RemoteClient::pause`],
//!   [`RemoteClient::resume`], [`RemoteClient::remove`], [`RemoteClient::select_files`],
//!   [`RemoteClient::read_dir`], [`RemoteClient::read_file`], [`RemoteClient::watch_mutable`]).
//! - Transports: [`Router`] (routes by `clientKey` to bounded queues), in-process clients
//!   ([`RemoteClient::local`]), newline-delimited JSON over TCP ([`TcpServer`],
//!   [`RemoteClient::connect_tcp`]), over a Unix socket ([`UnixServer`],
//!   [`RemoteClient::connect_unix`]), over stdio ([`serve_stdio`], [`RemoteClient::spawn_stdio`])
//!   or any byte stream ([`serve_lines`], [`RemoteClient::over_lines`]), and JSON text messages
//!   over WebSocket ([`WsServer`], [`RemoteClient::connect_ws`]). Network listeners bind
//!   loopback unless given a token, which each connection must then send first as
//!   `{"token": "..."}`.
//!
//! A connection's outgoing queue is bounded: stale `update`/`download`/`upload` messages are
//! replaced by newer ones, and a client that lets [`CLIENT_QUEUE`] other messages pile up is
//! disconnected, so a stuck client never blocks the engine or other clients. Bad frames get a
//! `warning` (when they name a `clientKey`); more than [`MAX_BAD_LINES`] of them, or one longer
//! than [`MAX_MESSAGE_LEN`], close the connection.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod client;
mod conn;
mod ndjson;
mod outbox;
pub mod protocol;
mod server;
mod stdio;
mod tcp;
mod transport;
mod unix;
mod ws;

pub use client::{ClientError, ClientOptions, FileChunk, RemoteClient};
pub use conn::MAX_BAD_LINES;
pub use protocol::{
    ClientMessage, DecodeError, DirEntryInfo, EXT_PREFIX, MAX_MESSAGE_LEN, MAX_READ_LEN,
    ServerMessage, TorrentEntry, TorrentInfo,
};
pub use server::{RemoteServer, ServerConfig};
pub use stdio::{serve_lines, serve_stdio};
pub use tcp::{TcpError, TcpServer};
pub use transport::{CLIENT_QUEUE, Router, Transport};
pub use unix::UnixServer;
pub use ws::WsServer;
