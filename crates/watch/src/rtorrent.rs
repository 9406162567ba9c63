//! rTorrent over XML-RPC on SCGI (`network.scgi.open_port`), dTorrent's default client.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use swarmfs_metainfo::Torrent;

use crate::backend::{Backend, BackendError};
use crate::record::{FileRecord, TorrentRecord};
use crate::scgi::scgi_request;
use crate::xmlrpc::{Value, decode_response, encode_call};

/// How long `add_torrent_with_data` waits for rtorrent's hash check.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(600);

/// The fields read per torrent with `d.multicall2`, in order.
const FIELDS: [&str; 12] = [
    "d.hash=",
    "d.name=",
    "d.state=",
    "d.is_active=",
    "d.completed_bytes=",
    "d.up.total=",
    "d.size_bytes=",
    "d.tied_to_file=",
    "d.down.rate=",
    "d.up.rate=",
    "d.base_path=",
    "d.message=",
];

/// An rTorrent reachable at an SCGI address.
#[derive(Debug)]
pub struct RtorrentBackend {
    addr: SocketAddr,
    files: Mutex<HashMap<String, Vec<FileRecord>>>,
}

impl RtorrentBackend {
    /// The rtorrent listening on `addr` (`network.scgi.open_port = host:port`).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            files: Mutex::default(),
        }
    }

    /// One XML-RPC call.
    pub async fn call(&self, method: &str, params: &[Value]) -> Result<Value, BackendError> {
        let body = encode_call(method, params);
        let resp = scgi_request(self.addr, body.as_bytes())
            .await
            .map_err(|source| BackendError::Io {
                backend: format!("rtorrent at {}", self.addr),
                source,
            })?;
        decode_response(&resp).map_err(|e| BackendError::Protocol {
            reason: format!("{method}: {e}"),
        })
    }

    async fn rows(&self) -> Result<Vec<TorrentRecord>, BackendError> {
        let mut params = vec![Value::Str(String::new()), Value::Str("main".into())];
        params.extend(FIELDS.iter().map(|f| Value::Str((*f).into())));
        let v = self.call("d.multicall2", &params).await?;
        let rows = v
            .as_array()
            .ok_or_else(|| protocol("d.multicall2: not an array"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let row = row
                .as_array()
                .filter(|r| r.len() == FIELDS.len())
                .ok_or_else(|| protocol("d.multicall2: bad row"))?;
            out.push(self.record(row).await?);
        }
        Ok(out)
    }

    async fn record(&self, row: &[Value]) -> Result<TorrentRecord, BackendError> {
        let s = |i: usize| {
            row[i]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| protocol(FIELDS[i]))
        };
        let n = |i: usize| {
            row[i]
                .as_i64()
                .filter(|x| *x >= 0)
                .map(|x| x as u64)
                .ok_or_else(|| protocol(FIELDS[i]))
        };
        let hash = s(0)?.to_ascii_lowercase();
        if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(protocol("d.hash: not 40 hex digits"));
        }
        let tied = s(7)?;
        let path = tied.rsplit('/').next().unwrap_or("").to_owned();
        let mut extra = BTreeMap::new();
        extra.insert("base_path".to_owned(), s(10)?);
        let message = s(11)?;
        if !message.is_empty() {
            extra.insert("message".to_owned(), message);
        }
        let active = n(2)? == 1 && n(3)? == 1;
        Ok(TorrentRecord {
            files: self.files_of(&hash).await?,
            hash,
            name: s(1)?,
            active,
            downloaded: n(4)?,
            uploaded: n(5)?,
            length: n(6)?,
            path,
            progress: 0.0,
            ratio: 0.0,
            finished: false,
            playing: active && (n(8)? > 0 || n(9)? > 0),
            extra,
        }
        .computed())
    }

    /// Files of a torrent (cached: they never change).
    async fn files_of(&self, hash: &str) -> Result<Vec<FileRecord>, BackendError> {
        if let Some(f) = self.lock().get(hash) {
            return Ok(f.clone());
        }
        let v = self
            .call(
                "f.multicall",
                &[
                    Value::Str(hash.to_ascii_uppercase()),
                    Value::Str(String::new()),
                    Value::Str("f.path=".into()),
                    Value::Str("f.size_bytes=".into()),
                ],
            )
            .await?;
        let files = v
            .as_array()
            .ok_or_else(|| protocol("f.multicall: not an array"))?
            .iter()
            .map(|r| match r.as_array() {
                Some([p, l]) => Some(FileRecord {
                    path: p.as_str()?.to_owned(),
                    length: u64::try_from(l.as_i64()?).ok()?,
                }),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| protocol("f.multicall: bad row"))?;
        self.lock().insert(hash.to_owned(), files.clone());
        Ok(files)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<FileRecord>>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn simple(&self, method: &str, hash: &str) -> Result<Value, BackendError> {
        check_hash(hash)?;
        self.call(method, &[Value::Str(hash.to_ascii_uppercase())])
            .await
            .map_err(|e| match e {
                BackendError::Protocol { reason } if reason.contains("fault") => {
                    BackendError::NotFound {
                        hash: hash.to_owned(),
                    }
                }
                e => e,
            })
    }

    async fn load(&self, torrent: &[u8], commands: Vec<Value>) -> Result<String, BackendError> {
        let mut t = Torrent::from_bytes(torrent).map_err(|e| BackendError::BadTorrent {
            reason: e.to_string(),
        })?;
        let hash = t.info_hash().to_hex();
        // rtorrent refuses a torrent without `announce`; `dht://` is its trackerless marker
        // (the info dictionary, hence the info-hash, is unchanged).
        let bytes = if t.announce().is_none() {
            t.set_announce(Some("dht://"));
            t.to_bytes()
        } else {
            torrent.to_vec()
        };
        let mut params = vec![Value::Str(String::new()), Value::Base64(bytes)];
        params.extend(commands);
        self.call("load.raw_start", &params).await?;
        // rtorrent loads asynchronously; wait until the torrent is listed.
        for _ in 0..200 {
            if self.list().await?.contains(&hash) {
                return Ok(hash);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(BackendError::Refused {
            reason: format!("rtorrent did not load torrent {hash}"),
        })
    }
}

fn protocol(what: &str) -> BackendError {
    BackendError::Protocol {
        reason: format!("rtorrent: bad {what}"),
    }
}

fn check_hash(hash: &str) -> Result<(), BackendError> {
    if hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(BackendError::BadHash {
            hash: hash.to_owned(),
        })
    }
}

#[async_trait]
impl Backend for RtorrentBackend {
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        let v = self
            .call(
                "d.multicall2",
                &[
                    Value::Str(String::new()),
                    Value::Str("main".into()),
                    Value::Str("d.hash=".into()),
                ],
            )
            .await?;
        v.as_array()
            .ok_or_else(|| protocol("d.multicall2: not an array"))?
            .iter()
            .map(|r| match r.as_array() {
                Some([h]) => h.as_str().map(str::to_ascii_lowercase),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| protocol("d.multicall2: bad row"))
    }

    async fn get(&self, hash: &str) -> Result<TorrentRecord, BackendError> {
        check_hash(hash)?;
        let h = hash.to_ascii_lowercase();
        self.rows()
            .await?
            .into_iter()
            .find(|r| r.hash == h)
            .ok_or(BackendError::NotFound { hash: h })
    }

    async fn get_all(&self) -> Result<Vec<TorrentRecord>, BackendError> {
        self.rows().await
    }

    async fn pause(&self, hash: &str) -> Result<(), BackendError> {
        self.simple("d.stop", hash).await.map(drop)
    }

    async fn resume(&self, hash: &str) -> Result<(), BackendError> {
        self.simple("d.start", hash).await.map(drop)
    }

    async fn remove(&self, hash: &str, with_data: bool) -> Result<(), BackendError> {
        let base = if with_data {
            self.simple("d.base_path", hash)
                .await?
                .as_str()
                .map(PathBuf::from)
        } else {
            None
        };
        self.simple("d.erase", hash).await?;
        self.lock().remove(&hash.to_ascii_lowercase());
        if let Some(p) = base.filter(|p| p.is_absolute() && p.components().count() > 1) {
            let r = if p.is_dir() {
                tokio::fs::remove_dir_all(&p).await
            } else {
                tokio::fs::remove_file(&p).await
            };
            if let Err(source) = r {
                if source.kind() != std::io::ErrorKind::NotFound {
                    return Err(BackendError::Io {
                        backend: format!("removing {}", p.display()),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    async fn add_torrent(&self, torrent: &[u8]) -> Result<String, BackendError> {
        self.load(torrent, Vec::new()).await
    }

    async fn add_torrent_with_data(
        &self,
        torrent: &[u8],
        path: PathBuf,
    ) -> Result<String, BackendError> {
        let dir = path.display().to_string().replace('"', "\\\"");
        let hash = self
            .load(
                torrent,
                vec![Value::Str(format!("d.directory.set=\"{dir}\""))],
            )
            .await?;
        // rtorrent hash-checks existing data on start; wait for the check to end.
        let check = async {
            loop {
                let hashing = self.simple("d.hashing", &hash).await?.as_i64().unwrap_or(0);
                let r = self.get(&hash).await?;
                if hashing == 0 && (r.finished || r.active) {
                    return Ok::<_, BackendError>(r);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let r = tokio::time::timeout(VERIFY_TIMEOUT, check)
            .await
            .map_err(|_| BackendError::Timeout {
                millis: VERIFY_TIMEOUT.as_millis() as u64,
            })??;
        if r.finished {
            Ok(hash)
        } else {
            let _ = self.simple("d.erase", &hash).await;
            Err(BackendError::DataMismatch {
                path,
                verified: 0,
                total: 0,
            })
        }
    }
}
