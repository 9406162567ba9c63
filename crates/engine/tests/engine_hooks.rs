//! Hooks for the layers above: file priorities given at add time, pieces put from outside the
//! swarm (web seeds), pieces lost when storage refuses to read them.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::faulty::{Faults, Faulty};
use support::*;
use swarmfs_engine::Engine;
use swarmfs_engine::{Priority, TorrentError, TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::Magnet;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_piece_verifies_writes_announces_and_serves() {
    let payload = data(640 * 1024, 100);
    let info = info(&payload, 64 * 1024);
    let n = info.piece_count();
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    let mut events = t.events();
    t.wait_metadata().await.expect("metadata");
    assert_eq!(t.wanted_pieces().await.expect("wanted").count_ones(), n);
    let piece = |i: u32| payload[i as usize * 65536..(i as usize + 1) * 65536].to_vec();
    // Wrong bytes: refused, nothing verified.
    assert!(!t.put_piece(3, piece(4)).await.expect("put"));
    assert!(matches!(
        t.put_piece(n, piece(0)).await,
        Err(TorrentError::NoSuchPiece { index, count }) if index == n && count == n
    ));
    assert!(matches!(
        t.put_piece(0, vec![0; 10]).await,
        Err(TorrentError::PieceLength {
            len: 10,
            expected: 65536,
            ..
        })
    ));
    assert_eq!(t.verified().expect("bits").count_ones(), 0);
    for i in (0..n).step_by(2) {
        assert!(t.put_piece(i, piece(i)).await.expect("put"));
    }
    assert!(
        t.put_piece(0, piece(0)).await.expect("again"),
        "already verified"
    );
    let wanted = t.wanted_pieces().await.expect("wanted");
    assert_eq!(
        wanted.ones().collect::<Vec<_>>(),
        (1..n).step_by(2).collect::<Vec<_>>()
    );
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let TorrentEvent::PieceVerified(i) = ev {
            seen.push(i);
        }
    }
    assert_eq!(
        seen,
        (0..n).step_by(2).collect::<Vec<_>>(),
        "one event per new piece"
    );
    // A leecher connected only to this torrent gets the put pieces from it.
    let leech_engine = engine().await;
    let leech = leech_engine
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(e.listen_addr()),
        )
        .expect("add leecher");
    leech.wait_metadata().await.expect("metadata");
    let start = Instant::now();
    while leech.verified().expect("bits").count_ones() < n / 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "leecher got nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The rest arrives from outside too; the leecher hears `have` and completes.
    for i in (1..n).step_by(2) {
        assert!(t.put_piece(i, piece(i)).await.expect("put"));
    }
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(t.wanted_pieces().await.expect("wanted").count_ones(), 0);
    assert_eq!(read_all(&t, payload.len()).await, payload);
    timeout(leech.wait_done()).await.expect("leecher done");
    assert_eq!(read_all(&leech, payload.len()).await, payload);
    leech_engine.shutdown().await;
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_piece_during_a_download_cancels_and_skips_it() {
    // A slow seeder (256 KiB/s): the pieces put from outside are not fetched from it.
    let payload = data(1 << 20, 110);
    let info = info(&payload, 64 * 1024);
    let n = info.piece_count();
    let seed_engine = Engine::builder()
        .upload_rate_limit(Some(256 * 1024))
        .build()
        .await
        .expect("engine");
    let storage = filled_storage(&info, &payload).await;
    let seed = seed_engine
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("seed");
    timeout(seed.wait_done()).await.expect("seeded");
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add");
    t.wait_metadata().await.expect("metadata");
    let piece = |i: u32| payload[i as usize * 65536..(i as usize + 1) * 65536].to_vec();
    let mut put = 0u64;
    for i in 0..n {
        let wanted = t.wanted_pieces().await.expect("wanted");
        if i % 2 == 0 && wanted.get(i) {
            assert!(t.put_piece(i, piece(i)).await.expect("put"));
            put += 1;
        }
    }
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    let s = t.stats().await.expect("stats");
    assert!(put >= u64::from(n) / 4, "put {put}");
    // What came from the peer is what was not put (a block in flight may still count).
    assert!(
        s.downloaded <= (u64::from(n) - put) * 65536 + 2 * 65536,
        "downloaded {} with {put} of {n} pieces put",
        s.downloaded
    );
    e.shutdown().await;
    seed_engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piece_storage_cannot_read_is_rejected_unadvertised_and_reported() {
    let payload = data(512 * 1024, 120);
    let info = info(&payload, 64 * 1024);
    let n = info.piece_count();
    let lost = 5u32;
    let broken = Arc::new(AtomicBool::new(false));
    // Fails reads of piece `lost` once `broken` is set.
    let storage = Arc::new(Faulty {
        inner: filled_storage(&info, &payload).await,
        faults: Faults {
            refuse_reads: Some((
                broken.clone(),
                u64::from(lost) * 65536,
                u64::from(lost + 1) * 65536,
            )),
            ..Faults::default()
        },
    });
    let seed_engine = engine().await;
    let seed = seed_engine
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("seed");
    timeout(seed.wait_done()).await.expect("seeded");
    let mut seed_events = seed.events();
    broken.store(true, Ordering::SeqCst);
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add");
    t.wait_metadata().await.expect("metadata");
    // The seeder reports the loss once.
    let error = loop {
        if let TorrentEvent::PieceLost { piece, error } =
            timeout(seed_events.recv()).await.expect("events")
        {
            assert_eq!(piece, lost);
            break error;
        }
    };
    assert!(error.contains("origin changed"), "{error}");
    // Every other piece arrives; the lost one is rejected (fast extension), never sent.
    let start = Instant::now();
    while t.verified().expect("bits").count_ones() < n - 1 {
        assert!(start.elapsed() < Duration::from_secs(30), "leecher stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let have = t.verified().expect("bits");
    assert!(!have.get(lost));
    assert_eq!(have.count_ones(), n - 1);
    assert!(!t.stats().await.expect("stats").done);
    // The seeder no longer claims it: a newcomer's bitfield lacks it and the piece stays lost.
    let seeder_bits = seed.verified().expect("bits");
    assert!(!seeder_bits.get(lost));
    assert_eq!(seeder_bits.count_ones(), n - 1);
    let s = seed.stats().await.expect("stats");
    assert_eq!(s.pieces_verified, n - 1, "{s:?}");
    let third_engine = engine().await;
    let third = third_engine
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add third");
    third.wait_metadata().await.expect("metadata");
    let start = Instant::now();
    while third.verified().expect("bits").count_ones() < n - 1 {
        assert!(start.elapsed() < Duration::from_secs(30), "third stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!third.verified().expect("bits").get(lost));
    while let Ok(ev) = seed_events.try_recv() {
        assert!(
            !matches!(ev, TorrentEvent::PieceLost { .. }),
            "reported twice: {ev:?}"
        );
    }
    third_engine.shutdown().await;
    e.shutdown().await;
    seed_engine.shutdown().await;
}
