//! The JSON messages of `webtorrent-remote` 2.1.0, field for field, and a bounded decoder.
//!
//! Field names are the JavaScript ones (`clientKey`, `torrentKey`, `torrentId`, `infoHash`,
//! `serverURL`, ...). Unknown fields are ignored, as the JavaScript code does; unknown message
//! types, malformed JSON, missing fields and oversized frames are a [`DecodeError`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod ext;

pub use ext::{DirEntryInfo, EXT_PREFIX, MAX_READ_LEN, TorrentEntry};

/// The largest message accepted, in bytes of JSON.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// The longest `clientKey` or `torrentKey` accepted (the npm client makes ~13 hex digits).
pub const MAX_KEY_LEN: usize = 128;

/// Why an incoming message was dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is larger than [`MAX_MESSAGE_LEN`].
    #[error("message of {len} bytes exceeds the limit of {max}")]
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or JSON that is not an object with the fields its type needs.
    #[error("malformed message: {source}")]
    Malformed {
        /// The JSON error.
        #[from]
        source: serde_json::Error,
    },
    /// The message has no string `type`.
    #[error("message has no type")]
    NoType,
    /// The `type` is not one this side understands.
    #[error("unknown message type {kind:?}")]
    UnknownType {
        /// The type, truncated to 64 bytes.
        kind: String,
    },
    /// A key is empty or longer than [`MAX_KEY_LEN`].
    #[error("invalid {field}: {len} bytes")]
    BadKey {
        /// Which key.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Options of `add-torrent` (`opts`): `server` starts a streaming server at once; every other
/// field (engine options such as `announce` or `path`) is kept as given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AddOptions {
    /// Start a streaming server for the torrent immediately, with these options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Value>,
    /// A torrentKey chosen by the caller (the npm client reads it from `opts` too).
    #[serde(
        default,
        rename = "torrentKey",
        skip_serializing_if = "Option::is_none"
    )]
    pub torrent_key: Option<String>,
    /// swarmfs extension: keep the torrent when no client follows it any more (until a
    /// `swarmfs/v1/remove`), as `swarmfs remote add` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<bool>,
    /// Every other option, passed through.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Options of `destroy` (`opts`): the seed README's `{delay: <milliseconds>}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestroyOptions {
    /// Milliseconds to wait before the client is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
}

