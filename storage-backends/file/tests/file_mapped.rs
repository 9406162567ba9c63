//! In-place reads of cached ranges through memory maps (`RandomAccess::visit_blocking`): the
//! bytes handed over match the file at any offset and across page ends, a range past the end is
//! a typed error, and a file cut short by someone else while it is mapped gives a typed error
//! instead of killing the process with SIGBUS.
#![cfg(all(target_os = "linux", target_pointer_width = "64"))]

use std::sync::Arc;

use swarmfs_file::FileStorage;
use swarmfs_storage::conformance::pattern;
use swarmfs_storage::{RandomAccess, StorageFactory, StoragePath};

async fn file_with(
    tmp: &tempfile::TempDir,
    name: &str,
    data: &[u8],
) -> (Arc<dyn RandomAccess>, std::path::PathBuf) {
    let factory = FileStorage::in_dir(tmp.path());
    let f = factory
        .open(&StoragePath::parse(name).unwrap())
        .await
        .unwrap();
    f.write_at(0, data).await.unwrap();
    (f, tmp.path().join(name))
}

fn visit(f: &dyn RandomAccess, offset: u64, len: u64) -> Option<Result<Vec<u8>, bool>> {
    let mut got = Vec::new();
    let r = f.visit_blocking(offset, len, &mut |b| got.extend_from_slice(b))?;
    Some(r.map(|()| got).map_err(|e| e.is_out_of_bounds()))
}

#[tokio::test]
async fn cached_ranges_are_handed_over_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(3, 3 * 4096 + 123);
    let (f, _) = file_with(&tmp, "a.bin", &data).await;
    let n = data.len() as u64;
    for (offset, len) in [
        (0, n),
        (1, 4095),
        (4095, 2),
        (4096, 4096),
        (5000, 7000),
        (n - 1, 1),
        (n, 0),
        (12_000, n - 12_000),
    ] {
        let got = visit(&*f, offset, len)
            .expect("just-written data is cached, so it is mapped")
            .unwrap_or_else(|oob| panic!("{offset}+{len}: error (out of bounds: {oob})"));
        assert!(
            got == data[offset as usize..(offset + len) as usize],
            "bytes at {offset}+{len}"
        );
    }
}

#[tokio::test]
async fn ranges_past_the_end_are_out_of_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(4, 10_000);
    let (f, _) = file_with(&tmp, "a.bin", &data).await;
    assert_eq!(visit(&*f, 9_000, 1_001), Some(Err(true)));
    assert_eq!(visit(&*f, 10_001, 1), Some(Err(true)));
    assert_eq!(visit(&*f, u64::MAX, 2).map(|r| r.is_err()), Some(true));
    let factory = FileStorage::in_dir(tmp.path());
    let missing = factory
        .open(&StoragePath::parse("missing.bin").unwrap())
        .await
        .unwrap();
    assert_eq!(visit(&*missing, 0, 1), Some(Err(true)));
}

#[tokio::test]
async fn file_cut_short_while_mapped_is_an_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(5, 1 << 20);
    let (f, path) = file_with(&tmp, "a.bin", &data).await;
    let mut sum = 0u64;
    let mut calls = 0;
    let r = f.visit_blocking(0, data.len() as u64, &mut |bytes| {
        calls += 1;
        // Another party cuts the file to one page while we hold the mapping, then we touch
        // every byte: pages past the new end would raise SIGBUS.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        sum = bytes.iter().map(|&b| u64::from(b)).sum();
    });
    let e = r.expect("cached, so mapped").expect_err("file shrank");
    assert!(e.is_out_of_bounds(), "{e}");
    assert_eq!(calls, 1);
    // The bytes past the cut read as zeros: the sum is that of the first page.
    let first_page: u64 = data[..4096].iter().map(|&b| u64::from(b)).sum();
    assert_eq!(sum, first_page);
    // The handle still works: the mapping window was released.
    assert_eq!(visit(&*f, 0, 4096), Some(Ok(data[..4096].to_vec())));
    assert_eq!(visit(&*f, 0, 4097), Some(Err(true)));
}
