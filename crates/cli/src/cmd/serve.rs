//! `swarmfs serve URL [URL...] [--http ADDR] [--allow-origin ORIGIN] [--require-host NAME]`.

use swarmfs::Archive;
use swarmfs_http::{AllowOrigin, StreamServer};

use crate::args::ServeArgs;
use crate::cmd::Output;
use crate::failure::{Failure, Kind};
use crate::net::{Net, interrupted};

pub(crate) async fn run(args: ServeArgs, out: Output) -> Result<(), Failure> {
    let net = Net::start(&args.net, None).await?;
    let mut archives: Vec<Archive> = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        match net.lookup(url, args.download_all).await {
            Ok(a) => archives.push(a),
            Err(e) => {
                close(&archives).await;
                net.client.stop().await;
                return Err(e);
            }
        }
    }
    let server = match StreamServer::bind_many(args.http, archives.iter().cloned()).await {
        Ok(s) => {
            let s = s.allow_origin(AllowOrigin::from_option(args.allow_origin.as_deref()));
            match args.require_host {
                Some(host) => s.require_host(host),
                None => s,
            }
        }
        Err(e) => {
            close(&archives).await;
            net.client.stop().await;
            return Err(Failure::new(Kind::Bind, e.to_string()));
        }
    };
    // Line 1: the server's URL; then one line per torrent with its stable URL.
    let url = server.url();
    out.line(&url, serde_json::json!({ "url": url }));
    for (archive, at) in archives.iter().zip(server.archive_urls()) {
        let ih = archive.info_hash().map(|h| h.to_hex());
        out.line(
            format!("{at} {}", archive.name()),
            serde_json::json!({ "torrent": at, "name": archive.name(), "info_hash": ih }),
        );
    }
    if !out.json {
        eprintln!(
            "serving {} torrent(s); press Ctrl-C to stop",
            archives.len()
        );
    }
    let handle = server.spawn();
    interrupted().await;
    handle.shutdown().await;
    close(&archives).await;
    net.client.stop().await;
    Ok(())
}

async fn close(archives: &[Archive]) {
    for a in archives {
        let _ = a.close().await;
    }
}
