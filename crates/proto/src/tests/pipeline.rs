//! Request queue sizing (bandwidth-delay product), the peer's `reqq`, and snub timeouts.

use std::time::{Duration, Instant};

use swarmfs_metainfo::{BLOCK_SIZE, Geometry};

use super::util::{KIB, MIB, Swarm, ms};
use crate::{Block, Pipeline, PipelineConfig};

fn block(g: &Geometry, piece: u32, index: u32) -> Block {
    Block::nth(g, g.piece(piece).unwrap(), index).unwrap()
}

/// Bytes delivered by the swarm's peers between two points in simulated time.
fn throughput(s: &mut Swarm, run_for: Duration) -> f64 {
    let before: u64 = s.peers.iter().map(|p| p.delivered).sum();
    let t0 = s.now;
    while s.now - t0 < run_for && !s.picker.is_done() {
        assert!(s.step());
    }
    let after: u64 = s.peers.iter().map(|p| p.delivered).sum();
    (after - before) as f64 * f64::from(BLOCK_SIZE) / (s.now - t0).as_secs_f64()
}

#[test]
fn depth_grows_to_the_bandwidth_delay_product() {
    // 8 MiB/s behind a 50 ms round trip: the BDP is 25.6 blocks, so 4 requests in flight would
    // cap the transfer at 1.25 MiB/s.
    let mut s = Swarm::new(256 * KIB, 1024 * 256 * KIB, 1);
    let i = s.add_peer(None, ms(25), 8.0 * MIB);
    s.fill();
    assert_eq!(
        s.peers[i].pipeline.outstanding(),
        4,
        "starts at the minimum depth"
    );
    throughput(&mut s, Duration::from_secs(3));
    let rate = throughput(&mut s, Duration::from_secs(2));
    assert!(rate > 0.9 * 8.0 * MIB, "reached {:.2} MiB/s", rate / MIB);
    let now = s.now;
    let depth = s.peers[i].pipeline.depth(now);
    // BDP x headroom 2 = 51 blocks; rtt samples include one block's serialisation.
    assert!((40..=80).contains(&depth), "depth {depth}");
    let rtt = s.peers[i].pipeline.min_rtt().unwrap();
    assert!(rtt >= ms(50) && rtt < ms(55), "min rtt {rtt:?}");
}

#[test]
fn depth_honours_reqq_and_bounds() {
    let g = Geometry::new(u64::from(BLOCK_SIZE), &[1000 * u64::from(BLOCK_SIZE)]).unwrap();
    let t0 = Instant::now();
    let mut p = Pipeline::new(t0, PipelineConfig::default());
    assert_eq!(p.depth(t0), 4);
    // 100 MiB/s with a 100 ms round trip: 640 blocks of BDP, above max_depth.
    let mut t = t0;
    for i in 0..1000 {
        let b = block(&g, i, 0);
        p.handle_sent(t, b);
        t += Duration::from_micros(156);
        p.handle_block(t + ms(100), b);
    }
    let now = t + ms(100);
    assert_eq!(p.depth(now), 500, "clamped to max_depth");
    p.set_peer_reqq(250);
    assert_eq!(p.depth(now), 250, "the peer's reqq wins");
    p.set_peer_reqq(2);
    assert_eq!(p.depth(now), 2, "even below min_depth");
    p.set_peer_reqq(0);
    assert_eq!(p.depth(now), 500, "reqq 0 is ignored");
}

#[test]
fn tiny_round_trip_still_queues_min_queue_time() {
    // 64 MiB/s with a 50 us round trip: the BDP is a fraction of a block, but 100 ms of the rate
    // is 409.6 blocks.
    let g = Geometry::new(u64::from(BLOCK_SIZE), &[10_000 * u64::from(BLOCK_SIZE)]).unwrap();
    let t0 = Instant::now();
    let mut p = Pipeline::new(t0, PipelineConfig::default());
    let mut t = t0;
    for i in 0..8192 {
        let b = block(&g, i, 0);
        p.handle_sent(t, b);
        t += Duration::from_nanos(244_140); // 16 KiB per 244 us = 64 MiB/s
        p.handle_block(t + Duration::from_micros(50), b);
    }
    let depth = p.depth(t);
    assert!((400..=420).contains(&depth), "depth {depth}");
    let config = PipelineConfig {
        min_queue_time: Duration::ZERO,
        ..PipelineConfig::default()
    };
    let mut q = Pipeline::new(t0, config);
    let mut t = t0;
    for i in 0..8192 {
        let b = block(&g, i, 0);
        q.handle_sent(t, b);
        t += Duration::from_nanos(244_140);
        q.handle_block(t + Duration::from_micros(50), b);
    }
    assert_eq!(q.depth(t), 4, "pure BDP: the minimum");
}

#[test]
fn timeout_marks_snubbed_and_returns_requests() {
    let g = Geometry::new(u64::from(BLOCK_SIZE), &[10 * u64::from(BLOCK_SIZE)]).unwrap();
    let t0 = Instant::now();
    let mut p = Pipeline::new(t0, PipelineConfig::default());
    assert_eq!(p.poll_timeout(), None);
    let blocks: Vec<Block> = (0..3).map(|i| block(&g, i, 0)).collect();
    for &b in &blocks {
        p.handle_sent(t0, b);
    }
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    // Progress pushes the deadline back.
    assert!(p.handle_block(t0 + Duration::from_secs(5), blocks[0]));
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(25)));
    assert!(p.handle_timeout(t0 + Duration::from_secs(24)).is_empty());
    assert_eq!(
        p.handle_timeout(t0 + Duration::from_secs(25)),
        blocks[1..].to_vec()
    );
    assert!(p.is_snubbed());
    assert_eq!(p.wants(t0 + Duration::from_secs(25)), 1);
    assert!(
        !p.handle_block(t0 + Duration::from_secs(26), blocks[1]),
        "late, not outstanding"
    );
    assert!(!p.is_snubbed(), "data ends the snub");
    p.handle_sent(t0, blocks[2]);
    assert!(p.handle_cancelled(blocks[2]));
    assert_eq!(p.handle_choked(), Vec::new());
}
