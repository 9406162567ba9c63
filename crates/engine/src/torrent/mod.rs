//! The torrent task: one per torrent, owning the picker, the choker, the metadata assembler and
//! the table of peer connections, driven by peer events, handle commands and a periodic tick.
//!
//! Data path: a peer's reader sends each block here; it is copied into the buffer of its piece;
//! when the piece is complete it is hashed from memory on another task and written to the piece
//! store in one call, then announced with `have`. Peer writers serve requests from the store.

mod download;
mod metadata;
mod peers;
mod verify;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use swarmfs_metainfo::{Bitfield, Info};
use swarmfs_proto::{MetadataAssembler, MetadataConfig, PeerKey, Priority, RateMeter, Rng};
use swarmfs_storage::StorageFactory;
use swarmfs_wire::{Handshake, PeerId};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};

use self::download::Download;
use self::peers::Peer;
use crate::config::TorrentOptions;
use crate::discovery::PeerSource;
use crate::discovery::pex::{LivePeer, Pex};
use crate::discovery::queue::PeerQueue;
use crate::engine::EngineShared;
use crate::error::TorrentError;
use crate::event::{TorrentEvent, TorrentStats};
use crate::peer::FromPeer;
use crate::shared::TorrentShared;

/// Period of the housekeeping tick (timeouts, choking rounds, reconnects).
const TICK: Duration = Duration::from_millis(250);
/// Peer events handled per wake-up before looking at other sources again.
const EVENT_BATCH: usize = 256;
/// Candidate offers taken from discovery per wake-up.
const CANDIDATE_BATCH: usize = 256;

/// What a [`TorrentHandle`](crate::TorrentHandle) or the listener asks of the torrent task.
#[derive(Debug)]
pub(crate) enum Command {
    AddPeer(SocketAddr),
    Incoming {
        stream: TcpStream,
        handshake: Handshake,
        addr: SocketAddr,
    },
    Pause,
    Resume,
    Stats(oneshot::Sender<TorrentStats>),
    FilePriority {
        file: usize,
        priority: Priority,
        reply: oneshot::Sender<Result<(), TorrentError>>,
    },
    ReadAt {
        offset: u64,
        len: u64,
    },
    Release {
        offset: u64,
        len: u64,
    },
    PutPiece {
        index: u32,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<bool, TorrentError>>,
    },
    Wanted(oneshot::Sender<Option<Bitfield>>),
    Remove {
        delete: bool,
        reply: oneshot::Sender<()>,
    },
}

/// Results of work the torrent task handed to other tasks.
#[derive(Debug)]
enum Internal {
    Connected {
        stream: TcpStream,
        handshake: Handshake,
        addr: SocketAddr,
    },
    ConnectFailed(SocketAddr),
    Checked {
        piece: u32,
        ok: bool,
        error: Option<String>,
        /// The piece's bytes, back for comparison with an earlier failed copy.
        buf: Vec<u8>,
        /// Durable mode: the piece matched and was written; it counts once a group commit
        /// (`Internal::Committed`) made it durable.
        uncommitted: bool,
    },
    /// A group commit of pieces written from memory ended (the error, if it failed).
    Committed(Option<String>),
    /// A piece given by [`Command::PutPiece`] was hashed (and written when it matched).
    Put {
        piece: u32,
        result: Result<bool, swarmfs_storage::PieceStoreError>,
        reply: oneshot::Sender<Result<bool, TorrentError>>,
    },
}

pub(crate) struct Torrent {
    engine: Arc<EngineShared>,
    shared: Arc<TorrentShared>,
    events: broadcast::Sender<TorrentEvent>,
    factory: Arc<dyn StorageFactory>,
    options: TorrentOptions,
    peers: HashMap<PeerKey, Peer>,
    next_key: u64,
    peer_tx: mpsc::Sender<(PeerKey, FromPeer)>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    meta: Option<MetadataAssembler>,
    dl: Option<Download>,
    known: BTreeSet<SocketAddr>,
    connecting: HashSet<SocketAddr>,
    banned: HashSet<SocketAddr>,
    banned_ids: HashSet<PeerId>,
    strikes: HashMap<PeerId, u32>,
    paused: bool,
    rng: Rng,
    dl_meter: RateMeter,
    ul_meter: RateMeter,
    last_uploaded: u64,
    hash_failures: u32,
    last_dial: Instant,
    removing: Option<(bool, oneshot::Sender<()>)>,
    /// Candidate peers from every discovery source.
    candidates: PeerQueue,
    /// Peer exchange state (BEP 11), when enabled.
    pex: Option<Pex>,
}

