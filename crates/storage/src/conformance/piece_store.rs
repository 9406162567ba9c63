//! The piece-store cases of the conformance suite: blocks, resume data, hashed pieces,
//! re-checks (many threads, truncated files, async-only backends) and concurrent verifies.

use std::sync::Arc;

use sha1::{Digest, Sha1};
use swarmfs_metainfo::{BLOCK_SIZE, Geometry};

use super::*;
use crate::{
    PieceHashes, PieceStore, PieceStoreError, PieceStoreOptions, RecheckProgress, ResumeState,
};

/// A multi-file torrent with a piece crossing three files (and an empty one).
pub struct TestTorrent {
    /// Geometry.
    pub geometry: Geometry,
    /// File paths.
    pub paths: Vec<StoragePath>,
    /// The payload.
    pub data: Vec<u8>,
    /// Expected hashes.
    pub hashes: PieceHashes,
}

impl TestTorrent {
    /// Builds the torrent: 32 KiB pieces over files of 10, 0, 40 000, 6 and 70 000 bytes.
    pub fn new(seed: u64) -> Self {
        let lens = [10u64, 0, 40_000, 6, 70_000];
        let geometry = Geometry::new(32 * 1024, &lens).expect("geometry");
        let paths = ["t/a.bin", "t/empty", "t/sub/b.bin", "t/c", "t/sub/d.bin"]
            .iter()
            .map(|p| path(p))
            .collect();
        let data = pattern(seed, lens.iter().sum::<u64>() as usize);
        let hashes = piece_hashes(&geometry, &data);
        Self {
            geometry,
            paths,
            data,
            hashes,
        }
    }

    /// Opens a store for this torrent.
    pub async fn open(
        &self,
        factory: &Arc<dyn StorageFactory>,
        resume: bool,
    ) -> (PieceStore, crate::OpenReport) {
        let options = if resume {
            PieceStoreOptions::with_resume(MetaName::new("test-resume").expect("name"))
        } else {
            PieceStoreOptions::default()
        };
        PieceStore::open(
            factory.clone(),
            self.geometry.clone(),
            &self.paths,
            self.hashes.clone(),
            options,
        )
        .await
        .expect("open piece store")
    }

    /// Writes every block of `piece` with its correct bytes.
    pub async fn write_piece(&self, store: &PieceStore, index: u32) {
        let p = self.geometry.piece(index).expect("piece");
        let start = self.geometry.piece_start(p) as usize;
        for b in 0..self.geometry.block_count(p) {
            let len = self.geometry.block_len(p, b).expect("block") as usize;
            let at = start + (b * BLOCK_SIZE) as usize;
            store
                .write_block(p, b * BLOCK_SIZE, &self.data[at..at + len])
                .await
                .expect("write block");
        }
    }
}

