//! [`DhtBuilder`]: settings for a tokio-driven [`Dht`](crate::Dht).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::dht::{Dht, DhtError};
use crate::id::Id;
use crate::nodes_file;

/// Builds a [`Dht`]. Binds `127.0.0.1:0` unless told otherwise (servers bind loopback by
/// default; a public node needs an explicit `bind`). No bootstrap nodes unless given.
#[derive(Debug, Clone)]
pub struct DhtBuilder {
    bind: SocketAddr,
    config: Config,
    nodes_file: Option<PathBuf>,
    save_interval: Duration,
}

/// A configured nodes file: where it is and how often the running node rewrites it.
#[derive(Debug, Clone)]
pub(crate) struct Persist {
    pub(crate) path: PathBuf,
    pub(crate) interval: Duration,
}

impl Default for DhtBuilder {
    fn default() -> Self {
        DhtBuilder {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            config: Config::default(),
            nodes_file: None,
            save_interval: Duration::from_secs(5 * 60),
        }
    }
}

impl DhtBuilder {
    /// The UDP address to bind.
    pub fn bind(&mut self, addr: SocketAddr) -> &mut Self {
        self.bind = addr;
        self
    }

    /// Nodes to join through (replaces the list).
    pub fn bootstrap(&mut self, nodes: &[SocketAddr]) -> &mut Self {
        self.config.bootstrap = nodes.to_vec();
        self
    }

    /// BEP 43 read-only mode.
    pub fn read_only(&mut self, read_only: bool) -> &mut Self {
        self.config.read_only = read_only;
        self
    }

    /// A fixed node id.
    pub fn node_id(&mut self, id: Id) -> &mut Self {
        self.config.node_id = Some(id);
        self
    }

    /// Every other setting of the core.
    pub fn config(&mut self, config: Config) -> &mut Self {
        self.config = config;
        self
    }

    /// A persisted node list (see [`Dht::save_nodes`] for the format) for warm restarts. At
    /// start the node bootstraps from its nodes as well as from the [`bootstrap`](Self::bootstrap)
    /// list; a missing or corrupt file is not an error but a warning
    /// ([`Dht::nodes_file_warning`]). While running, the node rewrites the file every
    /// [`save_interval`](Self::save_interval) and on [`Dht::shutdown`] (never with an empty
    /// routing table).
    pub fn nodes_file(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.nodes_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// How often a configured nodes file is rewritten (default 5 minutes).
    pub fn save_interval(&mut self, interval: Duration) -> &mut Self {
        self.save_interval = interval;
        self
    }

    /// Binds the socket, spawns the driver task on the current tokio runtime and starts
    /// bootstrapping (see [`Dht::bootstrapped`]).
    pub async fn build(&self) -> Result<Dht, DhtError> {
        let mut config = self.config.clone();
        let mut warning = None;
        let persist = self.nodes_file.as_ref().map(|path| Persist {
            path: path.clone(),
            interval: self.save_interval,
        });
        if let Some(path) = &self.nodes_file {
            match nodes_file::load(path) {
                Ok(nodes) => {
                    for node in nodes {
                        if !config.bootstrap.contains(&node.addr) {
                            config.bootstrap.push(node.addr);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "dht nodes file not used");
                    warning = Some(error);
                }
            }
        }
        Dht::start(self.bind, config, persist, warning).await
    }
}
