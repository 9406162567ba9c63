//! Interop with libtorrent 2.x through its Python bindings (`pip install libtorrent`), loopback
//! only: libtorrent seeds and swarmfs fetches from a magnet with `x.pe` (metadata and data);
//! swarmfs seeds and libtorrent fetches. Skipped, with a printed SKIP line, when
//! `import libtorrent` fails.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use support::*;
use swarmfs_engine::TorrentOptions;
use swarmfs_file::FileStorage;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, PeerAddr, Torrent, TorrentBuilder};

/// Kills the child process when dropped (a failing test leaves nothing behind).
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py")
}

fn libtorrent_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: python3 cannot import libtorrent (pip install libtorrent)");
    }
    ok
}

/// A payload written to `dir/name` and its torrent written to `dir/t.torrent`.
fn payload_on_disk(dir: &Path, len: usize, seed: u64) -> (Vec<u8>, Torrent, PathBuf) {
    let bytes = data(len, seed);
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("payload.bin", &bytes)
        .expect("build");
    let tpath = dir.join("t.torrent");
    std::fs::write(&tpath, torrent.to_bytes()).expect("write torrent");
    (bytes, torrent, tpath)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeds_swarmfs_fetches_magnet_with_x_pe() {
    if !libtorrent_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).expect("mkdir");
    let (bytes, torrent, tpath) = payload_on_disk(dir.path(), 3 << 20, 80);
    std::fs::write(seed_dir.join("payload.bin"), &bytes).expect("write payload");
    let mut lt = Reap(
        Command::new("python3")
            .arg(script())
            .args(["seed".as_ref(), tpath.as_os_str(), seed_dir.as_os_str()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn libtorrent"),
    );
    let stdout = lt.0.stdout.take().expect("stdout");
    let ready = timeout(tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    }))
    .await
    .expect("join")
    .expect("READY line");
    let port: u16 = ready
        .trim()
        .strip_prefix("READY port=")
        .expect("READY")
        .parse()
        .expect("port");

    let mut magnet = Magnet::from_info_hash(torrent.info_hash());
    magnet
        .peers
        .push(PeerAddr::Ip(([127, 0, 0, 1], port).into()));
    let e = engine().await;
    let t = e
        .add_magnet(&magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add");
    let info = timeout(t.wait_metadata())
        .await
        .expect("metadata from libtorrent");
    assert_eq!(info.as_bytes(), torrent.info().as_bytes());
    timeout(t.wait_done()).await.expect("data from libtorrent");
    assert_eq!(read_all(&t, bytes.len()).await, bytes);
    e.shutdown().await;
    drop(lt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_seeds_libtorrent_fetches() {
    if !libtorrent_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_dir = dir.path().join("seed");
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&seed_dir).expect("mkdir");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let (bytes, torrent, tpath) = payload_on_disk(dir.path(), 3 << 20, 81);
    std::fs::write(seed_dir.join("payload.bin"), &bytes).expect("write payload");
    let e = engine().await;
    let t = e
        .add_info(
            torrent.info().clone(),
            Arc::new(FileStorage::in_dir(&seed_dir)),
            TorrentOptions::new().recheck(true),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("seed checked");
    let peer = e.listen_addr().to_string();
    let args = [
        script().into_os_string(),
        "leech".into(),
        tpath.into_os_string(),
        out_dir.clone().into_os_string(),
        peer.into(),
    ];
    let out = timeout(tokio::task::spawn_blocking(move || {
        Command::new("python3").args(args).output()
    }))
    .await
    .expect("join")
    .expect("run libtorrent");
    assert!(
        out.status.success(),
        "libtorrent leech failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(out_dir.join("payload.bin")).expect("read"),
        bytes
    );
    assert!(t.stats().await.expect("stats").uploaded >= bytes.len() as u64);
    e.shutdown().await;
}
