//! Figures for the server core: message decode rate, raw `receive_bytes` rate,
//! `receive` -> route -> client drain rate with 100 in-process clients, and update fan-out
//! latency to 100 TCP clients (from the moment the server hands a tick's first `update` to
//! its transport until each client has decoded it). Prints; no assertions.
//!
//! `cargo bench -p swarmfs-remote --bench remote_core`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarmfs::{Archive, Client};
use swarmfs_memory::MemoryStorage;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{
    ClientMessage, ClientOptions, RemoteClient, RemoteServer, Router, ServerConfig, ServerMessage,
    TcpServer, Transport,
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

    // Raw core rate: heartbeat lines of 100 clients through decode + handle.
    let lines: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"type":"heartbeat","clientKey":"client{i:04}"}}"#))
        .collect();
    let n = 200_000;
    let t = Instant::now();
    for i in 0..n {
        server
            .receive_bytes(lines[i % lines.len()].as_bytes())
            .expect("heartbeat");
    }
    let dt = t.elapsed();
    println!(
        "server core receive_bytes(heartbeat), 100 clients: {:.0} msg/s",
        n as f64 / dt.as_secs_f64()
    );
    server.shutdown().await;

    for torrents in [1, 20] {
        fan_out(torrents).await;
    }
}

/// Records when the server hands each tick's first `update` to the transport.
struct Timed {
    router: Arc<Router>,
    ticks: Mutex<Vec<Instant>>,
}

impl Transport for Timed {
    fn send(&self, message: ServerMessage) {
        if message.kind() == "update" {
            let now = Instant::now();
            let mut ticks = self.ticks.lock().expect("ticks");
            if ticks
                .last()
                .is_none_or(|l| now.duration_since(*l) > Duration::from_millis(100))
            {
                ticks.push(now);
            }
        }
        self.router.send(message);
    }
}

async fn fan_out(torrents: usize) {
    let net = || {
        let mut b = Client::builder();
        b.dht(false).lsd(false).storage(MemoryStorage::factory());
        b
    };
    let seeder = net().build().await.expect("seeder");
    let mut magnets = Vec::new();
    for i in 0..torrents {
        let draft = Archive::with_name(&format!("t{i}"), MemoryStorage::factory());
        draft
            .write_file("/d.bin", vec![i as u8; 64 * 1024])
            .await
            .expect("write");
        magnets.push(seeder.seed(&draft).await.expect("seed"));
    }
    let router = Router::new();
    let timed = Arc::new(Timed {
        router: router.clone(),
        ticks: Mutex::new(Vec::new()),
    });
    let mut config = ServerConfig::default();
    config.update_interval = Duration::from_millis(500);
    let client = net().build().await.expect("client");
    let server = RemoteServer::new(client, timed.clone(), config);
    let tcp = TcpServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        None,
        server.clone(),
        router.clone(),
    )
    .await
    .expect("tcp");
    let run_for = Duration::from_secs(10);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let mut c = RemoteClient::connect_tcp(tcp.local_addr(), None, ClientOptions::default())
            .await
            .expect("connect");
        for m in &magnets {
            c.add(m, AddOptions::default());
        }
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let end = Instant::now() + run_for;
            while let Ok(Some(m)) = tokio::time::timeout_at(end.into(), c.next_event()).await {
                if m.kind() == "update" {
                    got.push(Instant::now());
                }
            }
            got
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.extend(t.await.expect("client task"));
    }
    let ticks = timed.ticks.lock().expect("ticks").clone();
    let mut lat: Vec<Duration> = receipts
        .iter()
        .filter_map(|r| {
            let i = ticks.partition_point(|t| t <= r);
            (i > 0).then(|| r.duration_since(ticks[i - 1]))
        })
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    if lat.is_empty() {
        println!("fan-out: no updates received");
    } else {
        println!(
            "update fan-out, 100 TCP clients x {torrents} torrent(s), {} ticks, {} updates: \
             latency median {:?}, p90 {:?}, p99 {:?}, max {:?}",
            ticks.len(),
            lat.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            lat[lat.len() - 1]
        );
    }
    server.shutdown().await;
    seeder.stop().await;
}
