//! The torrent's peer table: admitting connections (limits, self and duplicate detection, bans),
//! dialing, routing peer events, interest, choking and bans.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use swarmfs_metainfo::Bitfield;
use swarmfs_proto::{
    ChokeAction, ChokeCandidate, ChokeMode, PeerEvent, PeerKey, Pipeline, PipelineConfig, RateMeter,
};
use swarmfs_wire::{ExtensionHandshake, Handshake, Message, PeerId, extension};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{Internal, Torrent};
use crate::discovery::pex::OUR_UT_PEX;
use crate::engine::ConnSlot;
use crate::event::TorrentEvent;
use crate::peer::{self, FromPeer, MAX_SERVE_QUEUE, OUR_UT_METADATA, PeerSetup, ToWriter};

/// Fewest requests kept outstanding with an unchoking peer (128 blocks = 2 MiB).
const MIN_QUEUE_DEPTH: u32 = 128;
/// Most availability messages kept from a peer while the metadata is unknown.
const MAX_EARLY: usize = 1 << 16;

/// One connected peer, as the torrent task sees it. Dropping it ends the connection.
pub(super) struct Peer {
    pub(super) addr: SocketAddr,
    pub(super) peer_id: PeerId,
    pub(super) outgoing: bool,
    pub(super) listen_addr: Option<SocketAddr>,
    pub(super) tx: tokio::sync::mpsc::UnboundedSender<ToWriter>,
    _kill: watch::Sender<()>,
    _slot: ConnSlot,
    pub(super) peer_choking: bool,
    pub(super) peer_interested: bool,
    pub(super) am_interested: bool,
    pub(super) pipeline: Pipeline,
    pub(super) connected_at: Instant,
    uploaded: Arc<AtomicU64>,
    up_meter: RateMeter,
    up_seen: u64,
    pub(super) ut_metadata: Option<u8>,
    /// Availability announced before the metadata was known, replayed once it is.
    pub(super) early: Vec<FromPeer>,
}

impl Peer {
    pub(super) fn send(&self, msg: Message) {
        let _ = self.tx.send(ToWriter::Msg(msg));
    }
}

impl Torrent {
    fn our_handshake(&self) -> Handshake {
        let mut hs = Handshake::new(self.shared.info_hash, self.engine.peer_id);
        // BEP 5: the DHT bit only when we run a node.
        hs.reserved = hs.reserved.with_dht(self.engine.dht.is_some());
        hs
    }

    /// Dials every known address we are not connected to.
    pub(super) fn dial_known(&mut self) {
        self.last_dial = Instant::now();
        let addrs: Vec<SocketAddr> = self.known.iter().copied().collect();
        for a in addrs {
            self.dial(a);
        }
    }

    fn connected_to(&self, addr: SocketAddr) -> bool {
        self.peers
            .values()
            .any(|p| p.addr == addr || p.listen_addr == Some(addr))
    }

