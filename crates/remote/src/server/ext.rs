//! The `swarmfs/v1/` extension requests: list, pause, resume, remove, select files, read a
//! directory or file bytes of an archive, and watch BEP 46 mutable magnets.

use std::time::Duration;

use swarmfs::Archive;
use swarmfs_engine::{Priority, TorrentHandle};
use swarmfs_metainfo::{InfoHash, Magnet, MagnetTarget};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::RemoteServer;
use super::swarm::{error_msg, parse_id, teardown};
use crate::protocol::ext::{MAX_DIR_ENTRIES, MAX_LIST_ENTRIES, base64_encode};
use crate::protocol::{
    ClientMessage, DirEntryInfo, ErrorInfo, MAX_MESSAGE_LEN, MAX_READ_LEN, ServerMessage,
    TorrentEntry,
};

/// Default and least poll interval of a mutable watch.
const WATCH_DEFAULT: Duration = Duration::from_secs(30);
const WATCH_MIN: Duration = Duration::from_millis(100);

impl RemoteServer {
    /// Handles one extension request of client `key`.
    pub(super) fn ext(&self, key: String, msg: ClientMessage) {
        let Some(rid) = msg.request_id().map(str::to_owned) else {
            return;
        };
        let reply = Reply {
            server: self.clone(),
            client_key: key,
            request_id: rid,
        };
        match msg {
            ClientMessage::List { after, .. } => self.list(reply, after.as_deref()),
            ClientMessage::Pause { info_hash, .. } => self.set_paused(reply, &info_hash, true),
            ClientMessage::Resume { info_hash, .. } => self.set_paused(reply, &info_hash, false),
            ClientMessage::Remove {
                info_hash,
                delete_data,
                ..
            } => self.remove(reply, &info_hash, delete_data),
            ClientMessage::SelectFiles {
                info_hash, files, ..
            } => self.select_files(reply, &info_hash, files),
            ClientMessage::ReadDir {
                info_hash, path, ..
            } => self.read(reply, &info_hash, path, None),
            ClientMessage::ReadFile {
                info_hash,
                path,
                offset,
                length,
                ..
            } => {
                let len = length.unwrap_or(MAX_READ_LEN).min(MAX_READ_LEN);
                self.read(reply, &info_hash, path, Some((offset, len)));
            }
            ClientMessage::WatchMutable { url, interval, .. } => {
                let every = interval.map_or(WATCH_DEFAULT, Duration::from_millis);
                self.watch(reply, url, every.max(WATCH_MIN));
            }
            ClientMessage::UnwatchMutable { .. } => self.unwatch(reply),
            _ => {}
        }
    }

    fn list(&self, reply: Reply, after: Option<&str>) {
        let mut torrents: Vec<TorrentEntry> = {
            let st = self.lock();
            st.torrents
                .values()
                .map(|t| TorrentEntry {
                    torrent: t.snapshot(),
                    has_metadata: t.info.files.is_some(),
                    paused: t.paused,
                    done: t.done,
                    subscribers: t.subs.len(),
                    kept: t.kept,
                })
                .collect()
        };
        torrents.sort_by(|a, b| a.info_hash().cmp(b.info_hash()));
        if let Some(after) = after {
            torrents.retain(|t| t.info_hash() > after);
        }
        let (torrents, truncated) = list_page(torrents);
        self.send(ServerMessage::Torrents {
            client_key: reply.client_key.clone(),
            request_id: reply.request_id.clone(),
            torrents,
            truncated,
        });
    }

    fn set_paused(&self, reply: Reply, info_hash: &str, paused: bool) {
        let handle = {
            let mut st = self.lock();
            let Some(t) = find(&mut st.torrents, info_hash) else {
                drop(st);
                return reply.unknown(info_hash);
            };
            t.paused = paused;
            self.handle_of(t)
        };
        // Without a handle yet, the flag is applied when the torrent opens.
        let res = handle.map_or(Ok(()), |h| if paused { h.pause() } else { h.resume() });
        match res {
            Ok(()) => reply.ok(),
            Err(e) => reply.failed(&e.to_string()),
        }
    }

