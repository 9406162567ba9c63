//! A minimal command-line client for the perf lab's `custom` client (`../shared/bench`).
//!
//! ```text
//! bench_client seed     --listen 127.0.0.1:PORT --data SAVE TORRENT   # prints "seeding" when ready
//! bench_client leech    --peer HOST:PORT --out SAVE TORRENT          # exits once all verified
//! bench_client metadata --peer HOST:PORT MAGNET                      # exits with the info dict
//! bench_client check    --data SAVE TORRENT                          # hashes SAVE, prints counts
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_file::FileStorage;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, Torrent};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Default)]
struct Args {
    mode: String,
    listen: Option<SocketAddr>,
    peers: Vec<SocketAddr>,
    dir: Option<PathBuf>,
    target: Option<String>,
}

fn parse() -> Result<Args> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    a.mode = it.next().ok_or("missing mode")?;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--listen" => a.listen = Some(it.next().ok_or("--listen value")?.parse()?),
            "--peer" => a.peers.push(it.next().ok_or("--peer value")?.parse()?),
            "--data" | "--out" => a.dir = Some(it.next().ok_or("directory")?.into()),
            _ => a.target = Some(arg),
        }
    }
    Ok(a)
}

fn load_torrent(a: &Args) -> Result<Torrent> {
    let path = a.target.as_ref().ok_or("missing torrent path")?;
    Ok(Torrent::from_bytes(&std::fs::read(path)?)?)
}

fn main() -> Result<()> {
    let a = parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(a))
}

async fn run(a: Args) -> Result<()> {
    let t0 = Instant::now();
    let mut b = Engine::builder();
    if let Some(l) = a.listen {
        b.listen_addr(l);
    }
    let engine = b.build().await?;
    match a.mode.as_str() {
        "seed" => {
            let info = load_torrent(&a)?.into_info();
            let dir = a.dir.clone().ok_or("--data")?;
            let t = engine.add_info(
                info,
                Arc::new(FileStorage::in_dir(dir)),
                TorrentOptions::new().recheck(true),
            )?;
            t.wait_metadata().await?;
            let s = t.stats().await?;
            println!(
                "seeding {}/{} pieces check_elapsed={:.3}",
                s.pieces_verified,
                s.pieces_total,
                t0.elapsed().as_secs_f64()
            );
            std::future::pending::<()>().await;
        }
        "leech" => {
            let info = load_torrent(&a)?.into_info();
            let dir = a.dir.clone().ok_or("--out")?;
            let mut opts = TorrentOptions::new();
            opts.peers = a.peers.clone();
            let t = engine.add_info(info, Arc::new(FileStorage::in_dir(dir)), opts)?;
            t.wait_done().await?;
            let s = t.stats().await?;
            println!(
                "DONE elapsed={:.3} pieces={} downloaded={}",
                t0.elapsed().as_secs_f64(),
                s.pieces_verified,
                s.downloaded
            );
        }
        "metadata" => {
            let magnet = Magnet::parse(a.target.as_deref().ok_or("missing magnet")?)?;
            let mut opts = TorrentOptions::new();
            opts.peers = a.peers.clone();
            let t = engine.add_magnet(&magnet, MemoryStorage::factory(), opts)?;
            let info = t.wait_metadata().await?;
            println!(
                "METADATA elapsed={:.4} bytes={}",
                t0.elapsed().as_secs_f64(),
                info.as_bytes().len()
            );
        }
        "check" => {
            let info = load_torrent(&a)?.into_info();
            let dir = a.dir.clone().ok_or("--data")?;
            let t = engine.add_info(
                info,
                Arc::new(FileStorage::in_dir(dir)),
                TorrentOptions::new().recheck(true).paused(true),
            )?;
            t.wait_metadata().await?;
            let s = t.stats().await?;
            println!(
                "CHECK elapsed={:.3} verified={}/{}",
                t0.elapsed().as_secs_f64(),
                s.pieces_verified,
                s.pieces_total
            );
        }
        m => return Err(format!("unknown mode {m}").into()),
    }
    engine.shutdown().await;
    Ok(())
}
