//! The local engine backend on a real loopback swarm: added -> updated -> finished, pause,
//! resume, remove, and replay of what changed while the watcher was down.

use std::sync::Arc;
use std::time::Duration;

use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Info, TorrentBuilder};
use swarmfs_storage::{StorageFactory, StoragePath};
use swarmfs_watch::{BackendConfig, Event, EventKind, LocalBackend, Manager};
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

async fn engine() -> Engine {
    Engine::builder().build().await.expect("engine")
}

async fn seeder(info: &Info, payload: &[u8]) -> Engine {
    let e = engine().await;
    let storage = MemoryStorage::factory();
    let safe = info.storage_path(0).expect("path");
    let path = StoragePath::new(safe.components()).expect("storage path");
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

async fn next(rx: &mut broadcast::Receiver<Event>, kind: EventKind) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind:?} event; saw {:?}", kinds(&seen)))
            .expect("recv");
        let k = e.event;
        seen.push(e);
        if k == kind {
            return seen;
        }
    }
}

fn kinds(v: &[Event]) -> Vec<EventKind> {
    v.iter().map(|e| e.event).collect()
}

fn manager(backend: &LocalBackend, root: &std::path::Path) -> Manager {
    Manager::builder()
        .backend(BackendConfig::new(
            "local",
            Arc::new(backend.clone()),
            Duration::from_millis(100),
            root,
        ))
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_swarm_lifecycle_produces_ordered_events_and_replays_after_restart() {
    let payload = data(3 << 20, 7);
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("file.bin", &payload)
        .expect("build");
    let hash = torrent.info_hash().to_hex();
    let seed = seeder(torrent.info(), &payload).await;
    let leech = engine().await;
    let backend = LocalBackend::new(leech.clone(), MemoryStorage::factory()).with_options(
        TorrentOptions::new()
            .peer(seed.listen_addr())
            .download_rate_limit(Some(2 << 20)),
    );
    let root = tempfile::tempdir().expect("tempdir");
    let m = manager(&backend, root.path());
    let mut rx = m.subscribe();

    let rec = m
        .add_torrent("local", &torrent.to_bytes())
        .await
        .expect("add");
    assert_eq!(rec.hash, hash);
    assert_eq!(rec.length, payload.len() as u64);

    // added -> updated (progress) ... -> updated(finished) -> finished
    let seen = next(&mut rx, EventKind::Finished).await;
    assert_eq!(seen[0].event, EventKind::Added, "{:?}", kinds(&seen));
    assert!(
        seen.iter()
            .all(|e| e.torrent.as_ref().is_some_and(|t| t.hash == hash))
    );
    let partial = seen.iter().any(|e| {
        e.event == EventKind::Updated
            && e.torrent
                .as_ref()
                .is_some_and(|t| t.progress > 0.0 && t.progress < 1.0)
    });
    assert!(
        partial,
        "no intermediate progress update: {:?}",
        kinds(&seen)
    );
    let before = &seen[seen.len() - 2];
    assert_eq!(before.event, EventKind::Updated);
    let d = before.diff.as_ref().expect("diff");
    assert!(d.fields().contains(&"finished"), "{:?}", d.fields());
    assert!(d.fields().contains(&"downloaded"), "{:?}", d.fields());
    let done = seen
        .last()
        .and_then(|e| e.torrent.clone())
        .expect("torrent");
    assert!(done.finished && done.downloaded == done.length && done.progress == 1.0);
    // Every update's diff, applied to the previous state, gives the reported state.
    let mut state = seen[0].torrent.clone().expect("added torrent");
    for e in seen.iter().filter(|e| e.event == EventKind::Updated) {
        state.apply(e.diff.as_ref().expect("diff"));
        assert_eq!(Some(&state), e.torrent.as_ref());
    }

    // pause -> updated(active) + paused; resume -> updated(active) + resumed
    let r = m.pause(&hash).await.expect("pause");
    assert!(!r.active);
    let seen = next(&mut rx, EventKind::Paused).await;
    let up = seen
        .iter()
        .rfind(|e| e.event == EventKind::Updated)
        .expect("update");
    assert!(up.diff.as_ref().expect("diff").fields().contains(&"active"));
    assert!(!kinds(&seen).contains(&EventKind::Resumed));
    m.resume(&hash).await.expect("resume");
    let seen = next(&mut rx, EventKind::Resumed).await;
    assert!(
        !kinds(&seen).contains(&EventKind::Paused),
        "{:?}",
        kinds(&seen)
    );

    // Restart: what changed while down is reported, nothing is re-added.
    m.shutdown().await;
    tokio::time::sleep(Duration::from_millis(200)).await; // let the resume settle in the snapshot
    leech
        .torrent(&torrent.info_hash())
        .expect("handle")
        .pause()
        .expect("pause");
    let m = manager(&backend, root.path());
    let mut rx = m.subscribe();
    m.poll_now();
    let seen = next(&mut rx, EventKind::Paused).await;
    assert!(
        !kinds(&seen).contains(&EventKind::Added),
        "{:?}",
        kinds(&seen)
    );
    assert!(
        kinds(&seen)
            .iter()
            .all(|k| matches!(k, EventKind::Updated | EventKind::Paused))
    );
    let d = seen[seen.len() - 2].diff.as_ref().expect("diff");
    assert!(d.fields().contains(&"active"), "{:?}", d.fields());

    // remove -> removed
    let gone = m.delete(&hash, true).await.expect("delete");
    assert_eq!(gone.hash, hash);
    let seen = next(&mut rx, EventKind::Removed).await;
    assert_eq!(kinds(&seen), [EventKind::Removed]);
    assert!(m.get_one(&hash).await.is_err());
    assert!(m.get_all().await.expect("all").is_empty());

    m.shutdown().await;
    leech.shutdown().await;
    seed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_with_data_verifies_then_seeds_and_refuses_wrong_data() {
    let payload = data(700 * 1024, 9);
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("file.bin", &payload)
        .expect("build");
    let good = tempfile::tempdir().expect("tempdir");
    std::fs::write(good.path().join("file.bin"), &payload).expect("write");
    let bad = tempfile::tempdir().expect("tempdir");
    let mut wrong = payload.clone();
    wrong[100_000] ^= 1;
    std::fs::write(bad.path().join("file.bin"), &wrong).expect("write");

    let e = engine().await;
    let backend = LocalBackend::new(e.clone(), MemoryStorage::factory());
    let root = tempfile::tempdir().expect("tempdir");
    let m = manager(&backend, root.path());
    let mut rx = m.subscribe();

    let err = m
        .add_torrent_with_data("local", &torrent.to_bytes(), bad.path())
        .await
        .expect_err("wrong data accepted");
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(m.get_all().await.expect("all").is_empty());

    let r = m
        .add_torrent_with_data("local", &torrent.to_bytes(), good.path())
        .await
        .expect("add with data");
    assert!(r.finished && r.active, "{r:?}");
    assert_eq!(r.downloaded, payload.len() as u64);
    assert_eq!(r.path, good.path().display().to_string());
    let seen = next(&mut rx, EventKind::Finished).await;
    assert_eq!(kinds(&seen), [EventKind::Added, EventKind::Finished]);

    // A leecher fetches it from the backend's engine: it really seeds.
    let leech = engine().await;
    let t = leech
        .add_info(
            torrent.info().clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(e.listen_addr()),
        )
        .expect("add leecher");
    tokio::time::timeout(Duration::from_secs(60), t.wait_done())
        .await
        .expect("leech timeout")
        .expect("leech done");
    m.shutdown().await;
    leech.shutdown().await;
    e.shutdown().await;
}
