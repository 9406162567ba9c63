//! SHA-1 throughput of the `sha1` crate on one core, to compare with `openssl speed -evp sha1`
//! (the lab's per-core bound: 1,457 MiB/s with SHA-NI), and of
//! [`swarmfs_metainfo::sha1_pair`], which hashes two pieces at once.
//!
//! ```text
//! cargo bench -p swarmfs-storage --bench sha1_speed
//! openssl speed -evp sha1 -bytes 16384 -seconds 3
//! ```
//! Figures are per CPU-second of this thread (`/proc/thread-self/schedstat`), like `openssl speed`
//! without `-elapsed`, so that a loaded machine does not lower them; wall-clock rates are printed
//! beside.

use std::time::Instant;

use sha1::{Digest, Sha1};

fn main() {
    println!(
        "cpu sha extension detected: {}",
        std::arch::is_x86_feature_detected!("sha")
    );
    for &chunk in &[16 * 1024usize, 64 * 1024, 256 * 1024] {
        let buf = vec![0x5au8; chunk];
        let total: usize = 1 << 30;
        let mut rates = Vec::new();
        let mut walls = Vec::new();
        for _ in 0..5 {
            let cpu0 = thread_cpu_seconds();
            let start = Instant::now();
            let mut h = Sha1::new();
            for _ in 0..total / chunk {
                h.update(&buf);
            }
            std::hint::black_box(h.finalize());
            walls.push(total as f64 / 1048576.0 / start.elapsed().as_secs_f64());
            rates.push(total as f64 / 1048576.0 / (thread_cpu_seconds() - cpu0));
        }
        rates.sort_by(f64::total_cmp);
        walls.sort_by(f64::total_cmp);
        println!(
            "sha1 {} KiB updates: median {:.0} MiB per cpu-s [{:.0}-{:.0}], wall {:.0} MiB/s (n=5, 1 GiB each)",
            chunk / 1024,
            rates[2],
            rates[0],
            rates[4],
            walls[2]
        );
    }
    let piece = 256 * 1024;
    let (a, b) = (vec![0x5au8; piece], vec![0xa5u8; piece]);
    let total: usize = 1 << 30;
    let mut rates = Vec::new();
    for _ in 0..5 {
        let cpu0 = thread_cpu_seconds();
        for _ in 0..total / (2 * piece) {
            std::hint::black_box(swarmfs_metainfo::sha1_pair(&a, &b));
        }
        rates.push(total as f64 / 1048576.0 / (thread_cpu_seconds() - cpu0));
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "sha1_pair of two 256 KiB pieces: median {:.0} MiB per cpu-s [{:.0}-{:.0}] (n=5, 1 GiB each)",
        rates[2], rates[0], rates[4]
    );
}

/// CPU time of the calling thread (nanosecond counter of the scheduler).
fn thread_cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = s
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .expect("schedstat field");
    ns as f64 / 1e9
}
