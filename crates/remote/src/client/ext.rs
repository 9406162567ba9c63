//! The client side of the `swarmfs/v1/` extension: one request, one answer, matched by
//! `requestId`. Events arriving meanwhile are kept for [`RemoteClient::next_event`].

use std::time::Duration;

use super::{ClientError, RemoteClient};
use crate::protocol::ext::base64_decode;
use crate::protocol::{ClientMessage, DirEntryInfo, ServerMessage, TorrentEntry};

/// Bytes of a file from [`RemoteClient::read_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileChunk {
    /// Where `data` starts in the file.
    pub offset: u64,
    /// The file's length.
    pub file_length: u64,
    /// The bytes (fewer than asked at the end of the file).
    pub data: Vec<u8>,
}

/// Most torrents [`RemoteClient::list`] collects over all pages.
const MAX_LISTED: usize = 1 << 16;

impl RemoteClient {
    /// Every torrent the server holds (`swarmfs/v1/list`), sorted by info hash; asks page after
    /// page while the server says its answer was truncated.
    pub async fn list(&mut self) -> Result<Vec<TorrentEntry>, ClientError> {
        let mut all: Vec<TorrentEntry> = Vec::new();
        loop {
            let key = self.key.clone();
            let after = all.last().map(|t| t.info_hash().to_owned());
            match self
                .request(|request_id| ClientMessage::List {
                    client_key: key,
                    request_id,
                    after: after.clone(),
                })
                .await?
            {
                ServerMessage::Torrents {
                    torrents,
                    truncated,
                    ..
                } => {
                    // Each page must move past the previous one (a server that repeats itself
                    // would loop for ever), and the whole list is bounded.
                    let moved = match (torrents.last(), &after) {
                        (Some(last), Some(after)) => last.info_hash() > after.as_str(),
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    all.extend(torrents);
                    if !truncated || !moved || all.len() >= MAX_LISTED {
                        all.truncate(MAX_LISTED);
                        return Ok(all);
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// Pauses the torrent `info_hash` (hex) for every client (`swarmfs/v1/pause`).
    pub async fn pause(&mut self, info_hash: &str) -> Result<(), ClientError> {
        let (key, ih) = (self.key.clone(), info_hash.to_owned());
        self.request_ok(|request_id| ClientMessage::Pause {
            client_key: key,
            request_id,
            info_hash: ih,
        })
        .await
    }

    /// Resumes a paused torrent (`swarmfs/v1/resume`).
    pub async fn resume(&mut self, info_hash: &str) -> Result<(), ClientError> {
        let (key, ih) = (self.key.clone(), info_hash.to_owned());
        self.request_ok(|request_id| ClientMessage::Resume {
            client_key: key,
            request_id,
            info_hash: ih,
        })
        .await
    }

    /// Removes the torrent now, for every client, and its data too when `delete_data`
    /// (`swarmfs/v1/remove`).
    pub async fn remove(&mut self, info_hash: &str, delete_data: bool) -> Result<(), ClientError> {
        let (key, ih) = (self.key.clone(), info_hash.to_owned());
        self.request_ok(|request_id| ClientMessage::Remove {
            client_key: key,
            request_id,
            info_hash: ih,
            delete_data,
        })
        .await
    }

    /// Downloads only the files with these indices (into the torrent's `files`)
    /// (`swarmfs/v1/select-files`).
    pub async fn select_files(
        &mut self,
        info_hash: &str,
        files: &[u32],
    ) -> Result<(), ClientError> {
        let (key, ih, files) = (self.key.clone(), info_hash.to_owned(), files.to_vec());
        self.request_ok(|request_id| ClientMessage::SelectFiles {
            client_key: key,
            request_id,
            info_hash: ih,
            files,
        })
        .await
    }

    /// The entries of directory `path` of the torrent's archive (`swarmfs/v1/read-dir`; at most
    /// 256, sorted by name).
    pub async fn read_dir(
        &mut self,
        info_hash: &str,
        path: &str,
    ) -> Result<Vec<DirEntryInfo>, ClientError> {
        let (key, ih, path) = (self.key.clone(), info_hash.to_owned(), path.to_owned());
        match self
            .request(|request_id| ClientMessage::ReadDir {
                client_key: key,
                request_id,
                info_hash: ih,
                path,
            })
            .await?
        {
            ServerMessage::Dir { entries, .. } => Ok(entries),
            other => Err(unexpected(&other)),
        }
    }

    /// Up to `len` bytes (at most [`MAX_READ_LEN`](crate::protocol::MAX_READ_LEN)) of file
    /// `path` from `offset` (`swarmfs/v1/read-file`); the server fetches missing pieces first.
    pub async fn read_file(
        &mut self,
        info_hash: &str,
        path: &str,
        offset: u64,
        len: u64,
    ) -> Result<FileChunk, ClientError> {
        let (key, ih, path) = (self.key.clone(), info_hash.to_owned(), path.to_owned());
        let msg = self
            .request(|request_id| ClientMessage::ReadFile {
                client_key: key,
                request_id,
                info_hash: ih,
                path,
                offset,
                length: Some(len),
            })
            .await?;
        match msg {
            ServerMessage::Bytes {
                offset,
                file_length,
                data,
                ref request_id,
                ..
            } => Ok(FileChunk {
                offset,
                file_length,
                data: base64_decode(&data).ok_or_else(|| ClientError::Unexpected {
                    request_id: request_id.clone(),
                    kind: "swarmfs/v1/bytes with bad base64",
                })?,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Follows a BEP 46 mutable magnet (`swarmfs/v1/watch-mutable`), polling every
    /// `interval` (server default 30 s). Returns the watch's id: the
    /// [`ServerMessage::MutableUpdate`] events that [`RemoteClient::next_event`] returns carry
    /// it as `request_id`.
    pub async fn watch_mutable(
        &mut self,
        url: &str,
        interval: Option<Duration>,
    ) -> Result<String, ClientError> {
        let (key, url) = (self.key.clone(), url.to_owned());
        let interval = interval.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut id = String::new();
        self.request_ok(|request_id| {
            id.clone_from(&request_id);
            ClientMessage::WatchMutable {
                client_key: key,
                request_id,
                url,
                interval,
            }
        })
        .await?;
        Ok(id)
    }

    /// Stops the watch `watch_id` (`swarmfs/v1/unwatch-mutable`).
    pub async fn unwatch_mutable(&mut self, watch_id: &str) -> Result<(), ClientError> {
        let key = self.key.clone();
        let rid = watch_id.to_owned();
        self.send_and_wait(
            rid.clone(),
            ClientMessage::UnwatchMutable {
                client_key: key,
                request_id: rid,
            },
        )
        .await
        .and_then(expect_ok)
    }

    async fn request_ok(
        &mut self,
        make: impl FnOnce(String) -> ClientMessage,
    ) -> Result<(), ClientError> {
        self.request(make).await.and_then(expect_ok)
    }

    /// Sends the request `make` builds with a fresh `requestId` and waits for its answer.
    async fn request(
        &mut self,
        make: impl FnOnce(String) -> ClientMessage,
    ) -> Result<ServerMessage, ClientError> {
        self.next_request += 1;
        let rid = format!("r{}", self.next_request);
        let msg = make(rid.clone());
        self.send_and_wait(rid, msg).await
    }

    async fn send_and_wait(
        &mut self,
        rid: String,
        msg: ClientMessage,
    ) -> Result<ServerMessage, ClientError> {
        (self.out)(msg);
        let timeout = self.request_timeout;
        let answer = self
            .wait_for(timeout, |m| {
                m.request_id() == Some(rid.as_str())
                    && !matches!(m, ServerMessage::MutableUpdate { .. })
            })
            .await?;
        match answer {
            ServerMessage::Failed {
                request_id, error, ..
            } => Err(ClientError::Failed {
                request_id,
                message: error.message,
            }),
            m => Ok(m),
        }
    }
}

fn expect_ok(m: ServerMessage) -> Result<(), ClientError> {
    match m {
        ServerMessage::Ok { .. } => Ok(()),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(m: &ServerMessage) -> ClientError {
    ClientError::Unexpected {
        request_id: m.request_id().unwrap_or("").to_owned(),
        kind: m.kind(),
    }
}
