//! Figures for the library face, on loopback (prints, never asserts):
//! - time to resolve a mutable magnet and read the first byte of a file through a 50-node
//!   private DHT (fresh reader each run; median of 10);
//! - time of `read_file` of a 1 MiB file once the archive is open;
//! - sequential `open` + read throughput of a large file (default 1 GiB, `SWARMFS_BENCH_MIB`)
//!   from a loopback seeder, against the engine's plain whole-torrent download (a lookup with
//!   `seed(true)` waiting for `wait_done`), interleaved, `SWARMFS_BENCH_RUNS` runs each
//!   (default 3), with the process's CPU seconds.
//!
//! `cargo bench -p swarmfs --bench swarmfs_bench`

use std::time::{Duration, Instant};

use swarmfs::{Archive, Client, Keypair, LookupOptions};
use swarmfs_dht::Dht;
use swarmfs_memory::MemoryStorage;
use tokio::io::AsyncReadExt;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let mib: usize = std::env::var("SWARMFS_BENCH_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let nodes = network(50).await?;
    let boot: Vec<String> = nodes
        .iter()
        .take(8)
        .map(|n| n.local_addr().to_string())
        .collect();
    let publisher = client(&boot).await?;

    let site = Archive::new(MemoryStorage::factory());
    site.write_file("/small.txt", b"x").await?;
    site.write_file("/one.bin", vec![7u8; 1 << 20]).await?;
    let url = publisher.seed(&site).await?;
    let murl = publisher.publish(&url, &Keypair::generate(), b"").await?;

    let mut first_byte = Vec::new();
    let mut whole = Vec::new();
    // Readers stay up until the end: a stopped reader's DHT node would stay in the others'
    // routing tables and make later lookups wait for its query timeout (2 s), which measures
    // churn rather than resolution.
    let mut readers = Vec::new();
    for _ in 0..10 {
        let reader = client(&boot).await?;
        let t = Instant::now();
        let archive = reader.lookup(&murl, opts(false)).await?;
        let mut f = archive.open("/small.txt").await?;
        let mut b = [0u8; 1];
        f.read_exact(&mut b).await?;
        first_byte.push(t.elapsed());
        let t = Instant::now();
        let data = archive.read_file("/one.bin").await?;
        whole.push(t.elapsed());
        assert_eq!(data.len(), 1 << 20);
        readers.push(reader);
    }
    for r in &readers {
        r.stop().await;
    }
    println!(
        "resolve mutable magnet + first byte, 50-node DHT: median {:.1?} (min {:.1?}, max {:.1?}, 10 runs)",
        median(&mut first_byte),
        first_byte[0],
        first_byte[9]
    );
    println!(
        "read_file of 1 MiB once open: median {:.1?} (min {:.1?}, max {:.1?})",
        median(&mut whole),
        whole[0],
        whole[9]
    );

    let big = Archive::new(MemoryStorage::factory());
    let data: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    big.write_file("/big.bin", &data).await?;
    drop(data);
    let t = Instant::now();
    let big_url = publisher.seed(&big).await?;
    println!("seed (hash + check) of {mib} MiB: {:.2?}", t.elapsed());

    // The two ways of fetching the big file, interleaved (A B B A A B ...) so that load on the
    // machine hits both alike; each run is a fresh reader with empty memory storage.
    let runs: usize = std::env::var("SWARMFS_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let (mut reads, mut plains) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let order = if run % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for plain in order {
            let reader = client(&boot).await?;
            let cpu = cpu_seconds();
            let t = Instant::now();
            if plain {
                let archive = reader.lookup(&big_url, opts(true)).await?;
                archive.torrent().ok_or("no torrent")?.wait_done().await?;
            } else {
                let archive = reader.lookup(&big_url, opts(false)).await?;
                let mut f = archive.open("/big.bin").await?;
                let mut buf = vec![0u8; 1 << 20];
                let mut total = 0u64;
                loop {
                    let n = f.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                assert_eq!(total, (mib as u64) << 20);
            }
            let figure = (t.elapsed(), cpu_seconds() - cpu);
            reader.stop().await;
            if plain {
                plains.push(figure);
            } else {
                reads.push(figure);
            }
        }
    }
    for (what, v) in [
        ("sequential open+read", &mut reads),
        ("engine plain download", &mut plains),
    ] {
        v.sort_by_key(|x| x.0);
        let (med, min, max) = (v[v.len() / 2], v[0], v[v.len() - 1]);
        let rate = |d: Duration| mib as f64 / d.as_secs_f64();
        println!(
            "{what} of {mib} MiB: median {:.2?} = {:.0} MiB/s (min {:.2?}, max {:.2?}; {} runs), \
             process CPU {:.2} s (seeder and reader in one process)",
            med.0,
            rate(med.0),
            min.0,
            max.0,
            v.len(),
            med.1
        );
    }
    let ratio = median_of(&reads) / median_of(&plains);
    println!("open+read time / plain download time: {ratio:.2}");
    publisher.stop().await;
    for n in &nodes {
        n.shutdown().await;
    }
    Ok(())
}

fn opts(seed: bool) -> LookupOptions {
    LookupOptions::default()
        .timeout(Duration::from_secs(60))
        .seed(seed)
}

fn median_of(v: &[(Duration, f64)]) -> f64 {
    let mut d: Vec<f64> = v.iter().map(|x| x.0.as_secs_f64()).collect();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, 100 ticks/s);
/// 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn client(boot: &[String]) -> Result<Client> {
    Ok(Client::builder()
        .dht_bootstrap(boot.iter().cloned())
        .storage(MemoryStorage::factory())
        .peer_search_interval(Duration::from_millis(200))
        .build()
        .await?)
}

async fn network(n: usize) -> Result<Vec<Dht>> {
    let first = Dht::builder().build().await?;
    let boot = [first.local_addr()];
    let mut nodes = vec![first];
    for _ in 1..n {
        let node = Dht::builder().bootstrap(&boot).build().await?;
        node.bootstrapped().await?;
        nodes.push(node);
    }
    for node in &nodes {
        node.find_node(node.id()).await?;
    }
    Ok(nodes)
}
