//! JSON over WebSocket (for node and browsers): one text message per JSON message, both
//! ways. Binds loopback unless a token is given; with a token the first message must be
//! `{"token": ...}`. Messages longer than [`MAX_MESSAGE_LEN`] close the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::client::{ClientOptions, RemoteClient, new_key};
use crate::conn::{Conn, Step};
use crate::outbox::Out;
use crate::protocol::{ClientMessage, MAX_MESSAGE_LEN, ServerMessage};
use crate::server::RemoteServer;
use crate::tcp::TcpError;
use crate::transport::{CLIENT_QUEUE, Router};

/// A running WebSocket front end of a [`RemoteServer`] (any path is accepted).
#[derive(Debug)]
pub struct WsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_LEN))
        .max_frame_size(Some(MAX_MESSAGE_LEN))
}

impl WsServer {
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

    /// The `ws://` URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(
    stream: TcpStream,
    token: Option<Arc<str>>,
    server: RemoteServer,
    router: Arc<Router>,
) {
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config()));
    let Ok(Ok(ws)) = tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await
    else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let mut conn = Conn::new(token, server, router);
    let outbox = conn.outbox();
    let out = outbox.clone();
    let writer = tokio::spawn(async move {
        while let Some(batch) = out.next_batch().await {
            for item in batch {
                let text = match item {
                    Out::Msg(m) => match serde_json::to_string(&m) {
                        Ok(t) => t,
                        Err(_) => continue,
                    },
                    Out::Raw(r) => r.to_owned(),
                };
                if sink
                    .feed(Message::Text(Utf8Bytes::from(text)))
                    .await
                    .is_err()
                {
                    out.close();
                    return;
                }
            }
            if sink.flush().await.is_err() {
                out.close();
                return;
            }
        }
        let _ = sink.close().await;
    });
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            () = outbox.wait_closed() => break,
        };
        let step = match msg {
            Some(Ok(Message::Text(t))) => conn.frame(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => conn.frame(&b),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Step::Continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                outbox.close();
                Step::Close
            }
        };
        if step == Step::Close {
            break;
        }
    }
    drop(conn);
    outbox.finish();
    let _ = writer.await;
}

impl RemoteClient {
    /// Connects to a [`WsServer`] at `addr` (sending `token` first when given).
    pub async fn connect_ws(
        addr: SocketAddr,
        token: Option<&str>,
        options: ClientOptions,
    ) -> Result<Self, TcpError> {
        let io = |source| TcpError::Io { addr, source };
        let stream = TcpStream::connect(addr).await.map_err(io)?;
        let _ = stream.set_nodelay(true);
        let url = format!("ws://{addr}/");
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?;
        let (mut sink, mut stream) = ws.split();
        if let Some(t) = token {
            let hello = serde_json::json!({ "token": t }).to_string();
            sink.send(Message::Text(Utf8Bytes::from(hello)))
                .await
                .map_err(|e| io(std::io::Error::other(e)))?;
        }
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<ClientMessage>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let Ok(text) = serde_json::to_string(&m) else {
                    continue;
                };
                if sink
                    .send(Message::Text(Utf8Bytes::from(text)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = sink.close().await;
        });
        let (in_tx, in_rx) = mpsc::channel(CLIENT_QUEUE);
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let parsed = match &msg {
                    Message::Text(t) => ServerMessage::decode(t.as_bytes()),
                    Message::Binary(b) => ServerMessage::decode(b),
                    Message::Close(_) => return,
                    _ => continue,
                };
                if let Ok(m) = parsed {
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
