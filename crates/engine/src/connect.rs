//! Opening connections: TCP connect and accept, and the BEP 3 handshake exchange.

use std::net::SocketAddr;
use std::time::Duration;

use swarmfs_wire::{HANDSHAKE_LEN, Handshake};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::PeerError;

/// Reads exactly one handshake (and not a byte more) within `timeout`.
pub(crate) async fn read_handshake(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<Handshake, PeerError> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    tokio::time::timeout(timeout, stream.read_exact(&mut buf))
        .await
        .map_err(|_| PeerError::Timeout("handshake"))??;
    match Handshake::decode(&buf)? {
        Some((hs, _)) => Ok(hs),
        None => Err(PeerError::Protocol("short handshake".into())),
    }
}

/// Connects to `addr`, sends `ours` and reads the peer's handshake, which must name the same
/// torrent.
pub(crate) async fn connect(
    addr: SocketAddr,
    ours: &Handshake,
    timeout: Duration,
) -> Result<(TcpStream, Handshake), PeerError> {
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| PeerError::Timeout("connect"))??;
    stream.set_nodelay(true)?;
    stream.write_all(&ours.to_bytes()).await?;
    let theirs = read_handshake(&mut stream, timeout).await?;
    if theirs.info_hash != ours.info_hash {
        return Err(PeerError::Protocol("handshake for another torrent".into()));
    }
    Ok((stream, theirs))
}