    pub(super) fn dial(&mut self, addr: SocketAddr) {
        if self.paused
            || self.removing.is_some()
            || self.connecting.contains(&addr)
            || self.banned.contains(&addr)
            || addr == self.engine.listen_addr
            || self.connected_to(addr)
            || self.peers.len() + self.connecting.len()
                >= self.engine.config.max_connections_per_torrent
        {
            return;
        }
        self.connecting.insert(addr);
        let hs = self.our_handshake();
        let timeout = self.engine.config.handshake_timeout;
        let tx = self.internal_tx.clone();
        let mut shutdown = self.engine.shutdown.subscribe();
        self.engine.tasks.spawn(async move {
            let r = tokio::select! {
                r = crate::connect::connect(addr, &hs, timeout) => r,
                _ = crate::engine::stopped(&mut shutdown) => return,
            };
            let _ = tx.send(match r {
                Ok((stream, handshake)) => Internal::Connected {
                    stream,
                    handshake,
                    addr,
                },
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "connect failed");
                    Internal::ConnectFailed(addr)
                }
            });
        });
    }

    /// Admits a connection whose handshakes are exchanged (outgoing) or whose handshake was read
    /// (incoming; ours is sent by the writer first).
    pub(super) fn accept_peer(
        &mut self,
        stream: TcpStream,
        hs: Handshake,
        addr: SocketAddr,
        outgoing: bool,
    ) {
        let me = self.engine.peer_id;
        if hs.peer_id == me {
            // Connected to ourselves: forget the address (the DHT hands us our own announce).
            self.known.remove(&addr);
            self.candidates.kill(addr);
            return;
        }
        if self.paused || self.banned.contains(&addr) || self.banned_ids.contains(&hs.peer_id) {
            return;
        }
        let dup = self
            .peers
            .iter()
            .find(|(_, p)| p.peer_id == hs.peer_id)
            .map(|(k, p)| (*k, p.outgoing));
        if let Some((old_key, old_outgoing)) = dup {
            // Keep the connection opened by the side with the lower peer id, so both ends
            // drop the same one; with the same opener, keep the older.
            let opener = |out: bool| if out { me } else { hs.peer_id };
            if old_outgoing == outgoing || opener(old_outgoing) < opener(outgoing) {
                return;
            }
            self.drop_peer(old_key, "duplicate connection".into());
        }
        if self.peers.len() >= self.engine.config.max_connections_per_torrent {
            return;
        }
        let Some(slot) = self.engine.take_slot() else {
            return;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%addr, error = %e, "set_nodelay");
        }
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let fast = hs.reserved.fast();
        let (kill_tx, kill_rx) = watch::channel(());
        let uploaded = Arc::new(AtomicU64::new(0));
        let cfg = &self.engine.config;
        let setup = PeerSetup {
            key,
            shared: self.shared.clone(),
            events: self.peer_tx.clone(),
            kill: kill_rx,
            handshake: (!outgoing).then(|| self.our_handshake()),
            fast,
            idle_timeout: cfg.idle_timeout,
            keepalive_interval: cfg.keepalive_interval,
            uploaded: uploaded.clone(),
        };
        let tx = peer::spawn(&self.engine.tasks, stream, setup);
        let now = Instant::now();
        let mut pipeline_config = PipelineConfig::default();
        pipeline_config.request_timeout = cfg.request_timeout;
        // The round trip measured on a fast link is mostly the peer's turnaround, so the
        // bandwidth-delay product underestimates; keep at least 2 MiB in flight.
        pipeline_config.min_depth = MIN_QUEUE_DEPTH;
        let p = Peer {
            addr,
            peer_id: hs.peer_id,
            outgoing,
            listen_addr: outgoing.then_some(addr),
            tx,
            _kill: kill_tx,
            _slot: slot,
            peer_choking: true,
            peer_interested: false,
            am_interested: false,
            pipeline: Pipeline::new(now, pipeline_config),
            connected_at: now,
            uploaded,
            up_meter: RateMeter::new(now),
            up_seen: 0,
            ut_metadata: None,
            early: Vec::new(),
        };
        // BEP 3: the bitfield (or a BEP 6 have-all/none) is the first message.
        match self.shared.ready.get() {
            Some(ready) => {
                let bits = ready.have.to_bitfield();
                if fast && bits.all() {
                    p.send(Message::HaveAll);
                } else if fast && bits.count_ones() == 0 {
                    p.send(Message::HaveNone);
                } else if bits.count_ones() > 0 {
                    p.send(Message::Bitfield(bits.as_bytes().to_vec().into()));
                }
            }
            None if fast => p.send(Message::HaveNone),
            None => {}
        }
        if hs.reserved.extension_protocol() {
            p.send(self.extension_handshake(addr).to_message());
        }
        // BEP 5: peers that both set the DHT bit tell each other their DHT port.
        if let (true, Some(dht)) = (hs.reserved.dht(), self.engine.dht.as_ref()) {
            p.send(Message::Port(dht.dht().local_addr().port()));
        }
        self.peers.insert(key, p);
        self.emit(TorrentEvent::PeerConnected(addr));
    }

    pub(super) fn extension_handshake(&self, addr: SocketAddr) -> ExtensionHandshake {
        // Fields the wire crate may add later keep their defaults.
        let mut extensions = BTreeMap::from([(extension::UT_METADATA.to_owned(), OUR_UT_METADATA)]);
        if self.pex.is_some() && !self.is_private() {
            extensions.insert(extension::UT_PEX.to_owned(), OUR_UT_PEX);
        }
        #[allow(clippy::needless_update)]
        ExtensionHandshake {
            extensions,
            listen_port: Some(self.engine.listen_addr.port()),
            client: Some(concat!("swarmfs ", env!("CARGO_PKG_VERSION")).to_owned()),
            your_ip: Some(addr.ip()),
            request_queue: Some(MAX_SERVE_QUEUE as u32),
            metadata_size: self.shared.ready.get().map(|r| r.info_bytes.len() as u32),
            ..ExtensionHandshake::default()
        }
    }

    /// Ends the connection to `key` and forgets everything it held.
    pub(super) fn drop_peer(&mut self, key: PeerKey, reason: String) {
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        if let Some(dl) = self.dl.as_mut() {
            let _ = dl.picker.handle_peer(key, PeerEvent::Gone);
            dl.choker.handle_peer_gone(key);
        }
        if let Some(meta) = self.meta.as_mut() {
            meta.handle_peer_gone(key);
        }
        self.emit(TorrentEvent::PeerDisconnected {
            addr: p.addr,
            reason,
        });
    }

    pub(super) fn ban(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let addr = p.addr;
        self.banned.insert(addr);
        self.banned_ids.insert(p.peer_id);
        if let Some(l) = p.listen_addr {
            self.banned.insert(l);
            self.known.remove(&l);
        }
        self.known.remove(&addr);
        self.drop_peer(key, "banned".into());
        self.emit(TorrentEvent::PeerBanned(addr));
    }

    /// Adds `weight` strikes to `peer`; bans it at the limit (connected or not).
    pub(super) fn strike(&mut self, peer: PeerId, weight: u32) {
        let s = self.strikes.entry(peer).or_insert(0);
        *s += weight;
        if *s < self.engine.config.ban_strikes {
            return;
        }
        self.banned_ids.insert(peer);
        let key = self
            .peers
            .iter()
            .find(|(_, p)| p.peer_id == peer)
            .map(|(k, _)| *k);
        if let Some(k) = key {
            self.ban(k);
        }
    }

    pub(super) async fn handle_peer_event(&mut self, key: PeerKey, ev: FromPeer) {
        if !self.peers.contains_key(&key) {
            return;
        }
        match ev {
            FromPeer::Closed(reason) => self.drop_peer(key, reason),
            FromPeer::ExtHandshake(hs) => self.on_ext_handshake(key, &hs),
            FromPeer::Choke => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.peer_choking = true;
                    p.pipeline.handle_choked();
                }
                if let Some(dl) = self.dl.as_mut() {
                    dl.picker.release_peer(key);
                }
            }
            FromPeer::Unchoke => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.peer_choking = false;
                }
                self.fill(key);
            }
            FromPeer::Interested | FromPeer::NotInterested => {
                let on = matches!(ev, FromPeer::Interested);
                if let Some(p) = self.peers.get_mut(&key) {
                    p.peer_interested = on;
                }
                if on {
                    self.choke_tick(Instant::now(), true);
                }
            }
            FromPeer::Have(_) | FromPeer::Bitfield(_) | FromPeer::HaveAll | FromPeer::HaveNone => {
                self.on_availability(key, ev);
            }
            FromPeer::Block(piece) => self.on_block(key, piece),
            FromPeer::Run(run) => self.on_run(key, run),
            FromPeer::Reject(r) => self.on_reject(key, r),
            FromPeer::MetadataData {
                piece,
                total_size,
                data,
            } => self.on_metadata_data(key, piece, total_size, &data).await,
            FromPeer::MetadataReject(piece) => self.on_metadata_reject(key, piece),
            FromPeer::Pex(payload) => self.on_pex(key, &payload),
            FromPeer::PieceLost { piece, error } => self.piece_lost(piece, error),
            FromPeer::DhtPort(port) => {
                if let (Some(dht), Some(p)) = (self.engine.dht.as_ref(), self.peers.get(&key)) {
                    dht.add_node(SocketAddr::new(p.addr.ip(), port));
                }
            }
        }
    }

    fn on_ext_handshake(&mut self, key: PeerKey, hs: &ExtensionHandshake) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.ut_metadata = hs.extension_id(extension::UT_METADATA).map(|id| id.get());
        if let Some(pex) = self.pex.as_mut() {
            pex.set_peer(key, hs.extension_id(extension::UT_PEX).map(|id| id.get()));
        }
        if let Some(q) = hs.request_queue {
            p.pipeline.set_peer_reqq(q);
        }
        if let Some(port) = hs.listen_port.filter(|&port| port != 0) {
            p.listen_addr = Some(SocketAddr::new(p.addr.ip(), port));
        }
        let (has_ut, size) = (p.ut_metadata.is_some(), hs.metadata_size);
        if let (Some(meta), true, Some(size)) = (self.meta.as_mut(), has_ut, size) {
            if let Err(e) = meta.handle_peer_size(key, u64::from(size)) {
                self.drop_peer(key, e.to_string());
                return;
            }
            self.pump_metadata();
        }
    }

    pub(super) fn on_availability(&mut self, key: PeerKey, ev: FromPeer) {
        let Some(dl) = self.dl.as_mut() else {
            let Some(p) = self.peers.get_mut(&key) else {
                return;
            };
            if p.early.len() >= MAX_EARLY {
                self.drop_peer(key, "too many have messages".into());
            } else {
                p.early.push(ev);
            }
            return;
        };
        let geometry = dl.picker.geometry().clone();
        let pe = match ev {
            FromPeer::Have(i) => match geometry.piece(i) {
                Some(p) => PeerEvent::Have(p),
                None => return self.drop_peer(key, format!("have {i} out of range")),
            },
            FromPeer::Bitfield(bytes) => {
                match Bitfield::from_bytes(&bytes, geometry.piece_count()) {
                    Some(b) => PeerEvent::Bitfield(b),
                    None => return self.drop_peer(key, "bad bitfield".into()),
                }
            }
            FromPeer::HaveAll => PeerEvent::HaveAll,
            _ => PeerEvent::HaveNone,
        };
        let single = match &pe {
            PeerEvent::Have(p) => Some(*p),
            _ => None,
        };
        if let Err(e) = dl.picker.handle_peer(key, pe) {
            return self.drop_peer(key, e.to_string());
        }
        let interesting = match single {
            Some(p) => !dl.picker.have().get(p.get()) && !dl.picker.priority(p).is_skip(),
            None => dl.picker.is_interesting(key),
        };
        if interesting {
            self.set_interest(key, true);
            self.fill(key);
        }
    }

    pub(super) fn set_interest(&mut self, key: PeerKey, on: bool) {
        if let Some(p) = self.peers.get_mut(&key) {
            if p.am_interested != on {
                p.am_interested = on;
                p.send(if on {
                    Message::Interested
                } else {
                    Message::NotInterested
                });
            }
        }
    }

    /// Re-evaluates our interest in every peer.
    pub(super) fn update_interest(&mut self) {
        let Some(dl) = self.dl.as_ref() else {
            return;
        };
        let changes: Vec<(PeerKey, bool)> = self
            .peers
            .iter()
            .filter_map(|(k, p)| {
                let want = dl.picker.is_interesting(*k);
                (want != p.am_interested).then_some((*k, want))
            })
            .collect();
        for (k, on) in changes {
            self.set_interest(k, on);
        }
    }

    /// Request timeouts and upload rates.
    pub(super) fn peer_tick(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for (k, p) in &mut self.peers {
            let up = p.uploaded.load(Ordering::Relaxed);
            p.up_meter.add(now, up - p.up_seen);
            p.up_seen = up;
            for b in p.pipeline.handle_timeout(now) {
                failed.push((*k, b));
            }
        }
        if let Some(dl) = self.dl.as_mut() {
            for (k, b) in failed {
                dl.picker.handle_request_failed(k, b);
            }
        }
    }

    /// Runs a choking round when due, or now when `force` and a slot is free.
    pub(super) fn choke_tick(&mut self, now: Instant, force: bool) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let slots = self.engine.config.unchoke_slots + 1;
        if force && dl.choker.unchoked().count() >= slots {
            return;
        }
        let candidates: Vec<ChokeCandidate> = self
            .peers
            .iter_mut()
            .map(|(k, p)| ChokeCandidate {
                peer: *k,
                interested: p.peer_interested,
                download_rate: p.pipeline.rate(now),
                upload_rate: p.up_meter.rate(now),
                connected_at: p.connected_at,
            })
            .collect();
        let mode = if dl.picker.is_done() {
            ChokeMode::Seeding
        } else {
            ChokeMode::Leeching
        };
        if force {
            dl.choker.round(now, &candidates, mode, &mut self.rng);
        } else {
            dl.choker
                .handle_timeout(now, &candidates, mode, &mut self.rng);
        }
        while let Some(a) = dl.choker.poll_action() {
            match a {
                ChokeAction::Choke(k) => {
                    if let Some(p) = self.peers.get(&k) {
                        p.send(Message::Choke);
                    }
                }
                ChokeAction::Unchoke(k) => {
                    if let Some(p) = self.peers.get(&k) {
                        p.send(Message::Unchoke);
                    }
                }
                _ => {}
            }
        }
    }
}
