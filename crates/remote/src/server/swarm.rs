//! A torrent's life on the server: opening it, forwarding its events, tearing it down, and the
//! message builders the server shares.

use std::net::SocketAddr;

use swarmfs::{Archive, Client, LookupOptions};
use swarmfs_engine::{TorrentEvent, TorrentStats};
use swarmfs_metainfo::{InfoHash, Magnet};
use tokio::sync::broadcast::error::RecvError;

use super::{RemoteServer, Sub, Torrent};
use crate::protocol::{ErrorInfo, FileInfo, ServerAddress, ServerMessage, TorrentInfo};

/// Opens the torrent, reports its metadata, then forwards its `done` and `error` events.
pub(super) async fn run_torrent(server: RemoteServer, id: u64, ih: InfoHash, magnet: String) {
    let opts = LookupOptions::default()
        .seed(true)
        .timeout(server.inner.config.metadata_timeout);
    let client = match server.inner.engine.get().await {
        Ok(c) => c,
        Err(e) => {
            let text = format!("cannot start the engine: {e}");
            server.to_subs(ih, id, |s, _| {
                error_msg(&s.client_key, Some(&s.torrent_key), &text, false)
            });
            return;
        }
    };
    let archive = match client.lookup(&magnet, opts).await {
        Ok(a) => a,
        Err(e) => {
            let text = format!("{e}");
            server.to_subs(ih, id, |s, _| {
                error_msg(&s.client_key, Some(&s.torrent_key), &text, false)
            });
            return;
        }
    };
    let Some(handle) = archive.torrent().cloned() else {
        return;
    };
    let mut events = handle.events();
    let info = handle.info();
    let orphan = attach(&server, ih, id, archive, info.as_deref());
    if let Some(archive) = orphan {
        let _ = archive.close().await;
        return;
    }
    server.to_subs(ih, id, |s, t| ServerMessage::Metadata {
        client_key: s.client_key.clone(),
        torrent_key: s.torrent_key.clone(),
        torrent: t.info.clone(),
    });
    let mut done_sent = false;
    if let Ok(stats) = handle.stats().await {
        if stats.done {
            done_sent = true;
            send_done(&server, ih, id, &stats);
        }
    }
    loop {
        match events.recv().await {
            Ok(TorrentEvent::Done) if !done_sent => {
                done_sent = true;
                if let Ok(stats) = handle.stats().await {
                    send_done(&server, ih, id, &stats);
                }
            }
            Ok(TorrentEvent::Error(text)) => server.to_subs(ih, id, |s, _| {
                error_msg(&s.client_key, Some(&s.torrent_key), &text, false)
            }),
            Ok(TorrentEvent::HashFailed(piece)) => server.to_subs(ih, id, |s, _| {
                error_msg(
                    &s.client_key,
                    Some(&s.torrent_key),
                    &format!("piece {piece} failed its hash"),
                    true,
                )
            }),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// Stores the opened archive and metadata on torrent `id`; gives the archive back when the
/// torrent was removed meanwhile.
pub(super) fn attach(
    server: &RemoteServer,
    ih: InfoHash,
    id: u64,
    archive: Archive,
    info: Option<&swarmfs_metainfo::Info>,
) -> Option<Archive> {
    let mut st = server.lock();
    let Some(t) = st.torrents.get_mut(&ih).filter(|t| t.id == id) else {
        return Some(archive);
    };
    if let Some(info) = info {
        t.info.name = Some(info.name().to_owned());
        t.info.length = Some(info.total_length());
        t.info.files = Some(
            info.files()
                .iter()
                .filter(|f| !f.is_pad())
                .map(|f| FileInfo {
                    name: f.path().to_string(),
                    length: f.length(),
                })
                .collect(),
        );
    }
    if t.paused {
        if let Some(h) = archive.torrent() {
            let _ = h.pause();
        }
    }
    t.archive = Some(archive);
    server.maybe_start_server(t);
    None
}

pub(super) fn send_done(server: &RemoteServer, ih: InfoHash, id: u64, stats: &TorrentStats) {
    {
        let mut st = server.lock();
        if let Some(t) = st.torrents.get_mut(&ih).filter(|t| t.id == id) {
            t.progress = progress_of(stats, t.info.length);
            t.done = true;
        }
    }
    server.to_subs(ih, id, |s, t| ServerMessage::Done {
        client_key: s.client_key.clone(),
        torrent_key: s.torrent_key.clone(),
        torrent: t.progress.clone(),
    });
}

/// Ends a torrent's task and streaming server and removes it from the engine (deleting its
/// data when `delete` is set).
pub(super) async fn teardown(client: Option<Client>, mut t: Torrent, delete: bool) {
    if let Some(task) = t.task.take() {
        task.abort();
    }
    if let Some(h) = t.server_handle.take() {
        h.shutdown().await;
    }
    match t.archive.take() {
        Some(a) => {
            // Closing removes the torrent if the archive added it; deleting data removes it
            // in any case.
            if let Some(h) = a.torrent().filter(|_| delete) {
                let _ = h.remove(true).await;
            }
            let _ = a.close().await;
        }
        None => {
            if let Some(h) = client.and_then(|c| c.engine().torrent(&t.info_hash)) {
                let _ = h.remove(delete).await;
            }
        }
    }
}

pub(super) fn progress_of(s: &TorrentStats, length: Option<u64>) -> TorrentInfo {
    TorrentInfo {
        progress: Some(s.progress),
        downloaded: Some(s.downloaded),
        uploaded: Some(s.uploaded),
        length,
        download_speed: Some(s.download_rate),
        upload_speed: Some(s.upload_rate),
        ratio: Some(if s.downloaded == 0 {
            0.0
        } else {
            s.uploaded as f64 / s.downloaded as f64
        }),
        num_peers: Some(s.peers as u64),
        time_remaining: s
            .time_remaining
            .map(|d| d.as_secs_f64() * 1000.0)
            .or(if s.done { Some(0.0) } else { None }),
        ..TorrentInfo::default()
    }
}

pub(super) fn ready(sub: &Sub, addr: SocketAddr, url: String) -> ServerMessage {
    ServerMessage::ServerReady {
        client_key: sub.client_key.clone(),
        torrent_key: sub.torrent_key.clone(),
        server_address: ServerAddress::from(addr),
        server_url: url,
    }
}

pub(super) fn error_msg(
    client_key: &str,
    torrent_key: Option<&str>,
    text: &str,
    warning: bool,
) -> ServerMessage {
    let error = ErrorInfo {
        message: text.to_owned(),
        stack: None,
    };
    let client_key = client_key.to_owned();
    let torrent_key = torrent_key.map(str::to_owned);
    if warning {
        ServerMessage::Warning {
            client_key,
            torrent_key,
            error,
        }
    } else {
        ServerMessage::Error {
            client_key,
            torrent_key,
            error,
        }
    }
}

/// A bare info hash (40 hex or 32 base32 characters) becomes a magnet link.
pub(super) fn torrent_id_to_magnet(id: &str) -> String {
    if id.starts_with("magnet:") {
        id.to_owned()
    } else {
        format!("magnet:?xt=urn:btih:{id}")
    }
}

pub(super) fn parse_id(id: &str) -> Result<(InfoHash, Magnet), ()> {
    let magnet = Magnet::parse(&torrent_id_to_magnet(id.trim())).map_err(|_| ())?;
    let ih = magnet.info_hash().ok_or(())?;
    Ok((ih, magnet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_magnets_or_hashes() {
        let hex = "6a9759bffd5c0af65319979fb7832189f4f3c35d";
        let (a, _) = parse_id(hex).unwrap();
        let (b, m) = parse_id(&format!("magnet:?xt=urn:btih:{hex}&dn=sintel.mp4")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_hex(), hex);
        assert_eq!(m.display_name.as_deref(), Some("sintel.mp4"));
        assert!(parse_id("not a torrent").is_err());
        assert!(parse_id("magnet:?dn=x").is_err());
    }

    #[test]
    fn progress_has_every_npm_counter() {
        let mut s = TorrentStats::default();
        s.downloaded = 200;
        s.uploaded = 100;
        s.progress = 0.5;
        let p = progress_of(&s, Some(400));
        assert_eq!(p.ratio, Some(0.5));
        assert_eq!(p.length, Some(400));
        assert_eq!(p.time_remaining, None);
        assert_eq!(p.downloaded, Some(200));
    }
}
