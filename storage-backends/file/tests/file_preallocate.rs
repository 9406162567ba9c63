//! Preallocation reserves a file's blocks without changing what the file holds: its length, its
//! bytes and the sparse look of the rest stay as they were.

use std::os::unix::fs::MetadataExt;

use swarmfs_file::FileStorage;
use swarmfs_storage::{StorageError, StorageFactory, StoragePath};

fn p(s: &str) -> StoragePath {
    StoragePath::parse(s).unwrap()
}

#[tokio::test]
async fn preallocation_reserves_blocks_but_keeps_length_and_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FileStorage::in_dir(tmp.path());
    let f = s.open(&p("dir/new.bin")).await.unwrap();
    f.preallocate(4 << 20).await.unwrap();
    let md = std::fs::metadata(tmp.path().join("dir/new.bin")).unwrap();
    assert_eq!(md.len(), 0, "the length is not changed");
    assert!(md.blocks() * 512 >= 4 << 20, "{} bytes", md.blocks() * 512);
    assert_eq!(f.len().await.unwrap(), 0);
    assert!(matches!(
        f.read_at(0, &mut [0u8; 1]).await,
        Err(StorageError::OutOfBounds { .. })
    ));

    // Writes land as usual, inside and past the reserved range.
    f.write_at(1 << 20, b"middle").await.unwrap();
    f.write_at(5 << 20, b"past").await.unwrap();
    assert_eq!(f.len().await.unwrap(), (5 << 20) + 4);
    let mut buf = [0xffu8; 10];
    f.read_at((1 << 20) - 4, &mut buf).await.unwrap();
    assert_eq!(&buf, b"\0\0\0\0middle");

    // An existing file keeps its bytes and length.
    f.preallocate(8 << 20).await.unwrap();
    assert_eq!(f.len().await.unwrap(), (5 << 20) + 4);
    let mut buf = [0u8; 4];
    f.read_at(5 << 20, &mut buf).await.unwrap();
    assert_eq!(&buf, b"past");
    f.preallocate(0).await.unwrap();
    assert_eq!(f.len().await.unwrap(), (5 << 20) + 4);
}

#[tokio::test]
async fn preallocation_stays_inside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FileStorage::in_dir(tmp.path());
    let reserved = s.open(&p(".swarmfs/x")).await;
    assert!(matches!(reserved, Err(StorageError::PathRefused { .. })));
    std::os::unix::fs::symlink("/tmp", tmp.path().join("link")).unwrap();
    let f = s.open(&p("link/escape.bin")).await.unwrap();
    assert!(matches!(
        f.preallocate(1 << 20).await,
        Err(StorageError::PathRefused { .. })
    ));
    assert!(!std::path::Path::new("/tmp/escape.bin").exists());
}
