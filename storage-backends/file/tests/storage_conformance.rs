//! The shared storage conformance suite, over the file backend in a temporary directory.

use swarmfs_file::FileStorage;
use tempfile::TempDir;

fn new_factory() -> (FileStorage, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        FileStorage::with_max_open_files(dir.path().join("root"), 4),
        dir,
    )
}

swarmfs_storage::conformance_tests!(new_factory);
