//! `swarmfs remote serve|add|ls|rm|stream`: run the engine for other processes
//! (webtorrent-remote compatible JSON over TCP, WebSocket, a Unix socket or stdio), and drive a
//! running server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{
    ClientError, ClientOptions, RemoteClient, RemoteServer, Router, ServerConfig, ServerMessage,
    TcpError, TcpServer, UnixServer, WsServer,
};

use crate::args::NetArgs;
use crate::cmd::Output;
use crate::failure::{Failure, Kind};
use crate::net::{Net, interrupted};

/// Where `swarmfs remote serve` listens and the other subcommands connect by default.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:8644";

/// `swarmfs remote ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RemoteCommand {
    /// Run the engine for remote clients (newline-delimited JSON over TCP; --ws, --unix,
    /// --stdio for the other transports). The engine starts on the first add and stops when
    /// no torrents remain.
    Serve(ServeArgs),
    /// Add a magnet to a running server (kept until `swarmfs remote rm`); prints its info
    /// hash and name once the metadata arrived.
    Add(AddArgs),
    /// List the torrents of a running server.
    Ls(ConnectArgs),
    /// Remove a torrent from a running server.
    Rm(RmArgs),
    /// Start (or reuse) the HTTP streaming server of a torrent and print a file's URL.
    Stream(StreamArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TCP address for newline-delimited JSON (loopback unless --token is given).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub(crate) listen: SocketAddr,
    /// Also serve WebSocket clients (node, browsers) on this address.
    #[arg(long, value_name = "ADDR")]
    pub(crate) ws: Option<SocketAddr>,
    /// Also serve on this Unix socket path.
    #[arg(long, value_name = "PATH")]
    pub(crate) unix: Option<PathBuf>,
    /// Serve one client over stdin/stdout instead of listening (engine as a child process).
    #[arg(long, conflicts_with_all = ["ws", "unix"])]
    pub(crate) stdio: bool,
    /// Token every connection must send first as {"token": "..."}; required off loopback
    /// (default: $SWARMFS_REMOTE_TOKEN).
    #[arg(long, value_name = "T")]
    pub(crate) token: Option<String>,
    /// Drop clients silent this long (0: never).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub(crate) heartbeat_timeout: u64,
    /// Push `update` progress this often (0: never).
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    pub(crate) update_interval: u64,
    /// Log the clients' and torrents' lifecycle (at info level: use -v).
    #[arg(long)]
    pub(crate) trace: bool,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

/// How the client subcommands reach the server.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// The server: HOST:PORT (TCP), ws://HOST:PORT or unix:PATH.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub(crate) connect: String,
    /// The server's token (default: $SWARMFS_REMOTE_TOKEN).
    #[arg(long, value_name = "T")]
    pub(crate) token: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) timeout: u64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    /// Magnet link or info hash.
    pub(crate) magnet: String,
    /// Also wait until every piece is verified.
    #[arg(long)]
    pub(crate) wait: bool,
    #[command(flatten)]
    pub(crate) conn: ConnectArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RmArgs {
    /// Info hash (hex) or magnet link.
    pub(crate) torrent: String,
    /// Also delete the downloaded data.
    #[arg(long)]
    pub(crate) delete_data: bool,
    #[command(flatten)]
    pub(crate) conn: ConnectArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StreamArgs {
    /// Info hash, or a magnet link (added and kept if the server lacks it).
    pub(crate) torrent: String,
    /// The file inside the torrent (default: the largest).
    pub(crate) path: Option<String>,
    #[command(flatten)]
    pub(crate) conn: ConnectArgs,
}

pub(crate) async fn run(cmd: RemoteCommand, out: Output) -> Result<(), Failure> {
    match cmd {
        RemoteCommand::Serve(a) => serve(a, out).await,
        RemoteCommand::Add(a) => add(a, out).await,
        RemoteCommand::Ls(a) => ls(a, out).await,
        RemoteCommand::Rm(a) => rm(a, out).await,
        RemoteCommand::Stream(a) => stream(a, out).await,
    }
}

/// `--token`, else `$SWARMFS_REMOTE_TOKEN` when set and not empty.
fn token(flag: Option<&String>) -> Option<String> {
    flag.cloned()
        .or_else(|| std::env::var("SWARMFS_REMOTE_TOKEN").ok())
        .filter(|t| !t.is_empty())
}

async fn serve(mut args: ServeArgs, out: Output) -> Result<(), Failure> {
    args.token = token(args.token.as_ref());
    let mut config = ServerConfig::default();
    config.heartbeat_timeout = Duration::from_millis(args.heartbeat_timeout);
    config.update_interval = Duration::from_millis(args.update_interval);
    config.trace = args.trace;
    let router = Router::new();
    let net = args.net.clone();
    let server = RemoteServer::lazy(
        move || {
            let net = net.clone();
            async move { Net::start(&net, None).await.map(|n| n.client) }
        },
        router.clone(),
        config,
    );
    if args.stdio {
        // stdout carries the protocol: nothing else may be printed on it.
        swarmfs_remote::serve_stdio(server.clone(), router).await;
        server.shutdown().await;
        return Ok(());
    }
    let tcp = TcpServer::bind(
        args.listen,
        args.token.clone(),
        server.clone(),
        router.clone(),
    )
    .await
    .map_err(bind_failure)?;
    let ws = match args.ws {
        Some(addr) => Some(
            WsServer::bind(addr, args.token.clone(), server.clone(), router.clone())
                .await
                .map_err(bind_failure)?,
        ),
        None => None,
    };
    let unix = match &args.unix {
        Some(path) => Some(
            UnixServer::bind(path, args.token.clone(), server.clone(), router.clone())
                .await
                .map_err(|e| Failure::new(Kind::Bind, format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let addr = tcp.local_addr();
    let ws_url = ws.as_ref().map(WsServer::url);
    out.line(
        match &ws_url {
            Some(u) => format!("{addr} {u}"),
            None => addr.to_string(),
        },
        serde_json::json!({
            "listen": addr,
            "ws": ws_url,
            "unix": unix.as_ref().map(|u| u.path().display().to_string()),
        }),
    );
    if !out.json {
        eprintln!("remote-control server listening; press Ctrl-C to stop");
    }
    interrupted().await;
    drop((tcp, ws, unix));
    server.shutdown().await;
    Ok(())
}

fn bind_failure(e: TcpError) -> Failure {
    match e {
        TcpError::TokenRequired { .. } => Failure::bad_input(e),
        other => Failure::new(Kind::Bind, other.to_string()),
    }
}

async fn connect(c: &ConnectArgs) -> Result<RemoteClient, Failure> {
    let options = ClientOptions::default().request_timeout(Duration::from_secs(c.timeout));
    let token = token(c.token.as_ref());
    let token = token.as_deref();
    let unreachable = |e: &dyn std::fmt::Display| {
        Failure::new(Kind::Other, format!("cannot reach {}: {e}", c.connect))
    };
    if let Some(path) = c.connect.strip_prefix("unix:") {
        return RemoteClient::connect_unix(path, token, options)
            .await
            .map_err(|e| unreachable(&e));
    }
    let (ws, hostport) = match c.connect.strip_prefix("ws://") {
        Some(rest) => (true, rest.trim_end_matches('/')),
        None => (false, c.connect.as_str()),
    };
    let addr = tokio::net::lookup_host(hostport)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Failure::bad_input(format!("--connect {}: not HOST:PORT", c.connect)))?;
    let client = if ws {
        RemoteClient::connect_ws(addr, token, options).await
    } else {
        RemoteClient::connect_tcp(addr, token, options).await
    };
    client.map_err(|e| unreachable(&e))
}

/// Leaves the server and lets the `destroy` reach it before the process exits.
async fn leave(mut client: RemoteClient) {
    client.destroy(None);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn request_failure(e: ClientError) -> Failure {
    match e {
        ClientError::TimedOut { .. } => Failure::new(Kind::Timeout, e.to_string()),
        ClientError::Failed { ref message, .. } if message.starts_with("unknown torrent") => {
            Failure::new(Kind::NotFound, e.to_string())
        }
        other => Failure::other(other),
    }
}

/// Hex info hash of a magnet link or an info hash.
fn info_hash(torrent: &str) -> Result<String, Failure> {
    let url = if torrent.starts_with("magnet:") {
        torrent.to_owned()
    } else {
        format!("magnet:?xt=urn:btih:{torrent}")
    };
    swarmfs_metainfo::Magnet::parse(&url)
        .ok()
        .and_then(|m| m.info_hash())
        .map(|ih| ih.to_hex())
        .ok_or_else(|| Failure::bad_input(format!("not a magnet link or info hash: {torrent:?}")))
}

/// Adds `magnet` (kept), waits for its metadata (and `done` when `wait`); returns its key.
async fn add_kept(
    client: &mut RemoteClient,
    magnet: &str,
    wait: bool,
    timeout: Duration,
) -> Result<String, Failure> {
    let opts = AddOptions {
        keep: Some(true),
        ..AddOptions::default()
    };
    let key = client.add(magnet, opts);
    let mut goals = vec!["metadata"];
    if wait {
        goals.push("done");
    }
    for goal in goals {
        let k = key.clone();
        let m = client
            .wait_for(timeout, |m| {
                m.torrent_key() == Some(k.as_str())
                    && (m.kind() == goal
                        || m.kind() == "error"
                        || matches!(m, ServerMessage::TorrentSubscribed { torrent: None, .. }))
            })
            .await
            .map_err(request_failure)?;
        match m {
            ServerMessage::Error { error, .. } => return Err(Failure::other(error.message)),
            ServerMessage::TorrentSubscribed { .. } => {
                return Err(Failure::bad_input(format!("not a torrent id: {magnet:?}")));
            }
            _ => {}
        }
    }
    Ok(key)
}

async fn add(args: AddArgs, out: Output) -> Result<(), Failure> {
    let ih = info_hash(&args.magnet)?;
    let mut client = connect(&args.conn).await?;
    let timeout = Duration::from_secs(args.conn.timeout);
    let key = add_kept(&mut client, &args.magnet, args.wait, timeout).await?;
    let props = client.torrent(&key).cloned().unwrap_or_default();
    let name = props.name.unwrap_or_default();
    out.line(
        format_args!("{ih} {name}"),
        serde_json::json!({
            "infoHash": ih,
            "name": name,
            "length": props.length,
            "done": args.wait,
        }),
    );
    leave(client).await;
    Ok(())
}

async fn ls(args: ConnectArgs, out: Output) -> Result<(), Failure> {
    let mut client = connect(&args).await?;
    let list = client.list().await.map_err(request_failure)?;
    for t in &list {
        let p = &t.torrent;
        let state = if t.paused {
            "paused"
        } else if t.done {
            "done"
        } else if t.has_metadata {
            "downloading"
        } else {
            "metadata"
        };
        out.line(
            format_args!(
                "{} {:>5.1}% {:>3} peers {:<11} {}",
                t.info_hash(),
                p.progress.unwrap_or(0.0) * 100.0,
                p.num_peers.unwrap_or(0),
                state,
                p.name.as_deref().unwrap_or("")
            ),
            serde_json::to_value(t).unwrap_or_default(),
        );
    }
    leave(client).await;
    Ok(())
}

async fn rm(args: RmArgs, out: Output) -> Result<(), Failure> {
    let ih = info_hash(&args.torrent)?;
    let mut client = connect(&args.conn).await?;
    client
        .remove(&ih, args.delete_data)
        .await
        .map_err(request_failure)?;
    out.line(
        format_args!("removed {ih}"),
        serde_json::json!({ "removed": ih, "deleteData": args.delete_data }),
    );
    leave(client).await;
    Ok(())
}

async fn stream(args: StreamArgs, out: Output) -> Result<(), Failure> {
    let ih = info_hash(&args.torrent)?;
    let timeout = Duration::from_secs(args.conn.timeout);
    let mut client = connect(&args.conn).await?;
    let key = match client.get(&ih, timeout).await {
        Ok((key, t)) if t.files.is_some() => key,
        Ok(_) | Err(ClientError::TorrentMissing { .. }) if args.torrent.starts_with("magnet:") => {
            add_kept(&mut client, &args.torrent, false, timeout).await?
        }
        Ok((key, _)) => {
            // Known but without metadata yet: wait for it.
            let k = key.clone();
            client
                .wait_for(timeout, |m| {
                    m.kind() == "metadata" && m.torrent_key() == Some(k.as_str())
                })
                .await
                .map_err(request_failure)?;
            key
        }
        Err(e @ ClientError::TorrentMissing { .. }) => {
            return Err(Failure::new(Kind::NotFound, e.to_string()));
        }
        Err(e) => return Err(request_failure(e)),
    };
    client.create_server(&key);
    let k = key.clone();
    let ready = client
        .wait_for(timeout, |m| {
            m.torrent_key() == Some(k.as_str()) && matches!(m.kind(), "server-ready" | "error")
        })
        .await
        .map_err(request_failure)?;
    let base = match ready {
        ServerMessage::ServerReady { server_url, .. } => server_url,
        ServerMessage::Error { error, .. } => return Err(Failure::other(error.message)),
        _ => return Err(Failure::other("unexpected answer to create-server")),
    };
    let files = client
        .torrent(&key)
        .and_then(|t| t.files.clone())
        .unwrap_or_default();
    let file = match &args.path {
        Some(p) => {
            let p = p.trim_start_matches('/');
            files
                .iter()
                .find(|f| f.name == p || f.name.ends_with(&format!("/{p}")))
                .ok_or_else(|| Failure::new(Kind::NotFound, format!("no file {p:?} in {ih}")))?
        }
        None => files
            .iter()
            .max_by_key(|f| f.length)
            .ok_or_else(|| Failure::new(Kind::NotFound, format!("{ih} has no files")))?,
    };
    let url = format!("{}/{}", base.trim_end_matches('/'), file.name);
    out.line(
        &url,
        serde_json::json!({ "url": url, "serverURL": base, "file": file.name, "length": file.length }),
    );
    leave(client).await;
    Ok(())
}