/// A message from a client to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `get`: subscribe to a torrent the server already has, without adding it.
    Subscribe {
        /// The client.
        client_key: String,
        /// The client's handle for this torrent.
        torrent_key: String,
        /// Magnet link or info hash.
        torrent_id: String,
    },
    /// `add`: join a swarm (or subscribe to one already joined).
    AddTorrent {
        /// The client.
        client_key: String,
        /// The client's handle for this torrent.
        torrent_key: String,
        /// Magnet link or info hash.
        torrent_id: String,
        /// Options (`server`, engine options).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opts: Option<AddOptions>,
    },
    /// `torrent.createServer().listen()`: start (or reuse) the torrent's streaming server.
    CreateServer {
        /// The client.
        client_key: String,
        /// The torrent.
        torrent_key: String,
        /// Server options: webtorrent's `origin` (CORS) and `hostname` (the `Host` the server
        /// answers); the first request that starts a torrent's server sets them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opts: Option<Value>,
    },
    /// The client is alive.
    Heartbeat {
        /// The client.
        client_key: String,
    },
    /// The client goes away (after `opts.delay` milliseconds, if given).
    Destroy {
        /// The client.
        client_key: String,
        /// Options.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opts: Option<DestroyOptions>,
    },
    /// Extension: list the torrents the server holds, sorted by info hash, at most
    /// [`ext::MAX_LIST_ENTRIES`] per answer; `swarmfs/v1/torrents` answers. A truncated answer is
    /// continued by asking again with `after` set to the last info hash it held.
    #[serde(rename = "swarmfs/v1/list")]
    List {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Only torrents whose hex info hash sorts after this one (paging).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Extension: pause a torrent (peers disconnected until resumed); `swarmfs/v1/ok` answers.
    #[serde(rename = "swarmfs/v1/pause")]
    Pause {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Hex info hash.
        info_hash: String,
    },
    /// Extension: resume a paused torrent; `swarmfs/v1/ok` answers.
    #[serde(rename = "swarmfs/v1/resume")]
    Resume {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Hex info hash.
        info_hash: String,
    },
    /// Extension: remove a torrent now, whoever follows it (they get an `error`), with or
    /// without its data; `swarmfs/v1/ok` answers.
    #[serde(rename = "swarmfs/v1/remove")]
    Remove {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Hex info hash.
        info_hash: String,
        /// Also delete the downloaded data.
        #[serde(default)]
        delete_data: bool,
    },
    /// Extension: download only these files (indices into the torrent's `files`); the
    /// others are skipped. `swarmfs/v1/ok` answers.
    #[serde(rename = "swarmfs/v1/select-files")]
    SelectFiles {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Hex info hash.
        info_hash: String,
        /// Indices of the wanted files.
        files: Vec<u32>,
    },
    /// Extension: list a directory of a torrent's archive; `swarmfs/v1/dir` answers.
    #[serde(rename = "swarmfs/v1/read-dir")]
    ReadDir {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Hex info hash.
        info_hash: String,
        /// `/`-separated path inside the archive (`/` is its root).
        path: String,
    },
    /// Extension: read at most [`MAX_READ_LEN`] bytes of a file of a torrent's archive
    /// (fetched on demand); `swarmfs/v1/bytes` answers.
    #[serde(rename = "swarmfs/v1/read-file")]
    ReadFile {
        /// The client.
        client_key: String,
        /// Echoed in the answer.
        request_id: String,
        /// Hex info hash.
        info_hash: String,
        /// `/`-separated path inside the archive.
        path: String,
        /// First byte.
        #[serde(default)]
        offset: u64,
        /// Bytes wanted (clamped to [`MAX_READ_LEN`]; default the most).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        length: Option<u64>,
    },
    /// Extension: follow a BEP 46 mutable magnet (`magnet:?xs=urn:btpk:...`):
    /// `swarmfs/v1/mutable-update` reports its current version, then each newer one, until
    /// `swarmfs/v1/unwatch-mutable` or the client goes.
    #[serde(rename = "swarmfs/v1/watch-mutable")]
    WatchMutable {
        /// The client.
        client_key: String,
        /// Names the watch; every update carries it.
        request_id: String,
        /// The mutable magnet.
        url: String,
        /// How often to poll the DHT, in milliseconds (at least 100; default 30,000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<u64>,
    },
    /// Extension: stop the watch started with `requestId`; `swarmfs/v1/ok` answers.
    #[serde(rename = "swarmfs/v1/unwatch-mutable")]
    UnwatchMutable {
        /// The client.
        client_key: String,
        /// The watch's `requestId`.
        request_id: String,
    },
}

const CLIENT_TYPES: &[&str] = &[
    "subscribe",
    "add-torrent",
    "create-server",
    "heartbeat",
    "destroy",
    "swarmfs/v1/list",
    "swarmfs/v1/pause",
    "swarmfs/v1/resume",
    "swarmfs/v1/remove",
    "swarmfs/v1/select-files",
    "swarmfs/v1/read-dir",
    "swarmfs/v1/read-file",
    "swarmfs/v1/watch-mutable",
    "swarmfs/v1/unwatch-mutable",
];

const SERVER_TYPES: &[&str] = &[
    "torrent-subscribed",
    "infohash",
    "metadata",
    "download",
    "upload",
    "done",
    "update",
    "warning",
    "error",
    "server-ready",
    "swarmfs/v1/torrents",
    "swarmfs/v1/ok",
    "swarmfs/v1/failed",
    "swarmfs/v1/dir",
    "swarmfs/v1/bytes",
    "swarmfs/v1/mutable-update",
];

