//! Newline-delimited JSON over a Unix socket (same framing as TCP). The socket file's
//! permissions decide who may connect; a token can be required as well.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::client::{ClientOptions, RemoteClient};
use crate::ndjson;
use crate::server::RemoteServer;
use crate::transport::Router;

/// A running Unix-socket front end of a [`RemoteServer`]. Dropping it stops accepting and
/// removes the socket file.
#[derive(Debug)]
pub struct UnixServer {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl UnixServer {
    /// Binds the socket `path` (which must not exist) and serves `server`, whose transport
    /// must be `router`. With `token`, each connection must send `{"token": ...}` first.
    pub async fn bind(
        path: impl AsRef<Path>,
        token: Option<String>,
        server: RemoteServer,
        router: Arc<Router>,
    ) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let listener = UnixListener::bind(&path)?;
        let token: Option<Arc<str>> = token.map(Into::into);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (read, write) = stream.into_split();
                tokio::spawn(ndjson::serve(
                    read,
                    write,
                    token.clone(),
                    server.clone(),
                    router.clone(),
                ));
            }
        });
        Ok(Self { path, task })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl RemoteClient {
    /// Connects to a [`UnixServer`] (sending `token` first when given).
    pub async fn connect_unix(
        path: impl AsRef<Path>,
        token: Option<&str>,
        options: ClientOptions,
    ) -> std::io::Result<Self> {
        let stream = UnixStream::connect(path).await?;
        let (read, write) = stream.into_split();
        RemoteClient::over_lines(read, write, token, options).await
    }
}