/// Blocks written in any order across file boundaries verify, read back and lock the piece;
/// wrong or missing data does not verify.
pub async fn piece_store_blocks(factory: Arc<dyn StorageFactory>) {
    let t = TestTorrent::new(1);
    let (store, _) = t.open(&factory, false).await;
    let g = &t.geometry;
    assert_eq!(g.piece_count(), 4);
    let p0 = g.piece(0).expect("piece");
    assert!(
        !store.verify_piece(p0).await.expect("verify"),
        "empty piece verified"
    );
    // Wrong bytes in block 1 of piece 0 (which crosses a.bin, empty, b.bin).
    store
        .write_block(p0, 0, &t.data[..16_384])
        .await
        .expect("write");
    store
        .write_block(p0, 16_384, &[0; 16_384])
        .await
        .expect("write");
    assert!(
        !store.verify_piece(p0).await.expect("verify"),
        "corrupt piece verified"
    );
    assert!(!store.is_verified(p0));
    t.write_piece(&store, 0).await;
    assert!(store.verify_piece(p0).await.expect("verify"));
    assert!(store.is_verified(p0));
    assert!(matches!(
        store.write_block(p0, 0, b"x").await,
        Err(PieceStoreError::AlreadyVerified { piece: 0 })
    ));
    for i in [3, 1, 2] {
        t.write_piece(&store, i).await;
    }
    // Piece 0 (already verified) and piece 2 (listed twice) in one batch.
    let batch: Vec<_> = [1, 2, 0, 3, 2]
        .iter()
        .map(|&i| g.piece(i).expect("piece"))
        .collect();
    assert_eq!(
        store.verify_pieces(&batch).await.expect("verify"),
        vec![true; 5]
    );
    assert!(store.verified().all());
    let mut all = vec![0; t.data.len()];
    store.read_range(0, &mut all).await.expect("read all");
    assert!(all == t.data, "stream read differs");
    let mut mid = vec![0; 40_000];
    store
        .read_range(30_000, &mut mid)
        .await
        .expect("read across pieces");
    assert_eq!(mid, t.data[30_000..70_000]);
    let last = g.piece(3).expect("piece");
    let mut too_long = vec![0; g.piece_len(last) as usize + 1];
    assert!(matches!(
        store.read(last, 0, &mut too_long).await,
        Err(PieceStoreError::OutOfPiece { .. })
    ));
    assert!(matches!(
        store.write_block(last, g.piece_len(last), b"x").await,
        Err(PieceStoreError::OutOfPiece { .. })
    ));
    let mut past = vec![0; 2];
    assert!(matches!(
        store.read_range(g.total_length() - 1, &mut past).await,
        Err(PieceStoreError::OutOfTorrent { .. })
    ));
    store.invalidate(p0).await.expect("invalidate");
    store
        .write_block(p0, 0, &t.data[..10])
        .await
        .expect("write after invalidate");
    // A piece index from a larger torrent is refused, not a panic.
    let big = Geometry::new(32 * 1024, &[1 << 30]).expect("geometry");
    let foreign = big.piece(1000).expect("piece");
    let mut buf = [0u8; 4];
    assert!(matches!(
        store.read(foreign, 0, &mut buf).await,
        Err(PieceStoreError::NoSuchPiece {
            piece: 1000,
            count: 4
        })
    ));
    assert!(matches!(
        store.write_block(foreign, 0, &buf).await,
        Err(PieceStoreError::NoSuchPiece { .. })
    ));
    assert!(matches!(
        store.verify_piece(foreign).await,
        Err(PieceStoreError::NoSuchPiece { .. })
    ));
    assert!(matches!(
        store.invalidate(foreign).await,
        Err(PieceStoreError::NoSuchPiece { .. })
    ));
}

/// The bitfield survives a reopen; blocks written after the last persist (stamps changed) make the
/// store re-hash rather than drop verified pieces; a damaged resume blob is rejected.
pub async fn piece_store_resume(factory: Arc<dyn StorageFactory>) {
    let t = TestTorrent::new(2);
    {
        let (store, report) = t.open(&factory, true).await;
        assert_eq!(report.resume, ResumeState::Missing);
        for i in 0..4 {
            t.write_piece(&store, i).await;
        }
        let ps: Vec<_> = t.geometry.pieces().collect();
        assert!(
            store
                .verify_pieces(&ps)
                .await
                .expect("verify")
                .iter()
                .all(|&v| v)
        );
    }
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.resume, ResumeState::Loaded);
    assert_eq!(
        report.changed_files,
        Vec::<usize>::new(),
        "stamps drifted without writes"
    );
    assert_eq!(
        (report.trusted, report.reverified, report.dropped),
        (4, 0, 0)
    );
    // Unverify the last piece and rewrite part of it: its file changes after the persist.
    let last = t.geometry.piece(3).expect("piece");
    store.invalidate(last).await.expect("invalidate");
    store.write_block(last, 0, &[1; 100]).await.expect("write");
    drop(store);
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.resume, ResumeState::Loaded);
    assert!(
        !report.changed_files.is_empty(),
        "a write after persist went unnoticed"
    );
    assert_eq!(
        store.verified().count_ones(),
        3,
        "verified pieces lost or gained"
    );
    assert_eq!(report.dropped, 0);
    drop(store);
    let name = MetaName::new("test-resume").expect("name");
    let mut bytes = factory
        .load_meta(&name, 1 << 20)
        .await
        .expect("load")
        .expect("resume exists");
    let n = bytes.len();
    bytes[n - 25] ^= 0x80;
    factory
        .store_meta(&name, &bytes)
        .await
        .expect("store damaged");
    let (store, report) = t.open(&factory, true).await;
    assert!(
        matches!(report.resume, ResumeState::Rejected(_)),
        "{report:?}"
    );
    assert_eq!(store.verified().count_ones(), 0);
}

