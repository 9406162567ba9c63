//! `cargo bench -p swarmfs-metainfo`: prints
//! - decode throughput of a ~1 MiB bencoded info dictionary (and of a `.torrent` around it),
//! - torrent building throughput (MiB/s) for a 512 MiB file in a temp dir, on all cores and on
//!   one, and for the same bytes in memory (pure hashing),
//! - `openssl speed -evp sha1 -bytes 16384` (one core) for comparison.
//!
//! `SWARMFS_BENCH_MIB` overrides the file size in MiB.

use std::hint::black_box;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use swarmfs_metainfo::{Info, Torrent, TorrentBuilder};

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    println!("== swarmfs-metainfo bench ==");
    #[cfg(target_arch = "x86_64")]
    println!(
        "cpu sha extensions (SHA-NI): {}",
        std::arch::is_x86_feature_detected!("sha")
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cores: {cores}");
    info_decode();
    build(cores);
    openssl();
}

/// A multi-file info dict of about 1 MiB: 4000 files, 40 000 piece hashes.
fn big_info() -> Vec<u8> {
    let files = 4000u64;
    let per_file = 10 * 16 * 1024;
    let pieces = files * 10;
    let mut out = b"d5:filesl".to_vec();
    for i in 0..files {
        let dir = format!("dir{:03}", i / 100);
        let name = format!("file-{i:05}.bin");
        write!(
            out,
            "d6:lengthi{per_file}e4:pathl{}:{dir}{}:{name}ee",
            dir.len(),
            name.len()
        )
        .unwrap();
    }
    out.extend_from_slice(b"e4:name5:bench12:piece lengthi16384e6:pieces");
    write!(out, "{}:", pieces * 20).unwrap();
    let mut x = 0x1234_5678_9abc_def1u64;
    for _ in 0..pieces * 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.push(b'e');
    out
}

/// Runs `f` for about two seconds: (MiB/s by wall clock, calls/s, MiB per CPU-second).
fn per_second(bytes: usize, f: impl Fn()) -> (f64, f64, String) {
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        f();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let total = f64::from(n) * bytes as f64 / MIB;
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => format!(" ({:.0} MiB per CPU-second)", total / (b - a)),
        _ => String::new(),
    };
    (total / secs, f64::from(n) / secs, cpu)
}

fn info_decode() {
    let raw = big_info();
    let info = Info::from_bytes(&raw).expect("bench info dict parses");
    println!(
        "info dict: {} bytes ({:.2} MiB), {} files, {} pieces",
        raw.len(),
        raw.len() as f64 / MIB,
        info.files().len(),
        info.piece_count()
    );
    let (mibs, per_s, cpu) = per_second(raw.len(), || {
        black_box(Info::from_bytes(black_box(&raw)).expect("parses"));
    });
    println!("info dict decode (incl. SHA-1 of it): {mibs:.0} MiB/s{cpu}, {per_s:.0} dicts/s");
    let (mibs, _, cpu) = per_second(raw.len(), || {
        let tokens = bendy::decoding::Decoder::new(black_box(&raw)).tokens();
        let mut n = 0usize;
        for t in tokens {
            black_box(t.expect("valid"));
            n += 1;
        }
        black_box(n);
    });
    println!("  of which bendy's token walk alone: {mibs:.0} MiB/s{cpu}");
    let (mibs, _, cpu) = per_second(raw.len(), || {
        black_box(swarmfs_metainfo::InfoHash::of_info_bytes(black_box(&raw)));
    });
    println!("  of which SHA-1 of the dict alone: {mibs:.0} MiB/s{cpu}");
    let mut torrent = b"d7:comment5:bench4:info".to_vec();
    torrent.extend_from_slice(&raw);
    torrent.push(b'e');
    let (mibs, _, cpu) = per_second(torrent.len(), || {
        black_box(Torrent::from_bytes(black_box(&torrent)).expect("parses"));
    });
    println!(".torrent decode: {mibs:.0} MiB/s{cpu}");
}

fn build(cores: usize) {
    let mib: usize = std::env::var("SWARMFS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let len = mib << 20;
    let mut data = vec![0u8; len];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("payload.bin");
    std::fs::write(&path, &data).expect("write payload");
    println!("payload: {mib} MiB file in {}", dir.path().display());
    let mut hash = None;
    for threads in [cores, 1] {
        for from_disk in [true, false] {
            // Best of three by wall clock (the machine may be shared), plus the process's CPU
            // time, which load from other processes does not inflate.
            let mut best = f64::MAX;
            let mut best_cpu = f64::MAX;
            let mut shape = (0, 0);
            for _ in 0..3 {
                let mut b = TorrentBuilder::new();
                b.threads(threads);
                let cpu0 = cpu_seconds();
                let start = Instant::now();
                let t = if from_disk {
                    b.build_path(&path)
                } else {
                    b.build_single("payload.bin", &data)
                }
                .expect("build");
                best = best.min(start.elapsed().as_secs_f64());
                if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
                    best_cpu = best_cpu.min(b - a);
                }
                assert_eq!(*hash.get_or_insert(t.info_hash()), t.info_hash());
                shape = (t.info().piece_length() / 1024, t.info().piece_count());
            }
            let per_cpu = if best_cpu < f64::MAX && best_cpu > 0.0 {
                format!(", {:.0} MiB per CPU-second", mib as f64 / best_cpu)
            } else {
                String::new()
            };
            println!(
                "build from {}, {threads} thread(s): {:.0} MiB/s wall{per_cpu} (best of 3, piece {} KiB, {} pieces)",
                if from_disk {
                    "disk (page cache)"
                } else {
                    "memory"
                },
                mib as f64 / best,
                shape.0,
                shape.1
            );
        }
    }
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux; 100 ticks/s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn openssl() {
    let out = Command::new("openssl")
        .args(["speed", "-evp", "sha1", "-bytes", "16384", "-seconds", "3"])
        .output();
    let Ok(out) = out else {
        println!("openssl: not found");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // The result line looks like `sha1   1234567.89k`: thousands of bytes per second.
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("sha1") || l.trim_start().starts_with("SHA1"));
    match line.and_then(|l| l.split_whitespace().last()) {
        Some(v) if v.ends_with('k') => match v.trim_end_matches('k').parse::<f64>() {
            Ok(k) => println!(
                "openssl speed -evp sha1 -bytes 16384 (one core, per CPU-second): {:.0} MiB/s",
                k * 1000.0 / MIB
            ),
            Err(_) => println!("openssl: {}", line.unwrap_or_default()),
        },
        _ => println!("openssl output not understood:\n{text}"),
    }
}
