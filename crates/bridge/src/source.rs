//! Metadata for web-seed-only downloads: a magnet's `xs=` ("exact source") naming a `.torrent`
//! over HTTP. A magnet whose only sources are `ws=` web seeds carries no info dictionary, and a
//! web server cannot answer BEP 9 metadata requests, so BEP 19 alone cannot start it. Following
//! common practice (webtorrent, libtorrent's `xs` handling), the `.torrent` at an `xs=http://`
//! URL is fetched and accepted only if its info dictionary hashes to the magnet's info-hash.

use swarmfs_http_storage::HttpClient;
use swarmfs_metainfo::{Info, Limits, Magnet, Torrent};

use crate::BridgeError;

/// The `xs=` values of `magnet` that name a document over HTTP (`http://` or `https://`), in
/// order. `xs=urn:btpk:` (BEP 46) is not among them.
pub fn torrent_sources(magnet: &Magnet) -> Vec<String> {
    magnet
        .extra
        .iter()
        .filter(|(k, v)| k == "xs" && is_http(v))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Fetches the `.torrent` (or a bare bencoded info dictionary) at `url` and checks that its
/// info dictionary hashes to `magnet`'s info-hash. The result's `url-list` holds its own web
/// seeds followed by the magnet's `ws=` values (duplicates dropped).
pub async fn fetch_torrent(
    client: &HttpClient,
    url: &str,
    magnet: &Magnet,
) -> Result<Torrent, BridgeError> {
    let expected = magnet.info_hash().ok_or(BridgeError::MutableMagnet)?;
    let limits = Limits::default();
    let (_, body) = client.get(url, limits.max_torrent_len).await?;
    let mut torrent = match Torrent::from_bytes_with_limits(&body, &limits) {
        Ok(t) => t,
        Err(e) => match Info::from_bytes_with_limits(&body, &limits) {
            Ok(info) => Torrent::new(info),
            Err(_) => {
                return Err(BridgeError::BadTorrent {
                    url: url.to_owned(),
                    reason: e.to_string(),
                });
            }
        },
    };
    if torrent.info_hash() != expected {
        return Err(BridgeError::InfoHashMismatch {
            url: url.to_owned(),
            expected: expected.to_hex(),
            actual: torrent.info_hash().to_hex(),
        });
    }
    let seeds = merged_web_seeds(&torrent, magnet);
    torrent.set_url_list(&seeds);
    Ok(torrent)
}

/// The torrent of `magnet` from its `xs=` sources, tried in order until one delivers a
/// `.torrent` with the right info-hash (see [`fetch_torrent`]).
pub async fn resolve_magnet(client: &HttpClient, magnet: &Magnet) -> Result<Torrent, BridgeError> {
    magnet.info_hash().ok_or(BridgeError::MutableMagnet)?;
    let mut last = None;
    for url in torrent_sources(magnet) {
        match fetch_torrent(client, &url, magnet).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(BridgeError::NoMetadataSource))
}

/// A torrent's `url-list` followed by a magnet's `ws=` values, duplicates dropped, only
/// `http(s)://` URLs.
pub fn merged_web_seeds(torrent: &Torrent, magnet: &Magnet) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in torrent
        .url_list()
        .into_iter()
        .chain(magnet.web_seeds.iter().cloned())
    {
        if is_http(&u) && !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

fn is_http(v: &str) -> bool {
    let l = v.get(..8).unwrap_or(v).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmfs_http_storage::HttpOptions;
    use swarmfs_http_storage::testing::TestServer;
    use swarmfs_metainfo::TorrentBuilder;

    fn torrent() -> Torrent {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 241) as u8).collect();
        TorrentBuilder::new()
            .piece_length(16384)
            .build_single("d.bin", &data)
            .unwrap()
    }

    #[test]
    fn xs_values_that_name_http_documents() {
        let m = Magnet::parse(
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\
             &xs=http%3A%2F%2Fh%2Fa.torrent&xs=urn:foo&xs=HTTPS://h/b.torrent&ws=http://h/w",
        )
        .unwrap();
        assert_eq!(
            torrent_sources(&m),
            ["http://h/a.torrent", "HTTPS://h/b.torrent"]
        );
    }

    #[tokio::test]
    async fn fetched_torrents_are_checked_against_the_info_hash() {
        let server = TestServer::start().await.unwrap();
        let t = torrent();
        let other = TorrentBuilder::new()
            .piece_length(16384)
            .build_single("d.bin", b"something else")
            .unwrap();
        server.put("/good.torrent", t.to_bytes());
        server.put("/info.bin", t.info().as_bytes().to_vec());
        server.put("/wrong.torrent", other.to_bytes());
        server.put("/junk.torrent", b"<html>not bencode</html>".to_vec());
        let client = HttpClient::new(HttpOptions::default());
        let magnet = |xs: &[&str]| {
            let mut m = Magnet::from_info_hash(t.info_hash());
            for x in xs {
                m.extra.push(("xs".into(), server.url(x)));
            }
            m.web_seeds.push(server.url("/ws/"));
            m
        };
        let m = magnet(&["/good.torrent"]);
        let got = fetch_torrent(&client, &server.url("/good.torrent"), &m)
            .await
            .unwrap();
        assert_eq!(got.info_hash(), t.info_hash());
        assert_eq!(got.url_list(), [server.url("/ws/")]);
        let got = fetch_torrent(&client, &server.url("/info.bin"), &m)
            .await
            .unwrap();
        assert_eq!(got.info_hash(), t.info_hash());
        let err = fetch_torrent(&client, &server.url("/wrong.torrent"), &m)
            .await
            .unwrap_err();
        assert!(matches!(err, BridgeError::InfoHashMismatch { .. }), "{err}");
        let err = fetch_torrent(&client, &server.url("/junk.torrent"), &m)
            .await
            .unwrap_err();
        assert!(matches!(err, BridgeError::BadTorrent { .. }), "{err}");
        // Bad sources are skipped until one delivers.
        let m = magnet(&["/missing.torrent", "/wrong.torrent", "/good.torrent"]);
        let got = resolve_magnet(&client, &m).await.unwrap();
        assert_eq!(got.info_hash(), t.info_hash());
        let m = magnet(&["/wrong.torrent"]);
        let err = resolve_magnet(&client, &m).await.unwrap_err();
        assert!(matches!(err, BridgeError::InfoHashMismatch { .. }), "{err}");
        let err = resolve_magnet(&client, &magnet(&[])).await.unwrap_err();
        assert!(matches!(err, BridgeError::NoMetadataSource), "{err}");
    }
}