impl ClientMessage {
    /// Decodes one message, bounded by [`MAX_MESSAGE_LEN`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let value = parse_bounded(bytes)?;
        Self::from_value(value)
    }

    /// Decodes an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        check_type(&value, CLIENT_TYPES)?;
        let msg: Self = serde_json::from_value(value)?;
        check_key("clientKey", msg.client_key())?;
        if let Some(t) = msg.torrent_key() {
            check_key("torrentKey", t)?;
        }
        if let Some(r) = msg.request_id() {
            check_key("requestId", r)?;
        }
        Ok(msg)
    }

    /// The `clientKey` the message carries.
    pub fn client_key(&self) -> &str {
        match self {
            Self::Subscribe { client_key, .. }
            | Self::AddTorrent { client_key, .. }
            | Self::CreateServer { client_key, .. }
            | Self::Heartbeat { client_key }
            | Self::Destroy { client_key, .. }
            | Self::List { client_key, .. }
            | Self::Pause { client_key, .. }
            | Self::Resume { client_key, .. }
            | Self::Remove { client_key, .. }
            | Self::SelectFiles { client_key, .. }
            | Self::ReadDir { client_key, .. }
            | Self::ReadFile { client_key, .. }
            | Self::WatchMutable { client_key, .. }
            | Self::UnwatchMutable { client_key, .. } => client_key,
        }
    }

    /// The `torrentKey` the message carries, if its type has one.
    pub fn torrent_key(&self) -> Option<&str> {
        match self {
            Self::Subscribe { torrent_key, .. }
            | Self::AddTorrent { torrent_key, .. }
            | Self::CreateServer { torrent_key, .. } => Some(torrent_key),
            _ => None,
        }
    }

    /// The `requestId` of an extension request.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::List { request_id, .. }
            | Self::Pause { request_id, .. }
            | Self::Resume { request_id, .. }
            | Self::Remove { request_id, .. }
            | Self::SelectFiles { request_id, .. }
            | Self::ReadDir { request_id, .. }
            | Self::ReadFile { request_id, .. }
            | Self::WatchMutable { request_id, .. }
            | Self::UnwatchMutable { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// The message as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One file of a torrent, as `torrent.files` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The file name (its path inside the torrent, `/`-separated).
    pub name: String,
    /// Its length in bytes.
    pub length: u64,
}

/// The `torrent` object of a message. Each message carries only what it updates (info messages
/// the name and files, progress messages the counters), as the npm server does, because the
/// npm client `Object.assign`s it onto its torrent: absent fields are not sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TorrentInfo {
    /// The torrent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hex info hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_hash: Option<String>,
    /// Total length in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// The files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileInfo>>,
    /// The streaming server's base URL, once one runs.
    #[serde(default, rename = "serverURL", skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// Payload bytes received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded: Option<u64>,
    /// Payload bytes sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<u64>,
    /// Bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_speed: Option<f64>,
    /// Bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_speed: Option<f64>,
    /// Uploaded over downloaded (0 when nothing was downloaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Connected peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_peers: Option<u64>,
    /// Milliseconds left at the current rate (JavaScript's `Infinity` travels as `null`; it
    /// is omitted here when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_remaining: Option<f64>,
}

impl TorrentInfo {
    /// Copies every field `update` carries onto `self` (what the npm client's
    /// `Object.assign` does).
    pub fn merge(&mut self, update: &TorrentInfo) {
        macro_rules! take {
            ($($f:ident),*) => {$(if update.$f.is_some() { self.$f = update.$f.clone(); })*};
        }
        take!(
            name,
            info_hash,
            length,
            files,
            server_url,
            progress,
            downloaded,
            uploaded,
            download_speed,
            upload_speed,
            ratio,
            num_peers,
            time_remaining
        );
    }
}

/// `error` of a `warning`/`error` message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// What went wrong.
    pub message: String,
    /// The npm server sends a JavaScript stack; here it is omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// `serverAddress` of `server-ready`: what the npm client returns from `server.address()`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAddress {
    /// The IP address.
    pub address: String,
    /// `IPv4` or `IPv6`.
    pub family: String,
    /// The port.
    pub port: u16,
}

