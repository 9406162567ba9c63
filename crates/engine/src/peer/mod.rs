//! One peer connection: a reader task (socket -> decoder -> torrent) and a writer task (batched
//! messages and served blocks -> socket).
//!
//! The torrent task owns the download side (what to request, choking); the peer tasks answer
//! what they can alone: block requests are served by the writer straight from the piece store,
//! and BEP 9 metadata requests by the reader from the shared info dictionary.

mod direct;
mod reader;
mod writer;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use swarmfs_proto::PeerKey;
use swarmfs_wire::{BlockRequest, ExtensionHandshake, Handshake, Message};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::shared::TorrentShared;
use crate::tasks::Tasks;

/// The extended message id under which we want to receive ut_metadata.
pub(crate) const OUR_UT_METADATA: u8 = 1;
/// How many block requests a peer may have queued with us; more are rejected.
pub(crate) const MAX_SERVE_QUEUE: usize = 1000;

/// Most spare block buffers a connection keeps.
const MAX_POOLED_BLOCKS: usize = 256;

/// Spare block buffers of one connection, shared by its reader (which fills them) and the
/// torrent task (which empties them): steady state allocates nothing per block.
pub(crate) type BlockPool = Arc<Mutex<Vec<Vec<u8>>>>;

/// A `piece` message's block in a pooled buffer; the buffer goes back to the pool on drop.
#[derive(Debug)]
pub(crate) struct BlockData {
    pub(crate) index: u32,
    pub(crate) begin: u32,
    pub(crate) data: Vec<u8>,
    pool: BlockPool,
}

impl BlockData {
    /// Copies `payload` into a buffer from `pool`.
    pub(crate) fn new(index: u32, begin: u32, payload: &[u8], pool: &BlockPool) -> Self {
        let mut data = pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        data.clear();
        data.extend_from_slice(payload);
        Self {
            index,
            begin,
            data,
            pool: pool.clone(),
        }
    }
}

impl Drop for BlockData {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < MAX_POOLED_BLOCKS {
            pool.push(std::mem::take(&mut self.data));
        }
    }
}

/// Blocks of one piece that arrived back to back, assembled by the reader in a whole-piece
/// buffer (from the torrent's piece pool): bytes `begin..end` of `buf` are the piece's bytes
/// there. A run covering the whole piece becomes the piece's buffer without another copy.
#[derive(Debug)]
pub(crate) struct BlockRun {
    pub(crate) index: u32,
    pub(crate) begin: u32,
    pub(crate) end: u32,
    pub(crate) buf: Vec<u8>,
}

/// What a peer said that the torrent task handles.
#[derive(Debug)]
pub(crate) enum FromPeer {
    ExtHandshake(Box<ExtensionHandshake>),
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Bytes),
    HaveAll,
    HaveNone,
    Block(BlockData),
    Run(BlockRun),
    Reject(BlockRequest),
    MetadataData {
        piece: u32,
        total_size: u32,
        data: Bytes,
    },
    MetadataReject(u32),
    /// A ut_pex message (BEP 11), undecoded.
    Pex(Bytes),
    /// A BEP 5 `port` message: the peer's DHT node listens on this UDP port.
    DhtPort(u16),
    /// Serving a verified piece failed: storage could not read it. The writer already cleared
    /// it from the shared bitfield (so it is sent once per loss).
    PieceLost {
        piece: u32,
        error: String,
    },
    /// The connection ended (sent once, by whichever half noticed first).
    Closed(String),
}

/// What the writer task sends or does.
#[derive(Debug)]
pub(crate) enum ToWriter {
    /// Send this message (choke and unchoke also switch whether requests are served).
    Msg(Message),
    /// Send these requests.
    Requests(Vec<BlockRequest>),
    /// The peer asks for a block.
    Serve(BlockRequest),
    /// The peer cancels a request.
    CancelServe(BlockRequest),
}

/// Everything a peer connection needs from its torrent.
pub(crate) struct PeerSetup {
    pub(crate) key: PeerKey,
    pub(crate) shared: Arc<TorrentShared>,
    pub(crate) events: mpsc::Sender<(PeerKey, FromPeer)>,
    /// Dropped by the torrent to end the connection.
    pub(crate) kill: watch::Receiver<()>,
    /// Our handshake, when we still have to send it (incoming connections).
    pub(crate) handshake: Option<Handshake>,
    pub(crate) fast: bool,
    pub(crate) idle_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) uploaded: Arc<AtomicU64>,
}

/// Starts the two tasks of a connection; returns the writer's queue.
pub(crate) fn spawn(
    tasks: &Tasks,
    stream: TcpStream,
    setup: PeerSetup,
) -> mpsc::UnboundedSender<ToWriter> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (read_half, write_half) = stream.into_split();
    let setup = Arc::new(setup);
    tasks.spawn(writer::run(write_half, rx, setup.clone()));
    tasks.spawn(reader::run(read_half, tx.clone(), setup));
    tx
}