    fn remove(&self, reply: Reply, info_hash: &str, delete: bool) {
        let removed = {
            let mut st = self.lock();
            let ih = parse_id(info_hash).ok().map(|(ih, _)| ih);
            ih.and_then(|ih| st.torrents.remove(&ih))
        };
        let Some(t) = removed else {
            return reply.unknown(info_hash);
        };
        if self.inner.config.trace {
            tracing::info!(
                "torrent removed by a client: {}",
                t.info.name.as_deref().unwrap_or("")
            );
        }
        for s in &t.subs {
            self.send(error_msg(
                &s.client_key,
                Some(&s.torrent_key),
                "torrent removed by a remote client",
                false,
            ));
        }
        let this = self.clone();
        tokio::spawn(async move {
            teardown(this.inner.engine.current(), t, delete).await;
            reply.ok();
            this.stop_engine_if_idle().await;
        });
    }

    fn select_files(&self, reply: Reply, info_hash: &str, wanted: Vec<u32>) {
        let handle = {
            let mut st = self.lock();
            match find(&mut st.torrents, info_hash) {
                Some(t) => t.archive.as_ref().and_then(|a| a.torrent().cloned()),
                None => {
                    drop(st);
                    return reply.unknown(info_hash);
                }
            }
        };
        let Some(handle) = handle else {
            return reply.failed("the torrent's metadata is not known yet");
        };
        tokio::spawn(async move {
            match select(&handle, &wanted).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.failed(&e),
            }
        });
    }

    /// `read-dir` (`range` None) or `read-file` of `range`.
    fn read(&self, reply: Reply, info_hash: &str, path: String, range: Option<(u64, u64)>) {
        let archive = {
            let mut st = self.lock();
            match find(&mut st.torrents, info_hash) {
                Some(t) => t.archive.clone(),
                None => {
                    drop(st);
                    return reply.unknown(info_hash);
                }
            }
        };
        let Some(archive) = archive else {
            return reply.failed("the torrent's metadata is not known yet");
        };
        let Ok(permit) = self.inner.reads.clone().try_acquire_owned() else {
            return reply.failed("too many reads in flight");
        };
        let timeout = self.inner.config.read_timeout;
        tokio::spawn(async move {
            let work = async {
                match range {
                    None => read_dir(&archive, &path, &reply).await,
                    Some((offset, len)) => read_file(&archive, &path, offset, len, &reply).await,
                }
            };
            let res = tokio::time::timeout(timeout, work).await;
            drop(permit);
            match res {
                Ok(Ok(msg)) => reply.server.send(msg),
                Ok(Err(e)) => reply.failed(&e),
                Err(_) => reply.failed(&format!("read timed out after {timeout:?}")),
            }
        });
    }

    fn watch(&self, reply: Reply, url: String, every: Duration) {
        let target = match Magnet::parse(&url) {
            Ok(m) => matches!(m.target, MagnetTarget::Mutable(_)),
            Err(_) => false,
        };
        if !target {
            return reply.failed("not a mutable magnet (magnet:?xs=urn:btpk:...)");
        }
        let mut st = self.lock();
        let max = self.inner.config.max_watches_per_client;
        let Some(c) = st.clients.get_mut(&reply.client_key) else {
            return;
        };
        if c.watches.contains_key(&reply.request_id) {
            drop(st);
            return reply.failed("a watch with this requestId exists");
        }
        if c.watches.len() >= max {
            drop(st);
            return reply.failed("too many watches for this client");
        }
        // Answered before the task can send an update: both under the lock.
        reply.ok();
        let task = tokio::spawn(watch_task(reply.clone(), url, every));
        c.watches.insert(reply.request_id.clone(), task);
    }

    fn unwatch(&self, reply: Reply) {
        let task = {
            let mut st = self.lock();
            st.clients
                .get_mut(&reply.client_key)
                .and_then(|c| c.watches.remove(&reply.request_id))
        };
        match task {
            Some(t) => {
                t.abort();
                reply.ok();
                let this = self.clone();
                tokio::spawn(async move { this.stop_engine_if_idle().await });
            }
            None => reply.failed("no such watch"),
        }
    }
}

