//! Web seeds (BEP 19): download a torrent's pieces from plain HTTP servers listed in its
//! `url-list` (or a magnet's `ws=`), through the HTTP backend, hashing every piece before it is
//! written to the piece store.

use std::sync::Arc;

use sha1::{Digest, Sha1};
use swarmfs_http_storage::{HttpClient, HttpFile, HttpOptions};
use swarmfs_metainfo::{Info, PieceIndex};
use swarmfs_storage::{
    MetaName, PieceHashes, PieceStore, PieceStoreOptions, StorageFactory, StoragePath,
};
use tokio::task::JoinSet;

use crate::BridgeError;

/// Pieces fetched at once from web seeds.
const CONCURRENT_PIECES: usize = 4;

/// What a web-seed download did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSeedReport {
    /// Pieces fetched, verified and written.
    pub pieces_fetched: u32,
    /// Pieces fetched whose hash failed (not written).
    pub pieces_failed: u32,
    /// Pieces already verified in the store before.
    pub pieces_present: u32,
    /// Payload bytes written.
    pub bytes: u64,
}

/// The URL of each file of `info` at web seed `base`, following BEP 19: for a single-file
/// torrent a base ending in `/` gets the torrent name appended (otherwise it is the file's URL);
/// for a multi-file torrent the file is at `base/name/path...` (components percent-encoded).
pub fn web_seed_file_urls(info: &Info, base: &str) -> Vec<String> {
    if !info.is_multi_file() {
        return vec![if base.ends_with('/') {
            format!("{base}{}", encode(info.name()))
        } else {
            base.to_owned()
        }];
    }
    let base = base.trim_end_matches('/');
    info.files()
        .iter()
        .map(|f| {
            let mut u = format!("{base}/{}", encode(info.name()));
            for c in f.path().components() {
                u.push('/');
                u.push_str(&encode(c));
            }
            u
        })
        .collect()
}

/// The storage path of each file of `info`, as the engine and piece store name them.
pub fn storage_paths(info: &Info) -> Result<Vec<StoragePath>, BridgeError> {
    (0..info.files().len())
        .map(|i| {
            let safe = info
                .storage_path(i)
                .ok_or_else(|| BridgeError::Geometry(format!("file {i} has no path")))?;
            StoragePath::new(safe.components()).map_err(|e| BridgeError::Geometry(e.to_string()))
        })
        .collect()
}

/// The resume blob name the engine uses for a torrent (`<info-hash hex>.resume`).
pub fn resume_name(info: &Info) -> Result<MetaName, BridgeError> {
    MetaName::new(&format!("{}.resume", info.info_hash().to_hex()))
        .map_err(|e| BridgeError::Geometry(e.to_string()))
}

/// Fills every missing piece of `store` from the web seeds in turn (the next seed is tried for
/// what the previous one could not deliver). Each piece is hashed before it is written.
pub async fn fill_from_web_seeds(
    store: Arc<PieceStore>,
    info: &Info,
    web_seeds: &[String],
    client: &HttpClient,
) -> Result<WebSeedReport, BridgeError> {
    let total = store.geometry().piece_count();
    let mut report = WebSeedReport {
        pieces_present: store.verified().count_ones(),
        ..WebSeedReport::default()
    };
    let mut last = String::from("no web seed given");
    for base in web_seeds {
        let missing: Vec<u32> = (0..total).filter(|&p| !store.verified().get(p)).collect();
        if missing.is_empty() {
            break;
        }
        let files = match open_seed(info, base, client).await {
            Ok(f) => Arc::new(f),
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let mut tasks = JoinSet::new();
        let mut queue = missing.into_iter();
        loop {
            while tasks.len() < CONCURRENT_PIECES {
                let Some(p) = queue.next() else { break };
                let (store, files) = (store.clone(), files.clone());
                tasks.spawn(async move { fetch_piece(&store, &files, p).await });
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            match done {
                Ok(Ok(n)) => {
                    report.pieces_fetched += 1;
                    report.bytes += n;
                }
                Ok(Err(PieceFailure::Hash(p))) => {
                    report.pieces_failed += 1;
                    last = format!("piece {p} from {base} failed its hash");
                }
                Ok(Err(PieceFailure::Other(e))) => last = e,
                Err(e) => last = e.to_string(),
            }
        }
    }
    store.persist().await?;
    let missing = total - store.verified().count_ones();
    if missing > 0 {
        return Err(BridgeError::WebSeedIncomplete {
            missing,
            total,
            last,
        });
    }
    Ok(report)
}

/// Downloads a whole torrent from its web seeds into `factory`, keeping resume data under the
/// engine's name, so that [`swarmfs_engine::Engine::add_info`] with
/// `TorrentOptions::new().resume(true)` then seeds it without hashing again.
pub async fn download_from_web_seeds(
    info: &Info,
    web_seeds: &[String],
    factory: Arc<dyn StorageFactory>,
    options: &HttpOptions,
) -> Result<WebSeedReport, BridgeError> {
    let geometry = info.geometry().clone();
    let hashes = PieceHashes::new(info.piece_hashes().to_vec(), &geometry)
        .map_err(|e| BridgeError::Geometry(e.to_string()))?;
    let (store, _) = PieceStore::open(
        factory,
        geometry,
        &storage_paths(info)?,
        hashes,
        PieceStoreOptions::with_resume(resume_name(info)?),
    )
    .await?;
    let client = HttpClient::new(options.clone());
    fill_from_web_seeds(Arc::new(store), info, web_seeds, &client).await
}

enum PieceFailure {
    Hash(u32),
    Other(String),
}

async fn open_seed(
    info: &Info,
    base: &str,
    client: &HttpClient,
) -> Result<Vec<Option<HttpFile>>, BridgeError> {
    let mut out = Vec::new();
    for (i, url) in web_seed_file_urls(info, base).into_iter().enumerate() {
        let expected = info.geometry().file_length(i).unwrap_or(0);
        if expected == 0 {
            out.push(None);
            continue;
        }
        let f = client.open(&url).await?;
        if f.len() != expected {
            return Err(BridgeError::LengthMismatch {
                url,
                expected,
                actual: f.len(),
            });
        }
        out.push(Some(f));
    }
    Ok(out)
}

async fn fetch_piece(
    store: &PieceStore,
    files: &[Option<HttpFile>],
    p: u32,
) -> Result<u64, PieceFailure> {
    let g = store.geometry();
    let piece: PieceIndex = g
        .piece(p)
        .ok_or_else(|| PieceFailure::Other(format!("piece {p} out of range")))?;
    let len = g.piece_len(piece);
    let mut buf = vec![0u8; len as usize];
    for span in g.spans(piece, 0, len) {
        let Some(Some(f)) = files.get(span.file_index) else {
            continue;
        };
        let at = span.piece_offset as usize;
        f.read_at(span.file_offset, &mut buf[at..at + span.len as usize])
            .await
            .map_err(|e| PieceFailure::Other(e.to_string()))?;
    }
    let expected = store.hashes().get(p).copied();
    if expected != Some(<[u8; 20]>::from(Sha1::digest(&buf))) {
        return Err(PieceFailure::Hash(p));
    }
    store
        .write_block(piece, 0, &buf)
        .await
        .map_err(|e| PieceFailure::Other(e.to_string()))?;
    match store.verify_piece(piece).await {
        Ok(true) => Ok(u64::from(len)),
        Ok(false) => Err(PieceFailure::Hash(p)),
        Err(e) => Err(PieceFailure::Other(e.to_string())),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
