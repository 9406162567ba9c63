//! The bridge and web seeds against a real web server: nginx from Debian, started by the test
//! on 127.0.0.1 serving a temporary directory. Prints a SKIP line when nginx is not installed
//! (`apt-get install nginx-light`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use swarmfs_bridge::{Bridge, BridgeError, BridgeOptions, download_from_web_seeds};
use swarmfs_engine::{Engine, TorrentHandle, TorrentOptions};
use swarmfs_http_storage::{HttpError, HttpOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, SafePath, TorrentBuilder};
use swarmfs_storage::conformance::pattern;

struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    www: PathBuf,
}

impl Nginx {
    fn start() -> Option<Self> {
        let bin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())?;
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;\n\
             fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
             keepalive_requests 100000;\n\
             server {{ listen 127.0.0.1:{port}; root {d}/www;\n\
             location /old/ {{ rewrite ^/old/(.*)$ /$1 redirect; }} }} }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut me = Self {
            child,
            port,
            _dir: dir,
            www,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(me);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = me.child.kill();
        None
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn put(&self, path: &str, data: &[u8]) -> PathBuf {
        let p = self.www.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_or_skip(test: &str) -> Option<Nginx> {
    let n = Nginx::start();
    if n.is_none() {
        println!("SKIP {test}: nginx not installed (apt-get install nginx-light)");
    }
    n
}

async fn engine() -> Engine {
    Engine::builder()
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .build()
        .await
        .unwrap()
}

async fn download(magnet: &str, len: usize) -> (Engine, TorrentHandle, Vec<u8>) {
    let e = engine().await;
    let h = e
        .add_magnet(
            &Magnet::parse(magnet).unwrap(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), h.wait_done())
        .await
        .expect("download finishes")
        .unwrap();
    let mut buf = vec![0u8; len];
    h.read_range(0, &mut buf).await.unwrap();
    (e, h, buf)
}

fn options() -> BridgeOptions {
    let mut o = BridgeOptions::default();
    o.http = HttpOptions::default().backoff(Duration::from_millis(5));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_bridge_seeds_a_large_file_and_a_set() {
    let Some(nginx) = nginx_or_skip("nginx_bridge_seeds_a_large_file_and_a_set") else {
        return;
    };
    let big = pattern(31, 16 << 20);
    nginx.put("/big.bin", &big);
    let seeder = engine().await;
    let bridge = Bridge::seed_urls(&seeder, &[nginx.url("/big.bin")], &options(), |_, _| {})
        .await
        .unwrap();
    let streamed = bridge.build_stats().expect("built from urls").bytes_fetched;
    assert!(
        streamed <= big.len() as u64 + 1,
        "streamed once: {streamed}"
    );
    let (leecher, _, got) = download(&bridge.magnet(), big.len()).await;
    assert!(got == big, "leecher bytes differ");
    let fetched = bridge.http_stats().bytes_fetched;
    println!(
        "nginx bridge: origin bytes fetched per byte served {:.3}",
        fetched as f64 / big.len() as f64
    );
    leecher.shutdown().await;
    bridge.stop().await.unwrap();

    let a = pattern(32, 3_000_000);
    let b = pattern(33, 1_000_001);
    nginx.put("/set/a.bin", &a);
    nginx.put("/set/b.bin", &b);
    let mut opts = options();
    opts.build.name = Some("set".into());
    let bridge = Bridge::seed_urls(
        &seeder,
        &[nginx.url("/set/a.bin"), nginx.url("/set/b.bin")],
        &opts,
        |_, _| {},
    )
    .await
    .unwrap();
    let (leecher, _, got) = download(&bridge.magnet(), a.len() + b.len()).await;
    assert!(got[..a.len()] == a[..] && got[a.len()..] == b[..]);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_changed_file_is_detected_and_redirects_work() {
    let Some(nginx) = nginx_or_skip("nginx_changed_file_is_detected_and_redirects_work") else {
        return;
    };
    let data = pattern(34, 1 << 20);
    let path = nginx.put("/f.bin", &data);
    let seeder = engine().await;
    // /old/f.bin answers 302 to /f.bin: opening follows it and pins the target.
    let moved = Bridge::seed_urls(&seeder, &[nginx.url("/old/f.bin")], &options(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(moved.torrent().info().total_length(), data.len() as u64);
    moved.stop().await.unwrap();
    // Without read-ahead, so the later read is not already in the window cache (cached bytes
    // were verified and stay servable).
    let mut o = options();
    o.http = o.http.read_ahead(0);
    let bridge = Bridge::seed_urls(&seeder, &[nginx.url("/f.bin")], &o, |_, _| {})
        .await
        .unwrap();
    let mut buf = vec![0u8; 1000];
    bridge.read(0, &mut buf).await.unwrap();
    assert_eq!(buf, data[..1000]);
    // Rewrite with other bytes and a later mtime: nginx's ETag changes.
    std::fs::write(&path, pattern(35, 1 << 20)).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    drop(f);
    let err = bridge.read(900_000, &mut buf).await.unwrap_err();
    let BridgeError::Storage(e) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(HttpError::from_storage(e), Some(HttpError::Changed { .. })),
        "{err}"
    );
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_web_seed_alone_downloads_fully() {
    let Some(nginx) = nginx_or_skip("nginx_web_seed_alone_downloads_fully") else {
        return;
    };
    let a = pattern(36, 2_000_000);
    let b = pattern(37, 777_777);
    nginx.put("/ws/album/one.bin", &a);
    nginx.put("/ws/album/two/three.bin", &b);
    let entries = [
        (SafePath::parse("one.bin").unwrap(), a.clone()),
        (SafePath::parse("two/three.bin").unwrap(), b.clone()),
    ];
    let torrent = TorrentBuilder::new()
        .build_entries("album", &entries)
        .unwrap();
    let info = torrent.info().clone();
    let storage = MemoryStorage::factory();
    let report = download_from_web_seeds(
        &info,
        &[nginx.url("/ws/")],
        storage.clone(),
        &HttpOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.pieces_fetched, info.piece_count());
    let e = engine().await;
    let h = e
        .add_info(info, storage, TorrentOptions::new().resume(true))
        .unwrap();
    h.wait_metadata().await.unwrap();
    let mut got = vec![0u8; a.len() + b.len()];
    h.read_range(0, &mut got).await.unwrap();
    assert!(got[..a.len()] == a[..] && got[a.len()..] == b[..]);
    e.shutdown().await;
}
