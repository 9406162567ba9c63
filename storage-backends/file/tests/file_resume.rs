//! Resume data over real files: changes behind the store's back (same size, new mtime; deleted
//! file) are noticed on reopen, and the resume blob sits beside the data.

use std::sync::Arc;
use std::time::Duration;

use swarmfs_file::FileStorage;
use swarmfs_storage::StorageFactory;
use swarmfs_storage::conformance::TestTorrent;

#[tokio::test]
async fn same_size_change_behind_back_drops_the_piece() {
    let tmp = tempfile::tempdir().unwrap();
    let factory: Arc<dyn StorageFactory> = Arc::new(FileStorage::in_dir(tmp.path()));
    let t = TestTorrent::new(11);
    {
        let (store, _) = t.open(&factory, true).await;
        for i in 0..4 {
            t.write_piece(&store, i).await;
        }
        let all: Vec<_> = t.geometry.pieces().collect();
        store.verify_pieces(&all).await.unwrap();
        assert!(store.verified().all());
    }
    assert!(tmp.path().join(".swarmfs/test-resume").is_file());
    // Reopen untouched: nothing hashed.
    {
        let (store, report) = t.open(&factory, true).await;
        assert_eq!(
            (report.trusted, report.reverified, report.dropped),
            (4, 0, 0)
        );
        assert!(store.verified().all());
    }
    // Flip one byte of t/a.bin (10 bytes, piece 0) keeping its size; mtime moves.
    std::thread::sleep(Duration::from_millis(20));
    let a = tmp.path().join("t/a.bin");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes[3] ^= 0xff;
    std::fs::write(&a, &bytes).unwrap();
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.changed_files, vec![0]);
    assert_eq!((report.trusted, report.dropped), (3, 1));
    assert!(!store.verified().get(0));
    drop(store);
    // Delete t/c (6 bytes inside piece 1).
    std::fs::remove_file(tmp.path().join("t/c")).unwrap();
    let (store, report) = t.open(&factory, true).await;
    assert_eq!(report.changed_files, vec![3]);
    assert_eq!(report.dropped, 1);
    assert_eq!(store.verified().ones().collect::<Vec<_>>(), vec![2, 3]);
}
