//! Seeding data that lives on HTTP servers: the torrent's files are read through the HTTP
//! backend and the verifier, and the engine serves them to peers (and announces the torrent on
//! the DHT through its own discovery, when the engine runs one).

use std::net::SocketAddr;
use std::sync::Arc;

use swarmfs_engine::{Engine, TorrentHandle, TorrentOptions};
use swarmfs_http_storage::{HttpClient, HttpOptions, HttpStats, HttpStorage};
use swarmfs_metainfo::{Bitfield, Info, Magnet, PeerAddr, Torrent};
use swarmfs_storage::PieceHashes;
use swarmfs_storage::resume::ResumeData;
use tokio::sync::broadcast;

use crate::webseed::{resume_name, storage_paths, web_seed_file_urls};
use crate::{
    BridgeError, BridgeEvent, BuildOptions, VerifyStats, VerifyingStorage, build_from_urls,
};

/// Options of a [`Bridge`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BridgeOptions {
    /// HTTP client tuning. While seeding, a non-zero window is set to the piece length.
    pub http: HttpOptions,
    /// How a torrent is built from URLs.
    pub build: BuildOptions,
}

/// A torrent seeded from HTTP origins.
#[derive(Debug)]
pub struct Bridge {
    torrent: Torrent,
    urls: Vec<String>,
    handle: TorrentHandle,
    storage: Arc<VerifyingStorage>,
    client: HttpClient,
    build_stats: Option<HttpStats>,
    listen: SocketAddr,
    lost_watch: tokio::task::JoinHandle<()>,
}

impl Bridge {
    /// Builds a torrent by streaming `urls` once (one file per URL; see
    /// [`build_from_urls`]) and seeds it with `engine`. `progress(done, total)` follows the
    /// hashing.
    pub async fn seed_urls(
        engine: &Engine,
        urls: &[String],
        options: &BridgeOptions,
        progress: impl FnMut(u64, u64),
    ) -> Result<Self, BridgeError> {
        let client = HttpClient::new(options.http.clone());
        let (built, _) = build_from_urls(&client, urls, &options.build, progress).await?;
        let mut bridge = Self::start(engine, built.torrent, built.urls, &options.http).await?;
        bridge.build_stats = Some(client.stats());
        Ok(bridge)
    }

    /// Seeds an existing torrent whose files live at `urls`: one URL per file in order, or a
    /// single BEP 19 base URL (for a multi-file torrent, files at `base/name/path`). Pieces are
    /// announced as complete and verified when first fetched; a piece the origin no longer
    /// holds correctly is refused, never sent.
    pub async fn seed_torrent(
        engine: &Engine,
        torrent: Torrent,
        urls: &[String],
        options: &BridgeOptions,
    ) -> Result<Self, BridgeError> {
        let files = torrent.info().files().len();
        let file_urls = match urls {
            [] => return Err(BridgeError::NoUrls),
            [base] => web_seed_file_urls(torrent.info(), base),
            _ if urls.len() == files => urls.to_vec(),
            _ => {
                return Err(BridgeError::UrlCount {
                    urls: urls.len(),
                    files,
                });
            }
        };
        Self::start(engine, torrent, file_urls, &options.http).await
    }

