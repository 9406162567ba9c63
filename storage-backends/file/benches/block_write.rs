//! Block write throughput into the piece store (16 KiB blocks), memory and file backends, and the
//! number of backend write calls per piece (the file backend issues one `pwrite` per call).
//!
//! ```text
//! cargo bench -p swarmfs-file --bench block_write -- [--mib N] [--runs N] [--backend memory|file]
//!     [--verify-every N]    # 0 = write only, 1 = verify each piece, N = verify batches of N
//!     [--hashed-every N]    # engine path: blocks assembled in memory, hashed, written whole
//!                           # (write_hashed_piece), commit_hashed every N pieces
//! ```
//! By default it runs write-only, verify every piece and per 64 pieces (16 KiB `write_block`s,
//! then `verify_pieces`, which reads back and hashes), and the engine path committing every
//! piece and every 64 pieces.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use sha1::{Digest, Sha1};
use swarmfs_file::FileStorage;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{BLOCK_SIZE, Geometry};
use swarmfs_storage::{
    FileStamp, MetaName, PieceHashes, PieceStore, PieceStoreOptions, RandomAccess, StorageError,
    StorageFactory, StoragePath,
};

/// Counts the calls that reach the backend.
#[derive(Debug)]
struct Counting<F> {
    inner: F,
    writes: Arc<AtomicU64>,
    syncs: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Arc<dyn RandomAccess>,
    writes: Arc<AtomicU64>,
    syncs: Arc<AtomicU64>,
}

#[async_trait]
impl<F: StorageFactory> StorageFactory for Counting<F> {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        Ok(Arc::new(CountingFile {
            inner: self.inner.open(path).await?,
            writes: self.writes.clone(),
            syncs: self.syncs.clone(),
        }))
    }
    async fn load_meta(&self, n: &MetaName, max: usize) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load_meta(n, max).await
    }
    async fn store_meta(&self, n: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        self.inner.store_meta(n, data).await
    }
}

