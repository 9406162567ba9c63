//! Hooks for the layers above: file priorities given at add time, pieces put from outside the
//! swarm (web seeds), pieces lost when storage refuses to read them.

mod support;

use std::time::Duration;

use support::*;
use swarmfs_engine::{Priority, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Info, Magnet, SafePath, TorrentBuilder};

/// A torrent of three 600 KiB files in 64 KiB pieces, and its byte stream.
fn three_files(seed: u64) -> (Info, Vec<Vec<u8>>, Vec<u8>) {
    let files: Vec<(SafePath, Vec<u8>)> = (0..3u64)
        .map(|i| {
            (
                SafePath::parse(&format!("f{i}.bin")).expect("path"),
                data(600 * 1024, seed + i),
            )
        })
        .collect();
    let info = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_entries("dir", &files)
        .expect("build")
        .into_info();
    let stream = files.iter().flat_map(|f| f.1.clone()).collect();
    (info, files.into_iter().map(|f| f.1).collect(), stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_added_with_every_file_skipped_requests_no_block() {
    let (info, _, stream) = three_files(80);
    let (seed_engine, seed) = seeder(&info, &stream).await;
    let leech_engine = engine().await;
    let leech = leech_engine
        .add_magnet(
            &Magnet::from_info_hash(info.info_hash()),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .peer(seed_engine.listen_addr())
                .default_file_priority(Priority::SKIP),
        )
        .expect("add");
    timeout(leech.wait_metadata()).await.expect("metadata");
    // Connected, unchoked and told everything the seeder has: still nothing is asked for.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = leech.stats().await.expect("stats");
    assert_eq!(s.peers, 1, "{s:?}");
    assert_eq!(s.downloaded, 0, "{s:?}");
    assert_eq!(seed.stats().await.expect("stats").uploaded, 0);
    assert_eq!(leech.verified().expect("bits").count_ones(), 0);
    // Raising one file's priority fetches it (and nothing of the others but shared pieces).
    leech
        .set_file_priority(2, Priority::NORMAL)
        .await
        .expect("priority");
    timeout(leech.wait_done()).await.expect("done");
    let g = info.geometry();
    let first_of_2 = g.piece_at(info.files()[2].offset()).expect("piece").get();
    let have = leech.verified().expect("bits");
    assert_eq!(have.count_ones(), g.piece_count() - first_of_2);
    leech_engine.shutdown().await;
    seed_engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_files_fetches_just_those_files() {
    let (info, files, stream) = three_files(90);
    let (seed_engine, _seed) = seeder(&info, &stream).await;
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .peer(seed_engine.listen_addr())
                .only_files(&[1]),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done");
    let g = info.geometry();
    let f = &info.files()[1];
    let first = g.piece_at(f.offset()).expect("piece").get();
    let last = g
        .piece_at(f.offset() + f.length() - 1)
        .expect("piece")
        .get();
    let have = t.verified().expect("bits");
    assert_eq!(
        have.ones().collect::<Vec<_>>(),
        (first..=last).collect::<Vec<_>>()
    );
    let mut buf = vec![0u8; f.length() as usize];
    t.read_range(f.offset(), &mut buf).await.expect("read");
    assert_eq!(buf, files[1]);
    let s = t.stats().await.expect("stats");
    assert_eq!(
        s.downloaded,
        u64::from(last - first + 1) * 64 * 1024,
        "{s:?}"
    );
    e.shutdown().await;
    seed_engine.shutdown().await;
}
