//! Helpers shared by the engine's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod faulty;

use std::sync::Arc;
use std::time::Duration;

use swarmfs_engine::{Engine, TorrentHandle, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Info, SafePath, TorrentBuilder};
use swarmfs_storage::{StorageFactory, StoragePath};

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
pub fn info(data: &[u8], piece_length: u32) -> Info {
    TorrentBuilder::new()
        .piece_length(piece_length)
        .build_single("file.bin", data)
        .expect("build torrent")
        .into_info()
}

/// A torrent named `dir` of three 600 KiB files `f0.bin`..`f2.bin` (bytes `data(.., seed + i)`)
/// in 64 KiB pieces: `(info, each file's bytes, the torrent's byte stream)`.
pub fn three_files(seed: u64) -> (Info, Vec<Vec<u8>>, Vec<u8>) {
    let files: Vec<(SafePath, Vec<u8>)> = (0..3u64)
        .map(|i| {
            (
                SafePath::parse(&format!("f{i}.bin")).expect("path"),
                data(600 * 1024, seed + i),
            )
        })
        .collect();
    let info = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_entries("dir", &files)
        .expect("build")
        .into_info();
    let stream = files.iter().flat_map(|f| f.1.clone()).collect();
    (info, files.into_iter().map(|f| f.1).collect(), stream)
}

/// A memory storage holding every file of `info` with the bytes of `data` (the stream).
pub async fn filled_storage(info: &Info, data: &[u8]) -> Arc<MemoryStorage> {
    let storage = MemoryStorage::factory();
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

/// An engine on loopback.
pub async fn engine() -> Engine {
    Engine::builder()
        .idle_timeout(Duration::from_secs(30))
        .build()
        .await
        .expect("engine")
}

/// A seeder of `data` on a fresh engine.
pub async fn seeder(info: &Info, data: &[u8]) -> (Engine, TorrentHandle) {
    let e = engine().await;
    let storage = filled_storage(info, data).await;
    let t = e
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add seeder");
    timeout(t.wait_done()).await.expect("seeder complete");
    (e, t)
}

/// Awaits `f` for at most 60 s.
pub async fn timeout<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("timed out")
}

/// Reads the whole torrent back.
pub async fn read_all(t: &TorrentHandle, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    t.read_range(0, &mut buf).await.expect("read");
    buf
}

/// The bytes of `path` once they equal `want`, or what it holds after 20 s. A third-party
/// client may report a torrent done before its disk thread has written every piece out
/// (libtorrent hashes from its write buffers), so its file is read until it settles.
pub async fn file_once_written(path: &std::path::Path, want: &[u8]) -> Vec<u8> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = std::fs::read(path).unwrap_or_default();
        if got == want || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
