//! Newline-delimited JSON over standard input and output: the engine runs as a child process
//! of its one controlling process (`swarmfs remote serve --stdio`).

use std::process::Stdio;
use std::sync::Arc;

use tokio::process::{Child, Command};

use crate::client::{ClientOptions, RemoteClient};
use crate::ndjson;
use crate::server::RemoteServer;
use crate::transport::Router;

/// Serves `server` (whose transport must be `router`) over this process's stdin and stdout
/// until stdin ends. Nothing else may write to stdout meanwhile.
pub async fn serve_stdio(server: RemoteServer, router: Arc<Router>) {
    ndjson::serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        None,
        server,
        router,
    )
    .await;
}

/// Serves `server` (whose transport must be `router`) over any byte stream pair, one
/// newline-delimited JSON message per line, until `read` ends: what [`serve_stdio`] does with
/// stdin and stdout.
pub async fn serve_lines<R, W>(read: R, write: W, server: RemoteServer, router: Arc<Router>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    ndjson::serve(read, write, None, server, router).await;
}

impl RemoteClient {
    /// Starts `command` (an engine serving over its stdin/stdout, such as
    /// `swarmfs remote serve --stdio`) and controls it through its pipes. Dropping the child
    /// kills it when `command` had `kill_on_drop(true)`; closing the client ends its stdin,
    /// which stops a `serve_stdio` server.
    pub async fn spawn_stdio(
        mut command: Command,
        options: ClientOptions,
    ) -> std::io::Result<(Self, Child)> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("child has no stdin/stdout pipes"));
        };
        let client = RemoteClient::over_lines(stdout, stdin, None, options).await?;
        Ok((client, child))
    }
}