/// Pieces hashed by the caller and written whole: a wrong digest writes nothing, queued pieces
/// are busy and unverified until one group commit marks them all, and they survive a reopen.
pub async fn piece_store_hashed_pieces(factory: Arc<dyn StorageFactory>) {
    let t = TestTorrent::new(6);
    let g = &t.geometry;
    let piece_bytes = |i: u32| {
        let p = g.piece(i).expect("piece");
        let start = g.piece_start(p) as usize;
        (p, &t.data[start..start + g.piece_len(p) as usize])
    };
    let digest = |d: &[u8]| -> [u8; 20] { Sha1::digest(d).into() };
    {
        let (store, _) = t.open(&factory, true).await;
        // Bytes of piece 1 offered as piece 0: refused, nothing written.
        let (p0, d0) = piece_bytes(0);
        let (_, d1) = piece_bytes(1);
        assert!(
            !store
                .write_hashed_piece(p0, d1, &digest(d1))
                .await
                .expect("write")
        );
        assert!(
            store
                .file(0)
                .expect("file")
                .stamp()
                .await
                .expect("stamp")
                .is_none(),
            "a refused piece was written"
        );
        assert!(matches!(
            store
                .write_hashed_piece(p0, &d0[1..], &digest(&d0[1..]))
                .await,
            Err(PieceStoreError::OutOfPiece { .. })
        ));
        for i in [0, 2, 3] {
            let (p, d) = piece_bytes(i);
            assert!(
                store
                    .write_hashed_piece(p, d, &digest(d))
                    .await
                    .expect("write")
            );
        }
        assert_eq!(store.uncommitted(), 3);
        assert_eq!(store.verified().count_ones(), 0, "marked before the commit");
        assert!(matches!(
            store.write_block(p0, 0, &d0[..100]).await,
            Err(PieceStoreError::Busy { .. })
        ));
        assert!(matches!(
            store.verify_piece(p0).await,
            Err(PieceStoreError::Busy { .. })
        ));
        assert!(matches!(
            store.write_hashed_piece(p0, d0, &digest(d0)).await,
            Err(PieceStoreError::Busy { .. })
        ));
        let mut buf = vec![0u8; d0.len()];
        store
            .read(p0, 0, &mut buf)
            .await
            .expect("read queued piece");
        assert!(buf == d0);
        assert_eq!(store.commit_hashed().await.expect("commit"), 3);
        assert_eq!(store.uncommitted(), 0);
        assert_eq!(store.commit_hashed().await.expect("empty commit"), 0);
        let v = store.verified();
        assert!(v.get(0) && !v.get(1) && v.get(2) && v.get(3), "{v:?}");
        assert!(matches!(
            store.write_hashed_piece(p0, d0, &digest(d0)).await,
            Err(PieceStoreError::AlreadyVerified { .. })
        ));
        // The other path still works beside it.
        t.write_piece(&store, 1).await;
        assert!(
            store
                .verify_piece(g.piece(1).expect("piece"))
                .await
                .expect("verify")
        );
    }
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.resume, ResumeState::Loaded);
    assert_eq!(report.changed_files, Vec::<usize>::new());
    assert_eq!((report.trusted, report.dropped), (4, 0));
    let report = store.recheck(&mut |_| {}).await.expect("recheck");
    assert!(report.verified.all(), "committed bytes do not hash");
}

