//! A remote swarmfs server as a backend, through `swarmfs-remote`'s Rust client and its
//! `swarmfs/v1/` extension (list, pause, resume, remove).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use swarmfs_metainfo::Torrent;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{ClientError, ClientOptions, RemoteClient, TorrentEntry};
use tokio::sync::Mutex;

use crate::backend::{Backend, BackendError};
use crate::record::{FileRecord, TorrentRecord};

/// How long `add_torrent` waits for the server to list a torrent it was given.
const ADD_TIMEOUT: Duration = Duration::from_secs(10);

/// How the backend reaches its server.
enum Connector {
    /// Newline-delimited JSON over TCP; reconnects after a failure.
    Tcp {
        addr: SocketAddr,
        token: Option<String>,
    },
    /// A client given once (any transport); not replaced when it fails.
    Fixed,
}

/// A remote swarmfs server (`swarmfs-remote`) as a watch backend.
///
/// Torrents added through it are added with `keep`, so they stay on the server when the
/// watcher leaves (until removed). `add_torrent_with_data` is refused: the protocol carries no
/// data path.
pub struct RemoteBackend {
    connector: Connector,
    options: ClientOptions,
    client: Mutex<Option<RemoteClient>>,
    peers: Vec<SocketAddr>,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = match &self.connector {
            Connector::Tcp { addr, .. } => Some(*addr),
            Connector::Fixed => None,
        };
        f.debug_struct("RemoteBackend")
            .field("addr", &addr)
            .finish_non_exhaustive()
    }
}

impl RemoteBackend {
    /// The server listening on `addr` (`swarmfs-remote`'s TCP transport), with its `token`
    /// when it is not on loopback. Connects on first use and again after a failure.
    pub fn tcp(addr: SocketAddr, token: Option<String>) -> Self {
        Self {
            connector: Connector::Tcp { addr, token },
            options: ClientOptions::default(),
            client: Mutex::new(None),
            peers: Vec::new(),
        }
    }

    /// A backend over an existing client (any transport, e.g. in-process).
    pub fn with_client(client: RemoteClient) -> Self {
        Self {
            connector: Connector::Fixed,
            options: ClientOptions::default(),
            client: Mutex::new(Some(client)),
            peers: Vec::new(),
        }
    }

    /// Peers named (as `x.pe`) in the magnets of torrents added through this backend.
    pub fn with_peers(mut self, peers: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.peers = peers.into_iter().collect();
        self
    }

    /// Options of the clients this backend connects (heartbeat, request timeout).
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs `f` on the client, connecting first if needed; a connection that failed is
    /// dropped so that the next call reconnects.
    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut RemoteClient) -> Result<T, ClientError>,
    ) -> Result<T, BackendError> {
        let mut slot = self.client.lock().await;
        if slot.is_none() {
            if let Connector::Tcp { addr, token } = &self.connector {
                let c = RemoteClient::connect_tcp(*addr, token.as_deref(), self.options.clone())
                    .await
                    .map_err(|e| BackendError::Io {
                        backend: format!("swarmfs remote at {addr}"),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                *slot = Some(c);
            }
        }
        let Some(client) = slot.as_mut() else {
            return Err(BackendError::Io {
                backend: "swarmfs remote".into(),
                source: std::io::ErrorKind::NotConnected.into(),
            });
        };
        match f(client).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if matches!(e, ClientError::Closed | ClientError::TimedOut { .. })
                    && matches!(self.connector, Connector::Tcp { .. })
                {
                    *slot = None;
                }
                Err(map_error(e))
            }
        }
    }

    async fn entries(&self) -> Result<Vec<TorrentEntry>, BackendError> {
        self.with(async |c| c.list().await).await
    }
}

fn map_error(e: ClientError) -> BackendError {
    match e {
        ClientError::Failed { message, .. } if message.starts_with("unknown torrent") => {
            BackendError::NotFound {
                hash: message
                    .trim_start_matches("unknown torrent")
                    .trim()
                    .to_owned(),
            }
        }
        ClientError::Failed { message, .. } => BackendError::Refused { reason: message },
        ClientError::Closed => BackendError::Io {
            backend: "swarmfs remote".into(),
            source: std::io::ErrorKind::ConnectionAborted.into(),
        },
        ClientError::TimedOut { timeout } => BackendError::Timeout {
            millis: timeout.as_millis() as u64,
        },
        other => BackendError::Protocol {
            reason: other.to_string(),
        },
    }
}

fn check_hash(hash: &str) -> Result<String, BackendError> {
    if hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash.to_ascii_lowercase())
    } else {
        Err(BackendError::BadHash {
            hash: hash.to_owned(),
        })
    }
}

