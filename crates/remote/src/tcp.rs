//! Newline-delimited JSON over TCP: one message per line, both ways.
//!
//! A listener on a loopback address needs no token; any other address requires one, and each
//! connection must then send `{"token": "<token>"}` as its first line. A `clientKey` belongs to
//! the connection that first used it. Lines longer than [`MAX_MESSAGE_LEN`] or too many
//! malformed lines close the connection; each connection's outgoing queue is bounded.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{ClientOptions, RemoteClient, new_key};
use crate::protocol::{ClientMessage, MAX_MESSAGE_LEN, ServerMessage};
use crate::server::RemoteServer;
use crate::transport::{CLIENT_QUEUE, Router};

/// Malformed lines a connection may send before it is closed.
pub const MAX_BAD_LINES: u32 = 16;

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
                tokio::spawn(connection(
                    stream,
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

/// Reads one line of at most [`MAX_MESSAGE_LEN`] bytes; `Ok(None)` at end of stream, `Err` when
/// the line is too long or the socket fails.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<()>> {
    buf.clear();
    let n = reader
        .take(MAX_MESSAGE_LEN as u64 + 2)
        .read_until(b'\n', buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_MESSAGE_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(()))
}

async fn connection(
    stream: TcpStream,
    token: Option<Arc<str>>,
    server: RemoteServer,
    router: Arc<Router>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    if let Some(token) = token {
        let ok = matches!(read_line(&mut reader, &mut buf).await, Ok(Some(())))
            && serde_json::from_slice::<serde_json::Value>(&buf)
                .ok()
                .and_then(|v| v.get("token")?.as_str().map(|t| t == &*token))
                .unwrap_or(false);
        if !ok {
            let _ = write.write_all(b"{\"error\":\"bad token\"}\n").await;
            return;
        }
    }
    let conn = router.connection_id();
    let (tx, mut rx) = mpsc::channel::<ServerMessage>(CLIENT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let mut line = serde_json::to_vec(&m).unwrap_or_default();
            line.push(b'\n');
            if write.write_all(&line).await.is_err() {
                return;
            }
        }
    });
    let mut bad = 0;
    while let Ok(Some(())) = read_line(&mut reader, &mut buf).await {
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match ClientMessage::decode(&buf) {
            Ok(msg) => {
                if router.register(msg.client_key(), conn, &tx) {
                    server.receive(msg);
                } else {
                    tracing::debug!("clientKey taken by another connection, dropped");
                }
            }
            Err(e) => {
                tracing::debug!("dropped message: {e}");
                bad += 1;
                if bad > MAX_BAD_LINES {
                    break;
                }
            }
        }
    }
    router.unregister(conn);
    drop(tx);
    writer.abort();
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
        let (read, mut write) = stream.into_split();
        if let Some(t) = token {
            let mut line =
                serde_json::to_vec(&serde_json::json!({ "token": t })).unwrap_or_default();
            line.push(b'\n');
            write
                .write_all(&line)
                .await
                .map_err(|source| TcpError::Io { addr, source })?;
        }
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<ClientMessage>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let mut line = serde_json::to_vec(&m).unwrap_or_default();
                line.push(b'\n');
                if write.write_all(&line).await.is_err() {
                    return;
                }
            }
        });
        let (in_tx, in_rx) = mpsc::channel(CLIENT_QUEUE);
        tokio::spawn(async move {
            let mut reader = BufReader::new(read);
            let mut buf = Vec::new();
            while let Ok(Some(())) = read_line(&mut reader, &mut buf).await {
                if let Ok(m) = ServerMessage::decode(&buf) {
                    if in_tx.send(m).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Self::with_key(
            new_key(),
            Arc::new(move |m| {
                let _ = out_tx.send(m);
            }),
            in_rx,
            options,
        ))
    }
}
