//! `swarmfs rendezvous serve [--listen ADDR]`: the rendezvous (signaling) server.

use swarmfs_rendezvous::{ServeError, Server};

use crate::args::RendezvousArgs;
use crate::cmd::Output;
use crate::failure::{Failure, Kind};
use crate::net::interrupted;

pub(crate) async fn run(args: RendezvousArgs, out: Output) -> Result<(), Failure> {
    let server = Server::builder()
        .listen(args.listen)
        .bind()
        .await
        .map_err(|e| match e {
            ServeError::Bind { .. } => Failure::new(Kind::Bind, e.to_string()),
            other => Failure::other(other),
        })?;
    let url = server.url();
    out.line(&url, serde_json::json!({ "url": url }));
    if !out.json {
        eprintln!("rendezvous server listening; press Ctrl-C to stop");
    }
    interrupted().await;
    server.shutdown().await;
    Ok(())
}
