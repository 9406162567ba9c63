//! Newline-delimited JSON over any byte stream (TCP, Unix socket, stdio): one message per
//! line, both ways. Lines longer than [`MAX_MESSAGE_LEN`] close the connection.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::client::{ClientOptions, RemoteClient, new_key};
use crate::conn::{Conn, Step};
use crate::outbox::{Out, Outbox};
use crate::protocol::{ClientMessage, MAX_MESSAGE_LEN, ServerMessage};
use crate::server::RemoteServer;
use crate::transport::{CLIENT_QUEUE, Router};

/// Serves one connection until either side ends it.
pub(crate) async fn serve<R, W>(
    read: R,
    write: W,
    token: Option<Arc<str>>,
    server: RemoteServer,
    router: Arc<Router>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = Conn::new(token, server, router);
    let outbox = conn.outbox();
    let writer = tokio::spawn(write_lines(write, outbox.clone()));
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        let line = tokio::select! {
            l = read_line(&mut reader, &mut buf) => l,
            () = outbox.wait_closed() => break,
        };
        match line {
            Ok(Some(())) => {
                if conn.frame(&buf) == Step::Close {
                    break;
                }
            }
            Ok(None) | Err(_) => {
                outbox.close();
                break;
            }
        }
    }
    // Unroute now; the writer flushes what is queued (a token refusal) unless closed.
    drop(conn);
    outbox.finish();
    let _ = writer.await;
}

async fn write_lines<W: AsyncWrite + Unpin>(mut write: W, outbox: Arc<Outbox>) {
    let mut bytes = Vec::new();
    while let Some(batch) = outbox.next_batch().await {
        bytes.clear();
        for out in batch {
            match out {
                Out::Msg(m) => {
                    if serde_json::to_writer(&mut bytes, &m).is_err() {
                        continue;
                    }
                }
                Out::Raw(r) => bytes.extend_from_slice(r.as_bytes()),
            }
            bytes.push(b'\n');
        }
        if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
            outbox.close();
            return;
        }
    }
    let _ = write.shutdown().await;
}

/// Reads one line of at most [`MAX_MESSAGE_LEN`] bytes; `Ok(None)` at end of stream, `Err` when
/// the line is too long or the stream fails.
pub(crate) async fn read_line<R: AsyncRead + Unpin>(
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

impl RemoteClient {
    /// A client speaking newline-delimited JSON over any byte stream (sending `token` first
    /// when given): what [`RemoteClient::connect_tcp`], [`RemoteClient::connect_unix`] and
    /// [`RemoteClient::spawn_stdio`] use. Must be called inside a tokio runtime.
    pub async fn over_lines<R, W>(
        read: R,
        mut write: W,
        token: Option<&str>,
        options: ClientOptions,
    ) -> std::io::Result<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        if let Some(t) = token {
            let mut line = serde_json::to_vec(&serde_json::json!({ "token": t }))?;
            line.push(b'\n');
            write.write_all(&line).await?;
            write.flush().await?;
        }
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<ClientMessage>();
        tokio::spawn(async move {
            let mut line = Vec::new();
            while let Some(m) = out_rx.recv().await {
                line.clear();
                if serde_json::to_writer(&mut line, &m).is_err() {
                    continue;
                }
                line.push(b'\n');
                if write.write_all(&line).await.is_err() || write.flush().await.is_err() {
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
