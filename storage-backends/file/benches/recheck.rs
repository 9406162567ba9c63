//! Re-check throughput of complete data on the file backend (MiB/s), warm or cold page cache.
//!
//! ```text
//! cargo bench -p swarmfs-file --bench recheck -- [--cache warm|cold] [--runs N] [--threads N] [PAYLOAD...]
//! cargo bench -p swarmfs-file --bench recheck -- --torrent T.torrent --save DIR   # one check, exit 0 if complete
//! ```
//! `--no-mmap` copies cached data with `pread` instead of hashing it from memory maps
//! ([`swarmfs_file::set_mapped_reads`]). `--resume` keeps resume data (under `DIR/.swarmfs/`), as a client would: the re-check then
//! syncs every file (and its directories) before persisting the bitfield; without it nothing is
//! persisted and nothing is synced, like libtorrent's and rqbit's checks.
//! PAYLOADs are the perf lab's (`../shared/bench/make_payload.py`, under `$PERFLAB_DIR`, default
//! `/tmp/perflab`): `single1g-256k` and `multi100x10m-256k` by default. Cold runs need root
//! (`sync; echo 3 > /proc/sys/vm/drop_caches` before each run). `compare_libtorrent.sh` beside
//! this file runs the `--torrent` form through the lab's `hashcheck.py`, interleaved with
//! libtorrent.

#[path = "support/torrent_file.rs"]
mod torrent_file;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use swarmfs_file::FileStorage;
use swarmfs_storage::{MetaName, PieceStore, PieceStoreOptions, StorageFactory};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut cache = "warm".to_owned();
    let mut runs = 5;
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut payloads = Vec::new();
    let mut torrent: Option<PathBuf> = None;
    let mut save: Option<PathBuf> = None;
    let mut resume = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cache" => cache = args.next().expect("--cache warm|cold"),
            "--runs" => runs = args.next().expect("--runs N").parse().expect("number"),
            "--threads" => threads = args.next().expect("--threads N").parse().expect("number"),
            "--torrent" => torrent = args.next().map(PathBuf::from),
            "--save" => save = args.next().map(PathBuf::from),
            "--resume" => resume = true,
            "--no-mmap" => swarmfs_file::set_mapped_reads(false),
            "--bench" => {}
            other => payloads.push(other.to_owned()),
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    if let (Some(t), Some(s)) = (&torrent, &save) {
        let (secs, bytes, ok) = rt.block_on(check(t, s, threads, resume));
        println!(
            "CHECK elapsed={secs:.3} MiB/s={:.0} complete={ok}",
            bytes as f64 / 1048576.0 / secs
        );
        std::process::exit(if ok { 0 } else { 1 });
    }
    if payloads.is_empty() {
        payloads = vec!["single1g-256k".into(), "multi100x10m-256k".into()];
    }
    let lab = PathBuf::from(std::env::var("PERFLAB_DIR").unwrap_or_else(|_| "/tmp/perflab".into()));
    for payload in &payloads {
        let layout = payload
            .rsplit_once('-')
            .map_or(payload.as_str(), |(l, _)| l);
        let torrent = lab.join("torrents").join(format!("{payload}.torrent"));
        let save = lab.join("payload").join(layout);
        let mut rates = Vec::new();
        for run in 0..runs {
            if cache == "cold" {
                drop_caches();
            } else {
                warm(&save.join(layout));
            }
            let (cpu0, busy0) = (own_cpu_seconds(), system_busy_seconds());
            let (secs, bytes, ok) = rt.block_on(check(&torrent, &save, threads, resume));
            let (cpu1, busy1) = (own_cpu_seconds(), system_busy_seconds());
            assert!(ok, "{payload}: data incomplete");
            let rate = bytes as f64 / 1048576.0 / secs;
            let cpu = cpu1 - cpu0;
            println!(
                "recheck {payload} {cache} run {run}: {secs:.3} s, {rate:.0} MiB/s; own cpu {cpu:.2} s \
                 ({:.0} MiB per cpu-s); other cpu+steal {:.2} s",
                bytes as f64 / 1048576.0 / cpu,
                (busy1 - busy0 - cpu).max(0.0)
            );
            rates.push(rate);
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "recheck {payload} {cache} threads={threads}: median {:.0} MiB/s [{:.0}-{:.0}] (n={runs})",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
}

async fn check(torrent: &Path, save: &Path, threads: usize, resume: bool) -> (f64, u64, bool) {
    let raw = std::fs::read(torrent).expect("read torrent");
    let t = torrent_file::read_torrent(&raw);
    let factory: Arc<dyn StorageFactory> = Arc::new(FileStorage::in_dir(save));
    let mut options = if resume {
        PieceStoreOptions::with_resume(MetaName::new("recheck-bench").expect("name"))
    } else {
        PieceStoreOptions::default()
    };
    options.hashing_threads = threads;
    let start = Instant::now();
    let (store, _) = PieceStore::open(factory, t.geometry.clone(), &t.paths, t.hashes, options)
        .await
        .expect("open");
    let mut last = 0;
    let report = store
        .recheck(&mut |p| last = p.checked)
        .await
        .expect("recheck");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        last,
        t.geometry.piece_count(),
        "progress did not reach the end"
    );
    (secs, t.geometry.total_length(), report.verified.all())
}

fn warm(path: &Path) {
    let mut buf = vec![0u8; 1 << 20];
    let mut visit = vec![path.to_path_buf()];
    while let Some(p) = visit.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir") {
                visit.push(e.expect("entry").path());
            }
        } else {
            use std::io::Read;
            let mut f = std::fs::File::open(&p).expect("open");
            while f.read(&mut buf).expect("read") > 0 {}
        }
    }
}

/// User + system CPU of this process (all threads), from /proc/self/stat.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; 100 ticks/s.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// CPU seconds the whole machine spent busy (including steal), from /proc/stat.
fn system_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| f.get(i).unwrap_or(&0.0))
        .sum();
    busy / 100.0
}

fn drop_caches() {
    let status = std::process::Command::new("sync").status().expect("sync");
    assert!(status.success());
    std::fs::write("/proc/sys/vm/drop_caches", "3").expect("drop caches (needs root)");
}
