//! The conformance suite every storage backend runs in its own tests.
//!
//! Each case is an async function taking a fresh factory and panicking on a failed check. The
//! [`conformance_tests!`](crate::conformance_tests) macro generates one `#[tokio::test]` per case
//! in the backend's test crate (which needs `tokio` with the `macros` and `rt-multi-thread`
//! features as a dev-dependency), so this crate itself stays free of tokio:
//!
//! ```ignore
//! fn new_factory() -> (MyFactory, TempDir) { ... }   // the guard lives for the whole test
//! swarmfs_storage::conformance_tests!(new_factory);
//! ```
#![allow(clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sha1::{Digest, Sha1};
use swarmfs_metainfo::Geometry;

use crate::{MetaName, PieceHashes, RandomAccess, StorageError, StorageFactory, StoragePath};

mod piece_store;

pub use piece_store::*;

/// A boxed future, as the spawn hook of [`concurrent_readers_writers`] takes and returns them.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Generates one `#[tokio::test]` per conformance case, each with a fresh factory from
/// `$new_factory()`, which returns `(factory, guard)`; the guard is dropped after the test.
#[macro_export]
macro_rules! conformance_tests {
    ($new_factory:path) => {
        $crate::conformance_tests!(@case $new_factory,
            conformance_unwritten_reads => unwritten_reads,
            conformance_overlapping_writes => overlapping_writes,
            conformance_truncate_extend => truncate_extend,
            conformance_large_offsets => large_offsets,
            conformance_delete_range => delete_range,
            conformance_shared_handles => shared_handles,
            conformance_meta_blobs => meta_blobs,
            conformance_piece_store_blocks => piece_store_blocks,
            conformance_piece_store_resume => piece_store_resume,
            conformance_piece_store_recheck => piece_store_recheck,
            conformance_piece_store_recheck_async_reads => piece_store_recheck_async_reads,
            conformance_piece_store_recheck_many => piece_store_recheck_many,
            conformance_piece_store_truncated_behind_back => piece_store_truncated_behind_back,
            conformance_piece_store_hashed_pieces => piece_store_hashed_pieces,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_piece_store_concurrent_verify() {
            let (factory, _guard) = $new_factory();
            let factory: ::std::sync::Arc<dyn $crate::StorageFactory> =
                ::std::sync::Arc::new(factory);
            $crate::conformance::piece_store_concurrent_verify(factory, &|fut| {
                let handle = tokio::spawn(fut);
                Box::pin(async move { handle.await.expect("conformance task panicked") })
            })
            .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_concurrent_readers_writers() {
            let (factory, _guard) = $new_factory();
            let factory: ::std::sync::Arc<dyn $crate::StorageFactory> =
                ::std::sync::Arc::new(factory);
            $crate::conformance::concurrent_readers_writers(factory, &|fut| {
                let handle = tokio::spawn(fut);
                Box::pin(async move { handle.await.expect("conformance task panicked") })
            })
            .await;
        }
    };
    (@case $new_factory:path, $($name:ident => $case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (factory, _guard) = $new_factory();
                let factory: ::std::sync::Arc<dyn $crate::StorageFactory> =
                    ::std::sync::Arc::new(factory);
                $crate::conformance::$case(factory).await;
            }
        )*
    };
}

/// Deterministic pseudo-random bytes (xorshift), so that failures reproduce.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The SHA-1 of each of `geometry`'s pieces of `data` (the torrent's byte stream).
pub fn piece_hashes(geometry: &Geometry, data: &[u8]) -> PieceHashes {
    let hashes = geometry
        .pieces()
        .map(|p| {
            let start = geometry.piece_start(p) as usize;
            Sha1::digest(&data[start..start + geometry.piece_len(p) as usize]).into()
        })
        .collect();
    PieceHashes::new(hashes, geometry).expect("one hash per piece")
}

fn path(s: &str) -> StoragePath {
    StoragePath::parse(s).expect("valid test path")
}

async fn read_vec(f: &dyn RandomAccess, offset: u64, len: usize) -> Result<Vec<u8>, StorageError> {
    let mut buf = vec![0xAA; len];
    f.read_at(offset, &mut buf).await?;
    Ok(buf)
}

fn assert_out_of_bounds(r: Result<Vec<u8>, StorageError>, what: &str) {
    match r {
        Err(e) if e.is_out_of_bounds() => {}
        other => panic!("{what}: expected an out-of-bounds error, got {other:?}"),
    }
}

/// A new file is empty and absent; reads past the end fail instead of padding with zeros; gaps
/// inside the length read as zeros.
pub async fn unwritten_reads(factory: Arc<dyn StorageFactory>) {
    let f = factory.open(&path("dir/new.bin")).await.expect("open");
    assert_eq!(f.len().await.expect("len"), 0);
    assert!(f.is_empty().await.expect("is_empty"));
    assert_eq!(
        f.stamp().await.expect("stamp"),
        None,
        "never-written file exists"
    );
    assert_out_of_bounds(read_vec(&*f, 0, 1).await, "read of an empty file");
    assert_eq!(
        read_vec(&*f, 0, 0).await.expect("empty read"),
        Vec::<u8>::new()
    );
    f.write_at(100, &[7; 10]).await.expect("write");
    assert_eq!(f.len().await.expect("len"), 110);
    assert_eq!(f.stamp().await.expect("stamp").map(|s| s.len), Some(110));
    assert_eq!(read_vec(&*f, 0, 100).await.expect("gap"), vec![0; 100]);
    assert_eq!(read_vec(&*f, 100, 10).await.expect("data"), vec![7; 10]);
    assert_out_of_bounds(read_vec(&*f, 105, 10).await, "read straddling the end");
    assert_out_of_bounds(read_vec(&*f, 111, 1).await, "read past the end");
    assert_eq!(
        read_vec(&*f, 110, 0).await.expect("empty read at end"),
        Vec::<u8>::new()
    );
}

/// Later writes win where they overlap earlier ones, byte for byte.
pub async fn overlapping_writes(factory: Arc<dyn StorageFactory>) {
    let f = factory.open(&path("overlap.bin")).await.expect("open");
    let mut model = vec![0u8; 0];
    let writes: [(u64, usize, u64); 6] = [
        (0, 1000, 1),
        (500, 1000, 2),
        (200, 100, 3),
        (1499, 2, 4),
        (70_000, 5_000, 5),
        (65_530, 10_000, 6),
    ];
    for (offset, len, seed) in writes {
        let data = pattern(seed, len);
        f.write_at(offset, &data).await.expect("write");
        let end = offset as usize + len;
        if model.len() < end {
            model.resize(end, 0);
        }
        model[offset as usize..end].copy_from_slice(&data);
    }
    assert_eq!(f.len().await.expect("len"), model.len() as u64);
    assert_eq!(read_vec(&*f, 0, model.len()).await.expect("read"), model);
    assert_eq!(
        read_vec(&*f, 1498, 4).await.expect("read"),
        model[1498..1502].to_vec()
    );
}

/// `set_len` truncates (old bytes never come back) and extends with zeros, creating the file.
pub async fn truncate_extend(factory: Arc<dyn StorageFactory>) {
    let f = factory.open(&path("a/b/trunc.bin")).await.expect("open");
    let data = pattern(9, 100_000);
    f.write_at(0, &data).await.expect("write");
    f.set_len(100).await.expect("truncate");
    assert_eq!(f.len().await.expect("len"), 100);
    assert_out_of_bounds(read_vec(&*f, 100, 1).await, "read past truncation");
    f.set_len(80_000).await.expect("extend");
    assert_eq!(f.len().await.expect("len"), 80_000);
    assert_eq!(
        read_vec(&*f, 0, 100).await.expect("kept"),
        data[..100].to_vec()
    );
    assert!(
        read_vec(&*f, 100, 79_900)
            .await
            .expect("extension")
            .iter()
            .all(|&b| b == 0),
        "truncated bytes came back after extension"
    );
    let g = factory.open(&path("a/empty.bin")).await.expect("open");
    g.set_len(0).await.expect("create by set_len");
    assert_eq!(g.stamp().await.expect("stamp").map(|s| s.len), Some(0));
    g.set_len(5).await.expect("extend");
    assert_eq!(read_vec(&*g, 0, 5).await.expect("zeros"), vec![0; 5]);
}

/// Offsets past 4 GiB work (sparse where the backend can); overflowing ranges are errors.
pub async fn large_offsets(factory: Arc<dyn StorageFactory>) {
    let f = factory.open(&path("sparse.bin")).await.expect("open");
    let far = 5 * 1024 * 1024 * 1024 + 3;
    f.write_at(far, b"tail").await.expect("far write");
    assert_eq!(f.len().await.expect("len"), far + 4);
    assert_eq!(read_vec(&*f, far, 4).await.expect("read"), b"tail".to_vec());
    assert_eq!(read_vec(&*f, far - 4, 4).await.expect("gap"), vec![0; 4]);
    assert_eq!(
        read_vec(&*f, 4 * 1024 * 1024 * 1024 - 2, 4)
            .await
            .expect("gap at 4 GiB"),
        vec![0; 4]
    );
    assert_out_of_bounds(read_vec(&*f, far + 2, 4).await, "read past a far end");
    f.write_at(1, b"head").await.expect("near write");
    assert_eq!(read_vec(&*f, 0, 5).await.expect("read"), b"\0head".to_vec());
    let overflow = f.write_at(u64::MAX - 1, b"xyz").await;
    assert!(
        matches!(overflow, Err(StorageError::Overflow { .. })),
        "overflowing write: {overflow:?}"
    );
    let mut buf = [0u8; 3];
    let overflow = f.read_at(u64::MAX - 1, &mut buf).await;
    assert!(
        matches!(
            overflow,
            Err(StorageError::Overflow { .. } | StorageError::OutOfBounds { .. })
        ),
        "overflowing read: {overflow:?}"
    );
    f.set_len(10).await.expect("shrink sparse file");
    assert_eq!(f.len().await.expect("len"), 10);
}

/// `delete_range` zeroes a range (clamped to the length) and keeps the length and other bytes.
pub async fn delete_range(factory: Arc<dyn StorageFactory>) {
    let f = factory.open(&path("del.bin")).await.expect("open");
    let data = pattern(3, 300_000);
    f.write_at(0, &data).await.expect("write");
    f.delete_range(1000, 200_000).await.expect("delete");
    assert_eq!(f.len().await.expect("len"), 300_000);
    let back = read_vec(&*f, 0, 300_000).await.expect("read");
    assert_eq!(back[..1000], data[..1000]);
    assert!(
        back[1000..201_000].iter().all(|&b| b == 0),
        "deleted range not zero"
    );
    assert_eq!(back[201_000..], data[201_000..]);
    f.delete_range(299_990, 1_000_000)
        .await
        .expect("delete past end");
    assert_eq!(f.len().await.expect("len"), 300_000);
    assert_eq!(read_vec(&*f, 299_990, 10).await.expect("read"), vec![0; 10]);
    f.delete_range(400_000, 10)
        .await
        .expect("delete wholly past end");
    assert_eq!(f.len().await.expect("len"), 300_000);
    f.write_at(1001, b"again").await.expect("rewrite hole");
    assert_eq!(
        read_vec(&*f, 1000, 7).await.expect("read"),
        b"\0again\0".to_vec()
    );
}

/// Two handles on one path see each other's writes; different paths are independent.
pub async fn shared_handles(factory: Arc<dyn StorageFactory>) {
    let a = factory.open(&path("d/shared.bin")).await.expect("open");
    let b = factory
        .open(&path("d/shared.bin"))
        .await
        .expect("open again");
    let other = factory
        .open(&path("d/other.bin"))
        .await
        .expect("open other");
    a.write_at(0, b"hello").await.expect("write");
    assert_eq!(
        read_vec(&*b, 0, 5).await.expect("read via second handle"),
        b"hello".to_vec()
    );
    assert_eq!(other.len().await.expect("len"), 0);
    b.sync().await.expect("sync");
    a.sync().await.expect("sync");
}

/// Metadata blobs: absent, stored, replaced, bounded on load.
pub async fn meta_blobs(factory: Arc<dyn StorageFactory>) {
    let name = MetaName::new("resume-test").expect("name");
    assert_eq!(factory.load_meta(&name, 100).await.expect("load"), None);
    factory.store_meta(&name, b"first").await.expect("store");
    assert_eq!(
        factory.load_meta(&name, 100).await.expect("load"),
        Some(b"first".to_vec())
    );
    factory
        .store_meta(&name, b"second, longer")
        .await
        .expect("replace");
    assert_eq!(
        factory.load_meta(&name, 100).await.expect("load"),
        Some(b"second, longer".to_vec())
    );
    assert!(matches!(
        factory.load_meta(&name, 5).await,
        Err(StorageError::MetaTooLarge { .. })
    ));
    let other = MetaName::new("other").expect("name");
    assert_eq!(factory.load_meta(&other, 100).await.expect("load"), None);
}

/// Writers on disjoint regions and readers of the whole file run at once; every byte a reader
/// sees is either zero or what its writer wrote there, and the end result is exact.
pub async fn concurrent_readers_writers(
    factory: Arc<dyn StorageFactory>,
    spawn: &dyn Fn(BoxFuture) -> BoxFuture,
) {
    const WRITERS: u64 = 6;
    const REGION: usize = 128 * 1024;
    const CHUNK: usize = 4096;
    let file = factory.open(&path("conc/file.bin")).await.expect("open");
    file.set_len(WRITERS * REGION as u64).await.expect("size");
    let expected: Arc<Vec<u8>> = Arc::new(pattern(77, WRITERS as usize * REGION));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let handle = factory.open(&path("conc/file.bin")).await.expect("open");
        let expected = expected.clone();
        tasks.push(spawn(Box::pin(async move {
            let base = w as usize * REGION;
            for round in 0..2 {
                for c in (0..REGION / CHUNK).rev() {
                    let at = base + c * CHUNK;
                    let data = if round == 0 {
                        vec![0; CHUNK]
                    } else {
                        expected[at..at + CHUNK].to_vec()
                    };
                    handle
                        .write_at(at as u64, &data)
                        .await
                        .expect("concurrent write");
                }
            }
        })));
    }
    for r in 0..3u64 {
        let handle = factory.open(&path("conc/file.bin")).await.expect("open");
        let expected = expected.clone();
        tasks.push(spawn(Box::pin(async move {
            for i in 0..40u64 {
                let len = 20_000 + (i * 7919 + r) as usize % 30_000;
                let at = ((i * 104_729 + r * 31) as usize) % (expected.len() - len);
                let mut buf = vec![0xAA; len];
                handle
                    .read_at(at as u64, &mut buf)
                    .await
                    .expect("concurrent read");
                for (k, &b) in buf.iter().enumerate() {
                    assert!(
                        b == 0 || b == expected[at + k],
                        "reader saw byte {b} at {} (expected 0 or {})",
                        at + k,
                        expected[at + k]
                    );
                }
            }
        })));
    }
    for t in tasks {
        t.await;
    }
    let all = read_vec(&*file, 0, expected.len())
        .await
        .expect("final read");
    assert!(
        all == *expected,
        "final contents differ after concurrent writes"
    );
}
