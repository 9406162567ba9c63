//! The command line, as clap derives it.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// swarmfs: BitTorrent archives found through the DHT, read like directories.
#[derive(Debug, Parser)]
#[command(name = "swarmfs", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only errors on stderr, no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Machine-readable output: one JSON object per line on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a new ed25519 keypair to a file (mode 0600) and print its public key in hex.
    Keygen {
        /// Key file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Hash a file or directory, print its magnet, and seed it until interrupted.
    Seed(SeedArgs),
    /// Download a magnet or mutable magnet into a directory; exits 0 once verified.
    Get(GetArgs),
    /// List a directory of an archive (fetching only its metadata).
    Ls(LsArgs),
    /// Write one file of an archive to stdout (fetching only its pieces).
    Cat(CatArgs),
    /// Publish a magnet under a key (BEP 46); prints the mutable magnet and keeps it alive.
    Publish(PublishArgs),
    /// Serve archives over HTTP (Range requests: stream video while it downloads).
    Serve(ServeArgs),
    /// Offline demo on loopback: private DHT, publisher, reader, narrated.
    Demo(DemoArgs),
    /// Seed files that live on an HTTP server (fetched by byte ranges, verified per piece).
    Bridge(BridgeArgs),
    /// Rendezvous (signaling) service where peers meet when the DHT and LSD cannot reach.
    #[command(subcommand)]
    Rendezvous(RendezvousCommand),
    /// Watch torrent servers (rTorrent, ...): print their events, deliver signed webhooks.
    Watch(crate::cmd::watch::WatchArgs),
    /// Remote control: run the engine for other processes, or drive a running server.
    #[command(subcommand)]
    Remote(crate::cmd::remote::RemoteCommand),
}

/// `swarmfs rendezvous ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RendezvousCommand {
    /// Run the rendezvous server; prints its URL and serves until interrupted.
    Serve(RendezvousArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BridgeArgs {
    /// HTTP URLs of the files (one file per URL), or with --torrent one URL per file or one
    /// BEP 19 base URL.
    #[arg(required = true, value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// Seed this existing .torrent instead of building one from the URLs.
    #[arg(long, value_name = "FILE")]
    pub(crate) torrent: Option<PathBuf>,
    /// Name of a multi-file torrent built from several URLs.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Piece length in bytes (a power of two; default chosen from the total size).
    #[arg(long, value_name = "BYTES")]
    pub(crate) piece_length: Option<u32>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RendezvousArgs {
    /// Address to listen on (loopback by default; any other address must be given here).
    #[arg(long, value_name = "ADDR", default_value_t = swarmfs_rendezvous::DEFAULT_LISTEN)]
    pub(crate) listen: std::net::SocketAddr,
}

/// Flags of every networked command.
#[derive(Debug, Args, Clone)]
pub(crate) struct NetArgs {
    /// DHT nodes to join, HOST:PORT[,...] (default: the public DHT routers).
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    pub(crate) bootstrap: Vec<String>,
    /// TCP port for peers (0: any free port).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) port: u16,
    /// UDP port of the DHT node (0: any free port).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) dht_port: u16,
    /// Address to bind (default: 127.0.0.1 when every --bootstrap/--peer is loopback,
    /// else 0.0.0.0).
    #[arg(long, value_name = "IP")]
    pub(crate) bind: Option<IpAddr>,
    /// No DHT: peers only from --peer, x.pe, LSD and PEX.
    #[arg(long)]
    pub(crate) no_dht: bool,
    /// No local service discovery (BEP 14 multicast).
    #[arg(long)]
    pub(crate) no_lsd: bool,
    /// No peer exchange (BEP 11).
    #[arg(long)]
    pub(crate) no_pex: bool,
    /// Also find peers through this rendezvous server (`swarmfs rendezvous serve`), e.g.
    /// http://127.0.0.1:8642.
    #[arg(long, value_name = "URL")]
    pub(crate) rendezvous: Option<String>,
    /// A peer to connect to, HOST:PORT (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub(crate) peers: Vec<String>,
    /// Seconds to wait for metadata (and a mutable magnet's item) before giving up.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) timeout: u64,
    /// Keep downloaded data in this directory (default: memory, or the --out directory).
    #[arg(long, value_name = "DIR", conflicts_with = "memory")]
    pub(crate) storage_dir: Option<PathBuf>,
    /// Keep downloaded data in memory.
    #[arg(long)]
    pub(crate) memory: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// File or directory to seed.
    pub(crate) path: PathBuf,
    /// Also publish the magnet under --key (BEP 46).
    #[arg(long, requires = "key")]
    pub(crate) publish: bool,
    /// Key file (from `swarmfs keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub(crate) key: Option<PathBuf>,
    /// Salt: several archives under one key.
    #[arg(long, value_name = "TEXT")]
    pub(crate) salt: Option<String>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// Magnet link or mutable magnet (magnet:?xs=urn:btpk:...).
    pub(crate) url: String,
    /// Directory to write the files into.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Fetch only this file of the archive (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    pub(crate) files: Vec<String>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Magnet link or mutable magnet.
    pub(crate) url: String,
    /// Directory of the archive to list.
    #[arg(default_value = "/")]
    pub(crate) path: String,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// Magnet link or mutable magnet.
    pub(crate) url: String,
    /// File of the archive to print.
    pub(crate) path: String,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The magnet (with its info-hash) to publish.
    pub(crate) magnet: String,
    /// Key file (from `swarmfs keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub(crate) key: PathBuf,
    /// Salt: several archives under one key.
    #[arg(long, value_name = "TEXT")]
    pub(crate) salt: Option<String>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Magnet links or mutable magnets (each torrent at `/<info-hash>/`; one alone also at `/`).
    #[arg(required = true, value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// Address of the HTTP server (another IP than loopback exposes the archive).
    #[arg(long = "http", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub(crate) http: std::net::SocketAddr,
    /// Download the whole archive in the background (default: fetch only what is read).
    #[arg(long)]
    pub(crate) download_all: bool,
    /// Let pages of this origin read responses (CORS); `*` allows any origin.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) allow_origin: Option<String>,
    /// Answer only requests for this Host name, e.g. `localhost` (stops DNS rebinding).
    #[arg(long, value_name = "NAME")]
    pub(crate) require_host: Option<String>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Nodes in the private loopback DHT.
    #[arg(long, default_value_t = 4)]
    pub(crate) nodes: usize,
}