/// A full re-check finds existing data, reports monotonic progress, and drops a corrupted piece.
pub async fn piece_store_recheck(factory: Arc<dyn StorageFactory>) {
    let t = TestTorrent::new(3);
    for (i, p) in t.paths.iter().enumerate() {
        let start = t.geometry.file_start(i).expect("file") as usize;
        let len = t.geometry.file_length(i).expect("file") as usize;
        if len > 0 {
            let f = factory.open(p).await.expect("open");
            f.write_at(0, &t.data[start..start + len])
                .await
                .expect("seed data");
        }
    }
    let (store, _) = t.open(&factory, true).await;
    assert_eq!(store.verified().count_ones(), 0);
    let mut seen: Vec<RecheckProgress> = Vec::new();
    let report = store.recheck(&mut |p| seen.push(p)).await.expect("recheck");
    assert!(report.verified.all(), "{:?}", report.verified);
    assert_eq!(seen.len(), 4);
    assert!(
        seen.windows(2)
            .all(|w| w[0].checked < w[1].checked && w[0].bytes < w[1].bytes)
    );
    let end = seen.last().expect("progress");
    assert_eq!((end.checked, end.total, end.valid), (4, 4, 4));
    assert_eq!(end.bytes, t.geometry.total_length());
    // Corrupt one byte of d.bin (the last file) through the backend, then re-check.
    let d = factory.open(&t.paths[4]).await.expect("open");
    d.write_at(69_999, &[t.data[t.data.len() - 1] ^ 1])
        .await
        .expect("corrupt");
    let report = store.recheck(&mut |_| {}).await.expect("recheck");
    assert_eq!(report.verified.count_ones(), 3);
    assert!(!report.verified.get(3));
    assert_eq!(report.dropped, 1);
    drop(store);
    let (store, _) = t.open(&factory, true).await;
    assert_eq!(
        store.verified().count_ones(),
        3,
        "recheck result not persisted"
    );
}

/// A re-check of many pieces over uneven files on 1-5 hashing threads gives every piece its own
/// verdict: pieces crossing file ends, windows of several pieces, corrupted bytes at piece and
/// file edges, a file cut short and a file missing.
pub async fn piece_store_recheck_many(factory: Arc<dyn StorageFactory>) {
    let lens = [100_000u64, 0, 3, 250_000, 77_777, 16_384, 50_000];
    let piece_len = 16 * 1024u64;
    let geometry = Geometry::new(piece_len, &lens).expect("geometry");
    let paths: Vec<StoragePath> = (0..lens.len())
        .map(|i| path(&format!("many/f{i}")))
        .collect();
    let mut data = pattern(7, lens.iter().sum::<u64>() as usize);
    let hashes = piece_hashes(&geometry, &data);
    // Flip bytes: the first byte of a piece, the last byte of a piece, the last byte of f3 (a
    // piece crossing into f4), then cut f4 short and leave f6 unwritten.
    let f3_end = geometry.file_start(3).expect("file") + lens[3];
    let flips = [piece_len * 2, piece_len * 10 - 1, f3_end - 1];
    for &at in &flips {
        data[at as usize] ^= 0x55;
    }
    let mut bad: Vec<bool> = vec![false; geometry.piece_count() as usize];
    for &at in &flips {
        bad[(at / piece_len) as usize] = true;
    }
    let f4_start = geometry.file_start(4).expect("file");
    let f4_kept = 30_000u64;
    for (i, p) in paths.iter().enumerate() {
        let start = geometry.file_start(i).expect("file") as usize;
        let len = match i {
            4 => f4_kept,
            6 => 0,
            _ => lens[i],
        } as usize;
        if len > 0 {
            let f = factory.open(p).await.expect("open");
            f.write_at(0, &data[start..start + len])
                .await
                .expect("seed data");
        }
    }
    let missing = [
        (f4_start + f4_kept, f4_start + lens[4]),
        (
            geometry.file_start(6).expect("file"),
            geometry.total_length(),
        ),
    ];
    for (from, to) in missing {
        for p in from / piece_len..to.div_ceil(piece_len) {
            bad[p as usize] = true;
        }
    }
    let expected: Vec<u32> = (0..geometry.piece_count())
        .filter(|&p| !bad[p as usize])
        .collect();
    for threads in 1..=5 {
        let options = PieceStoreOptions {
            hashing_threads: threads,
            ..PieceStoreOptions::default()
        };
        let (store, _) = PieceStore::open(
            factory.clone(),
            geometry.clone(),
            &paths,
            hashes.clone(),
            options,
        )
        .await
        .expect("open piece store");
        let mut last = RecheckProgress::default();
        let report = store.recheck(&mut |p| last = p).await.expect("recheck");
        assert_eq!(
            report.verified.ones().collect::<Vec<_>>(),
            expected,
            "{threads} threads"
        );
        assert_eq!(
            (last.checked, last.valid),
            (geometry.piece_count(), expected.len() as u32)
        );
    }
}