impl From<std::net::SocketAddr> for ServerAddress {
    fn from(a: std::net::SocketAddr) -> Self {
        Self {
            address: a.ip().to_string(),
            family: if a.is_ipv4() { "IPv4" } else { "IPv6" }.to_owned(),
            port: a.port(),
        }
    }
}

/// A message from the server to one client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ServerMessage {
    /// Answer to `subscribe`/`add-torrent`: the torrent, or `null` if it is unknown or the id
    /// invalid.
    TorrentSubscribed {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// The torrent (always serialized, `null` when absent).
        torrent: Option<TorrentInfo>,
    },
    /// The info hash is known.
    Infohash {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Name, info hash.
        torrent: TorrentInfo,
    },
    /// The metadata is known.
    Metadata {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Name, info hash, length, files.
        torrent: TorrentInfo,
    },
    /// Data arrived (at most once a second).
    Download {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Progress counters.
        torrent: TorrentInfo,
    },
    /// Data was sent (at most once a second).
    Upload {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Progress counters.
        torrent: TorrentInfo,
    },
    /// Every wanted piece is verified.
    Done {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Progress counters.
        torrent: TorrentInfo,
    },
    /// Periodic progress (`updateInterval`).
    Update {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Progress counters.
        torrent: TorrentInfo,
    },
    /// Something went wrong but work goes on.
    Warning {
        /// The client.
        client_key: String,
        /// The torrent it concerns, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        torrent_key: Option<String>,
        /// What.
        error: ErrorInfo,
    },
    /// Something failed.
    Error {
        /// The client.
        client_key: String,
        /// The torrent it concerns, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        torrent_key: Option<String>,
        /// What.
        error: ErrorInfo,
    },
    /// The torrent's streaming server listens.
    ServerReady {
        /// The client.
        client_key: String,
        /// The client's handle.
        torrent_key: String,
        /// Its address (read by the 2.1.0 client's `server.address()`).
        server_address: ServerAddress,
        /// Its base URL (documented by the README).
        #[serde(rename = "serverURL")]
        server_url: String,
    },
    /// Extension: the answer to `swarmfs/v1/list`.
    #[serde(rename = "swarmfs/v1/torrents")]
    Torrents {
        /// The client.
        client_key: String,
        /// The request's id.
        request_id: String,
        /// The torrents, by info hash.
        torrents: Vec<TorrentEntry>,
        /// More torrents exist than [`ext::MAX_LIST_ENTRIES`].
        #[serde(default)]
        truncated: bool,
    },
    /// Extension: the request succeeded (pause, resume, remove, select-files,
    /// unwatch-mutable).
    #[serde(rename = "swarmfs/v1/ok")]
    Ok {
        /// The client.
        client_key: String,
        /// The request's id.
        request_id: String,
    },
    /// Extension: the request failed.
    #[serde(rename = "swarmfs/v1/failed")]
    Failed {
        /// The client.
        client_key: String,
        /// The request's id.
        request_id: String,
        /// Why.
        error: ErrorInfo,
    },
    /// Extension: the answer to `swarmfs/v1/read-dir`, sorted by name.
    #[serde(rename = "swarmfs/v1/dir")]
    Dir {
        /// The client.
        client_key: String,
        /// The request's id.
        request_id: String,
        /// The entries.
        entries: Vec<DirEntryInfo>,
        /// More entries exist than [`ext::MAX_DIR_ENTRIES`].
        #[serde(default)]
        truncated: bool,
    },
    /// Extension: the answer to `swarmfs/v1/read-file`.
    #[serde(rename = "swarmfs/v1/bytes")]
    Bytes {
        /// The client.
        client_key: String,
        /// The request's id.
        request_id: String,
        /// Where the bytes start in the file.
        offset: u64,
        /// The file's length.
        file_length: u64,
        /// The bytes, base64 (fewer than asked at the end of the file).
        data: String,
    },
    /// Extension: a version of a watched mutable magnet (the current one, then each newer).
    #[serde(rename = "swarmfs/v1/mutable-update")]
    MutableUpdate {
        /// The client.
        client_key: String,
        /// The watch's `requestId`.
        request_id: String,
        /// The mutable magnet.
        url: String,
        /// BEP 44 sequence number.
        seq: i64,
        /// Hex info hash of the version.
        info_hash: String,
        /// The version as a plain magnet link.
        magnet: String,
    },
}

