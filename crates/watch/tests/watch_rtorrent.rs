//! The rTorrent backend: against a fake SCGI server (well-formed, malformed and hanging
//! answers) and against a real `rtorrent` when it is installed (else a SKIP line).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use swarmfs_metainfo::TorrentBuilder;
use swarmfs_watch::{
    Backend, BackendConfig, Event, EventKind, Manager, RtorrentBackend, TorrentRecord,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

const HASH: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

fn multicall(rows: &[[&str; 12]]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param><value><array><data>\n",
    );
    for r in rows {
        s.push_str("<value><array><data>");
        for (i, f) in r.iter().enumerate() {
            if (2..=6).contains(&i) || i == 8 || i == 9 {
                s.push_str(&format!("<value><i8>{f}</i8></value>"));
            } else {
                s.push_str(&format!("<value><string>{f}</string></value>"));
            }
        }
        s.push_str("</data></array></value>\n");
    }
    s.push_str("</data></array></value></param></params></methodResponse>\n");
    s
}

/// A fake answer that closes the connection without a byte.
const CLOSE: &str = "\u{0}close";
/// Prefix of a fake answer sent as raw bytes.
const RAW: &str = "\u{0}raw";

const FILES: &str = "<methodResponse><params><param><value><array><data><value><array><data><value><string>a.bin</string></value><value><i8>1000</i8></value></data></array></value></data></array></value></param></params></methodResponse>";

/// A fake rtorrent: reads one SCGI request per connection and answers with `answer(request
/// number, body)`; `None` hangs.
async fn fake(
    answer: impl Fn(usize, &str) -> Option<String> + Send + Sync + 'static,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let answer = Arc::new(answer);
    let n = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let (answer, n) = (answer.clone(), n.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                // netstring "len:headers," then CONTENT_LENGTH bytes
                loop {
                    let k = s.read(&mut tmp).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..k]);
                    let Some(colon) = buf.iter().position(|b| *b == b':') else {
                        continue;
                    };
                    let hlen: usize = std::str::from_utf8(&buf[..colon]).unwrap().parse().unwrap();
                    if buf.len() < colon + 1 + hlen + 1 {
                        continue;
                    }
                    let headers = &buf[colon + 1..colon + 1 + hlen];
                    let mut it = headers.split(|b| *b == 0);
                    assert_eq!(it.next(), Some(&b"CONTENT_LENGTH"[..]));
                    let clen: usize = std::str::from_utf8(it.next().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(buf[colon + 1 + hlen], b',');
                    let start = colon + 2 + hlen;
                    if buf.len() < start + clen {
                        continue;
                    }
                    let body = String::from_utf8_lossy(&buf[start..start + clen]).to_string();
                    let i = n.fetch_add(1, Ordering::SeqCst);
                    match answer(i, &body) {
                        // Close without answering, or send raw bytes (no CGI headers).
                        Some(a) if a == CLOSE => {}
                        Some(a) if a.starts_with(RAW) => {
                            let _ = s.write_all(&a.as_bytes()[RAW.len()..]).await;
                        }
                        Some(a) => {
                            let r = format!(
                                "Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{a}",
                                a.len()
                            );
                            let _ = s.write_all(r.as_bytes()).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                    return;
                }
            });
        }
    });
    addr
}

fn row(done: u64, state: u64) -> [String; 12] {
    [
        HASH.into(),
        "a.bin".into(),
        state.to_string(),
        state.to_string(),
        done.to_string(),
        "0".into(),
        "1000".into(),
        "/tmp/a.torrent".into(),
        "0".into(),
        "0".into(),
        "/data/a.bin".into(),
        String::new(),
    ]
}

fn as_refs(r: &[String; 12]) -> [&str; 12] {
    std::array::from_fn(|i| r[i].as_str())
}

#[tokio::test]
async fn fake_rtorrent_records_and_hostile_answers() {
    // Request 0: a full multicall; 1: files; then garbage, then a fault, then a hang.
    let addr = fake(|i, body| match i {
        0 => {
            assert!(
                body.contains("<methodName>d.multicall2</methodName>"),
                "{body}"
            );
            Some(multicall(&[as_refs(&row(250, 1))]))
        }
        1 => {
            assert!(
                body.contains("f.multicall") && body.contains(HASH),
                "{body}"
            );
            Some(FILES.into())
        }
        2 => Some("<html>not xml-rpc".into()),
        3 => Some(multicall(&[["x"; 12]])),
        _ => None,
    })
    .await;
    let b = RtorrentBackend::new(addr);
    let all = b.get_all().await.unwrap();
    assert_eq!(all.len(), 1);
    let r: &TorrentRecord = &all[0];
    assert_eq!(r.hash, HASH.to_ascii_lowercase());
    assert_eq!(
        (r.downloaded, r.length, r.progress, r.finished),
        (250, 1000, 0.25, false)
    );
    assert!(r.active && !r.playing);
    assert_eq!(r.path, "a.torrent");
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].path, "a.bin");
    assert_eq!(r.extra["base_path"], "/data/a.bin");
    assert!(b.get_all().await.is_err(), "malformed xml accepted");
    assert!(b.get_all().await.is_err(), "bad fields accepted");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), b.get_all())
            .await
            .is_err()
    );
    assert!(matches!(
        b.pause("nothex").await,
        Err(swarmfs_watch::BackendError::BadHash { .. })
    ));
}

