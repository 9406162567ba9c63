//! `swarmfs bridge URL [URL...]`: seed data that lives on an HTTP server, fetched by byte
//! ranges and verified piece by piece before any byte reaches a peer.

use swarmfs_bridge::{Bridge, BridgeEvent, BridgeOptions};
use swarmfs_metainfo::Torrent;

use crate::args::BridgeArgs;
use crate::cmd::Output;
use crate::failure::Failure;
use crate::net::{Net, interrupted};
use crate::progress;

pub(crate) async fn run(args: BridgeArgs, out: Output) -> Result<(), Failure> {
    let net = Net::start(&args.net, None).await?;
    let engine = net.client.engine();
    let mut options = BridgeOptions::default();
    options.build.name = args.name.clone();
    options.build.piece_length = args.piece_length;
    let bridge = match &args.torrent {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
            let torrent = Torrent::from_bytes(&bytes)
                .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
            Bridge::seed_torrent(engine, torrent, &args.urls, &options).await
        }
        None => {
            let bar = progress::bytes(out.bars, 0);
            bar.set_message("hashing");
            let bridge = Bridge::seed_urls(engine, &args.urls, &options, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await;
            bar.finish_and_clear();
            bridge
        }
    }
    .map_err(|e| Failure::other(e).context("bridge"))?;
    let magnet = bridge.magnet();
    out.line(&magnet, serde_json::json!({ "magnet": magnet }));
    if !out.json {
        eprintln!(
            "seeding from {} URL(s); press Ctrl-C to stop",
            args.urls.len()
        );
    }
    let mut events = bridge.events();
    let stop = interrupted();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = events.recv() => match event {
                Ok(BridgeEvent::PieceRefused { piece }) => {
                    eprintln!("piece {piece} does not match its hash at the origin: refused");
                }
                Ok(BridgeEvent::OriginChanged { file, error }) => {
                    eprintln!("origin of file {file} changed: {error}");
                }
                Ok(BridgeEvent::PieceLost { piece, error }) => {
                    eprintln!("piece {piece} no longer advertised ({error}); retrying the origin");
                }
                Ok(BridgeEvent::PieceRestored(piece)) => {
                    eprintln!("piece {piece} verifies again at the origin: advertised again");
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    interrupted().await;
                    break;
                }
            },
        }
    }
    let _ = bridge.stop().await;
    net.client.stop().await;
    Ok(())
}