#[async_trait]
impl RandomAccess for CountingFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.inner.read_at(offset, buf).await
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
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
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync().await
    }
    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError> {
        self.inner.stamp().await
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut mib: u64 = 256;
    let mut runs = 3;
    let mut only: Option<String> = None;
    // (hashed path, every): blocks + verify_pieces, or write_hashed_piece + commit_hashed.
    let mut modes = vec![
        (false, 0u32),
        (false, 1),
        (false, 64),
        (true, 1),
        (true, 64),
    ];
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => only = args.next(),
            "--verify-every" | "--hashed-every" => {
                let n = args.next().expect("N").parse().expect("number");
                modes = vec![(a == "--hashed-every", n)];
            }
            "--mib" => mib = args.next().expect("--mib N").parse().expect("number"),
            "--runs" => runs = args.next().expect("--runs N").parse().expect("number"),
            _ => {}
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let total = mib << 20;
    // 10 files so that some pieces cross file boundaries; 256 KiB pieces.
    let lens: Vec<u64> = (0..10)
        .map(|i| total / 10 + if i == 9 { total % 10 } else { 0 })
        .collect();
    let geometry = Geometry::new(256 * 1024, &lens).expect("geometry");
    let paths: Vec<StoragePath> = (0..10)
        .map(|i| StoragePath::parse(&format!("bench/f{i}.bin")).expect("path"))
        .collect();
    let block: Vec<u8> = (0..BLOCK_SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let hashes = PieceHashes::new(
        geometry
            .pieces()
            .map(|p| {
                let mut h = Sha1::new();
                for _ in 0..geometry.block_count(p) {
                    h.update(&block);
                }
                h.finalize().into()
            })
            .collect(),
        &geometry,
    )
    .expect("hashes");
    for backend in ["memory", "file"] {
        if only.as_deref().is_some_and(|o| o != backend) {
            continue;
        }
        // 0: write only; 1: verify (sync + persist) every piece; 64: verify batches of 64 pieces.
        for &(hashed, verify_every) in &modes {
            let verify = verify_every > 0;
            let mut rates = Vec::new();
            let mut per_piece = (0.0, 0.0);
            for _ in 0..runs {
                let tmp = tempfile::tempdir().expect("tempdir");
                let writes = Arc::new(AtomicU64::new(0));
                let syncs = Arc::new(AtomicU64::new(0));
                let factory: Arc<dyn StorageFactory> = match backend {
                    "memory" => Arc::new(Counting {
                        inner: MemoryStorage::new(),
                        writes: writes.clone(),
                        syncs: syncs.clone(),
                    }),
                    _ => Arc::new(Counting {
                        inner: FileStorage::in_dir(tmp.path()),
                        writes: writes.clone(),
                        syncs: syncs.clone(),
                    }),
                };
                let options = if verify {
                    PieceStoreOptions::with_resume(MetaName::new("bench").expect("name"))
                } else {
                    PieceStoreOptions::default()
                };
                let secs = rt.block_on(async {
                    let (store, _) = PieceStore::open(
                        factory,
                        geometry.clone(),
                        &paths,
                        hashes.clone(),
                        options,
                    )
                    .await
                    .expect("open");
                    let start = Instant::now();
                    let mut batch = Vec::new();
                    let mut piece = Vec::new();
                    for p in geometry.pieces() {
                        if hashed {
                            // As the engine would: blocks arrive into a piece buffer, which is
                            // hashed in memory and written whole.
                            piece.clear();
                            for b in 0..geometry.block_count(p) {
                                let len = geometry.block_len(p, b).expect("block") as usize;
                                piece.extend_from_slice(&block[..len]);
                            }
                            let digest: [u8; 20] = Sha1::digest(&piece).into();
                            let ok = store.write_hashed_piece(p, &piece, &digest).await;
                            assert!(ok.expect("write"));
                            if store.uncommitted() == verify_every
                                || p.get() + 1 == geometry.piece_count()
                            {
                                store.commit_hashed().await.expect("commit");
                            }
                            continue;
                        }
                        for b in 0..geometry.block_count(p) {
                            let len = geometry.block_len(p, b).expect("block") as usize;
                            store
                                .write_block(p, b * BLOCK_SIZE, &block[..len])
                                .await
                                .expect("write");
                        }
                        if verify {
                            batch.push(p);
                            if batch.len() as u32 == verify_every
                                || p.get() + 1 == geometry.piece_count()
                            {
                                let ok = store.verify_pieces(&batch).await.expect("verify");
                                assert!(ok.iter().all(|&v| v));
                                batch.clear();
                            }
                        }
                    }
                    start.elapsed().as_secs_f64()
                });
                rates.push(mib as f64 / secs);
                let n = f64::from(geometry.piece_count());
                per_piece = (
                    writes.load(Ordering::Relaxed) as f64 / n,
                    syncs.load(Ordering::Relaxed) as f64 / n,
                );
            }
            rates.sort_by(f64::total_cmp);
            let what = match (hashed, verify_every) {
                (true, 1) => "hashed in memory, write_hashed_piece + commit every piece".to_owned(),
                (true, n) => {
                    format!("hashed in memory, write_hashed_piece + commit per {n} pieces")
                }
                (false, 0) => "16 KiB blocks, write only".to_owned(),
                (false, 1) => "16 KiB blocks + verify/sync/persist every piece".to_owned(),
                (false, n) => format!("16 KiB blocks + verify/sync/persist per {n} pieces"),
            };
            println!(
                "block_write {backend} {what}: median {:.0} MiB/s [{:.0}-{:.0}] over {mib} MiB; \
                 {:.2} write calls and {:.2} syncs per 256 KiB piece",
                rates[rates.len() / 2],
                rates[0],
                rates[rates.len() - 1],
                per_piece.0,
                per_piece.1
            );
        }
    }
}
