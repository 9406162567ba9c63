//! Figures for the DHT: queries answered per second by the sans-IO core, lookups per second in a
//! simulated 200-node network, memory per node, and lookup latency among 100 real nodes on
//! loopback (median of 20) beside a mainline 8 and a libtorrent 2 node in the same DHT. Run: `cargo bench -p swarmfs-dht --bench dht_bench`.

#[path = "../tests/support/sim.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod sim;

#[path = "../tests/support/external.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod external;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand::SeedableRng;
use swarmfs_dht::{Body, Config, Dht, Id, Message, MutableItem, Node, Query, QueryKind, Value};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn queries_per_second() {
    let now = Instant::now();
    let mut config = Config::default();
    config.rng_seed = Some(1);
    let mut node = Node::new(config, now);
    // Fill the routing table through incoming pings from 2000 private addresses.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let query = |id: Id, kind: QueryKind| {
        Message {
            transaction_id: b"aa".to_vec(),
            version: None,
            read_only: false,
            requester_ip: None,
            body: Body::Query(Query { id, kind }),
        }
        .to_bytes()
    };
    for i in 0..2000u32 {
        let from = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881));
        node.handle_datagram(now, from, &query(Id::random(&mut rng), QueryKind::Ping));
        while node.poll_transmit().is_some() {}
    }
    let payloads: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let target = Id::random(&mut rng);
            let kind = if i % 2 == 0 {
                QueryKind::GetPeers { info_hash: target }
            } else {
                QueryKind::FindNode { target }
            };
            query(Id::random(&mut rng), kind)
        })
        .collect();
    let rounds = 100;
    let start = Instant::now();
    let mut answered = 0u64;
    for round in 0..rounds {
        for (i, payload) in payloads.iter().enumerate() {
            let n = (round * payloads.len() + i) as u32;
            let from = SocketAddr::from(([10, 200, (n >> 8) as u8, n as u8], 7000));
            node.handle_datagram(now, from, payload);
            while node.poll_transmit().is_some() {
                answered += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "core: {:.0} queries answered/s (get_peers + find_node, routing table of {} nodes)",
        answered as f64 / secs,
        node.stats().routing_nodes
    );
}

/// RSS per node whose 160 buckets and replacement caches are all full (16 ids per bucket).
fn memory_full_table() {
    let now = Instant::now();
    let count = 50;
    let before = rss_kib();
    let mut nodes = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for n in 0..count {
        let mut config = Config::default();
        config.rng_seed = Some(100 + n);
        let mut node = Node::new(config, now);
        let own = node.id();
        let mut i = 0u32;
        for bucket in 0..160 {
            for _ in 0..16 {
                i += 1;
                // 127/8 sources: exempt from the rate limit, so its map does not count here.
                let from =
                    SocketAddr::from(([127, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881));
                let id = own.random_in_bucket(bucket, &mut rng);
                let ping = Message {
                    transaction_id: b"aa".to_vec(),
                    version: None,
                    read_only: false,
                    requester_ip: None,
                    body: Body::Query(Query {
                        id,
                        kind: QueryKind::Ping,
                    }),
                };
                node.handle_datagram(now, from, &ping.to_bytes());
                while node.poll_transmit().is_some() {}
            }
        }
        nodes.push(node);
    }
    let after = rss_kib();
    println!(
        "memory: ~{} KiB RSS per node with a full routing table ({} nodes + full replacement caches)",
        after.saturating_sub(before) / count,
        nodes[0].stats().routing_nodes
    );
}

fn simulated_lookups() {
    let mut sim = sim::Sim::new(200, 0.0, 11);
    let start = Instant::now();
    sim.bootstrap_all();
    let boot = start.elapsed();
    let routing: usize = sim.nodes.iter().map(|n| n.stats().routing_nodes).sum();
    println!(
        "sim: 200 nodes bootstrapped in {boot:.2?} wall ({} datagrams); mean routing table {} nodes",
        sim.delivered,
        routing / 200
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let lookups = 200;
    let start = Instant::now();
    let mut fake = Duration::ZERO;
    for l in 0..lookups {
        let from = (l * 7) % 200;
        let t0 = sim.now;
        let now = sim.now;
        let op = sim.nodes[from].find_node(now, Id::random(&mut rng));
        sim.wait(from, op);
        fake += sim.now - t0;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sim: {:.0} find_node lookups/s (wall, whole network simulated); mean simulated latency {:.0?} (5-50 ms links)",
        lookups as f64 / secs,
        fake / lookups as u32
    );
}

/// Medians of 20 lookups by one implementation: get_peers to the first peer, get of the BEP 46
/// (dict) mutable item, get of the byte-string mutable item (`None`: not measured).
struct Row {
    name: &'static str,
    first_peer: Option<Duration>,
    get_dict: Option<Duration>,
    get_bytes: Option<Duration>,
}

fn cell(d: Option<Duration>) -> String {
    d.map_or_else(
        || "n/a".to_owned(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
    )
}

const RUNS: usize = 20;

/// 100 swarmfs nodes on loopback; beside them a mainline 8 node (in-process, client mode) and a
/// libtorrent 2 node (python driver, measuring inside python) do the same lookups in the same DHT.
async fn loopback_latency() {
    let n = 100;
    let first = Dht::builder().build().await.unwrap();
    let boot = [first.local_addr()];
    let mut nodes = vec![first];
    for _ in 1..n {
        let node = Dht::builder().bootstrap(&boot).build().await.unwrap();
        nodes.push(node);
    }
    for node in &nodes {
        node.bootstrapped().await.unwrap();
    }
    for node in &nodes {
        node.find_node(node.id()).await.unwrap();
    }
    let ih = Id::sha1(b"bench torrent");
    nodes[10].announce_peer(ih, Some(9000)).await.unwrap();
    let key = SigningKey::from_bytes(&[0x46; 32]);
    let pk = key.verifying_key().to_bytes();
    let item = MutableItem::sign(&key, b"bench", 1, Value::bep46(&[1; 20])).unwrap();
    nodes[20].put_mutable(item, None).await.unwrap();
    let bytes_value = Value::from_byte_string(b"swarmfs bench byte string").unwrap();
    let item = MutableItem::sign(&key, b"bench-bytes", 1, bytes_value).unwrap();
    nodes[25].put_mutable(item, None).await.unwrap();

    let (mut first_peer, mut get_dict, mut get_bytes) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..RUNS {
        let node = &nodes[30 + i * 3];
        let t0 = Instant::now();
        let mut stream = node.get_peers(ih).unwrap();
        stream.next().await.expect("a peer");
        first_peer.push(t0.elapsed());
        while stream.next().await.is_some() {}
        for (salt, out) in [
            (&b"bench"[..], &mut get_dict),
            (b"bench-bytes", &mut get_bytes),
        ] {
            let t0 = Instant::now();
            node.get_mutable(&pk, salt).await.unwrap().expect("item");
            out.push(t0.elapsed());
        }
    }
    let mut rows = vec![Row {
        name: "swarmfs-dht",
        first_peer: Some(median(first_peer)),
        get_dict: Some(median(get_dict)),
        get_bytes: Some(median(get_bytes)),
    }];
    let boot: Vec<String> = nodes[..8]
        .iter()
        .map(|n| n.local_addr().to_string())
        .collect();
    rows.push(mainline_row(boot.clone(), ih, pk).await);
    rows.push(libtorrent_row(&boot, ih, pk).await);

    println!("loopback, {n} swarmfs nodes + 1 mainline + 1 libtorrent node, median of {RUNS}:");
    println!(
        "| implementation | get_peers first peer | mutable get (BEP 46 dict) | mutable get (byte string) |"
    );
    println!("|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} |",
            row.name,
            cell(row.first_peer),
            cell(row.get_dict),
            cell(row.get_bytes)
        );
    }
    for node in &nodes {
        node.shutdown().await;
    }
}

/// mainline 8 through its blocking API (on tokio's blocking pool). It cannot read a dict value
/// (BEP 46), so only the byte-string item is measured.
#[allow(deprecated)]
async fn mainline_row(boot: Vec<String>, ih: Id, pk: [u8; 32]) -> Row {
    let ml_ih = mainline::Id::from_bytes(ih.as_bytes()).unwrap();
    let (first_peer, get_bytes) = tokio::task::spawn_blocking(move || {
        let dht = mainline::Dht::builder().bootstrap(&boot).build().unwrap();
        assert!(dht.bootstrapped(), "mainline joined the swarmfs DHT");
        let (mut first_peer, mut get_bytes) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let mut peers = dht.get_peers(ml_ih);
            peers.next().expect("mainline found a peer");
            first_peer.push(t0.elapsed());
            peers.for_each(drop);
            let t0 = Instant::now();
            dht.get_mutable_most_recent(&pk, Some(b"bench-bytes"))
                .expect("mainline got the byte-string item");
            get_bytes.push(t0.elapsed());
        }
        (median(first_peer), median(get_bytes))
    })
    .await
    .unwrap();
    Row {
        name: "mainline 8 (in-process)",
        first_peer: Some(first_peer),
        get_dict: None,
        get_bytes: Some(get_bytes),
    }
}

/// libtorrent 2 through `tests/peers/dht_node_lt.py`: each action's `ms` is measured inside
/// python (get_peers: until the first reply carrying peers; get_mutable: until libtorrent's
/// authoritative result).
async fn libtorrent_row(boot: &[String], ih: Id, pk: [u8; 32]) -> Row {
    let empty = Row {
        name: "libtorrent 2 (python, skipped: no bindings)",
        first_peer: None,
        get_dict: None,
        get_bytes: None,
    };
    if !external::have_libtorrent() {
        return empty;
    }
    let pk = hex::encode(pk);
    let mut args = vec![
        external::peers_dir()
            .join("dht_node_lt.py")
            .display()
            .to_string(),
        "--bootstrap".into(),
        boot.join(","),
        "--min-nodes".into(),
        "20".into(),
    ];
    for _ in 0..RUNS {
        args.push(format!("get_peers:{ih}"));
        args.push(format!("get_mutable:{pk}:{}", hex::encode(b"bench")));
        args.push(format!("get_mutable:{pk}:{}", hex::encode(b"bench-bytes")));
    }
    let Ok(mut lt) = external::External::spawn("lt-bench", "python3", &args) else {
        return empty;
    };
    let long = Duration::from_secs(60);
    let ms = |v: serde_json::Value| {
        assert_eq!(v["ok"], true, "libtorrent lookup failed: {v}");
        Duration::from_millis(v["ms"].as_u64().expect("ms"))
    };
    let (mut first_peer, mut get_dict, mut get_bytes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        first_peer.push(ms(lt.action("get_peers", long).await));
        get_dict.push(ms(lt.action("get_mutable", long).await));
        get_bytes.push(ms(lt.action("get_mutable", long).await));
    }
    let _ = lt.finish(long).await;
    Row {
        name: "libtorrent 2 (python driver)",
        first_peer: Some(median(first_peer)),
        get_dict: Some(median(get_dict)),
        get_bytes: Some(median(get_bytes)),
    }
}

fn main() {
    queries_per_second();
    memory_full_table();
    simulated_lookups();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(loopback_latency());
}
