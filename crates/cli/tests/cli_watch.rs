//! `swarmfs watch --config FILE` through the built binary, against a real rtorrent (SKIP line
//! when it is not installed) and a real loopback HTTP receiver: events printed as JSON lines,
//! signed webhooks, Ctrl-C shutdown, and a kill -9 with undelivered events followed by a
//! restart that delivers all of them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarmfs_metainfo::{Torrent, TorrentBuilder};
use swarmfs_watch::{Backend, EVENT_ID_HEADER, RtorrentBackend, SIGNATURE_HEADER, verify};

const SECRET: &str = "cli hook secret";

/// A real rtorrent on loopback, killed when dropped.
struct Rtorrent {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Rtorrent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_rtorrent(rt: &tokio::runtime::Runtime) -> Option<Rtorrent> {
    if Command::new("rtorrent").arg("-h").output().is_err() {
        println!("SKIP: rtorrent not installed (apt-get install -y rtorrent)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("session")).unwrap();
    std::fs::create_dir_all(dir.path().join("download")).unwrap();
    let rc = format!(
        "system.daemon.set = true\n\
         network.scgi.open_port = {addr}\n\
         network.bind_address.set = 127.0.0.1\n\
         network.port_range.set = {p}-{p}\n\
         dht.mode.set = disable\n\
         protocol.pex.set = no\n\
         trackers.use_udp.set = no\n\
         session.path.set = {d}/session\n\
         directory.default.set = {d}/download\n",
        p = free_port(),
    );
    let rc_path = dir.path().join("rtorrent.rc");
    std::fs::write(&rc_path, rc).unwrap();
    let child = Command::new("rtorrent")
        .arg("-n")
        .arg("-o")
        .arg(format!("import={}", rc_path.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = Rtorrent {
        child,
        addr,
        _dir: dir,
    };
    let b = RtorrentBackend::new(addr);
    for _ in 0..200 {
        if rt.block_on(b.list()).is_ok() {
            return Some(r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("rtorrent did not answer on {addr}");
}

/// One POST the receiver accepted.
#[derive(Clone, Debug)]
struct Delivery {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Delivery {
    fn event(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A loopback HTTP receiver answering 200 to every POST.
fn receiver(l: TcpListener) -> Arc<Mutex<Vec<Delivery>>> {
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let g = g.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                let head_end = loop {
                    let n = s.read(&mut tmp).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let headers: BTreeMap<String, String> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                    .collect();
                let len: usize = headers["content-length"].parse().unwrap();
                while buf.len() < head_end + len {
                    let n = s.read(&mut tmp).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = buf[head_end..head_end + len].to_vec();
                g.lock().unwrap().push(Delivery { headers, body });
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    got
}

/// A running `swarmfs --json watch`, its stdout lines parsed.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Watcher {
    fn start(config: &Path) -> (Self, serde_json::Value) {
        let mut child = Command::new(support::BIN)
            .args(["--json", "watch", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut w = Self { child, lines: rx };
        let first = w.next();
        (w, first)
    }

    fn next(&mut self) -> serde_json::Value {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line from swarmfs watch ({:?})", self.child.try_wait()))
    }

    /// Events until one of `kind` for `hash`, inclusive.
    fn until(&mut self, kind: &str, hash: &str) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        loop {
            let e = self.next();
            let hit = e["event"] == kind && e["torrent"]["hash"] == hash;
            seen.push(e);
            if hit {
                return seen;
            }
        }
    }

    /// Sends `sig` to this process (by its id) and waits for its exit code.
    fn signal(mut self, sig: &str) -> Option<i32> {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "swarmfs watch did not stop on SIG{sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, rtorrent: SocketAddr, hook: &str) -> std::path::PathBuf {
    let p = dir.join("watch.toml");
    std::fs::write(
        &p,
        format!(
            "root = \"state\"\n\n\
             [[backend]]\nname = \"rt\"\nkind = \"rtorrent\"\naddress = \"{rtorrent}\"\n\
             interval = \"100ms\"\ntimeout = 5\n\n\
             [[webhook]]\nurl = \"{hook}\"\nsecret = \"{SECRET}\"\n\
             base_backoff = \"50ms\"\nmax_backoff = \"200ms\"\nmax_attempts = 1000\n"
        ),
    )
    .unwrap();
    p
}

fn torrent(name: &str, data: &[u8]) -> Torrent {
    TorrentBuilder::new()
        .piece_length(16 * 1024)
        .build_single(name, data)
        .unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(60), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_signed(got: &[Delivery]) {
    for d in got {
        assert!(
            verify(SECRET.as_bytes(), &d.body, &d.headers[SIGNATURE_HEADER]),
            "bad signature on {}",
            String::from_utf8_lossy(&d.body)
        );
        assert_eq!(d.headers[EVENT_ID_HEADER], d.event()["id"]);
    }
}

#[test]
fn watch_prints_rtorrent_events_as_json_and_posts_signed_webhooks() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(rtorrent) = start_rtorrent(&rt) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", l.local_addr().unwrap());
    let got = receiver(l);
    let config = write_config(dir.path(), rtorrent.addr, &hook);
    let (mut w, first) = Watcher::start(&config);
    assert_eq!(first["watching"], serde_json::json!(["rt"]), "{first}");

    let data = support::pattern(100_000, 9);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/a.bin"), &data).unwrap();
    let t = torrent("a.bin", &data);
    let hash = t.info_hash().to_hex();
    let b = RtorrentBackend::new(rtorrent.addr);
    rt.block_on(b.add_torrent_with_data(&t.to_bytes(), dir.path().join("data")))
        .unwrap();
    let seen = w.until("finished", &hash);
    assert_eq!(seen[0]["event"], "added", "{seen:#?}");
    assert_eq!(seen[0]["backend"], "rt");
    assert_eq!(seen[0]["torrent"]["length"], 100_000);
    rt.block_on(b.pause(&hash)).unwrap();
    let seen = w.until("paused", &hash);
    assert_eq!(
        seen.iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["updated", "paused"],
        "{seen:#?}"
    );
    let active = seen[0]["diff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "active")
        .cloned()
        .unwrap();
    assert_eq!(
        (active["from"].clone(), active["to"].clone()),
        (true.into(), false.into())
    );
    rt.block_on(b.resume(&hash)).unwrap();
    w.until("resumed", &hash);
    rt.block_on(b.remove(&hash, false)).unwrap();
    let seen = w.until("removed", &hash);
    let printed_ids: BTreeSet<String> = seen
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    // The webhook got the removal too (and everything before it), signed.
    wait_for("webhooks", || {
        got.lock()
            .unwrap()
            .iter()
            .any(|d| d.event()["event"] == "removed")
    });
    assert_eq!(w.signal("INT"), Some(0), "Ctrl-C is a clean exit");
    let got = got.lock().unwrap().clone();
    assert_signed(&got);
    let posted: BTreeSet<String> = got
        .iter()
        .map(|d| d.event()["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        printed_ids.is_subset(&posted),
        "{printed_ids:?} vs {posted:?}"
    );
    let kinds: Vec<String> = got
        .iter()
        .map(|d| d.event()["event"].as_str().unwrap().to_owned())
        .collect();
    for k in [
        "added", "updated", "finished", "paused", "resumed", "removed",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} posted: {kinds:?}");
    }
}

#[test]
fn watch_killed_with_sigkill_delivers_every_accepted_event_after_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(rtorrent) = start_rtorrent(&rt) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let b = RtorrentBackend::new(rtorrent.addr);
    let mut hashes = BTreeSet::new();
    for i in 0..20u8 {
        let t = torrent(&format!("t{i}.bin"), &support::pattern(20_000, i));
        hashes.insert(rt.block_on(b.add_torrent(&t.to_bytes())).unwrap());
    }
    // The receiver is down during the first run: its port is reserved, then closed.
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let config = write_config(dir.path(), rtorrent.addr, &hook);

    let (mut w, _) = Watcher::start(&config);
    let mut accepted = BTreeMap::new();
    while accepted.len() < hashes.len() {
        let e = w.next();
        assert_eq!(e["event"], "added", "{e}");
        accepted.insert(
            e["id"].as_str().unwrap().to_owned(),
            e["torrent"]["hash"].as_str().unwrap().to_owned(),
        );
    }
    // A printed event was written to the outbox first; kill -9 now, mid-retry.
    w.child.kill().unwrap();
    let status = w.child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    drop(w);
    // While the watcher is down, one torrent is paused.
    let paused = hashes.iter().next().unwrap().clone();
    rt.block_on(b.pause(&paused)).unwrap();

    let got = receiver(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let (mut w, _) = Watcher::start(&config);
    // The restart reports what changed while it was down, and does not replay `added`.
    let seen = w.until("paused", &paused);
    assert!(
        seen.iter().all(|e| e["event"] != "added"),
        "added replayed: {seen:#?}"
    );
    let paused_id = seen.last().unwrap()["id"].as_str().unwrap().to_owned();
    wait_for("every accepted event delivered", || {
        let ids: BTreeSet<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.event()["id"].as_str().unwrap().to_owned())
            .collect();
        accepted.keys().all(|id| ids.contains(id)) && ids.contains(&paused_id)
    });
    assert_eq!(w.signal("TERM"), Some(0));
    let got = got.lock().unwrap().clone();
    assert_signed(&got);
    // Duplicates (if any) are the same event: same id, same body.
    let mut by_id: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for d in &got {
        let id = d.event()["id"].as_str().unwrap().to_owned();
        if let Some(prev) = by_id.insert(id.clone(), d.body.clone()) {
            assert_eq!(prev, d.body, "duplicate {id} with another body");
        }
    }
    for (id, hash) in &accepted {
        let body: serde_json::Value = serde_json::from_slice(&by_id[id]).unwrap();
        assert_eq!(body["event"], "added");
        assert_eq!(body["torrent"]["hash"], hash.as_str());
    }
    let added = got
        .iter()
        .filter(|d| d.event()["event"] == "added")
        .map(|d| d.event()["id"].as_str().unwrap().to_owned())
        .collect::<BTreeSet<_>>();
    assert_eq!(
        added,
        accepted.keys().cloned().collect(),
        "no added event beyond those accepted before the kill"
    );
}
