//! Disk space is reserved for the files being downloaded before their first piece is written,
//! and not for skipped files (whose shared boundary pieces are still written).

mod support;

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use support::*;
use swarmfs_engine::{Engine, Priority, TorrentEvent, TorrentOptions};
use swarmfs_file::FileStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wanted_files_are_preallocated_and_skipped_ones_are_not() {
    const LEN: usize = 600 * 1024;
    let (info, files, stream) = three_files(70);
    let (seed_engine, _seed) = seeder(&info, &stream).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Slow enough that a file is still far from complete when its first piece is verified.
    let e = Engine::builder()
        .download_rate_limit(Some(1 << 20))
        .build()
        .await
        .expect("engine");
    let t = e
        .add_info(
            info.clone(),
            Arc::new(FileStorage::in_dir(dir.path())),
            TorrentOptions::new()
                .paused(true)
                .peer(seed_engine.listen_addr()),
        )
        .expect("add");
    t.wait_metadata().await.expect("metadata");
    // Chosen after the metadata, as a user picking files of a magnet would.
    t.set_file_priority(1, Priority::SKIP)
        .await
        .expect("priority");
    let mut events = t.events();
    t.resume().expect("resume");
    let allocated = |i: usize| {
        let md = std::fs::metadata(dir.path().join(format!("dir/f{i}.bin"))).expect("file");
        (md.len(), md.blocks() * 512)
    };
    let first = timeout(async {
        loop {
            if let Ok(TorrentEvent::PieceVerified(p)) = events.recv().await {
                return p;
            }
        }
    })
    .await;
    // The wanted file of the first verified piece was reserved whole before it was written.
    let g = info.geometry();
    let start = g.piece_start(g.piece(first).expect("piece"));
    let file = if start < LEN as u64 {
        0
    } else if start + 64 * 1024 > 2 * LEN as u64 {
        2
    } else {
        1
    };
    assert_ne!(file, 1, "piece {first} is only in the skipped file");
    let (_, blocks) = allocated(file);
    assert!(
        t.verified().expect("bits").count_ones() < 9,
        "too late to see it"
    );
    assert!(
        blocks >= LEN as u64,
        "file {file}: {blocks} bytes allocated"
    );
    timeout(t.wait_done()).await.expect("done");
    for i in [0, 2] {
        let (len, blocks) = allocated(i);
        assert_eq!(len, LEN as u64, "file {i}");
        assert!(blocks >= LEN as u64, "file {i}: {blocks} bytes allocated");
        let on_disk = std::fs::read(dir.path().join(format!("dir/f{i}.bin"))).expect("read");
        assert_eq!(on_disk, files[i], "file {i}");
    }
    // Only the pieces it shares with its neighbours were written into the skipped file.
    let (_, blocks) = allocated(1);
    assert!(blocks <= 2 * 64 * 1024 + 8192, "{blocks} bytes allocated");
    e.shutdown().await;
    seed_engine.shutdown().await;
}