/// The record of a listed torrent; `None` for an entry without a valid info-hash.
fn record(e: &TorrentEntry) -> Option<TorrentRecord> {
    let hash = check_hash(e.info_hash()).ok()?;
    let t = &e.torrent;
    let length = t.length.unwrap_or(0);
    // Bytes held, from the verified fraction (`downloaded` counts bytes received, including
    // any that failed their hash).
    let downloaded = if e.done {
        length
    } else {
        let p = t.progress.unwrap_or(0.0);
        if p.is_finite() {
            ((p.clamp(0.0, 1.0) * length as f64) as u64).min(length)
        } else {
            0
        }
    };
    let mut extra = BTreeMap::new();
    extra.insert("has_metadata".to_owned(), e.has_metadata.to_string());
    let moving = t.download_speed.unwrap_or(0.0) > 0.0 || t.upload_speed.unwrap_or(0.0) > 0.0;
    Some(
        TorrentRecord {
            name: t.name.clone().unwrap_or_else(|| hash.clone()),
            hash,
            active: !e.paused,
            downloaded,
            uploaded: t.uploaded.unwrap_or(0),
            length,
            path: String::new(),
            progress: 0.0,
            ratio: 0.0,
            finished: false,
            playing: !e.paused && moving,
            files: t.files.as_ref().map_or_else(Vec::new, |f| {
                f.iter()
                    .map(|f| FileRecord {
                        path: f.name.clone(),
                        length: f.length,
                    })
                    .collect()
            }),
            extra,
        }
        .computed(),
    )
}

#[async_trait]
impl Backend for RemoteBackend {
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(self
            .entries()
            .await?
            .iter()
            .filter_map(|e| check_hash(e.info_hash()).ok())
            .collect())
    }

    async fn get(&self, hash: &str) -> Result<TorrentRecord, BackendError> {
        let h = check_hash(hash)?;
        self.entries()
            .await?
            .iter()
            .filter_map(record)
            .find(|r| r.hash == h)
            .ok_or(BackendError::NotFound { hash: h })
    }

    async fn get_all(&self) -> Result<Vec<TorrentRecord>, BackendError> {
        Ok(self.entries().await?.iter().filter_map(record).collect())
    }

    async fn pause(&self, hash: &str) -> Result<(), BackendError> {
        let h = check_hash(hash)?;
        self.with(async |c| c.pause(&h).await).await
    }

    async fn resume(&self, hash: &str) -> Result<(), BackendError> {
        let h = check_hash(hash)?;
        self.with(async |c| c.resume(&h).await).await
    }

    async fn remove(&self, hash: &str, with_data: bool) -> Result<(), BackendError> {
        let h = check_hash(hash)?;
        self.with(async |c| c.remove(&h, with_data).await).await
    }

    async fn add_torrent(&self, torrent: &[u8]) -> Result<String, BackendError> {
        let t = Torrent::from_bytes(torrent).map_err(|e| BackendError::BadTorrent {
            reason: e.to_string(),
        })?;
        let hash = t.info_hash().to_hex();
        let mut magnet = format!("magnet:?xt=urn:btih:{hash}");
        for p in &self.peers {
            magnet.push_str(&format!("&x.pe={p}"));
        }
        self.with(async |c| {
            // Kept when this client leaves: the watcher does not own what it adds.
            let opts = AddOptions {
                keep: Some(true),
                ..AddOptions::default()
            };
            c.add(&magnet, opts);
            Ok(())
        })
        .await?;
        let deadline = tokio::time::Instant::now() + ADD_TIMEOUT;
        loop {
            if self.list().await?.contains(&hash) {
                return Ok(hash);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BackendError::Refused {
                    reason: format!("the server did not list torrent {hash}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn add_torrent_with_data(
        &self,
        _torrent: &[u8],
        path: PathBuf,
    ) -> Result<String, BackendError> {
        Err(BackendError::Refused {
            reason: format!(
                "the remote protocol cannot attach local data ({})",
                path.display()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: &str, progress: f64, done: bool) -> TorrentEntry {
        serde_json::from_value(serde_json::json!({
            "infoHash": hash, "name": "n", "length": 1000, "progress": progress,
            "hasMetadata": true, "paused": false, "done": done, "subscribers": 1,
        }))
        .unwrap()
    }

    #[test]
    fn entries_become_records_and_hostile_ones_are_dropped() {
        let h = "ab".repeat(20);
        let r = record(&entry(&h, 0.25, false)).unwrap();
        assert_eq!((r.downloaded, r.finished, r.active), (250, false, true));
        let r = record(&entry(&h.to_ascii_uppercase(), 0.5, true)).unwrap();
        assert_eq!(
            (r.hash.as_str(), r.downloaded, r.finished),
            (h.as_str(), 1000, true)
        );
        assert!(record(&entry("zz", 0.0, false)).is_none());
        let r = record(&entry(&h, 7.0, false)).unwrap();
        assert_eq!(r.downloaded, 1000);
    }
}
