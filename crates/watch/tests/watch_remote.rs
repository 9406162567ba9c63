//! The remote swarmfs backend against a real `swarmfs-remote` server on loopback TCP, fed by a
//! rate-limited seeder: add, progress, finish, pause, resume and remove each produce exactly
//! the expected events and diffs; a server that never answers yields timeouts as `error`
//! events.

use std::sync::Arc;
use std::time::Duration;

use swarmfs::Client;
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Info, TorrentBuilder};
use swarmfs_remote::{RemoteServer, Router, ServerConfig, TcpServer};
use swarmfs_storage::{StorageFactory, StoragePath};
use swarmfs_watch::{
    BackendConfig, Change, Delta, Event, EventKind, Manager, RemoteBackend, TorrentRecord,
};
use tokio::sync::broadcast;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An engine seeding `payload` at most `rate` bytes/s.
async fn seeder(info: &Info, payload: &[u8], rate: u64) -> Engine {
    let e = Engine::builder()
        .upload_rate_limit(Some(rate))
        .build()
        .await
        .expect("engine");
    let storage = MemoryStorage::factory();
    let path = StoragePath::new(info.storage_path(0).expect("path").components()).expect("path");
    let file = storage.open(&path).await.expect("open");
    file.write_at(0, payload).await.expect("write");
    let t = e
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add seeder");
    tokio::time::timeout(Duration::from_secs(60), t.wait_done())
        .await
        .expect("seed timeout")
        .expect("seed done");
    e
}

/// A remote-control server over a swarmfs client (no DHT, no LSD), on loopback TCP.
async fn remote_server() -> (RemoteServer, TcpServer) {
    let client = Client::builder()
        .dht(false)
        .lsd(false)
        .storage(MemoryStorage::factory())
        .build()
        .await
        .expect("client");
    let router = Router::new();
    let mut config = ServerConfig::default();
    config.update_interval = Duration::from_millis(100);
    let server = RemoteServer::new(client, router.clone(), config);
    let tcp = TcpServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        None,
        server.clone(),
        router,
    )
    .await
    .expect("tcp");
    (server, tcp)
}

async fn until(rx: &mut broadcast::Receiver<Event>, kind: EventKind) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind:?}; saw {:?}", kinds(&seen)))
            .expect("recv");
        let k = e.event;
        seen.push(e);
        if k == kind {
            return seen;
        }
    }
}

/// Every event until none arrived for `quiet`.
async fn drain(rx: &mut broadcast::Receiver<Event>, quiet: Duration) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Ok(e) = tokio::time::timeout(quiet, rx.recv()).await {
        seen.push(e.expect("recv"));
    }
    seen
}

fn kinds(v: &[Event]) -> Vec<EventKind> {
    v.iter().map(|e| e.event).collect()
}

