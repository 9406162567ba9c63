//! A disk slower than the network bounds what a torrent holds in memory: with its writes
//! stalled, a torrent stops requesting blocks once `max_unwritten_bytes` of complete pieces
//! wait for storage, and goes on when storage catches up.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_storage::{
    FileStamp, MetaName, RandomAccess, StorageError, StorageFactory, StoragePath,
};
use tokio::sync::watch;

/// A memory storage whose writes wait while the gate is closed (`false`).
#[derive(Debug)]
struct Gated {
    inner: Arc<MemoryStorage>,
    open: watch::Receiver<bool>,
}

#[derive(Debug)]
struct GatedFile {
    inner: Arc<dyn RandomAccess>,
    open: watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl StorageFactory for Gated {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        Ok(Arc::new(GatedFile {
            inner: self.inner.open(path).await?,
            open: self.open.clone(),
        }))
    }
    async fn load_meta(
        &self,
        name: &MetaName,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load_meta(name, max_len).await
    }
    async fn store_meta(&self, name: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        self.inner.store_meta(name, data).await
    }
}

#[async_trait::async_trait]
impl RandomAccess for GatedFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.inner.read_at(offset, buf).await
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut open = self.open.clone();
        // The sender lives as long as the test.
        let _ = open.wait_for(|o| *o).await;
        self.inner.write_at(offset, data).await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.inner.len().await
    }
    async fn set_len(&self, len: u64) -> Result<(), StorageError> {
        self.inner.set_len(len).await
    }
    async fn delete_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.inner.delete_range(offset, len).await
    }
    async fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync().await
    }
    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError> {
        self.inner.stamp().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_storage_stops_requests_at_the_mark_and_catches_up() {
    const PIECE: u32 = 256 * 1024;
    const MARK: u64 = 4 << 20;
    let payload = data(48 << 20, 150);
    let info = info(&payload, PIECE);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let (gate, open) = watch::channel(false);
    let storage = Arc::new(Gated {
        inner: Arc::new(MemoryStorage::new()),
        open,
    });
    let e = Engine::builder()
        .max_unwritten_bytes(MARK)
        .build()
        .await
        .expect("engine");
    let t = e
        .add_info(
            info.clone(),
            storage.clone(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add");
    // Until received bytes stop growing: the torrent is at its mark.
    let mut last = u64::MAX;
    let downloaded = timeout(async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let d = t.stats().await.expect("stats").downloaded;
            if d == last && d > 0 {
                return d;
            }
            last = d;
        }
    })
    .await;
    // Past the mark by at most what was already requested when it was reached (the pipeline
    // holds at most 500 blocks of 16 KiB) and the pieces those blocks were part of.
    assert!(downloaded >= MARK, "stopped early: {downloaded} bytes");
    assert!(
        downloaded <= MARK + 500 * 16 * 1024 + 2 * u64::from(PIECE),
        "{downloaded} of {} bytes received with storage stalled",
        payload.len()
    );
    assert_eq!(t.verified().expect("bits").count_ones(), 0);
    gate.send(true).expect("gate");
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    e.shutdown().await;
    seed_engine.shutdown().await;
}
