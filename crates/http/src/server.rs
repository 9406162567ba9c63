//! [`StreamServer`]: the listener, the accept loop and one hyper connection per client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use swarmfs::Archive;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::access::{Access, AllowOrigin};
use crate::catalog::Catalog;
use crate::respond::respond;

/// Most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of [`StreamServer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address cannot be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An HTTP server for one or more archives, bound but not yet serving.
///
/// Each archive's files are at `/<info-hash hex>/<path>` (a draft's at `/draft-<n>/<path>`,
/// `n` its position). A server of a single archive also serves its files at `/<path>` and
/// its index at `/`; a server of several serves at `/` an index of all of them.
#[derive(Debug)]
pub struct StreamServer {
    listener: TcpListener,
    catalog: Catalog,
    local_addr: SocketAddr,
    access: Access,
}

impl StreamServer {
    /// Binds `addr` (port 0 picks a free port) for one archive. Use a loopback address unless
    /// the archive should be reachable from other machines.
    pub async fn bind(addr: SocketAddr, archive: Archive) -> Result<Self, ServeError> {
        Self::bind_many(addr, [archive]).await
    }

    /// Binds `addr` for several archives (an archive whose info-hash is already given is
    /// served once).
    pub async fn bind_many(
        addr: SocketAddr,
        archives: impl IntoIterator<Item = Archive>,
    ) -> Result<Self, ServeError> {
        let bind_err = |source| ServeError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(Self {
            listener,
            catalog: Catalog::new(archives),
            local_addr,
            access: Access {
                port: local_addr.port(),
                ..Access::default()
            },
        })
    }

    /// Lets pages of other origins read responses (CORS, with preflight answers); the default
    /// is [`AllowOrigin::SameOrigin`].
    pub fn allow_origin(mut self, origin: AllowOrigin) -> Self {
        self.access.origin = origin;
        self
    }

    /// Serves only requests whose `Host` header is `hostname` (with or without this server's
    /// port) and answers others `403`: a page whose DNS name was rebound to this machine then
    /// cannot read the server. Use it when browsers reach the server, e.g. `"localhost"`.
    pub fn require_host(mut self, hostname: impl Into<String>) -> Self {
        self.access.hostname = Some(hostname.into());
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<local address>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr)
    }

    /// The URL of each archive's index, `http://<local address>/<key>/`, in the order given.
    pub fn archive_urls(&self) -> Vec<String> {
        self.catalog
            .entries()
            .iter()
            .map(|e| format!("http://{}{}/", self.local_addr, e.base()))
            .collect()
    }

    /// Serves until the returned future is dropped (which closes every connection).
    pub async fn run(self) {
        let catalog = Arc::new(self.catalog);
        let access = Arc::new(self.access);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut conns = JoinSet::new();
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let catalog = catalog.clone();
            let access = access.clone();
            conns.spawn(async move {
                let _permit = permit;
                let service = service_fn(move |req: Request<Incoming>| {
                    let catalog = catalog.clone();
                    let access = access.clone();
                    async move {
                        if let Some(refused) = access.intercept(&req) {
                            return Ok::<_, Infallible>(refused);
                        }
                        let mut r = respond(&catalog, &req).await;
                        access.decorate(req.headers(), &mut r);
                        Ok(r)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(64 * 1024)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "http connection ended");
                }
            });
        }
    }

    /// Serves in a background task; the handle stops it.
    pub fn spawn(self) -> ServerHandle {
        let local_addr = self.local_addr;
        ServerHandle {
            local_addr,
            task: tokio::spawn(self.run()),
        }
    }
}

/// A server running in the background (see [`StreamServer::spawn`]).
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<local address>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr)
    }

    /// Stops accepting, closes every connection and waits until they are gone.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
