//! `swarmfs watch --config FILE`: watch torrent servers, print their events, deliver webhooks.
//!
//! The TOML file names the backends and webhooks:
//!
//! ```toml
//! root = "watch-state"            # state and outboxes (default: beside the config file)
//!
//! [[backend]]
//! name = "seedbox"
//! kind = "rtorrent"               # rtorrent (XML-RPC over SCGI) or remote (swarmfs-remote TCP)
//! address = "127.0.0.1:5000"      # network.scgi.open_port, or the remote server's address
//! # token = "..."                 # remote only: the server's token off loopback
//! interval = "5s"                 # seconds as a number, or "500ms", "5s", "2m"
//! timeout = "10s"                 # bound on one backend call
//! # root = "..."                  # this backend's state (default: ROOT/backends/NAME)
//!
//! [[webhook]]
//! url = "http://127.0.0.1:8000/hook"
//! secret = "shared secret"         # or secret_file = "path"
//! max_attempts = 10
//! base_backoff = "200ms"
//! max_backoff = "60s"
//! timeout = "10s"
//! concurrency = 8
//! queue_capacity = 10000
//! # outbox = "..."                # default: ROOT/webhooks/N
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde::Deserialize;
use swarmfs_watch::{
    Backend, BackendConfig, Change, Event, Listener, Manager, RemoteBackend, RtorrentBackend,
    WebhookConfig,
};

use crate::cmd::Output;
use crate::failure::Failure;
use crate::net::interrupted;

/// `swarmfs watch` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct WatchArgs {
    /// TOML file naming the backends and webhooks (see `swarmfs watch --help`).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
}

pub(crate) async fn run(args: WatchArgs, out: Output) -> Result<(), Failure> {
    let config = Config::load(&args.config)?;
    let (tx, rx) = mpsc::channel::<Option<Event>>();
    let printer = std::thread::spawn(move || print_events(&rx, out.json));
    let mut builder = Manager::builder();
    let mut names = Vec::new();
    for b in &config.backends {
        builder.backend(b.build(&config.root)?);
        names.push(b.name.clone());
    }
    for (i, h) in config.webhooks.iter().enumerate() {
        builder.webhook(h.build(&config, i)?);
    }
    builder.listener(Arc::new(Printer(Mutex::new(tx.clone()))));
    let manager = builder.start();
    out.line(
        format_args!(
            "watching {}; {} webhook(s); state under {}",
            names.join(", "),
            config.webhooks.len(),
            config.root.display()
        ),
        serde_json::json!({
            "watching": names,
            "webhooks": config.webhooks.len(),
            "root": config.root,
        }),
    );
    interrupted().await;
    manager.shutdown().await;
    let backlog = manager.webhook_backlog();
    if backlog > 0 {
        eprintln!("swarmfs: {backlog} webhook event(s) kept in the outbox for the next run");
    }
    let _ = tx.send(None);
    let _ = printer.join();
    Ok(())
}

/// Hands events to the printing thread (the listener never blocks on stdout).
struct Printer(Mutex<mpsc::Sender<Option<Event>>>);

impl Listener for Printer {
    fn on_event(&self, event: &Event) {
        let tx = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = tx.send(Some(event.clone()));
    }
}

fn print_events(rx: &mpsc::Receiver<Option<Event>>, json: bool) {
    use std::io::Write;
    let stdout = std::io::stdout();
    while let Ok(Some(e)) = rx.recv() {
        let line = if json {
            serde_json::to_string(&e).unwrap_or_default()
        } else {
            text_line(&e)
        };
        let mut lock = stdout.lock();
        if writeln!(lock, "{line}")
            .and_then(|()| lock.flush())
            .is_err()
        {
            return;
        }
    }
}

/// `BACKEND EVENT HASH NAME [details]`.
fn text_line(e: &Event) -> String {
    let mut s = format!("{} {}", e.backend, e.event.as_str());
    if let Some(t) = &e.torrent {
        s.push_str(&format!(" {} {:?}", t.hash, t.name));
    }
    match (&e.diff, &e.error) {
        (_, Some(err)) => s.push_str(&format!(" {err}")),
        (Some(d), None) => {
            let parts: Vec<String> = d.changes().iter().map(change_text).collect();
            s.push_str(&format!(" {}", parts.join(", ")));
        }
        (None, None) => {
            if let Some(t) = &e.torrent {
                s.push_str(&format!(" {:.1}%", t.progress * 100.0));
            }
        }
    }
    s
}

fn change_text(c: &Change) -> String {
    let v = serde_json::to_value(c).unwrap_or_default();
    format!("{} {} -> {}", c.field(), v["from"], v["to"])
}

