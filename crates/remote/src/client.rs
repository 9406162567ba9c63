//! The Rust client: the npm `WebTorrentRemoteClient`'s job, with an event stream.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::protocol::{AddOptions, ClientMessage, DestroyOptions, ServerMessage, TorrentInfo};
use crate::server::RemoteServer;
use crate::transport::{CLIENT_QUEUE, Router};

mod ext;

pub use ext::FileChunk;

/// Messages [`RemoteClient::wait_for`] set aside for [`RemoteClient::next_event`]; past this
/// the oldest are dropped.
const BACKLOG: usize = 4096;

/// Client options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Send a heartbeat this often; zero disables. Default 5 s, as the npm client.
    pub heartbeat: Duration,
    /// How long an extension request (`list`, `pause`, ...) waits for its answer. Default 60 s.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl ClientOptions {
    /// Sets the heartbeat interval.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// Sets how long extension requests wait for their answer.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// Why waiting for a client event failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection to the server ended.
    #[error("connection to the remote server closed")]
    Closed,
    /// Nothing matching arrived in time.
    #[error("no matching message within {timeout:?}")]
    TimedOut {
        /// How long was waited.
        timeout: Duration,
    },
    /// `subscribe`/`get` of a torrent the server does not have (`TorrentMissingError`).
    #[error("torrent missing: {torrent_key}")]
    TorrentMissing {
        /// The key it was asked under.
        torrent_key: String,
    },
    /// The server answered an extension request with `swarmfs/v1/failed`.
    #[error("request {request_id} failed: {message}")]
    Failed {
        /// The request.
        request_id: String,
        /// The server's reason.
        message: String,
    },
    /// The server answered with a message of the wrong shape.
    #[error("unexpected answer {kind} to request {request_id}")]
    Unexpected {
        /// The request.
        request_id: String,
        /// The answer's type.
        kind: &'static str,
    },
}

type Outbound = Arc<dyn Fn(ClientMessage) + Send + Sync>;

/// A remote-control client. Messages for other `clientKey`s are ignored; torrent props are
/// kept current from the events as [`RemoteClient::next_event`] returns them.
pub struct RemoteClient {
    key: String,
    out: Outbound,
    incoming: mpsc::Receiver<ServerMessage>,
    torrents: HashMap<String, TorrentInfo>,
    heartbeat: Option<JoinHandle<()>>,
    destroyed: bool,
    foreign: u64,
    backlog: VecDeque<ServerMessage>,
    next_request: u64,
    request_timeout: Duration,
}