    async fn start(
        engine: &Engine,
        torrent: Torrent,
        urls: Vec<String>,
        http: &HttpOptions,
    ) -> Result<Self, BridgeError> {
        let info: &Info = torrent.info();
        let geometry = info.geometry().clone();
        // Windows of one piece: the verifier reads whole pieces in the order peers ask for
        // them, so larger windows would fetch bytes that are evicted before they are used.
        let mut http = http.clone();
        if http.window != 0 {
            http.window = info.piece_length().clamp(16 * 1024, 16 << 20);
        }
        let client = HttpClient::new(http);
        let paths = storage_paths(info)?;
        let http = HttpStorage::new(
            client.clone(),
            paths.iter().cloned().zip(urls.iter().cloned()),
        );
        let mut opened = Vec::with_capacity(paths.len());
        for (i, (p, url)) in paths.iter().zip(&urls).enumerate() {
            let f = http.open_file(p).await?;
            opened.push(f.http().clone());
            let expected = geometry.file_length(i).unwrap_or(0);
            if f.http().len() != expected {
                return Err(BridgeError::LengthMismatch {
                    url: url.clone(),
                    expected,
                    actual: f.http().len(),
                });
            }
        }
        let storage = Arc::new(
            VerifyingStorage::open(&http, geometry.clone(), paths, info.piece_hashes().to_vec())
                .await?,
        );
        // A refused piece may sit in the backend's window cache: drop it so the next read
        // asks the origin again (and sees a changed origin as such).
        storage.set_evict(Arc::new(move |file, offset, len| {
            if let Some(f) = opened.get(file) {
                f.forget(offset, len);
            }
        }));
        // Resume data that says "every piece present", stamped with the pinned origins: the
        // engine then advertises all pieces without downloading the origin again; the verifier
        // checks each piece as it is fetched.
        let hashes = PieceHashes::new(info.piece_hashes().to_vec(), &geometry)
            .map_err(|e| BridgeError::Geometry(e.to_string()))?;
        let resume = ResumeData {
            stamps: storage.stamps().await?,
            verified: Bitfield::full(geometry.piece_count()),
        };
        storage.set_meta(&resume_name(info)?, resume.encode(&geometry, &hashes));
        let handle = engine.add_info(
            info.clone(),
            storage.clone(),
            TorrentOptions::new().resume(true),
        )?;
        handle.wait_metadata().await?;
        let stats = handle.stats().await?;
        if stats.pieces_verified < stats.pieces_total {
            let _ = handle.remove(false).await;
            return Err(BridgeError::NotSeeding {
                verified: stats.pieces_verified,
                total: stats.pieces_total,
            });
        }
        let lost_watch = crate::lost::spawn_watch(handle.clone(), storage.clone());
        Ok(Self {
            torrent,
            urls,
            handle,
            storage,
            client,
            build_stats: None,
            listen: engine.listen_addr(),
            lost_watch,
        })
    }

    /// The torrent seeded.
    pub fn torrent(&self) -> &Torrent {
        &self.torrent
    }

    /// The URL of each file.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The engine's handle of the torrent.
    pub fn handle(&self) -> &TorrentHandle {
        &self.handle
    }

    /// A magnet for the torrent, with the engine's listen address as `x.pe` and, for a
    /// single-file torrent, its URL as a web seed (`ws=`).
    pub fn magnet(&self) -> String {
        let mut m = Magnet::from_info_hash(self.torrent.info_hash());
        m.display_name = Some(self.torrent.info().name().to_owned());
        m.peers.push(PeerAddr::Ip(self.listen));
        if self.urls.len() == 1 && !self.torrent.info().is_multi_file() {
            m.web_seeds.push(self.urls[0].clone());
        }
        m.to_string()
    }

    /// Reads `buf.len()` verified bytes at `offset` of the torrent's byte stream, through the
    /// verifier (the same path peers are served from).
    pub async fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), BridgeError> {
        Ok(self.storage.read_stream(offset, buf).await?)
    }

    /// Events from now on: pieces verified or refused by the verifier, origins changed, pieces
    /// the engine stopped advertising (lost) and pieces advertised again (restored).
    pub fn events(&self) -> broadcast::Receiver<BridgeEvent> {
        self.storage.events()
    }

    /// Verifier counters.
    pub fn verify_stats(&self) -> VerifyStats {
        self.storage.stats()
    }

    /// HTTP counters of building the torrent by streaming the URLs ([`Bridge::seed_urls`]).
    pub fn build_stats(&self) -> Option<HttpStats> {
        self.build_stats
    }

    /// HTTP counters of seeding (requests, bytes fetched from the origins since seeding began).
    pub fn http_stats(&self) -> HttpStats {
        self.client.stats()
    }

    /// Stops seeding (the origins are left alone).
    pub async fn stop(&self) -> Result<(), BridgeError> {
        self.lost_watch.abort();
        self.handle.remove(false).await?;
        Ok(())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.lost_watch.abort();
    }
}
