//! Watcher: turns the state of torrent servers into events and webhooks (dTorrent's job, with
//! its gaps closed).
//!
//! A [`Manager`] watches several named [`Backend`]s — the local swarmfs engine
//! ([`LocalBackend`], which pushes change notifications from engine events), a remote swarmfs
//! server through `swarmfs-remote` ([`RemoteBackend`]), rTorrent over XML-RPC on SCGI
//! ([`RtorrentBackend`]), or your own implementation — each with its own polling
//! interval and state directory. Every poll reads all [`TorrentRecord`]s, compares them with the
//! last snapshot and emits [`Event`]s: `added`, `removed`, `updated` (with a [`Diff`] naming
//! each changed field's old and new value), `paused`, `resumed`, `finished` and `error`.
//!
//! The snapshot is persisted atomically per backend, so a restart neither replays `added` for
//! torrents that already existed nor loses what changed while the watcher was down. Event ids
//! are derived from the change itself, so an event re-detected after a crash keeps its id.
//! Webhooks POST every event as JSON, signed with HMAC-SHA256 ([`SIGNATURE_HEADER`]), retried
//! with exponential backoff and jitter from a durable outbox (at-least-once): the events of one
//! poll are written with one fsync (group commit), and delivered with bounded concurrency, the
//! events of one torrent in order.
//!
//! This crate does not run an engine, parse configuration files or print anything: the CLI
//! wires those.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod backend;
mod event;
mod http;
mod local;
mod manager;
mod outbox;
mod record;
mod remote;
mod rtorrent;
mod scgi;
mod state;
mod webhook;
mod xmlrpc;

pub use backend::{Backend, BackendError};
pub use event::{Event, EventKind, diff_snapshots};
pub use http::HttpError;
pub use local::LocalBackend;
pub use manager::{
    BackendConfig, DEFAULT_TIMEOUT, Listener, Manager, ManagerBuilder, ManagerError,
};
pub use record::{Change, Delta, Diff, FileRecord, TorrentRecord};
pub use remote::RemoteBackend;
pub use rtorrent::RtorrentBackend;
pub use scgi::scgi_request;
pub use state::{SnapshotFile, StateError, write_atomic};
pub use webhook::{
    EVENT_HEADER, EVENT_ID_HEADER, ErrorCallback, FailedCallback, SIGNATURE_HEADER, WebhookConfig,
    sign, verify,
};
pub use xmlrpc::{Value, XmlRpcError};