/// The configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The config file's directory: relative paths start there.
    #[serde(skip)]
    base: PathBuf,
    #[serde(default)]
    root: PathBuf,
    #[serde(default, rename = "backend")]
    backends: Vec<BackendSection>,
    #[serde(default, rename = "webhook")]
    webhooks: Vec<WebhookSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendSection {
    name: String,
    kind: Kind,
    address: String,
    #[serde(default)]
    interval: Option<Secs>,
    #[serde(default)]
    timeout: Option<Secs>,
    #[serde(default)]
    root: Option<PathBuf>,
    #[serde(default)]
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Rtorrent,
    Remote,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSection {
    url: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    base_backoff: Option<Secs>,
    #[serde(default)]
    max_backoff: Option<Secs>,
    #[serde(default)]
    timeout: Option<Secs>,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    queue_capacity: Option<usize>,
    #[serde(default)]
    outbox: Option<PathBuf>,
}

/// A duration: seconds as a number, or a string with `ms`, `s` or `m`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Secs {
    Number(f64),
    Text(String),
}

impl Secs {
    fn get(&self, what: &str) -> Result<Duration, Failure> {
        let secs = match self {
            Self::Number(n) => Some(*n),
            Self::Text(t) => {
                let t = t.trim();
                let (num, unit) = if let Some(n) = t.strip_suffix("ms") {
                    (n, 0.001)
                } else if let Some(n) = t.strip_suffix('s') {
                    (n, 1.0)
                } else if let Some(n) = t.strip_suffix('m') {
                    (n, 60.0)
                } else {
                    (t, 1.0)
                };
                num.trim().parse::<f64>().ok().map(|n| n * unit)
            }
        };
        secs.filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| Failure::bad_input(format!("{what}: not a duration: {self:?}")))
    }
}

fn secs_or(v: Option<&Secs>, default: Duration, what: &str) -> Result<Duration, Failure> {
    v.map_or(Ok(default), |s| s.get(what))
}

