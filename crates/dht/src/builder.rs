//! [`DhtBuilder`]: settings for a tokio-driven [`Dht`](crate::Dht).

use std::net::SocketAddr;

use crate::config::Config;
use crate::dht::{Dht, DhtError};
use crate::id::Id;

/// Builds a [`Dht`]. Binds `127.0.0.1:0` unless told otherwise (servers bind loopback by
/// default; a public node needs an explicit `bind`). No bootstrap nodes unless given.
#[derive(Debug, Clone)]
pub struct DhtBuilder {
    bind: SocketAddr,
    config: Config,
}

impl Default for DhtBuilder {
    fn default() -> Self {
        DhtBuilder {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            config: Config::default(),
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

    /// Binds the socket, spawns the driver task on the current tokio runtime and starts
    /// bootstrapping (see [`Dht::bootstrapped`]).
    pub async fn build(&self) -> Result<Dht, DhtError> {
        Dht::start(self.bind, self.config.clone()).await
    }
}