impl ServerMessage {
    /// Decodes one message, bounded by [`MAX_MESSAGE_LEN`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let value = parse_bounded(bytes)?;
        Self::from_value(value)
    }

    /// Decodes an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        check_type(&value, SERVER_TYPES)?;
        let msg: Self = serde_json::from_value(value)?;
        check_key("clientKey", msg.client_key())?;
        Ok(msg)
    }

    /// The `clientKey` of the one client this message is for.
    pub fn client_key(&self) -> &str {
        match self {
            Self::TorrentSubscribed { client_key, .. }
            | Self::Infohash { client_key, .. }
            | Self::Metadata { client_key, .. }
            | Self::Download { client_key, .. }
            | Self::Upload { client_key, .. }
            | Self::Done { client_key, .. }
            | Self::Update { client_key, .. }
            | Self::Warning { client_key, .. }
            | Self::Error { client_key, .. }
            | Self::ServerReady { client_key, .. }
            | Self::Torrents { client_key, .. }
            | Self::Ok { client_key, .. }
            | Self::Failed { client_key, .. }
            | Self::Dir { client_key, .. }
            | Self::Bytes { client_key, .. }
            | Self::MutableUpdate { client_key, .. } => client_key,
        }
    }

    /// The `requestId` of an extension reply.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Torrents { request_id, .. }
            | Self::Ok { request_id, .. }
            | Self::Failed { request_id, .. }
            | Self::Dir { request_id, .. }
            | Self::Bytes { request_id, .. }
            | Self::MutableUpdate { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// The `torrentKey`, if the message concerns a torrent.
    pub fn torrent_key(&self) -> Option<&str> {
        match self {
            Self::TorrentSubscribed { torrent_key, .. }
            | Self::Infohash { torrent_key, .. }
            | Self::Metadata { torrent_key, .. }
            | Self::Download { torrent_key, .. }
            | Self::Upload { torrent_key, .. }
            | Self::Done { torrent_key, .. }
            | Self::Update { torrent_key, .. }
            | Self::ServerReady { torrent_key, .. } => Some(torrent_key),
            Self::Warning { torrent_key, .. } | Self::Error { torrent_key, .. } => {
                torrent_key.as_deref()
            }
            _ => None,
        }
    }

    /// The `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TorrentSubscribed { .. } => "torrent-subscribed",
            Self::Infohash { .. } => "infohash",
            Self::Metadata { .. } => "metadata",
            Self::Download { .. } => "download",
            Self::Upload { .. } => "upload",
            Self::Done { .. } => "done",
            Self::Update { .. } => "update",
            Self::Warning { .. } => "warning",
            Self::Error { .. } => "error",
            Self::ServerReady { .. } => "server-ready",
            Self::Torrents { .. } => "swarmfs/v1/torrents",
            Self::Ok { .. } => "swarmfs/v1/ok",
            Self::Failed { .. } => "swarmfs/v1/failed",
            Self::Dir { .. } => "swarmfs/v1/dir",
            Self::Bytes { .. } => "swarmfs/v1/bytes",
            Self::MutableUpdate { .. } => "swarmfs/v1/mutable-update",
        }
    }

    /// The message as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn parse_bounded(bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::Oversized {
            len: bytes.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(serde_json::from_slice(bytes)?)
}

fn check_type(value: &Value, known: &[&str]) -> Result<(), DecodeError> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(DecodeError::NoType)?;
    if known.contains(&kind) {
        Ok(())
    } else {
        let mut end = kind.len().min(64);
        while !kind.is_char_boundary(end) {
            end -= 1;
        }
        Err(DecodeError::UnknownType {
            kind: kind[..end].to_owned(),
        })
    }
}

fn check_key(field: &'static str, key: &str) -> Result<(), DecodeError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        Err(DecodeError::BadKey {
            field,
            len: key.len(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
