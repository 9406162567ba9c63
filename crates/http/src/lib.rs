//! swarmfs HTTP streaming server: serves one or more [`swarmfs::Archive`]s over HTTP/1.1.
//!
//! Every archive's files are at the stable path `/<info-hash hex>/<path>`; a server of one
//! archive also serves them at `/<path>`. `GET /` is an index (of the one archive, or of every
//! archive with its files, sizes and verified share), and so is any directory path; it is HTML,
//! or JSON when the client sends `Accept: application/json`. A file is streamed through
//! [`swarmfs::Archive::open`], so pieces are fetched on demand in the order they are read: a
//! video plays while it downloads. Single `Range` requests get `206 Partial Content`,
//! unsatisfiable ones `416`; `HEAD`, `Accept-Ranges`, `ETag` and a `Content-Type` from the file
//! extension are supported. Paths that try to leave the archive get `400`.
//!
//! Pages of other origins may read responses only when [`StreamServer::allow_origin`] says
//! so (CORS); [`StreamServer::require_host`] refuses requests for other `Host` names, which
//! stops DNS rebinding. Every response carries `X-Content-Type-Options: nosniff`.
//!
//! The server binds what it is given; the CLI defaults to `127.0.0.1`. It implements no
//! BitTorrent itself: every byte comes from the archive.
//!
//! ```no_run
//! # async fn demo(archive: swarmfs::Archive) -> Result<(), swarmfs_http::ServeError> {
//! let server = swarmfs_http::StreamServer::bind("127.0.0.1:0".parse().unwrap(), archive).await?;
//! println!("{}", server.url());
//! let handle = server.spawn();
//! // ...
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod access;
mod body;
mod catalog;
mod index;
mod mime;
mod path;
mod range;
mod respond;
mod server;

pub use access::AllowOrigin;
pub use mime::content_type;
pub use range::{ByteRange, RangeError, parse_range};
pub use server::{MAX_CONNECTIONS, ServeError, ServerHandle, StreamServer};
