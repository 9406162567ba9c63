//! Figures for the server core: message decode rate, and `receive` -> route -> client drain
//! rate with 100 in-process clients. Prints; no assertions.

use std::time::{Duration, Instant};

use swarmfs::Client;
use swarmfs_memory::MemoryStorage;
use swarmfs_remote::{
    ClientMessage, ClientOptions, RemoteClient, RemoteServer, Router, ServerConfig,
};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let line = br#"{"type":"add-torrent","clientKey":"3f1a9c0d2e4b","torrentKey":"9a8b7c6d5e4f","torrentId":"magnet:?xt=urn:btih:6a9759bffd5c0af65319979fb7832189f4f3c35d&dn=sintel.mp4","opts":{"announce":["x"]}}"#;
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(ClientMessage::decode(line).expect("decode"));
    }
    let dt = t.elapsed();
    println!(
        "decode add-torrent: {:.0} msg/s ({} bytes each)",
        n as f64 / dt.as_secs_f64(),
        line.len()
    );

    let client = Client::builder()
        .dht(false)
        .lsd(false)
        .storage(MemoryStorage::factory())
        .build()
        .await
        .expect("client");
    let router = Router::new();
    let mut config = ServerConfig::default();
    config.update_interval = Duration::ZERO;
    let server = RemoteServer::new(client, router.clone(), config);
    let opts = ClientOptions::default().heartbeat(Duration::ZERO);
    let mut clients: Vec<RemoteClient> = (0..100)
        .map(|_| RemoteClient::local(&server, &router, opts.clone()))
        .collect();
    let rounds = 500;
    let t = Instant::now();
    for _ in 0..rounds {
        for c in clients.iter_mut() {
            // Unknown torrent: the server answers torrent-subscribed null to this client only.
            c.subscribe("0123456789abcdef0123456789abcdef01234567");
        }
        for c in clients.iter_mut() {
            c.next_event().await.expect("reply");
        }
    }
    let dt = t.elapsed();
    let msgs = rounds * clients.len();
    println!(
        "server core, 100 clients: {:.0} request+reply/s ({} round trips in {:?}, {} dropped)",
        msgs as f64 / dt.as_secs_f64(),
        msgs,
        dt,
        router.dropped()
    );
    server.shutdown().await;
}
