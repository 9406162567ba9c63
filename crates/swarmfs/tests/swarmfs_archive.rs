//! Seeding a draft archive and reading it from another client over loopback.

mod support;

use std::io::SeekFrom;
use std::time::Duration;

use swarmfs::{Archive, ArchiveError, LookupError, LookupOptions};
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use support::{client, dht_network, pattern, shutdown, within};

async fn sample_draft() -> (Archive, Vec<u8>) {
    let draft = Archive::new(MemoryStorage::factory());
    let big = pattern(8 * 1024 * 1024 + 12345, 7);
    draft
        .write_file("/index.html", b"<h1>Hello</h1>")
        .await
        .unwrap();
    draft.write_file("/media/big.bin", &big).await.unwrap();
    draft.write_file("media/notes/a.txt", b"a").await.unwrap();
    draft.write_file("/empty.txt", b"").await.unwrap();
    (draft, big)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_reads_what_was_seeded() {
    let nodes = within(30, dht_network(4)).await;
    let publisher = client(&nodes).await;
    let reader = client(&nodes).await;
    let (draft, big) = sample_draft().await;
    let url = within(30, publisher.seed(&draft)).await.unwrap();
    assert!(url.contains("x.pe=127.0.0.1"), "{url}");

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
    let root = archive.read_dir("/").await.unwrap();
    let listed: Vec<(&str, u64, bool)> = root
        .iter()
        .map(|e| (e.name.as_str(), e.len, e.is_dir))
        .collect();
    assert_eq!(
        listed,
        [
            ("empty.txt", 0, false),
            ("index.html", 14, false),
            ("media", big.len() as u64 + 1, true)
        ]
    );
    let media = archive.read_dir("/media/").await.unwrap();
    assert_eq!(media.len(), 2);
    assert!(media[1].is_dir && media[1].name == "notes");
    assert_eq!(
        within(20, archive.read_file("/index.html")).await.unwrap(),
        b"<h1>Hello</h1>"
    );
    assert!(archive.read_file("/empty.txt").await.unwrap().is_empty());
    let meta = archive.metadata("/media/big.bin").await.unwrap();
    assert_eq!((meta.len, meta.is_dir), (big.len() as u64, false));

    // Seek into the large file and read a span that crosses pieces, fetched on demand.
    let mut f = archive.open("/media/big.bin").await.unwrap();
    let at = 2 * 1024 * 1024 + 100;
    assert_eq!(f.seek(SeekFrom::Start(at)).await.unwrap(), at);
    let mut buf = vec![0u8; 300_000];
    within(20, f.read_exact(&mut buf)).await.unwrap();
    assert_eq!(buf, big[at as usize..at as usize + buf.len()]);
    let end = f.seek(SeekFrom::End(-10)).await.unwrap();
    assert_eq!(end, big.len() as u64 - 10);
    let mut tail = Vec::new();
    within(20, f.read_to_end(&mut tail)).await.unwrap();
    assert_eq!(tail, big[big.len() - 10..]);
    assert!(
        f.seek(SeekFrom::Current(-(big.len() as i64) - 1))
            .await
            .is_err()
    );
    // seed(false): only what was read (with its readahead) came over, not the whole file
    // (plus what the engine requested between the metadata and the files being skipped).
    let stats = archive.torrent().unwrap().stats().await.unwrap();
    assert!(stats.pieces_verified < stats.pieces_total, "{stats:?}");

    // The whole big file, compared byte for byte.
    assert_eq!(
        within(30, archive.read_file("/media/big.bin"))
            .await
            .unwrap(),
        big
    );

    // Errors are typed.
    assert!(matches!(
        archive.read_file("/media").await,
        Err(ArchiveError::IsDirectory { .. })
    ));
    assert!(matches!(
        archive.read_dir("/index.html").await,
        Err(ArchiveError::NotDirectory { .. })
    ));
    assert!(matches!(
        archive.read_file("/nope").await,
        Err(ArchiveError::NotFound { .. })
    ));
    assert!(matches!(
        archive.write_file("/x", b"x").await,
        Err(ArchiveError::ReadOnly)
    ));
    archive.close().await.unwrap();
    assert!(matches!(
        archive.read_file("/index.html").await,
        Err(ArchiveError::Closed)
    ));
    assert!(
        reader
            .engine()
            .torrent(&archive.info_hash().unwrap())
            .is_none()
    );

    reader.stop().await;
    publisher.stop().await;
    assert_eq!(reader.live_tasks(), 0);
    assert_eq!(publisher.live_tasks(), 0);
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_magnet_found_through_the_dht() {
    let nodes = within(30, dht_network(4)).await;
    let publisher = client(&nodes).await;
    let reader = client(&nodes).await;
    let (draft, big) = sample_draft().await;
    let url = within(30, publisher.seed(&draft)).await.unwrap();
    let ih = swarmfs_metainfo::Magnet::parse(&url)
        .unwrap()
        .info_hash()
        .unwrap();
    let bare = swarmfs_metainfo::Magnet::from_info_hash(ih).to_string();
    assert!(!bare.contains("x.pe"));
    let archive = within(
        30,
        reader.lookup(
            &bare,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        within(30, archive.read_file("/media/big.bin"))
            .await
            .unwrap(),
        big
    );
    reader.stop().await;
    publisher.stop().await;
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_without_peers_times_out() {
    let nodes = within(30, dht_network(3)).await;
    let reader = client(&nodes).await;
    let url = format!("magnet:?xt=urn:btih:{}", "ab".repeat(20));
    let started = std::time::Instant::now();
    let r = reader
        .lookup(
            &url,
            LookupOptions::default().timeout(Duration::from_millis(500)),
        )
        .await;
    assert!(
        matches!(r, Err(LookupError::TimedOut { timeout }) if timeout == Duration::from_millis(500)),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The torrent added for the lookup is gone again.
    assert!(
        reader
            .engine()
            .torrent(&swarmfs_metainfo::InfoHash([0xab; 20]))
            .is_none()
    );
    assert!(matches!(
        reader
            .lookup("http://example.invalid/", LookupOptions::default())
            .await,
        Err(LookupError::BadUrl(_))
    ));
    reader.stop().await;
    assert_eq!(reader.live_tasks(), 0);
    assert!(matches!(
        reader.lookup(&url, LookupOptions::default()).await,
        Err(LookupError::Stopped)
    ));
    shutdown(&nodes).await;
}

#[tokio::test]
async fn draft_is_a_writable_tree() {
    let draft = Archive::with_name("site", MemoryStorage::factory());
    draft.write_file("/a/b.txt", b"one").await.unwrap();
    draft.write_file("/a/b.txt", b"two!").await.unwrap();
    draft.create_dir("/empty/inner").await.unwrap();
    assert_eq!(draft.read_file("a/b.txt").await.unwrap(), b"two!");
    let names: Vec<String> = draft
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["a", "empty"]);
    assert!(draft.metadata("/empty").await.unwrap().is_dir);
    assert!(matches!(
        draft.write_file("/a", b"x").await,
        Err(ArchiveError::IsDirectory { .. })
    ));
    assert!(matches!(
        draft.write_file("/a/b.txt/c", b"x").await,
        Err(ArchiveError::NotDirectory { .. })
    ));
    let mut f = draft.open("/a/b.txt").await.unwrap();
    f.seek(SeekFrom::Start(2)).await.unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).await.unwrap();
    assert_eq!(s, "o!");
    draft.remove("/a").await.unwrap();
    assert!(matches!(
        draft.metadata("/a/b.txt").await,
        Err(ArchiveError::NotFound { .. })
    ));
}

#[tokio::test]
async fn hostile_paths_are_refused() {
    let draft = Archive::new(MemoryStorage::factory());
    draft.write_file("/ok.txt", b"ok").await.unwrap();
    for bad in [
        "/../etc/passwd",
        "../x",
        "/a/../../x",
        "/./ok.txt",
        "a//b",
        "/x\0y",
    ] {
        assert!(
            matches!(
                draft.write_file(bad, b"evil").await,
                Err(ArchiveError::InvalidPath { .. })
            ),
            "write {bad}"
        );
        assert!(
            matches!(
                draft.read_file(bad).await,
                Err(ArchiveError::InvalidPath { .. })
            ),
            "read {bad}"
        );
        assert!(matches!(
            draft.read_dir(bad).await,
            Err(ArchiveError::InvalidPath { .. })
        ));
    }
    let names: Vec<String> = draft
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["ok.txt"]);
}
