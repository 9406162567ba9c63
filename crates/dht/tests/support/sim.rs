//! A simulated UDP network of sans-IO nodes under a fake clock, with latency and packet loss.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use swarmfs_dht::{Config, Event, Id, LookupOutcome, Node, OpId};

/// A datagram in flight: delivery time, tie-break sequence, receiver index, sender, payload.
type InFlight = Reverse<(Instant, u64, usize, SocketAddr, Vec<u8>)>;

pub struct Sim {
    pub nodes: Vec<Node>,
    pub addrs: Vec<SocketAddr>,
    index: HashMap<SocketAddr, usize>,
    pub now: Instant,
    queue: BinaryHeap<InFlight>,
    seq: u64,
    rng: StdRng,
    pub loss: f64,
    pub events: Vec<(usize, Event)>,
    pub delivered: u64,
    timers: Vec<Option<Instant>>,
}

impl Sim {
    /// `n` nodes at 10.x.y.z:6881; every node but the first bootstraps from the first.
    pub fn new(n: usize, loss: f64, seed: u64) -> Self {
        Self::with_config(n, loss, seed, |_, _| {})
    }

    pub fn with_config(
        n: usize,
        loss: f64,
        seed: u64,
        mut tweak: impl FnMut(usize, &mut Config),
    ) -> Self {
        let now = Instant::now();
        let addrs: Vec<SocketAddr> = (0..n)
            .map(|i| SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8 + 1], 6881)))
            .collect();
        let nodes = (0..n)
            .map(|i| {
                let mut config = Config::default();
                config.rng_seed = Some(seed.wrapping_mul(1000).wrapping_add(i as u64));
                if i > 0 {
                    config.bootstrap = vec![addrs[0]];
                }
                tweak(i, &mut config);
                Node::new(config, now)
            })
            .collect();
        let index = addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        Sim {
            nodes,
            addrs,
            index,
            now,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: StdRng::seed_from_u64(seed),
            loss,
            events: Vec::new(),
            delivered: 0,
            timers: vec![None; n],
        }
    }

    fn flush(&mut self, i: usize) {
        self.timers[i] = self.nodes[i].poll_timeout();
        while let Some(t) = self.nodes[i].poll_transmit() {
            if self.rng.r#gen::<f64>() < self.loss {
                continue;
            }
            let Some(&to) = self.index.get(&t.to) else {
                continue; // nobody there
            };
            let latency = Duration::from_millis(self.rng.gen_range(5..50));
            self.seq += 1;
            self.queue.push(Reverse((
                self.now + latency,
                self.seq,
                to,
                self.addrs[i],
                t.payload,
            )));
        }
        while let Some(event) = self.nodes[i].poll_event() {
            self.events.push((i, event));
        }
    }

    pub fn flush_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.flush(i);
        }
    }

    /// Advances to the next delivery or deadline and processes it. False when nothing is left.
    pub fn step(&mut self) -> bool {
        let next_packet = self.queue.peek().map(|Reverse(p)| p.0);
        let next_timer = self.timers.iter().flatten().min().copied();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some(Reverse(p)) = self.queue.peek() {
            if p.0 > self.now {
                break;
            }
            let Some(Reverse((_, _, to, from, payload))) = self.queue.pop() else {
                break;
            };
            self.delivered += 1;
            self.nodes[to].handle_datagram(self.now, from, &payload);
            self.flush(to);
        }
        for i in 0..self.nodes.len() {
            if self.timers[i].is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
                self.flush(i);
            }
        }
        true
    }

    /// Runs until `op` on node `i` finishes; returns its outcome and the events it produced.
    pub fn wait(&mut self, i: usize, op: OpId) -> (LookupOutcome, Vec<Event>) {
        self.flush(i);
        let deadline = self.now + Duration::from_secs(120);
        loop {
            let pos = self.events.iter().position(|(n, e)| {
                *n == i && matches!(e, Event::Finished { op: o, .. } if *o == op)
            });
            if let Some(pos) = pos {
                let mut mine = Vec::new();
                let mut rest = Vec::new();
                for (n, e) in self.events.drain(..) {
                    let is_mine = n == i
                        && match &e {
                            Event::Peers { op: o, .. }
                            | Event::Item { op: o, .. }
                            | Event::Finished { op: o, .. } => *o == op,
                            _ => false,
                        };
                    if is_mine {
                        mine.push(e)
                    } else {
                        rest.push((n, e))
                    }
                }
                let _ = pos;
                self.events = rest;
                let Some(Event::Finished { outcome, .. }) = mine.pop() else {
                    panic!("finished event not last")
                };
                return (outcome, mine);
            }
            assert!(self.now < deadline, "op {op:?} on node {i} never finished");
            assert!(self.step(), "simulation ran dry");
        }
    }

    /// Runs the simulation for `duration` of fake time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            if !self.step() {
                break;
            }
        }
    }

    /// Bootstraps every node (staggered), twice, so early nodes also learn late ones.
    pub fn bootstrap_all(&mut self) {
        for _round in 0..2 {
            let mut ops = Vec::new();
            for i in 0..self.nodes.len() {
                let now = self.now;
                ops.push((i, self.nodes[i].bootstrap(now)));
                self.flush(i);
                self.flush(i);
                self.run_for(Duration::from_millis(5));
            }
            for (i, op) in ops {
                self.wait(i, op);
            }
            // Let the per-bucket refreshes that follow a bootstrap finish.
            self.run_for(Duration::from_secs(10));
        }
    }

    /// The true `k` closest node ids to `target` (brute force).
    pub fn true_closest(&self, target: &Id, k: usize) -> Vec<Id> {
        let mut ids: Vec<Id> = self.nodes.iter().map(Node::id).collect();
        ids.sort_by_key(|id| id.distance(target));
        ids.truncate(k);
        ids
    }
}