/// Where an extension request's answer goes.
#[derive(Clone)]
struct Reply {
    server: RemoteServer,
    client_key: String,
    request_id: String,
}

impl Reply {
    fn ok(&self) {
        self.server.send(ServerMessage::Ok {
            client_key: self.client_key.clone(),
            request_id: self.request_id.clone(),
        });
    }

    fn failed(&self, text: &str) {
        self.server.send(ServerMessage::Failed {
            client_key: self.client_key.clone(),
            request_id: self.request_id.clone(),
            error: ErrorInfo {
                message: text.to_owned(),
                stack: None,
            },
        });
    }

    fn unknown(&self, info_hash: &str) {
        let mut end = info_hash.len().min(64);
        while !info_hash.is_char_boundary(end) {
            end -= 1;
        }
        self.failed(&format!("unknown torrent {}", &info_hash[..end]));
    }
}

fn find<'a>(
    torrents: &'a mut std::collections::HashMap<InfoHash, super::Torrent>,
    info_hash: &str,
) -> Option<&'a mut super::Torrent> {
    let (ih, _) = parse_id(info_hash).ok()?;
    torrents.get_mut(&ih)
}

/// Sets every listed file (an index into the non-padding files) to normal priority and skips
/// the others.
async fn select(handle: &TorrentHandle, wanted: &[u32]) -> Result<(), String> {
    let info = handle
        .info()
        .ok_or_else(|| "the torrent's metadata is not known yet".to_owned())?;
    let real: Vec<usize> = info
        .files()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.is_pad())
        .map(|(i, _)| i)
        .collect();
    if let Some(bad) = wanted.iter().find(|&&w| w as usize >= real.len()) {
        return Err(format!(
            "file index {bad} out of range ({} files)",
            real.len()
        ));
    }
    for (visible, &i) in real.iter().enumerate() {
        let want = wanted.iter().any(|&w| w as usize == visible);
        let p = if want {
            Priority::NORMAL
        } else {
            Priority::SKIP
        };
        handle
            .set_file_priority(i, p)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn read_dir(archive: &Archive, path: &str, reply: &Reply) -> Result<ServerMessage, String> {
    let list = archive.read_dir(path).await.map_err(|e| e.to_string())?;
    let truncated = list.len() > MAX_DIR_ENTRIES;
    let entries = list
        .into_iter()
        .take(MAX_DIR_ENTRIES)
        .map(|e| DirEntryInfo {
            name: e.name,
            len: e.len,
            is_dir: e.is_dir,
        })
        .collect();
    Ok(ServerMessage::Dir {
        client_key: reply.client_key.clone(),
        request_id: reply.request_id.clone(),
        entries,
        truncated,
    })
}

async fn read_file(
    archive: &Archive,
    path: &str,
    offset: u64,
    len: u64,
    reply: &Reply,
) -> Result<ServerMessage, String> {
    let mut f = archive.open(path).await.map_err(|e| e.to_string())?;
    let file_length = f.len();
    if offset > file_length {
        return Err(format!(
            "offset {offset} is past the end of the file ({file_length} bytes)"
        ));
    }
    let want = len.min(file_length - offset);
    f.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| e.to_string())?;
    // `want` <= MAX_READ_LEN (32 KiB): a bounded allocation.
    let mut buf = vec![0u8; usize::try_from(want).unwrap_or(0)];
    f.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    Ok(ServerMessage::Bytes {
        client_key: reply.client_key.clone(),
        request_id: reply.request_id.clone(),
        offset,
        file_length,
        data: base64_encode(&buf),
    })
}

