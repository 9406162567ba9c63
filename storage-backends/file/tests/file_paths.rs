//! The file backend never leaves its root: symlinks planted inside it (as a parent directory or as
//! the file itself, before or after the descriptor cache saw the path), the reserved metadata
//! directory, and paths that metainfo sanitising should have refused.

use std::os::unix::fs::symlink;
use std::path::Path;

use swarmfs_file::FileStorage;
use swarmfs_storage::{MetaName, StorageError, StorageFactory, StoragePath};

fn p(s: &str) -> StoragePath {
    StoragePath::parse(s).unwrap()
}

fn assert_refused<T: std::fmt::Debug>(r: Result<T, StorageError>, what: &str) {
    assert!(
        matches!(r, Err(StorageError::PathRefused { .. })),
        "{what}: expected PathRefused, got {r:?}"
    );
}

fn setup() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    FileStorage,
) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"outside data").unwrap();
    let storage = FileStorage::in_dir(&root);
    (tmp, root, outside, storage)
}

fn outside_untouched(outside: &Path) {
    assert_eq!(
        std::fs::read(outside.join("secret")).unwrap(),
        b"outside data"
    );
    let names: Vec<_> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec!["secret"],
        "something was created outside the root"
    );
}

#[tokio::test]
async fn symlinked_parent_directory_is_refused() {
    let (_tmp, root, outside, s) = setup();
    symlink(&outside, root.join("evil")).unwrap();
    let f = s.open(&p("evil/secret")).await.unwrap();
    assert_refused(
        f.write_at(0, b"pwned").await,
        "write through a symlinked dir",
    );
    let mut buf = [0u8; 4];
    assert_refused(f.read_at(0, &mut buf).await, "read through a symlinked dir");
    assert_refused(f.stamp().await, "stamp through a symlinked dir");
    assert_refused(f.set_len(0).await, "truncate through a symlinked dir");
    let g = s.open(&p("evil/new/deeper.bin")).await.unwrap();
    assert_refused(g.write_at(0, b"x").await, "create below a symlinked dir");
    outside_untouched(&outside);
}

#[tokio::test]
async fn symlinked_file_is_refused() {
    let (_tmp, root, outside, s) = setup();
    std::fs::create_dir_all(root.join("d")).unwrap();
    symlink(outside.join("secret"), root.join("d/link.bin")).unwrap();
    symlink(outside.join("absent"), root.join("d/dangling.bin")).unwrap();
    let f = s.open(&p("d/link.bin")).await.unwrap();
    assert_refused(f.write_at(0, b"pwned").await, "write to a symlinked file");
    let mut buf = [0u8; 4];
    assert_refused(f.read_at(0, &mut buf).await, "read of a symlinked file");
    let d = s.open(&p("d/dangling.bin")).await.unwrap();
    assert_refused(
        d.write_at(0, b"x").await,
        "create through a dangling symlink",
    );
    outside_untouched(&outside);
}

#[tokio::test]
async fn symlink_swapped_in_after_first_use_is_refused_on_reopen() {
    let (_tmp, root, outside, s) = setup();
    // One descriptor slot: using another file evicts the first, forcing a fresh walk.
    let s1 = FileStorage::with_max_open_files(&root, 1);
    drop(s);
    let f = s1.open(&p("dir/file.bin")).await.unwrap();
    f.write_at(0, b"inside").await.unwrap();
    let other = s1.open(&p("other.bin")).await.unwrap();
    other.write_at(0, b"evict").await.unwrap();
    std::fs::remove_dir_all(root.join("dir")).unwrap();
    symlink(&outside, root.join("dir")).unwrap();
    assert_refused(f.write_at(0, b"pwned").await, "write after a symlink swap");
    outside_untouched(&outside);
}

#[tokio::test]
async fn reserved_meta_dir_and_symlinked_meta_dir_are_refused() {
    let (_tmp, root, outside, s) = setup();
    assert_refused(
        s.open(&p(".swarmfs/resume")).await,
        "torrent path in the meta dir",
    );
    symlink(&outside, root.join(".swarmfs")).unwrap();
    let name = MetaName::new("resume").unwrap();
    assert_refused(
        s.store_meta(&name, b"x").await,
        "store through a symlinked meta dir",
    );
    assert_refused(
        s.load_meta(&name, 10).await,
        "load through a symlinked meta dir",
    );
    outside_untouched(&outside);
}

#[tokio::test]
async fn special_files_are_refused() {
    let (_tmp, root, _outside, s) = setup();
    std::fs::create_dir_all(root.join("a/dir.bin")).unwrap();
    let f = s.open(&p("a/dir.bin")).await.unwrap();
    assert_refused(f.write_at(0, b"x").await, "a directory as a file");
    std::fs::write(root.join("plain"), b"file").unwrap();
    let g = s.open(&p("plain/child")).await.unwrap();
    assert_refused(g.write_at(0, b"x").await, "a file as a parent directory");
}

#[test]
fn escaping_paths_cannot_be_built() {
    for bad in [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "a/./b",
        "",
        "a//b",
        "..\\x",
    ] {
        assert!(StoragePath::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert!(StoragePath::new(["..", "x"]).is_err());
    assert!(StoragePath::new(["/abs"]).is_err());
}

#[tokio::test]
async fn descriptor_cache_stays_bounded() {
    let (_tmp, root, _outside, _s) = setup();
    let s = FileStorage::with_max_open_files(&root, 8);
    let mut handles = Vec::new();
    for i in 0..200 {
        let f = s.open(&p(&format!("many/f{i:03}.bin"))).await.unwrap();
        f.write_at(i, &[i as u8; 3]).await.unwrap();
        handles.push(f);
        assert!(s.open_files() <= 8, "{} descriptors cached", s.open_files());
    }
    for (i, f) in handles.iter().enumerate() {
        let mut buf = [0u8; 3];
        f.read_at(i as u64, &mut buf).await.unwrap();
        assert_eq!(buf, [i as u8; 3]);
    }
    assert!(s.open_files() <= 8);
}

#[tokio::test]
async fn far_offsets_are_sparse_on_disk() {
    use std::os::unix::fs::MetadataExt;
    let (_tmp, root, _outside, s) = setup();
    let f = s.open(&p("sparse.bin")).await.unwrap();
    f.write_at(6 << 30, b"end").await.unwrap();
    let md = std::fs::metadata(root.join("sparse.bin")).unwrap();
    assert_eq!(md.len(), (6 << 30) + 3);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "{} bytes allocated",
        md.blocks() * 512
    );
    std::fs::write(root.join("dense.bin"), vec![7u8; 1 << 20]).unwrap();
    let d = s.open(&p("dense.bin")).await.unwrap();
    d.delete_range(0, 1 << 20).await.unwrap();
    let md = std::fs::metadata(root.join("dense.bin")).unwrap();
    assert_eq!(md.len(), 1 << 20);
    assert!(
        md.blocks() * 512 < 1 << 19,
        "hole not punched: {} bytes",
        md.blocks() * 512
    );
}