#[tokio::test]
async fn fake_rtorrent_through_the_manager() {
    // The torrent progresses 0 -> 1000 bytes, then stops; malformed answers in between become
    // error events and the manager keeps going.
    let addr = fake(|i, body| {
        if body.contains("f.multicall") {
            return Some(FILES.into());
        }
        let r = match i {
            0 => row(0, 1),
            2 => return Some("garbage".into()),
            3 | 4 => row(1000, 1),
            _ => row(1000, 0),
        };
        Some(multicall(&[as_refs(&r)]))
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let mut c = BackendConfig::new(
        "rt",
        Arc::new(RtorrentBackend::new(addr)),
        Duration::from_millis(30),
        root.path(),
    );
    c.timeout = Duration::from_secs(2);
    let m = Manager::builder().backend(c).start();
    let mut rx = m.subscribe();
    let seen = until(&mut rx, Paused).await;
    let k: Vec<EventKind> = seen.iter().map(|e| e.event).collect();
    use EventKind::{Added, Error, Finished, Paused, Updated};
    assert_eq!(
        k,
        [Added, Error, Updated, Finished, Updated, Paused],
        "{seen:#?}"
    );
    assert!(seen[1].error.as_deref().unwrap().contains("malformed"));
    m.shutdown().await;
}

#[tokio::test]
async fn missing_fields_truncation_and_closed_connections_are_errors_then_recovery() {
    // Each hostile answer to the full multicall, then a good one.
    let mut short = row(10, 1).to_vec();
    short.pop();
    let short: Vec<&str> = short.iter().map(String::as_str).collect();
    let missing = multicall(&[as_refs(&row(10, 1))]).replace("<value><i8>1000</i8></value>", "");
    let good = multicall(&[as_refs(&row(10, 1))]);
    let hostile: Vec<String> = vec![
        // A row with 11 fields.
        format!(
            "<methodResponse><params><param><value><array><data><value><array><data>{}</data></array></value></data></array></value></param></params></methodResponse>",
            short
                .iter()
                .map(|f| format!("<value><string>{f}</string></value>"))
                .collect::<String>()
        ),
        // The size field left out.
        missing,
        // Negative byte counts.
        multicall(&[as_refs(&row(10, 1))]).replace("<i8>1000</i8>", "<i8>-5</i8>"),
        // Cut in the middle.
        format!("{RAW}Status: 200 OK\r\n\r\n{}", &good[..good.len() / 2]),
        // No answer at all.
        CLOSE.to_owned(),
        // A struct where an array belongs.
        "<methodResponse><params><param><value><struct><member><name>a</name><value><i4>1</i4></value></member></struct></value></param></params></methodResponse>".to_owned(),
        // An empty params list.
        "<methodResponse><params></params></methodResponse>".to_owned(),
    ];
    let n = hostile.len();
    let multicalls = Arc::new(AtomicUsize::new(0));
    let k2 = multicalls.clone();
    let addr = fake(move |_, body| {
        if body.contains("f.multicall") {
            // The first file list answered has a negative length: as bad as the rest.
            return Some(if k2.load(Ordering::SeqCst) <= n + 1 {
                FILES.replace("<i8>1000</i8>", "<i8>-1</i8>")
            } else {
                FILES.into()
            });
        }
        let k = k2.fetch_add(1, Ordering::SeqCst);
        Some(hostile.get(k).cloned().unwrap_or_else(|| good.clone()))
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let mut c = BackendConfig::new(
        "rt",
        Arc::new(RtorrentBackend::new(addr)),
        Duration::from_millis(20),
        root.path(),
    );
    c.timeout = Duration::from_secs(2);
    let m = Manager::builder().backend(c).start();
    let mut rx = m.subscribe();
    let seen = until(&mut rx, EventKind::Added).await;
    // One error per hostile answer (and one for the bad file list), then the torrent.
    let errors: Vec<&str> = seen
        .iter()
        .filter(|e| e.event == EventKind::Error)
        .map(|e| e.error.as_deref().unwrap())
        .collect();
    assert_eq!(errors.len(), n + 1, "{errors:#?}");
    assert_eq!(seen.len(), n + 2, "{seen:#?}");
    assert!(multicalls.load(Ordering::SeqCst) >= n + 2);
    let t = seen.last().unwrap().torrent.as_ref().unwrap();
    assert_eq!((t.length, t.files.len()), (1000, 1));
    m.shutdown().await;
}

async fn until(rx: &mut broadcast::Receiver<Event>, kind: EventKind) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind:?}; saw {seen:#?}"))
            .unwrap();
        let k = e.event;
        seen.push(e);
        if k == kind {
            return seen;
        }
    }
}

struct Rtorrent {
    child: tokio::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start_rtorrent() -> Option<Rtorrent> {
    let found = std::process::Command::new("rtorrent")
        .arg("-h")
        .output()
        .is_ok();
    if !found {
        println!("SKIP: rtorrent not installed (apt-get install -y rtorrent)");
        return None;
    }
    // A port picked free may be taken again before rtorrent binds it (its peer port is the
    // next one): then rtorrent exits, and another pair of ports is tried.
    let mut tried = Vec::new();
    for _ in 0..3 {
        match try_start_rtorrent().await {
            Ok(r) => return Some(r),
            Err(why) => tried.push(why),
        }
    }
    panic!("rtorrent did not start: {tried:?}");
}

async fn try_start_rtorrent() -> Result<Rtorrent, String> {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
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
        p = port.wrapping_add(1).max(1025),
    );
    let rc_path = dir.path().join("rtorrent.rc");
    std::fs::write(&rc_path, rc).unwrap();
    let mut child = tokio::process::Command::new("rtorrent")
        .arg("-n")
        .arg("-o")
        .arg(format!("import={}", rc_path.display()))
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let b = RtorrentBackend::new(addr);
    for _ in 0..200 {
        if b.list().await.is_ok() {
            return Ok(Rtorrent {
                child,
                addr,
                _dir: dir,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("rtorrent on {addr} exited: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("rtorrent did not answer on {addr} within 10 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rtorrent_lifecycle() {
    let Some(mut rt) = start_rtorrent().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..(600 * 1024u32)).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(data_dir.path().join("file.bin"), &payload).unwrap();
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("file.bin", &payload)
        .unwrap();
    let hash = torrent.info_hash().to_hex();
    let root = tempfile::tempdir().unwrap();
    let m = Manager::builder()
        .backend(BackendConfig::new(
            "rtorrent",
            Arc::new(RtorrentBackend::new(rt.addr)),
            Duration::from_millis(100),
            root.path(),
        ))
        .start();
    let mut rx = m.subscribe();

    let r = m
        .add_torrent_with_data("rtorrent", &torrent.to_bytes(), data_dir.path())
        .await
        .unwrap();
    assert_eq!(r.hash, hash);
    assert!(r.finished, "{r:?}");
    assert_eq!(r.length, payload.len() as u64);
    assert_eq!(r.files.len(), 1);
    let seen = until(&mut rx, EventKind::Finished).await;
    assert_eq!(seen[0].event, EventKind::Added, "{seen:#?}");

    m.pause(&hash).await.unwrap();
    let seen = until(&mut rx, EventKind::Paused).await;
    assert!(seen.iter().any(|e| e.event == EventKind::Updated));
    m.resume(&hash).await.unwrap();
    until(&mut rx, EventKind::Resumed).await;

    // A torrent without data: added, not finished.
    let other = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("other.bin", &payload[..100_000])
        .unwrap();
    let o = m.add_torrent("rtorrent", &other.to_bytes()).await.unwrap();
    assert!(!o.finished && o.downloaded == 0, "{o:?}");
    let seen = until(&mut rx, EventKind::Added).await;
    assert_eq!(
        seen.last().unwrap().torrent.as_ref().unwrap().hash,
        other.info_hash().to_hex()
    );
    assert_eq!(m.get_all().await.unwrap().len(), 2);

    m.delete(&hash, false).await.unwrap();
    let seen = until(&mut rx, EventKind::Removed).await;
    assert_eq!(seen.last().unwrap().torrent.as_ref().unwrap().hash, hash);
    assert!(data_dir.path().join("file.bin").exists(), "data kept");
    m.shutdown().await;
    rt.child.kill().await.unwrap();
}