impl Config {
    fn load(path: &Path) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::bad_input(format!("reading {}: {e}", path.display())))?;
        let mut c: Self = toml::from_str(&text)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.base = base.to_owned();
        c.root = if c.root.as_os_str().is_empty() {
            base.join("watch-state")
        } else {
            base.join(&c.root)
        };
        if c.backends.is_empty() {
            return Err(Failure::bad_input(format!(
                "{}: no [[backend]] to watch",
                path.display()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for b in &c.backends {
            let ok = !b.name.is_empty()
                && b.name
                    .bytes()
                    .all(|x| x.is_ascii_alphanumeric() || b"-_.".contains(&x))
                && !b.name.starts_with('.');
            if !ok {
                return Err(Failure::bad_input(format!(
                    "backend name {:?}: use letters, digits, '-', '_' and '.'",
                    b.name
                )));
            }
            if !seen.insert(b.name.clone()) {
                return Err(Failure::bad_input(format!(
                    "backend {} named twice",
                    b.name
                )));
            }
        }
        Ok(c)
    }
}

impl BackendSection {
    fn build(&self, root: &Path) -> Result<BackendConfig, Failure> {
        let what = format!("backend {}", self.name);
        let addr = self
            .address
            .parse()
            .map_err(|e| Failure::bad_input(format!("{what}: address {:?}: {e}", self.address)))?;
        let backend: Arc<dyn Backend> = match self.kind {
            Kind::Rtorrent => {
                if self.token.is_some() {
                    return Err(Failure::bad_input(format!(
                        "{what}: token is for kind = \"remote\""
                    )));
                }
                Arc::new(RtorrentBackend::new(addr))
            }
            Kind::Remote => Arc::new(RemoteBackend::tcp(addr, self.token.clone())),
        };
        let state = self
            .root
            .as_ref()
            .map_or_else(|| root.join("backends").join(&self.name), |r| root.join(r));
        let mut c = BackendConfig::new(
            &self.name,
            backend,
            secs_or(self.interval.as_ref(), Duration::from_secs(5), &what)?,
            state,
        );
        c.timeout = secs_or(self.timeout.as_ref(), c.timeout, &what)?;
        Ok(c)
    }
}

impl WebhookSection {
    fn build(&self, config: &Config, index: usize) -> Result<WebhookConfig, Failure> {
        let root = &config.root;
        let what = format!("webhook {}", self.url);
        if !self.url.starts_with("http://") {
            return Err(Failure::bad_input(format!(
                "{what}: only http:// URLs are supported"
            )));
        }
        let secret = match (&self.secret, &self.secret_file) {
            (Some(s), None) => s.clone().into_bytes(),
            (None, Some(f)) => {
                let f = config.base.join(f);
                let mut s = std::fs::read(&f).map_err(|e| {
                    Failure::bad_input(format!("{what}: reading {}: {e}", f.display()))
                })?;
                while s.last().is_some_and(u8::is_ascii_whitespace) {
                    s.pop();
                }
                s
            }
            _ => {
                return Err(Failure::bad_input(format!(
                    "{what}: give exactly one of secret and secret_file"
                )));
            }
        };
        let outbox = self.outbox.as_ref().map_or_else(
            || root.join("webhooks").join(index.to_string()),
            |o| root.join(o),
        );
        let mut c = WebhookConfig::new(&self.url, secret, outbox);
        c.max_attempts = self.max_attempts.unwrap_or(c.max_attempts).max(1);
        c.base_backoff = secs_or(self.base_backoff.as_ref(), c.base_backoff, &what)?;
        c.max_backoff = secs_or(self.max_backoff.as_ref(), c.max_backoff, &what)?;
        c.timeout = secs_or(self.timeout.as_ref(), c.timeout, &what)?;
        c.concurrency = self.concurrency.unwrap_or(c.concurrency).max(1);
        c.queue_capacity = self.queue_capacity.unwrap_or(c.queue_capacity).max(1);
        let url = self.url.clone();
        c.on_failed = Some(Arc::new(
            move |_: &str, status: u16, body: &[u8], _: &[(String, String)]| {
                tracing::warn!(
                    %url, status,
                    body = %String::from_utf8_lossy(&body[..body.len().min(200)]),
                    "webhook refused"
                );
            },
        ));
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Failure> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p)
    }

    #[test]
    fn durations_accept_numbers_and_units() {
        assert_eq!(
            Secs::Number(1.5).get("x").unwrap(),
            Duration::from_millis(1500)
        );
        for (t, ms) in [("250ms", 250), ("2s", 2000), ("1m", 60_000), ("3", 3000)] {
            assert_eq!(
                Secs::Text(t.into()).get("x").unwrap().as_millis(),
                ms,
                "{t}"
            );
        }
        assert!(Secs::Text("soon".into()).get("x").is_err());
        assert!(Secs::Number(-1.0).get("x").is_err());
    }

    #[test]
    fn text_lines_name_backend_event_torrent_and_changes() {
        let old = swarmfs_watch::TorrentRecord {
            hash: "ab".repeat(20),
            name: "n".into(),
            active: true,
            downloaded: 0,
            uploaded: 0,
            length: 10,
            path: String::new(),
            progress: 0.0,
            ratio: 0.0,
            finished: false,
            playing: false,
            files: vec![],
            extra: Default::default(),
        };
        let mut new = old.clone();
        new.downloaded = 10;
        let new = new.computed();
        let mut snap = std::collections::BTreeMap::new();
        snap.insert(old.hash.clone(), old.clone());
        let added = swarmfs_watch::diff_snapshots("rt", &Default::default(), &snap);
        assert_eq!(
            text_line(&added[0]),
            format!("rt added {} \"n\" 0.0%", old.hash)
        );
        let mut snap2 = snap.clone();
        snap2.insert(new.hash.clone(), new);
        let ev = swarmfs_watch::diff_snapshots("rt", &snap, &snap2);
        assert_eq!(
            text_line(&ev[0]),
            format!(
                "rt updated {} \"n\" downloaded 0 -> 10, progress 0.0 -> 1.0, finished false -> true",
                old.hash
            )
        );
        assert!(text_line(&ev[1]).starts_with("rt finished "));
        let err = Event::error("rt", "boom".into(), 1);
        assert_eq!(text_line(&err), "rt error boom");
    }

    #[test]
    fn config_errors_are_bad_input() {
        let ok = "[[backend]]\nname = \"a\"\nkind = \"rtorrent\"\naddress = \"127.0.0.1:1\"\n";
        let c = parse(ok).unwrap();
        assert_eq!(c.backends.len(), 1);
        let remote = ok.replace("rtorrent", "remote") + "token = \"t\"\n";
        let c = parse(&remote).unwrap();
        assert!(c.backends[0].build(&c.root).is_ok());
        let c = parse(&format!("{ok}token = \"t\"\n")).unwrap();
        assert!(c.backends[0].build(&c.root).is_err(), "token on rtorrent");
        assert!(c.root.ends_with("watch-state"));
        for bad in [
            "",
            "[[backend]]\nname = \"a\"\nkind = \"qbittorrent\"\naddress = \"x\"\n",
            &format!("{ok}{ok}"),
            &format!("{ok}typo = 1\n"),
            &ok.replace("name = \"a\"", "name = \"../a\""),
        ] {
            let e = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted {bad:?}"));
            assert_eq!(e.kind, crate::failure::Kind::BadInput, "{bad:?}");
        }
    }
}
