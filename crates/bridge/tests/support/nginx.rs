//! Test support: a real nginx (Debian's `nginx-light`) started on 127.0.0.1 serving a temporary
//! directory, and a libtorrent leecher (python bindings) run as a child process.
//!
//! Locations: `/` serves the directory with byte ranges; `/old/x` redirects (302) to `/x`;
//! `/noranges/x` serves `/x` without range support (`max_ranges 0`); `/slow/x` serves `/x` at
//! 1 MiB/s per connection.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Nginx {
    child: Option<Child>,
    bin: PathBuf,
    conf: PathBuf,
    dir: tempfile::TempDir,
    www: PathBuf,
    pub port: u16,
}

impl Nginx {
    pub fn start() -> Option<Self> {
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
             location /old/ {{ rewrite ^/old/(.*)$ /$1 redirect; }}\n\
             location /noranges/ {{ alias {d}/www/; max_ranges 0; }}\n\
             location /slow/ {{ alias {d}/www/; limit_rate 1m; }} }} }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut me = Self {
            child: None,
            bin,
            conf: conf_path,
            dir,
            www,
            port,
        };
        me.resume().then_some(me)
    }

    /// Stops the server (the port refuses connections until [`Nginx::resume`]).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port; false when it does not come up.
    pub fn resume(&mut self) -> bool {
        self.stop();
        let Ok(child) = Command::new(&self.bin)
            .arg("-p")
            .arg(self.dir.path())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return false;
        };
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        false
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn put(&self, path: &str, data: &[u8]) -> PathBuf {
        let p = self.www.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    /// A scratch directory that lives as long as the server.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn nginx_or_skip(test: &str) -> Option<Nginx> {
    let n = Nginx::start();
    if n.is_none() {
        println!("SKIP {test}: nginx not installed (apt-get install nginx-light)");
    }
    n
}

/// Whether `python3 -c "import libtorrent"` works; prints a SKIP line for `test` when not.
pub fn libtorrent_or_skip(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP {test}: python3 cannot import libtorrent (pip install libtorrent==2.1.1)");
    }
    ok
}

/// Runs the libtorrent leecher (`tests/interop/lt_leech.py`) on `torrent` into `save`, dialling
/// `peer`; returns its combined output once it exits, and whether it succeeded.
pub fn lt_leech(torrent: &Path, save: &Path, peer: std::net::SocketAddr) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_leech.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(torrent)
        .arg(save)
        .arg(peer.to_string())
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("DONE"), text)
}
