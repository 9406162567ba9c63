//! The shared storage conformance suite, over the in-memory backend.

use std::sync::Arc;

use swarmfs_memory::MemoryStorage;
use swarmfs_storage::{StorageFactory, StoragePath};

fn new_factory() -> (MemoryStorage, ()) {
    (MemoryStorage::new(), ())
}

swarmfs_storage::conformance_tests!(new_factory);

#[tokio::test]
async fn far_writes_stay_sparse() {
    let m = MemoryStorage::new();
    let f = m
        .open(&StoragePath::parse("big.bin").unwrap())
        .await
        .unwrap();
    f.write_at(100 * 1024 * 1024 * 1024, &[1; 10])
        .await
        .unwrap();
    f.write_at(7, &[1; 10]).await.unwrap();
    assert_eq!(m.allocated_bytes(), 2 * 64 * 1024);
    f.delete_range(0, 64 * 1024).await.unwrap();
    assert_eq!(
        m.allocated_bytes(),
        64 * 1024,
        "a whole deleted chunk is freed"
    );
}

#[tokio::test]
async fn removed_file_is_absent_and_stamps_never_repeat() {
    let m = Arc::new(MemoryStorage::new());
    let p = StoragePath::parse("x/y").unwrap();
    let f = m.open(&p).await.unwrap();
    f.write_at(0, b"abc").await.unwrap();
    let s1 = f.stamp().await.unwrap().unwrap();
    f.write_at(0, b"abd").await.unwrap();
    let s2 = f.stamp().await.unwrap().unwrap();
    assert_eq!(s1.len, s2.len);
    assert_ne!(
        s1.modified, s2.modified,
        "same-size change not visible in the stamp"
    );
    m.remove(&p);
    assert_eq!(f.stamp().await.unwrap(), None);
    assert_eq!(f.len().await.unwrap(), 0);
}