/// A file truncated or deleted behind the store's back loses exactly the pieces it held.
pub async fn piece_store_truncated_behind_back(factory: Arc<dyn StorageFactory>) {
    let t = TestTorrent::new(4);
    {
        let (store, _) = t.open(&factory, true).await;
        for i in 0..4 {
            t.write_piece(&store, i).await;
        }
        let ps: Vec<_> = t.geometry.pieces().collect();
        store.verify_pieces(&ps).await.expect("verify");
        assert!(store.verified().all());
    }
    // d.bin (file 4) holds pieces 1 (which also crosses b.bin and c), 2 and 3; truncate it.
    let d = factory.open(&t.paths[4]).await.expect("open");
    d.set_len(1000).await.expect("truncate");
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.changed_files, vec![4]);
    assert_eq!(
        (report.trusted, report.reverified, report.dropped),
        (1, 0, 3)
    );
    assert_eq!(store.verified().ones().collect::<Vec<_>>(), vec![0]);
    drop(store);
    // Delete b.bin (file 2): piece 0 goes too.
    let b = factory.open(&t.paths[2]).await.expect("open");
    b.set_len(0).await.expect("empty b.bin");
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.changed_files, vec![2]);
    assert_eq!((report.trusted, report.dropped), (0, 1));
    assert_eq!(store.verified().count_ones(), 0);
}

/// [`piece_store_recheck`] with the backend's synchronous reads hidden, so the re-check takes the
/// reader-and-hashing-threads path that asynchronous-only backends get.
pub async fn piece_store_recheck_async_reads(factory: Arc<dyn StorageFactory>) {
    piece_store_recheck(Arc::new(AsyncOnly(factory))).await;
}

/// Wraps a factory so that its files do not offer [`RandomAccess::read_at_blocking`].
#[derive(Debug)]
struct AsyncOnly(Arc<dyn StorageFactory>);

#[derive(Debug)]
struct AsyncOnlyFile(Arc<dyn RandomAccess>);

#[async_trait::async_trait]
impl StorageFactory for AsyncOnly {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        Ok(Arc::new(AsyncOnlyFile(self.0.open(path).await?)))
    }
    async fn load_meta(&self, n: &MetaName, max: usize) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.load_meta(n, max).await
    }
    async fn store_meta(&self, n: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        self.0.store_meta(n, data).await
    }
}

#[async_trait::async_trait]
impl RandomAccess for AsyncOnlyFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.0.read_at(offset, buf).await
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.0.write_at(offset, data).await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.0.len().await
    }
    async fn set_len(&self, len: u64) -> Result<(), StorageError> {
        self.0.set_len(len).await
    }
    async fn delete_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.0.delete_range(offset, len).await
    }
    async fn sync(&self) -> Result<(), StorageError> {
        self.0.sync().await
    }
    async fn stamp(&self) -> Result<Option<crate::FileStamp>, StorageError> {
        self.0.stamp().await
    }
}

/// Pieces written and verified by concurrent tasks (persists coalesce) all survive a reopen.
pub async fn piece_store_concurrent_verify(
    factory: Arc<dyn StorageFactory>,
    spawn: &dyn Fn(BoxFuture) -> BoxFuture,
) {
    let t = Arc::new(TestTorrent::new(5));
    let store = Arc::new(t.open(&factory, true).await.0);
    let mut tasks = Vec::new();
    for i in 0..t.geometry.piece_count() {
        let (t, store) = (t.clone(), store.clone());
        tasks.push(spawn(Box::pin(async move {
            t.write_piece(&store, i).await;
            let p = t.geometry.piece(i).expect("piece");
            assert!(store.verify_piece(p).await.expect("verify"), "piece {i}");
        })));
    }
    for task in tasks {
        task.await;
    }
    assert!(store.verified().all());
    drop(store);
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.resume, ResumeState::Loaded);
    assert!(
        store.verified().all(),
        "a concurrently verified piece was not persisted"
    );
}