/// Polls the DHT for the mutable magnet's newest version and reports each newer one; a
/// failed resolution is reported once per streak as a `warning`.
async fn watch_task(reply: Reply, url: String, every: Duration) {
    let mut last: Option<i64> = None;
    let mut warned = false;
    loop {
        let res = match reply.server.inner.engine.get().await {
            Ok(client) => client.resolve(&url).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match res {
            Ok(v) => {
                warned = false;
                if last.is_none_or(|s| v.seq > s) {
                    last = Some(v.seq);
                    reply.server.send(ServerMessage::MutableUpdate {
                        client_key: reply.client_key.clone(),
                        request_id: reply.request_id.clone(),
                        url: url.clone(),
                        seq: v.seq,
                        info_hash: v.info_hash.to_hex(),
                        magnet: v.magnet(),
                    });
                }
            }
            Err(e) if !warned => {
                warned = true;
                reply.server.send(ServerMessage::Warning {
                    client_key: reply.client_key.clone(),
                    torrent_key: None,
                    error: ErrorInfo {
                        message: format!("watch {}: {e}", reply.request_id),
                        stack: None,
                    },
                });
            }
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// The first entries of `torrents` that fit one answer: at most [`MAX_LIST_ENTRIES`], and well
/// under [`MAX_MESSAGE_LEN`] of JSON (a client drops longer messages). An entry whose file list
/// alone would take more than a quarter of that is listed without it (`read-dir` has the files).
/// The flag says whether some were left for a next page.
fn list_page(torrents: Vec<TorrentEntry>) -> (Vec<TorrentEntry>, bool) {
    const BUDGET: usize = MAX_MESSAGE_LEN - 1024;
    let json_len = |t: &TorrentEntry| serde_json::to_vec(t).map_or(usize::MAX, |v| v.len());
    let total = torrents.len();
    let mut page = Vec::new();
    let mut used = 0;
    for mut entry in torrents {
        let mut len = json_len(&entry);
        if len > BUDGET / 4 {
            entry.torrent.files = None;
            len = json_len(&entry);
        }
        if page.len() == MAX_LIST_ENTRIES || used + len + 1 > BUDGET {
            break;
        }
        used += len + 1;
        page.push(entry);
    }
    let truncated = page.len() < total;
    (page, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FileInfo;

    fn entry(i: usize, name_len: usize, files: usize) -> TorrentEntry {
        let mut e = TorrentEntry::default();
        e.torrent.info_hash = Some(format!("{i:040x}"));
        e.torrent.name = Some("n".repeat(name_len));
        e.torrent.files = Some(
            (0..files)
                .map(|f| FileInfo {
                    name: format!("dir/file-{f}.bin"),
                    length: 1,
                })
                .collect(),
        );
        e
    }

    #[test]
    fn a_page_stays_under_the_message_limit() {
        let small: Vec<_> = (0..10).map(|i| entry(i, 10, 2)).collect();
        let (page, truncated) = list_page(small.clone());
        assert_eq!((page, truncated), (small, false));

        let wide: Vec<_> = (0..MAX_LIST_ENTRIES).map(|i| entry(i, 1024, 1)).collect();
        let (page, truncated) = list_page(wide);
        assert!(truncated && !page.is_empty());
        let json = serde_json::to_vec(&page).unwrap();
        assert!(json.len() < MAX_MESSAGE_LEN, "{}", json.len());

        // A torrent with thousands of files is listed without them.
        let (page, truncated) = list_page(vec![entry(0, 10, 5_000)]);
        assert!(!truncated);
        assert_eq!(page[0].torrent.files, None);
        assert_eq!(page[0].torrent.name.as_deref(), Some("nnnnnnnnnn"));
    }
}
