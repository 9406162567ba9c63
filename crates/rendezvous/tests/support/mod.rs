//! Helpers shared by the rendezvous integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use swarmfs_rendezvous::{Limits, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server on an ephemeral loopback port.
pub async fn server(limits: Limits) -> Server {
    let mut b = Server::builder();
    b.listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .limits(limits);
    b.bind().await.expect("bind")
}

/// Sends one raw HTTP/1.1 request and returns the status and the body.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write head");
    // The server may answer (413) and close before reading a large body.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    parse_response(&out)
}

/// Status and body of a `connection: close` response.
pub fn parse_response(out: &[u8]) -> (u16, Vec<u8>) {
    let text = String::from_utf8_lossy(out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

/// `authorization` header value for credentials.
pub fn bearer(c: &swarmfs_rendezvous::Credentials) -> String {
    format!("Bearer {}:{}", c.peer_id, c.secret)
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A single-file torrent of `data` named `file.bin`.
pub fn info(data: &[u8], piece_length: u32) -> swarmfs_metainfo::Info {
    swarmfs_metainfo::TorrentBuilder::new()
        .piece_length(piece_length)
        .build_single("file.bin", data)
        .expect("build torrent")
        .into_info()
}

/// A memory storage holding every file of `info` with the bytes of `data`.
pub async fn filled_storage(
    info: &swarmfs_metainfo::Info,
    data: &[u8],
) -> std::sync::Arc<swarmfs_memory::MemoryStorage> {
    use swarmfs_storage::{StorageFactory, StoragePath};
    let storage = swarmfs_memory::MemoryStorage::factory();
    for (i, f) in info.files().iter().enumerate() {
        let safe = info.storage_path(i).expect("path");
        let path = StoragePath::new(safe.components()).expect("storage path");
        let file = storage.open(&path).await.expect("open");
        let start = f.offset() as usize;
        file.write_at(0, &data[start..start + f.length() as usize])
            .await
            .expect("write");
    }
    storage
}

/// Awaits `f` for at most 60 s.
pub async fn timeout<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("timed out")
}
