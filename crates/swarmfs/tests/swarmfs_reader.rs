//! `ArchiveFile` reads of a swarm file with buffers of every size, shrinking buffers between
//! polls, seeks backwards into bytes already read and past the readahead window, checked byte
//! for byte (the torrent comes from an in-process web seed, so no peer or DHT is needed).

mod support;

use std::io::SeekFrom;
use std::time::Duration;

use swarmfs::{Client, LookupOptions, MAX_CHUNK, READAHEAD};
use swarmfs_http_storage::testing::TestServer;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, SafePath, TorrentBuilder};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use support::{pattern, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_every_size_and_seeks_return_the_right_bytes() {
    let server = TestServer::start().await.unwrap();
    let len = 2 * READAHEAD as usize + 12_345;
    let data = pattern(len, 9);
    let torrent = TorrentBuilder::new()
        .piece_length(65536)
        .build_entries("r", &[(SafePath::parse("f.bin").unwrap(), data.clone())])
        .unwrap();
    server.put("/ws/r/f.bin", data.clone());
    server.put("/meta/r.torrent", torrent.to_bytes());
    let mut magnet = Magnet::from_info_hash(torrent.info_hash());
    magnet
        .extra
        .push(("xs".into(), server.url("/meta/r.torrent")));
    magnet.web_seeds.push(server.url("/ws/"));
    let mut b = Client::builder();
    b.dht(false).lsd(false).storage(MemoryStorage::factory());
    let client = b.build().await.unwrap();
    let archive = within(
        30,
        client.lookup(
            &magnet.to_string(),
            LookupOptions::default()
                .timeout(Duration::from_secs(20))
                .seed(false),
        ),
    )
    .await
    .unwrap();
    let mut f = archive.open("/f.bin").await.unwrap();

    // Sequential reads with buffer sizes that straddle chunk and piece boundaries.
    let sizes = [
        1,
        7,
        4096,
        MAX_CHUNK - 3,
        MAX_CHUNK,
        MAX_CHUNK + 1,
        1 << 20,
        65536 + 17,
    ];
    let mut got = Vec::with_capacity(len);
    let mut i = 0;
    while got.len() < len {
        let mut buf = vec![0u8; sizes[i % sizes.len()]];
        i += 1;
        let n = within(30, f.read(&mut buf)).await.unwrap();
        assert!(n > 0, "early end at {}", got.len());
        got.extend_from_slice(&buf[..n]);
        assert_eq!(f.position(), got.len() as u64);
    }
    assert!(got == data, "sequential bytes differ");
    let mut end = [0u8; 8];
    assert_eq!(f.read(&mut end).await.unwrap(), 0);

    // Back into bytes read long ago, and into the last buffered chunk.
    for at in [0, 3, len as u64 / 2, len as u64 - 70_000, len as u64 - 5] {
        f.seek(SeekFrom::Start(at)).await.unwrap();
        let want = &data[at as usize..(at as usize + 70_000).min(len)];
        let mut buf = vec![0u8; want.len()];
        within(30, f.read_exact(&mut buf)).await.unwrap();
        assert!(buf == want, "bytes at {at} differ");
    }
    // Seeking past the end reads nothing.
    f.seek(SeekFrom::End(10)).await.unwrap();
    assert_eq!(f.read(&mut end).await.unwrap(), 0);
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_reader_fetches_only_its_readahead_window() {
    let server = TestServer::start().await.unwrap();
    let len = 8 * READAHEAD as usize;
    let data = pattern(len, 11);
    let torrent = TorrentBuilder::new()
        .piece_length(65536)
        .build_entries("w", &[(SafePath::parse("f.bin").unwrap(), data.clone())])
        .unwrap();
    server.put("/ws/w/f.bin", data.clone());
    server.put("/meta/w.torrent", torrent.to_bytes());
    let mut magnet = Magnet::from_info_hash(torrent.info_hash());
    magnet
        .extra
        .push(("xs".into(), server.url("/meta/w.torrent")));
    magnet.web_seeds.push(server.url("/ws/"));
    let mut b = Client::builder();
    b.dht(false).lsd(false).storage(MemoryStorage::factory());
    let client = b.build().await.unwrap();
    let archive = within(
        30,
        client.lookup(
            &magnet.to_string(),
            LookupOptions::default()
                .timeout(Duration::from_secs(20))
                .seed(false),
        ),
    )
    .await
    .unwrap();
    let mut f = archive.open("/f.bin").await.unwrap();
    let at = 3 * READAHEAD;
    f.seek(SeekFrom::Start(at)).await.unwrap();
    let mut buf = vec![0u8; 1000];
    within(30, f.read_exact(&mut buf)).await.unwrap();
    assert_eq!(buf, data[at as usize..at as usize + 1000]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // One short read after a seek asks for the first window only, not a grown one.
    let fetched = archive.web_seed_stats().unwrap().bytes;
    assert!(fetched > 0);
    assert!(
        fetched <= READAHEAD + 2 * 65536,
        "fetched {fetched} bytes for a 1000-byte read"
    );
    client.stop().await;
}