/// Everything needed to start a torrent task.
pub(crate) struct TorrentStart {
    pub(crate) engine: Arc<EngineShared>,
    pub(crate) shared: Arc<TorrentShared>,
    pub(crate) events: broadcast::Sender<TorrentEvent>,
    pub(crate) factory: Arc<dyn StorageFactory>,
    pub(crate) options: TorrentOptions,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    /// The info dictionary when known at start (else it is fetched from peers).
    pub(crate) info: Option<Info>,
    /// Candidate peers offered by discovery sources.
    pub(crate) candidates: mpsc::Receiver<(SocketAddr, PeerSource)>,
}

/// Runs a torrent until it is removed or the engine shuts down.
pub(crate) async fn run(start: TorrentStart) {
    let TorrentStart {
        engine,
        shared,
        events,
        factory,
        options,
        mut commands,
        info,
        mut candidates,
    } = start;
    let (peer_tx, mut peer_rx) = mpsc::channel(1024);
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let seed = u64::from_le_bytes(rand::random::<[u8; 8]>());
    let discovery = &engine.config.discovery;
    let mut queue = PeerQueue::new(discovery.queue.clone());
    for a in &options.peers {
        queue.add(*a, PeerSource::Static);
    }
    let pex = discovery.pex.then(|| Pex::new(discovery.pex_interval));
    let mut t = Torrent {
        candidates: queue,
        pex,
        meta: None,
        dl: None,
        known: options.peers.iter().copied().collect(),
        paused: options.paused,
        engine,
        shared,
        events,
        factory,
        options,
        peers: HashMap::new(),
        next_key: 0,
        peer_tx,
        internal_tx,
        connecting: HashSet::new(),
        banned: HashSet::new(),
        banned_ids: HashSet::new(),
        strikes: HashMap::new(),
        rng: Rng::new(seed),
        dl_meter: RateMeter::new(now),
        ul_meter: RateMeter::new(now),
        last_uploaded: 0,
        hash_failures: 0,
        last_dial: now,
        removing: None,
    };
    match info {
        Some(info) => {
            if let Err(e) = t.start_download(info).await {
                t.fail(e.to_string());
            }
        }
        None => {
            t.meta = Some(MetadataAssembler::new(
                t.shared.info_hash,
                MetadataConfig::default(),
            ));
        }
    }
    t.dial_known();
    let mut shutdown = t.engine.shutdown.subscribe();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = crate::engine::stopped(&mut shutdown) => break,
            Some(ev) = internal_rx.recv() => t.handle_internal(ev).await,
            cmd = commands.recv() => match cmd {
                Some(cmd) => t.handle_command(cmd).await,
                None => break,
            },
            Some((addr, source)) = candidates.recv() => {
                t.offer(addr, source);
                for _ in 0..CANDIDATE_BATCH {
                    match candidates.try_recv() {
                        Ok((addr, source)) => t.offer(addr, source),
                        Err(_) => break,
                    }
                }
                t.dial_candidates();
            }
            Some((key, ev)) = peer_rx.recv() => {
                t.handle_peer_event(key, ev).await;
                for _ in 0..EVENT_BATCH {
                    match peer_rx.try_recv() {
                        Ok((key, ev)) => t.handle_peer_event(key, ev).await,
                        Err(_) => break,
                    }
                }
                t.after_events();
            }
            _ = tick.tick() => t.on_tick().await,
        }
        if t.removing.is_some() {
            break;
        }
    }
    t.finish().await;
}

impl Torrent {
    fn emit(&self, ev: TorrentEvent) {
        let _ = self.events.send(ev);
    }

    /// The torrent cannot go on: reported as an error event, and every waiter on its handle
    /// returns [`crate::TorrentError::Failed`].
    fn fail(&self, reason: String) {
        tracing::warn!(info_hash = %self.shared.info_hash.to_hex(), %reason, "torrent failed");
        self.shared.fail(reason.clone());
        self.emit(TorrentEvent::Error(reason));
    }

