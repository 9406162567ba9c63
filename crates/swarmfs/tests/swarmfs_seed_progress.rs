//! Seeding with a progress callback: the reports are ordered and complete, and the torrent is
//! the one `TorrentBuilder` builds for the same files (same info-hash).

mod support;

use std::sync::{Arc, Mutex};

use swarmfs::{Archive, Client, SeedError, SeedPhase, SeedProgress};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, SafePath, TorrentBuilder};

use support::pattern;

async fn offline() -> Client {
    Client::builder().dht(false).build().await.unwrap()
}

fn recorder() -> (
    Arc<Mutex<Vec<SeedProgress>>>,
    impl FnMut(SeedProgress) + Send,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |p| sink.lock().unwrap().push(p))
}

/// Hashing reports rise from 0 to `total`, then checking reports 0 and `total`.
fn assert_complete(seen: &[SeedProgress], total: u64) {
    assert!(seen.len() >= 4, "{seen:?}");
    let hashing: Vec<&SeedProgress> = seen
        .iter()
        .take_while(|p| p.phase == SeedPhase::Hashing)
        .collect();
    assert_eq!(hashing.first().unwrap().done_bytes, 0);
    assert_eq!(hashing.last().unwrap().done_bytes, total);
    assert!(
        hashing
            .windows(2)
            .all(|w| w[0].done_bytes <= w[1].done_bytes)
    );
    assert!(seen.iter().all(|p| p.total_bytes == total), "{seen:?}");
    let checking: Vec<u64> = seen[hashing.len()..]
        .iter()
        .map(|p| {
            assert_eq!(p.phase, SeedPhase::Checking);
            p.done_bytes
        })
        .collect();
    assert_eq!(checking, [0, total]);
}

fn info_hash(url: &str) -> swarmfs_metainfo::InfoHash {
    Magnet::parse(url).unwrap().info_hash().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_path_reports_progress_and_matches_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("b/deep")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    let big = pattern(9 * 1024 * 1024 + 3, 5);
    std::fs::write(root.join("b/deep/big.bin"), &big).unwrap();
    std::fs::write(root.join("a/one.txt"), b"one").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("Z.txt"), pattern(70_000, 9)).unwrap();
    let total = (big.len() + 3 + 70_000) as u64;
    let client = offline().await;

    let (seen, progress) = recorder();
    let url = client
        .seed_path_with_progress(&root, progress)
        .await
        .unwrap();
    let expect = TorrentBuilder::new().build_path(&root).unwrap();
    assert_eq!(info_hash(&url), expect.info_hash());
    assert_complete(&seen.lock().unwrap(), total);

    // A single file is a single-file torrent, like the builder's.
    let (seen, progress) = recorder();
    let file = root.join("b/deep/big.bin");
    let url = client
        .seed_path_with_progress(&file, progress)
        .await
        .unwrap();
    let expect = TorrentBuilder::new().build_path(&file).unwrap();
    assert_eq!(info_hash(&url), expect.info_hash());
    assert_complete(&seen.lock().unwrap(), big.len() as u64);

    // An empty directory cannot be a torrent.
    std::fs::create_dir_all(dir.path().join("nothing")).unwrap();
    let (seen, progress) = recorder();
    let r = client
        .seed_path_with_progress(dir.path().join("nothing"), progress)
        .await;
    assert!(matches!(r, Err(SeedError::Empty)), "{r:?}");
    assert!(seen.lock().unwrap().is_empty());
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_draft_reports_progress_and_matches_the_builder() {
    let draft = Archive::with_name("draft", MemoryStorage::factory());
    let big = pattern(5 * 1024 * 1024 + 11, 3);
    draft.write_file("/z/big.bin", &big).await.unwrap();
    draft.write_file("/index.html", b"<p>hi</p>").await.unwrap();
    let client = offline().await;
    let (seen, progress) = recorder();
    let url = client.seed_with_progress(&draft, progress).await.unwrap();
    let entries = [
        (SafePath::parse("z/big.bin").unwrap(), big.clone()),
        (
            SafePath::parse("index.html").unwrap(),
            b"<p>hi</p>".to_vec(),
        ),
    ];
    let expect = TorrentBuilder::new()
        .build_entries("draft", &entries)
        .unwrap();
    assert_eq!(info_hash(&url), expect.info_hash());
    assert_complete(&seen.lock().unwrap(), big.len() as u64 + 9);
    // The plain seed gives the same magnet.
    assert_eq!(client.seed(&draft).await.unwrap(), url);
    client.stop().await;
}
