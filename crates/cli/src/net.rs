//! The client of a networked command, from the common flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use swarmfs::{Client, LookupOptions};
use swarmfs_file::FileStorage;
use swarmfs_memory::MemoryStorage;
use swarmfs_rendezvous::{RendezvousDiscovery, RendezvousOptions};
use swarmfs_storage::StorageFactory;

use crate::args::NetArgs;
use crate::failure::{Failure, Kind};

/// A started client and the peers given with `--peer`.
pub(crate) struct Net {
    pub(crate) client: Client,
    peers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Net {
    /// Starts a client from the flags, storing downloads under `default_dir` unless
    /// `--storage-dir` or `--memory` says otherwise (memory when both are absent).
    pub(crate) async fn start(args: &NetArgs, default_dir: Option<&Path>) -> Result<Self, Failure> {
        let mut peers = Vec::new();
        for p in &args.peers {
            let found = tokio::net::lookup_host(p.as_str())
                .await
                .map_err(|e| Failure::bad_input(format!("--peer {p}: {e}")))?;
            peers.extend(found);
        }
        let storage: Arc<dyn StorageFactory> = match (&args.storage_dir, args.memory, default_dir) {
            (Some(dir), _, _) => Arc::new(FileStorage::in_dir(dir)),
            (None, true, _) | (None, false, None) => MemoryStorage::factory(),
            (None, false, Some(dir)) => Arc::new(FileStorage::in_dir(dir)),
        };
        let mut b = Client::builder();
        b.bind_ip(bind_ip(args, &peers).await)
            .torrent_port(args.port)
            .dht_port(args.dht_port)
            .dht(!args.no_dht)
            .lsd(!args.no_lsd)
            .pex(!args.no_pex)
            .storage(storage);
        if !args.bootstrap.is_empty() {
            b.dht_bootstrap(args.bootstrap.iter().cloned());
        }
        if let Some(url) = &args.rendezvous {
            let source = RendezvousDiscovery::new(RendezvousOptions::new(url.as_str()))
                .map_err(|e| Failure::bad_input(format!("--rendezvous {url}: {e}")))?;
            b.discovery(Arc::new(source));
        }
        let client = b.build().await?;
        tracing::info!(listen = %client.listen_addr(), dht = ?client.dht_addr(), "client started");
        Ok(Self {
            client,
            peers,
            timeout: Duration::from_secs(args.timeout),
        })
    }

    /// `url` with every `--peer` added as `x.pe`, so the lookup can reach them before the
    /// metadata is known.
    pub(crate) fn with_peers(&self, url: &str) -> String {
        let mut url = url.to_owned();
        for p in &self.peers {
            url.push_str(&format!("&x.pe={p}"));
        }
        url
    }

    /// Lookup options with `--timeout`.
    pub(crate) fn lookup_options(&self, seed: bool) -> LookupOptions {
        LookupOptions::default().timeout(self.timeout).seed(seed)
    }

    /// Opens `url` (through `--peer` too).
    pub(crate) async fn lookup(&self, url: &str, seed: bool) -> Result<swarmfs::Archive, Failure> {
        if !url.starts_with("magnet:?") {
            return Err(Failure::new(
                Kind::BadInput,
                format!("not a magnet link: {url:?}"),
            ));
        }
        Ok(self
            .client
            .lookup(&self.with_peers(url), self.lookup_options(seed))
            .await?)
    }
}

/// `--bind`, or loopback when everything named on the command line is loopback (a private
/// test network), else all interfaces (the public DHT is not reachable from loopback).
async fn bind_ip(args: &NetArgs, peers: &[SocketAddr]) -> IpAddr {
    if let Some(ip) = args.bind {
        return ip;
    }
    let public_dht = !args.no_dht && args.bootstrap.is_empty();
    let mut all_loopback = !public_dht && peers.iter().all(|p| p.ip().is_loopback());
    for b in &args.bootstrap {
        let resolved = tokio::net::lookup_host(b.as_str()).await;
        all_loopback &= resolved.is_ok_and(|mut r| r.all(|a| a.ip().is_loopback()));
    }
    if all_loopback {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// Waits for Ctrl-C (or SIGTERM on unix).
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
