//! Building a torrent by streaming URLs once: every URL is read from start to end in large range
//! requests and hashed as it arrives (pieces span URLs in a multi-file torrent).

use sha1::{Digest, Sha1};
use swarmfs_http_storage::{HttpClient, HttpFile};
use swarmfs_metainfo::{Info, SafePath, Torrent, auto_piece_length};

use crate::BridgeError;

/// Bytes per range request while streaming.
const STREAM_CHUNK: u32 = 4 << 20;

/// A torrent built from URLs, with the URL of each of its files in order.
#[derive(Debug)]
pub struct BuiltTorrent {
    /// The torrent (for a single URL its `url-list` names that URL, BEP 19).
    pub torrent: Torrent,
    /// The URL of each file, in the torrent's file order.
    pub urls: Vec<String>,
}

/// Options of [`build_from_urls`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Name of a multi-file torrent (several URLs); default `"bridge"`.
    pub name: Option<String>,
    /// Piece length; default chosen from the total size like [`swarmfs_metainfo::TorrentBuilder`].
    pub piece_length: Option<u32>,
}

/// Opens every URL (pinning its validators), streams each once and builds a torrent: one URL
/// makes a single-file torrent named after the URL's last path segment, several make a
/// multi-file torrent with one file per URL. `progress(done, total)` is called after each
/// chunk. The returned [`HttpFile`]s are the pinned origins, ready to seed from.
pub async fn build_from_urls(
    client: &HttpClient,
    urls: &[String],
    options: &BuildOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<(BuiltTorrent, Vec<HttpFile>), BridgeError> {
    if urls.is_empty() {
        return Err(BridgeError::NoUrls);
    }
    let mut files = Vec::with_capacity(urls.len());
    let mut names = Vec::with_capacity(urls.len());
    for url in urls {
        let f = client.open(url).await?;
        names.push(file_name(url)?);
        files.push(f);
    }
    let total: u64 = files.iter().map(HttpFile::len).sum();
    if total == 0 {
        return Err(BridgeError::Empty);
    }
    let piece_length = options
        .piece_length
        .unwrap_or_else(|| auto_piece_length(total));
    let mut hasher = PieceHasher::new(piece_length);
    let mut done = 0u64;
    for (f, url) in files.iter().zip(urls) {
        let mut got = 0u64;
        f.stream(STREAM_CHUNK, |chunk| {
            hasher.update(chunk);
            got += chunk.len() as u64;
            done += chunk.len() as u64;
            progress(done, total);
        })
        .await?;
        if got != f.len() {
            return Err(BridgeError::ShortStream {
                url: url.clone(),
                expected: f.len(),
                got,
            });
        }
    }
    let pieces = hasher.finish();
    let info = if files.len() == 1 {
        let path =
            SafePath::from_components([names[0].as_str()]).map_err(|e| BridgeError::BadName {
                url: urls[0].clone(),
                reason: e.to_string(),
            })?;
        Info::from_parts(
            &names[0],
            piece_length,
            &pieces,
            &[(path, files[0].len())],
            true,
            false,
        )?
    } else {
        let name = options.name.clone().unwrap_or_else(|| "bridge".to_owned());
        SafePath::from_components([name.as_str()]).map_err(|e| BridgeError::BadName {
            url: name.clone(),
            reason: e.to_string(),
        })?;
        let mut seen = std::collections::HashSet::new();
        for (n, url) in names.iter().zip(urls) {
            if !seen.insert(n.clone()) {
                return Err(BridgeError::BadName {
                    url: url.clone(),
                    reason: format!("another url is also named {n}"),
                });
            }
        }
        let mut entries = Vec::with_capacity(names.len());
        for ((n, url), f) in names.iter().zip(urls).zip(&files) {
            let path =
                SafePath::from_components([n.as_str()]).map_err(|e| BridgeError::BadName {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            entries.push((path, f.len()));
        }
        Info::from_parts(&name, piece_length, &pieces, &entries, false, false)?
    };
    let mut torrent = Torrent::new(info);
    if urls.len() == 1 {
        torrent.set_url_list(urls);
    }
    Ok((
        BuiltTorrent {
            torrent,
            urls: urls.to_vec(),
        },
        files,
    ))
}

/// The file name a URL gives: its last path segment, percent-decoded, without the query.
pub fn file_name(url: &str) -> Result<String, BridgeError> {
    let bad = |reason: &str| BridgeError::BadName {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once("://").map_or(path, |(_, r)| r);
    let seg = path
        .split_once('/')
        .map(|(_, p)| p.rsplit('/').next().unwrap_or(""))
        .unwrap_or("");
    if seg.is_empty() {
        return Err(bad("no file name in the url path"));
    }
    let name = percent_decode(seg).ok_or_else(|| bad("bad percent-encoding"))?;
    SafePath::from_components([name.as_str()]).map_err(|e| bad(&e.to_string()))?;
    Ok(name)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// SHA-1 of consecutive pieces over a byte stream that may arrive in any chunking.
struct PieceHasher {
    piece_length: u64,
    in_piece: u64,
    hasher: Sha1,
    pieces: Vec<[u8; 20]>,
}

impl PieceHasher {
    fn new(piece_length: u32) -> Self {
        Self {
            piece_length: u64::from(piece_length),
            in_piece: 0,
            hasher: Sha1::new(),
            pieces: Vec::new(),
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = (self.piece_length - self.in_piece) as usize;
            let take = room.min(data.len());
            self.hasher.update(&data[..take]);
            self.in_piece += take as u64;
            data = &data[take..];
            if self.in_piece == self.piece_length {
                self.pieces
                    .push(std::mem::take(&mut self.hasher).finalize().into());
                self.in_piece = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<[u8; 20]> {
        if self.in_piece > 0 {
            self.pieces.push(self.hasher.finalize().into());
        }
        self.pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmfs_metainfo::TorrentBuilder;

    #[test]
    fn streamed_hashes_match_the_metainfo_builder() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1usize, 7, 16384, 100_000] {
            let mut h = PieceHasher::new(16384);
            for c in data.chunks(chunk) {
                h.update(c);
            }
            let path = SafePath::parse("f.bin").unwrap();
            let files = [(path, data.len() as u64)];
            let info = Info::from_parts("f.bin", 16384, &h.finish(), &files, true, false).unwrap();
            let reference = TorrentBuilder::new()
                .piece_length(16384)
                .build_single("f.bin", &data)
                .unwrap();
            assert_eq!(info.info_hash(), reference.info_hash(), "chunk {chunk}");
        }
    }

    #[test]
    fn multi_file_dictionary_matches_the_metainfo_builder() {
        let a: Vec<u8> = (0..40_000u32).map(|i| (i % 13) as u8).collect();
        let b: Vec<u8> = (0..30_000u32).map(|i| (i % 17) as u8).collect();
        let mut h = PieceHasher::new(16384);
        h.update(&a);
        h.update(&b);
        let files = [
            (SafePath::parse("a").unwrap(), 40_000),
            (SafePath::parse("b").unwrap(), 30_000),
        ];
        let info = Info::from_parts("set", 16384, &h.finish(), &files, false, false).unwrap();
        let entries = [
            (SafePath::parse("a").unwrap(), a),
            (SafePath::parse("b").unwrap(), b),
        ];
        let reference = TorrentBuilder::new()
            .piece_length(16384)
            .build_entries("set", &entries)
            .unwrap();
        assert_eq!(info.info_hash(), reference.info_hash());
    }

    #[test]
    fn names_from_urls() {
        assert_eq!(file_name("http://h/a/b%20c.iso?x=1").unwrap(), "b c.iso");
        for bad in ["http://h/", "http://h", "http://h/a/..", "http://h/%zz"] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
    }
}
