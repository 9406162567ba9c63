//! `swarmfs serve URL [--http ADDR]`.

use swarmfs_http::StreamServer;

use crate::args::ServeArgs;
use crate::cmd::Output;
use crate::failure::{Failure, Kind};
use crate::net::{Net, interrupted};

pub(crate) async fn run(args: ServeArgs, out: Output) -> Result<(), Failure> {
    let net = Net::start(&args.net, None).await?;
    let archive = match net.lookup(&args.url, args.download_all).await {
        Ok(a) => a,
        Err(e) => {
            net.client.stop().await;
            return Err(e);
        }
    };
    let server = match StreamServer::bind(args.http, archive.clone()).await {
        Ok(s) => s,
        Err(e) => {
            net.client.stop().await;
            return Err(Failure::new(Kind::Bind, e.to_string()));
        }
    };
    let url = server.url();
    out.line(
        &url,
        serde_json::json!({ "url": url, "info_hash": archive.info_hash().map(|h| h.to_hex()) }),
    );
    if !out.json {
        eprintln!("serving {}; press Ctrl-C to stop", archive.name());
    }
    let handle = server.spawn();
    interrupted().await;
    handle.shutdown().await;
    let _ = archive.close().await;
    net.client.stop().await;
    Ok(())
}