    async fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::AddPeer(addr) => {
                self.candidates.add(addr, PeerSource::User);
                self.known.insert(addr);
                self.dial(addr);
            }
            Command::Incoming {
                stream,
                handshake,
                addr,
            } => self.accept_peer(stream, handshake, addr, false),
            Command::Pause => {
                self.paused = true;
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.drop_peer(k, "paused".into());
                }
            }
            Command::Resume => {
                self.paused = false;
                self.dial_known();
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            Command::FilePriority {
                file,
                priority,
                reply,
            } => {
                let r = match self.dl.as_mut() {
                    None => Err(TorrentError::NoMetadata),
                    Some(dl) => dl.set_file_priority(file, priority),
                };
                let _ = reply.send(r);
                self.check_done();
                // Interest follows the wanted set at once, not at the next tick: a torrent
                // opened with everything skipped is not interested until a read or priority.
                self.update_interest();
                self.fill_all();
            }
            Command::ReadAt { offset, len } => {
                if let Some(dl) = self.dl.as_mut() {
                    dl.read_at(offset, len);
                }
                self.update_interest();
                self.fill_all();
            }
            Command::Release { offset, len } => {
                if let Some(dl) = self.dl.as_mut() {
                    dl.release(offset, len);
                }
                self.update_interest();
            }
            Command::PutPiece { index, data, reply } => self.put_piece(index, data, reply),
            Command::Wanted(reply) => {
                let _ = reply.send(self.dl.as_ref().map(|dl| dl.wanted()));
            }
            Command::Remove { delete, reply } => self.removing = Some((delete, reply)),
        }
    }

    async fn handle_internal(&mut self, ev: Internal) {
        match ev {
            Internal::Connected {
                stream,
                handshake,
                addr,
            } => {
                self.connecting.remove(&addr);
                self.candidates.connected(addr);
                self.accept_peer(stream, handshake, addr, true);
            }
            Internal::ConnectFailed(addr) => {
                self.connecting.remove(&addr);
                self.candidates.failed(addr, Instant::now());
                self.dial_candidates();
            }
            Internal::Checked {
                piece,
                ok,
                error,
                buf,
                uncommitted,
            } => {
                self.verdict_in(buf.len());
                if ok && uncommitted {
                    self.piece_written(piece, buf);
                } else {
                    self.piece_checked(piece, ok, error, buf);
                }
            }
            Internal::Committed(error) => self.committed(error),
            Internal::Put {
                piece,
                result,
                reply,
            } => self.piece_put(piece, result, reply),
        }
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        let up = self.shared.uploaded.load(Ordering::Relaxed);
        self.ul_meter
            .add(now, up.saturating_sub(self.last_uploaded));
        self.last_uploaded = up;
        self.peer_tick(now);
        self.metadata_tick(now).await;
        self.choke_tick(now, false);
        self.update_interest();
        self.fill_all();
        if !self.paused
            && now.duration_since(self.last_dial) >= self.engine.config.reconnect_interval
        {
            self.dial_known();
        }
        self.release_candidates(now);
        self.dial_candidates();
        self.pex_tick(now);
    }

    /// A discovery source offers `addr`.
    fn offer(&mut self, addr: SocketAddr, source: PeerSource) {
        if addr == self.engine.listen_addr || self.banned.contains(&addr) {
            return;
        }
        self.candidates.add(addr, source);
    }

    /// Dials queued candidates while connection slots are free.
    fn dial_candidates(&mut self) {
        if self.paused || self.removing.is_some() {
            return;
        }
        let now = Instant::now();
        let max = self.engine.config.max_connections_per_torrent;
        while self.peers.len() + self.connecting.len() < max {
            let Some((addr, source)) = self.candidates.pop(now) else {
                return;
            };
            if self.banned.contains(&addr) {
                self.candidates.kill(addr);
                continue;
            }
            tracing::trace!(%addr, ?source, "dialing candidate");
            self.dial(addr);
            if !self.connecting.contains(&addr) {
                // Not dialled: already connected (perhaps it dialled us), or refused.
                if self
                    .peers
                    .values()
                    .any(|p| p.addr == addr || p.listen_addr == Some(addr))
                {
                    self.candidates.connected(addr);
                } else {
                    self.candidates.disconnected(addr, now);
                }
            }
        }
    }

    /// Candidates marked connected whose connection ended may be dialled again later.
    fn release_candidates(&mut self, now: Instant) {
        let gone: Vec<SocketAddr> = self
            .candidates
            .in_use()
            .filter(|a| {
                !self.connecting.contains(a)
                    && !self
                        .peers
                        .values()
                        .any(|p| p.addr == *a || p.listen_addr == Some(*a))
            })
            .collect();
        for a in gone {
            self.candidates.disconnected(a, now);
        }
    }

    /// Whether the torrent is known to be private (BEP 27: no DHT, LSD or PEX).
    fn is_private(&self) -> bool {
        self.shared.ready.get().is_some_and(|r| r.info.is_private())
    }

    /// Sends the PEX messages due. Only once the metadata says the torrent is not private.
    fn pex_tick(&mut self, now: Instant) {
        if self.shared.ready.get().is_none() || self.is_private() {
            return;
        }
        let Some(pex) = self.pex.as_mut() else {
            return;
        };
        let live: Vec<LivePeer> = self
            .peers
            .iter()
            .map(|(k, p)| LivePeer {
                key: *k,
                listen: p.listen_addr,
                flags: if p.outgoing {
                    swarmfs_wire::PexFlags::REACHABLE
                } else {
                    swarmfs_wire::PexFlags::default()
                },
            })
            .collect();
        for (key, msg) in pex.poll_messages(now, &live) {
            if let Some(p) = self.peers.get(&key) {
                p.send(msg);
            }
        }
    }

    /// A ut_pex message from `key`: its added peers become candidates.
    fn on_pex(&mut self, key: PeerKey, payload: &[u8]) {
        if self.is_private() {
            return;
        }
        let Some(pex) = self.pex.as_mut() else {
            return;
        };
        match pex.receive(key, Instant::now(), payload) {
            Ok(addrs) => {
                for a in addrs {
                    self.offer(a, PeerSource::Pex);
                }
                self.dial_candidates();
            }
            Err(e) => self.drop_peer(key, format!("ut_pex: {e}")),
        }
    }

    fn stats(&mut self) -> TorrentStats {
        let now = Instant::now();
        let download_rate = self.dl_meter.rate(now);
        let mut s = TorrentStats {
            downloaded: self.dl_meter.total(),
            uploaded: self.shared.uploaded.load(Ordering::Relaxed),
            download_rate,
            upload_rate: self.ul_meter.rate(now),
            peers: self.peers.len(),
            paused: self.paused,
            hash_failures: self.hash_failures,
            ..TorrentStats::default()
        };
        if let Some(dl) = &self.dl {
            let (verified, total, have_bytes, wanted_bytes) = dl.progress();
            s.pieces_verified = verified;
            s.pieces_total = total;
            s.progress = if wanted_bytes == 0 {
                1.0
            } else {
                have_bytes as f64 / wanted_bytes as f64
            };
            s.done = dl.picker.is_done();
            let remaining = wanted_bytes.saturating_sub(have_bytes);
            s.time_remaining = if remaining == 0 {
                Some(Duration::ZERO)
            } else if download_rate > 0.0 {
                Some(Duration::from_secs_f64(remaining as f64 / download_rate))
            } else {
                None
            };
        }
        s
    }

    /// Ends every connection and, when removing with `delete`, empties the files.
    async fn finish(&mut self) {
        self.peers.clear();
        // Durable mode: pieces written but not yet committed are made durable before leaving.
        if let (true, Some(ready)) = (self.options.resume, self.shared.ready.get()) {
            if let Err(e) = ready.store.commit_hashed().await {
                self.emit(TorrentEvent::Error(format!("commit pieces: {e}")));
            }
        }
        let removing = self.removing.take();
        if let Some((true, _)) = &removing {
            if let Some(ready) = self.shared.ready.get() {
                let count = ready.store.geometry().file_count();
                for i in 0..count {
                    if let Some(f) = ready.store.file(i) {
                        if let Err(e) = f.set_len(0).await {
                            self.emit(TorrentEvent::Error(format!("delete file {i}: {e}")));
                        }
                    }
                }
            }
        }
        self.engine.forget_torrent(&self.shared.info_hash);
        if let Some((_, reply)) = removing {
            let _ = reply.send(());
        }
    }
}
