//! Newline-delimited JSON over TCP: one message per line, both ways.
//!
//! A listener on a loopback address needs no token; any other address requires one, and each
//! connection must then send `{"token": "<token>"}` as its first line. A `clientKey` belongs to
//! the connection that first used it. Lines longer than
//! [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN) or more than
//! [`MAX_BAD_LINES`](crate::MAX_BAD_LINES) malformed lines close the connection; each
//! connection's outgoing queue is bounded.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::client::{ClientOptions, RemoteClient};
use crate::ndjson;
use crate::server::RemoteServer;
use crate::transport::Router;

/// Why the TCP transport could not start or connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// Binding a non-loopback address without a token.
    #[error("listening on {addr} (not loopback) requires a token")]
    TokenRequired {
        /// The address.
        addr: SocketAddr,
    },
    /// A socket error.
    #[error("tcp {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// A running TCP front end of a [`RemoteServer`].
#[derive(Debug)]
pub struct TcpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TcpServer {
    /// Binds `addr` and serves `server`, whose transport must be `router`. `token` is required
    /// unless `addr` is loopback.
    pub async fn bind(
        addr: SocketAddr,
        token: Option<String>,
        server: RemoteServer,
        router: Arc<Router>,
    ) -> Result<Self, TcpError> {
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(TcpError::TokenRequired { addr });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| TcpError::Io { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| TcpError::Io { addr, source })?;
        let token: Option<Arc<str>> = token.map(Into::into);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (read, write) = stream.into_split();
                tokio::spawn(ndjson::serve(
                    read,
                    write,
                    token.clone(),
                    server.clone(),
                    router.clone(),
                ));
            }
        });
        Ok(Self { addr: local, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections.
    pub fn close(self) {
        self.task.abort();
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RemoteClient {
    /// Connects to a [`TcpServer`] (sending `token` first when given).
    pub async fn connect_tcp(
        addr: SocketAddr,
        token: Option<&str>,
        options: ClientOptions,
    ) -> Result<Self, TcpError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| TcpError::Io { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        RemoteClient::over_lines(read, write, token, options)
            .await
            .map_err(|source| TcpError::Io { addr, source })
    }
}