impl std::fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteClient")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RemoteClient {
    /// A client over any transport: `send` carries messages to the server, `incoming` brings
    /// the server's. Needs a tokio runtime when heartbeats are on.
    pub fn new(
        send: impl Fn(ClientMessage) + Send + Sync + 'static,
        incoming: mpsc::Receiver<ServerMessage>,
        options: ClientOptions,
    ) -> Self {
        Self::with_key(new_key(), Arc::new(send), incoming, options)
    }

    /// An in-process client of `server`, whose replies `router` (the server's transport)
    /// delivers.
    pub fn local(server: &RemoteServer, router: &Router, options: ClientOptions) -> Self {
        let key = new_key();
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        let conn = router.connection_id();
        router.register(&key, conn, &tx);
        let server = server.clone();
        Self::with_key(key, Arc::new(move |m| server.receive(m)), rx, options)
    }

    pub(crate) fn with_key(
        key: String,
        out: Outbound,
        incoming: mpsc::Receiver<ServerMessage>,
        options: ClientOptions,
    ) -> Self {
        let heartbeat = (!options.heartbeat.is_zero()).then(|| {
            let out = out.clone();
            let key = key.clone();
            let every = options.heartbeat;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    out(ClientMessage::Heartbeat {
                        client_key: key.clone(),
                    });
                }
            })
        });
        Self {
            key,
            out,
            incoming,
            torrents: HashMap::new(),
            heartbeat,
            destroyed: false,
            foreign: 0,
            backlog: VecDeque::new(),
            next_request: 0,
            request_timeout: options.request_timeout,
        }
    }

    /// The `clientKey`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Adds a torrent (magnet link or info hash); returns its `torrentKey`.
    pub fn add(&mut self, torrent_id: &str, opts: AddOptions) -> String {
        let torrent_key = opts.torrent_key.clone().unwrap_or_else(new_key);
        self.torrents
            .insert(torrent_key.clone(), TorrentInfo::default());
        (self.out)(ClientMessage::AddTorrent {
            client_key: self.key.clone(),
            torrent_key: torrent_key.clone(),
            torrent_id: torrent_id.to_owned(),
            opts: Some(opts),
        });
        torrent_key
    }

    /// Subscribes to a torrent the server already has (the npm `get`); returns its
    /// `torrentKey`. Use [`RemoteClient::get`] to wait for the answer.
    pub fn subscribe(&mut self, torrent_id: &str) -> String {
        let torrent_key = new_key();
        self.torrents
            .insert(torrent_key.clone(), TorrentInfo::default());
        (self.out)(ClientMessage::Subscribe {
            client_key: self.key.clone(),
            torrent_key: torrent_key.clone(),
            torrent_id: torrent_id.to_owned(),
        });
        torrent_key
    }

    /// Subscribes and waits for the answer: the torrent's key and props, or
    /// [`ClientError::TorrentMissing`].
    pub async fn get(
        &mut self,
        torrent_id: &str,
        timeout: Duration,
    ) -> Result<(String, TorrentInfo), ClientError> {
        let key = self.subscribe(torrent_id);
        let k = key.clone();
        let m = self
            .wait_for(timeout, |m| {
                matches!(m, ServerMessage::TorrentSubscribed { torrent_key, .. } if *torrent_key == k)
            })
            .await?;
        match m {
            ServerMessage::TorrentSubscribed {
                torrent: Some(t), ..
            } => Ok((key, t)),
            _ => Err(ClientError::TorrentMissing { torrent_key: key }),
        }
    }

    /// Asks for the torrent's streaming server; `server-ready` answers.
    pub fn create_server(&self, torrent_key: &str) {
        self.create_server_with(torrent_key, None);
    }

    /// [`RemoteClient::create_server`] with webtorrent's server options, such as
    /// `{"origin": "*", "hostname": "localhost"}` (they count if this request starts the server).
    pub fn create_server_with(&self, torrent_key: &str, opts: Option<serde_json::Value>) {
        (self.out)(ClientMessage::CreateServer {
            client_key: self.key.clone(),
            torrent_key: torrent_key.to_owned(),
            opts,
        });
    }

    /// Sends a heartbeat now.
    pub fn heartbeat(&self) {
        (self.out)(ClientMessage::Heartbeat {
            client_key: self.key.clone(),
        });
    }

    /// Leaves the server (after `delay`, if given) and stops heartbeats. Torrents no other
    /// client uses are removed after the server's grace period.
    pub fn destroy(&mut self, delay: Option<Duration>) {
        if self.destroyed {
            return;
        }
        self.destroyed = true;
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        (self.out)(ClientMessage::Destroy {
            client_key: self.key.clone(),
            opts: delay.map(|d| DestroyOptions {
                delay: Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }),
        });
    }

    /// Stops sending heartbeats without telling the server (as a crashed process would).
    pub fn stop_heartbeats(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// Messages received that carried another client's key (and were ignored); a correct
    /// server and transport never send any.
    pub fn foreign_messages(&self) -> u64 {
        self.foreign
    }

    /// The props of a torrent, as of the events returned so far.
    pub fn torrent(&self, torrent_key: &str) -> Option<&TorrentInfo> {
        self.torrents.get(torrent_key)
    }

    /// The next message for this client (others are skipped), or `None` when the connection
    /// closed. Messages [`RemoteClient::wait_for`] passed over come first.
    pub async fn next_event(&mut self) -> Option<ServerMessage> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(m);
        }
        self.next_fresh().await
    }

    async fn next_fresh(&mut self) -> Option<ServerMessage> {
        loop {
            let m = self.incoming.recv().await?;
            if m.client_key() != self.key {
                self.foreign += 1;
                continue;
            }
            self.apply(&m);
            return Some(m);
        }
    }

    /// Waits up to `timeout` for a message matching `pred` (looking first at those set
    /// aside earlier). The others are applied to the torrents' props and set aside for
    /// [`RemoteClient::next_event`] (the oldest beyond 4,096 are dropped).
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&ServerMessage) -> bool,
    ) -> Result<ServerMessage, ClientError> {
        if let Some(i) = self.backlog.iter().position(&mut pred) {
            if let Some(m) = self.backlog.remove(i) {
                return Ok(m);
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next_fresh()).await {
                Err(_) => return Err(ClientError::TimedOut { timeout }),
                Ok(None) => return Err(ClientError::Closed),
                Ok(Some(m)) if pred(&m) => return Ok(m),
                Ok(Some(m)) => {
                    if self.backlog.len() >= BACKLOG {
                        self.backlog.pop_front();
                    }
                    self.backlog.push_back(m);
                }
            }
        }
    }

    fn apply(&mut self, m: &ServerMessage) {
        let (key, info) = match m {
            ServerMessage::TorrentSubscribed {
                torrent_key,
                torrent,
                ..
            } => match torrent {
                Some(t) => (torrent_key, t),
                None => {
                    self.torrents.remove(torrent_key);
                    return;
                }
            },
            ServerMessage::Infohash {
                torrent_key,
                torrent,
                ..
            }
            | ServerMessage::Metadata {
                torrent_key,
                torrent,
                ..
            }
            | ServerMessage::Download {
                torrent_key,
                torrent,
                ..
            }
            | ServerMessage::Upload {
                torrent_key,
                torrent,
                ..
            }
            | ServerMessage::Done {
                torrent_key,
                torrent,
                ..
            }
            | ServerMessage::Update {
                torrent_key,
                torrent,
                ..
            } => (torrent_key, torrent),
            ServerMessage::ServerReady {
                torrent_key,
                server_url,
                ..
            } => {
                if let Some(t) = self.torrents.get_mut(torrent_key) {
                    t.server_url = Some(server_url.clone());
                }
                return;
            }
            _ => return,
        };
        if let Some(t) = self.torrents.get_mut(key) {
            t.merge(info);
        }
    }
}

impl Drop for RemoteClient {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

/// A random 16-hex-digit key (the npm client uses `Math.random().toString(16)`).
pub(crate) fn new_key() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
