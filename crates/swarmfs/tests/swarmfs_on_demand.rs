//! `LookupOptions::seed(false)`: an archive fetches nothing until it is read, and then only what
//! the reads touch (every file is skipped from the moment the torrent is added, so no request
//! can go out between the metadata and the priorities).

mod support;

use std::io::SeekFrom;
use std::time::Duration;

use swarmfs::{Archive, LookupOptions};
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use support::{client, dht_network, pattern, shutdown, within};

/// Size of each of the large files.
const BIG: usize = 4 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_archive_downloads_nothing_before_a_read() {
    let nodes = within(30, dht_network(4)).await;
    let seeder = client(&nodes).await;
    let reader = client(&nodes).await;
    let draft = Archive::new(MemoryStorage::factory());
    let a = pattern(BIG, 1);
    let b = pattern(BIG, 2);
    draft.write_file("/a.bin", &a).await.unwrap();
    draft.write_file("/b.bin", &b).await.unwrap();
    draft.write_file("/small.txt", b"small").await.unwrap();
    let url = within(30, seeder.seed(&draft)).await.unwrap();
    let total = (2 * BIG + 5) as u64;

    for round in 0..3 {
        let archive = within(
            30,
            reader.lookup(
                &url,
                LookupOptions::default()
                    .timeout(Duration::from_secs(20))
                    .seed(false),
            ),
        )
        .await
        .unwrap();
        let torrent = archive.torrent().unwrap().clone();
        let piece = u64::from(torrent.info().unwrap().piece_length());
        // The seeder is connected (the metadata came from it) and has everything, yet nothing
        // is fetched while nothing is read.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stats = torrent.stats().await.unwrap();
        assert_eq!(stats.downloaded, 0, "round {round}: {stats:?}");
        assert_eq!(stats.pieces_verified, 0, "round {round}: {stats:?}");

        // A small read fetches the pieces under it and no more.
        assert_eq!(
            within(20, archive.read_file("/small.txt")).await.unwrap(),
            b"small"
        );
        let stats = torrent.stats().await.unwrap();
        assert!(stats.downloaded > 0, "round {round}: {stats:?}");
        assert!(stats.downloaded <= 2 * piece, "round {round}: {stats:?}");

        // A seek + read in the middle of a.bin: its pieces and the readahead after it, never
        // the whole archive.
        let mut f = archive.open("/a.bin").await.unwrap();
        f.seek(SeekFrom::Start(BIG as u64 / 2)).await.unwrap();
        let mut buf = vec![0u8; 1000];
        within(20, f.read_exact(&mut buf)).await.unwrap();
        assert_eq!(buf, a[BIG / 2..BIG / 2 + 1000]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stats = torrent.stats().await.unwrap();
        assert!(
            stats.downloaded < total / 2 + 2 * piece,
            "round {round}: fetched {} of {total}: {stats:?}",
            stats.downloaded
        );
        archive.close().await.unwrap();
    }

    reader.stop().await;
    seeder.stop().await;
    shutdown(&nodes).await;
}