fn torrent_of(e: &Event) -> &TorrentRecord {
    e.torrent.as_ref().expect("torrent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_server_lifecycle_produces_exact_events_and_diffs() {
    let payload = data(3 << 20, 11);
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("remote.bin", &payload)
        .expect("build");
    let hash = torrent.info_hash().to_hex();
    let seed = seeder(torrent.info(), &payload, 1 << 20).await;
    let (server, tcp) = remote_server().await;
    let backend = RemoteBackend::tcp(tcp.local_addr(), None).with_peers([seed.listen_addr()]);
    let root = tempfile::tempdir().expect("tempdir");
    let m = Manager::builder()
        .backend(BackendConfig::new(
            "remote",
            Arc::new(backend),
            Duration::from_millis(100),
            root.path(),
        ))
        .start();
    let mut rx = m.subscribe();
    assert!(m.get_all().await.expect("list").is_empty());

    // add -> added, then updates (metadata, progress), then updated(finished) + finished.
    let rec = m
        .add_torrent("remote", &torrent.to_bytes())
        .await
        .expect("add");
    assert_eq!(rec.hash, hash);
    let seen = until(&mut rx, EventKind::Finished).await;
    let k = kinds(&seen);
    assert_eq!(k[0], EventKind::Added, "{k:?}");
    assert!(
        k[1..k.len() - 1].iter().all(|k| *k == EventKind::Updated),
        "{k:?}"
    );
    assert!(seen.iter().all(|e| torrent_of(e).hash == hash));
    let partial = seen.iter().any(|e| {
        e.event == EventKind::Updated && {
            let t = torrent_of(e);
            t.progress > 0.0 && t.progress < 1.0
        }
    });
    assert!(partial, "no intermediate progress update: {k:?}");
    let last_update = &seen[seen.len() - 2];
    assert_eq!(last_update.event, EventKind::Updated, "{k:?}");
    let d = last_update.diff.as_ref().expect("diff");
    assert_eq!(
        d.get("finished"),
        Some(&Change::Finished(Delta {
            from: false,
            to: true
        }))
    );
    assert!(d.fields().contains(&"downloaded"), "{:?}", d.fields());
    let done = torrent_of(seen.last().expect("finished"));
    assert!(done.finished && done.downloaded == payload.len() as u64 && done.progress == 1.0);
    assert_eq!(done.name, "remote.bin");
    assert_eq!(done.files.len(), 1);
    assert_eq!(done.files[0].length, payload.len() as u64);
    // Each update's diff turns the previous state into the reported one.
    let mut state = torrent_of(&seen[0]).clone();
    for e in seen.iter().filter(|e| e.event == EventKind::Updated) {
        state.apply(e.diff.as_ref().expect("diff"));
        assert_eq!(&state, torrent_of(e));
    }
    // Let rates settle (playing may still flip to false), then nothing else happens.
    drain(&mut rx, Duration::from_millis(1500)).await;

    // pause -> exactly updated(active true -> false) + paused.
    let r = m.pause(&hash).await.expect("pause");
    assert!(!r.active);
    let seen = until(&mut rx, EventKind::Paused).await;
    assert_eq!(kinds(&seen), [EventKind::Updated, EventKind::Paused]);
    let d = seen[0].diff.as_ref().expect("diff");
    // A paused torrent is not playing: `playing` goes too when it was true (the engine's
    // rates decay slowly after a download, so it may still be).
    assert_eq!(
        d.get("active"),
        Some(&Change::Active(Delta {
            from: true,
            to: false
        }))
    );
    for c in d.changes() {
        match c {
            Change::Active(_) => {}
            Change::Playing(x) => assert!(x.from && !x.to, "{d:?}"),
            other => panic!("pause changed {other:?}"),
        }
    }
    assert!(!torrent_of(&seen[0]).playing);
    assert_eq!(seen[1].diff.as_ref(), Some(d));

    // resume -> exactly updated(active false -> true) + resumed.
    let r = m.resume(&hash).await.expect("resume");
    assert!(r.active);
    let seen = until(&mut rx, EventKind::Resumed).await;
    assert_eq!(kinds(&seen), [EventKind::Updated, EventKind::Resumed]);
    let d = seen[0].diff.as_ref().expect("diff");
    assert_eq!(
        d.get("active"),
        Some(&Change::Active(Delta {
            from: false,
            to: true
        }))
    );
    assert!(
        d.fields().iter().all(|f| ["active", "playing"].contains(f)),
        "{d:?}"
    );
    drain(&mut rx, Duration::from_millis(500)).await;

    // remove -> exactly removed, carrying the last known record.
    let last = m.delete(&hash, false).await.expect("delete");
    let seen = until(&mut rx, EventKind::Removed).await;
    assert_eq!(kinds(&seen), [EventKind::Removed]);
    assert_eq!(torrent_of(&seen[0]).hash, hash);
    assert!(torrent_of(&seen[0]).finished);
    assert_eq!(last.hash, hash);
    assert!(m.get_all().await.expect("list").is_empty());
    // Unknown torrents are errors, not panics.
    assert!(m.pause(&"00".repeat(20)).await.is_err());
    assert!(drain(&mut rx, Duration::from_millis(500)).await.is_empty());
    m.shutdown().await;
    tcp.close();
    server.shutdown().await;
    seed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_server_that_sends_junk_then_nothing_yields_timeouts_not_a_stuck_manager() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Accepts, sends junk (bad JSON, another client's answer, a huge number), then reads
    // everything and answers nothing.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s
                    .write_all(
                        b"not json\n{\"type\":\"swarmfs/v1/torrents\",\"clientKey\":\"other\",\"requestId\":\"0\",\"torrents\":[]}\n{\"type\":\"update\",\"progress\":1e999}\n",
                    )
                    .await;
                let mut buf = [0u8; 4096];
                while s.read(&mut buf).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    let root = tempfile::tempdir().expect("tempdir");
    let mut c = BackendConfig::new(
        "mute",
        Arc::new(RemoteBackend::tcp(addr, None)),
        Duration::from_millis(50),
        root.path(),
    );
    c.timeout = Duration::from_millis(200);
    let m = Manager::builder().backend(c).start();
    let mut rx = m.subscribe();
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an error event")
            .expect("recv");
        assert_eq!(e.event, EventKind::Error);
        assert!(
            e.error.as_deref().unwrap_or("").contains("timed out"),
            "{e:?}"
        );
    }
    let t0 = std::time::Instant::now();
    assert!(m.get_all().await.is_err());
    assert!(t0.elapsed() < Duration::from_secs(5));
    m.shutdown().await;
}
