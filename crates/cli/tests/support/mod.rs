//! Running the built `swarmfs` binary against a private DHT on 127.0.0.1.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use swarmfs_dht::Dht;

pub const BIN: &str = env!("CARGO_BIN_EXE_swarmfs");

/// A private DHT of a few swarmfs nodes on 127.0.0.1, kept on its own runtime.
pub struct PrivateDht {
    pub bootstrap: String,
    nodes: Vec<Dht>,
    runtime: tokio::runtime::Runtime,
}

impl PrivateDht {
    pub fn start(n: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let nodes = runtime.block_on(async {
            let first = Dht::builder().build().await.unwrap();
            let boot = [first.local_addr()];
            let mut nodes = vec![first];
            for _ in 1..n {
                let node = Dht::builder().bootstrap(&boot).build().await.unwrap();
                node.bootstrapped().await.unwrap();
                nodes.push(node);
            }
            for node in &nodes {
                node.find_node(node.id()).await.unwrap();
            }
            nodes
        });
        let bootstrap = nodes
            .iter()
            .map(|n| n.local_addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        Self {
            bootstrap,
            nodes,
            runtime,
        }
    }
}

impl Drop for PrivateDht {
    fn drop(&mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        self.runtime.block_on(async {
            for n in nodes {
                n.shutdown().await;
            }
        });
    }
}

/// A background `swarmfs` process, killed when dropped.
pub struct Background {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Background {
    /// Starts `swarmfs args...` and waits for its first stdout line.
    pub fn start(args: &[&str]) -> (Self, String) {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut bg = Self { child, lines: rx };
        let first = bg.next_line();
        (bg, first)
    }

    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let status = self.child.try_wait().unwrap();
                panic!("no line from the background swarmfs (status {status:?})");
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `swarmfs args...` to completion (at most 120 s).
pub fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let started = std::time::Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => {
            eprintln!("swarmfs {args:?}: {:.2?}", started.elapsed());
            out.unwrap()
        }
        Err(_) => {
            // Only the process this test started, by its id.
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("swarmfs {args:?} did not finish within 120 s");
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts success and shows stderr when not.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}; stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

/// The magnet without its `x.pe` peers, and those peers.
pub fn split_peers(magnet: &str) -> (String, Vec<String>) {
    let (head, query) = magnet.split_once('?').unwrap();
    let mut kept = Vec::new();
    let mut peers = Vec::new();
    for kv in query.split('&') {
        match kv.strip_prefix("x.pe=") {
            Some(p) => peers.push(p.replace("%3A", ":").replace("%3a", ":")),
            None => kept.push(kv),
        }
    }
    (format!("{head}?{}", kept.join("&")), peers)
}

/// Deterministic bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}
