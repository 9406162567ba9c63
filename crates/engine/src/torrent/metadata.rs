//! BEP 9: fetching the info dictionary from peers with proto's assembler.

use std::time::Instant;

use swarmfs_metainfo::Info;
use swarmfs_proto::{MetadataEvent, PeerKey};
use swarmfs_wire::UtMetadata;

use super::Torrent;

impl Torrent {
    /// Sends every request the assembler wants sent.
    pub(super) fn pump_metadata(&mut self) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let now = Instant::now();
        while let Some((key, piece)) = meta.poll_request(now) {
            match self
                .peers
                .get(&key)
                .and_then(|p| p.ut_metadata.map(|id| (p, id)))
            {
                Some((p, id)) => p.send(UtMetadata::Request { piece }.to_message(id)),
                None => meta.handle_peer_gone(key),
            }
        }
    }

    pub(super) async fn metadata_tick(&mut self, now: Instant) {
        if let Some(meta) = self.meta.as_mut() {
            if meta.poll_timeout().is_some_and(|at| now >= at) {
                meta.handle_timeout(now);
            }
            self.pump_metadata();
        }
    }

    pub(super) async fn on_metadata_data(
        &mut self,
        key: PeerKey,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        if let Err(e) = meta.handle_data(key, piece, u64::from(total_size), data) {
            self.drop_peer(key, e.to_string());
        }
        self.metadata_events().await;
        self.pump_metadata();
    }

    pub(super) fn on_metadata_reject(&mut self, key: PeerKey, piece: u32) {
        if let Some(meta) = self.meta.as_mut() {
            meta.handle_reject(key, piece);
        }
        self.pump_metadata();
    }

    async fn metadata_events(&mut self) {
        loop {
            let Some(ev) = self.meta.as_mut().and_then(|m| m.poll_event()) else {
                return;
            };
            match ev {
                MetadataEvent::Complete(bytes) => {
                    // The assembler checked the bytes against the info-hash.
                    match Info::from_bytes(&bytes) {
                        Ok(info) => {
                            if let Err(e) = self.start_download(info).await {
                                self.fail(e.to_string());
                            }
                        }
                        Err(e) => self.fail(format!("metadata: {e}")),
                    }
                    self.fill_all();
                    return;
                }
                MetadataEvent::Ban(key) => self.ban(key),
                MetadataEvent::HashFailed { .. } => {}
                _ => {}
            }
        }
    }
}
