//! Third-party DHT nodes driven as child processes (libtorrent via python, mainline, node).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc;

/// A child process whose stdout lines arrive on a channel. Killed on drop.
pub struct External {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    pub seen: Vec<String>,
}

impl External {
    pub fn spawn(name: &str, program: &str, args: &[String]) -> std::io::Result<External> {
        Self::spawn_env(name, program, args, &[])
    }

    pub fn spawn_env(
        name: &str,
        program: &str,
        args: &[String],
        env: &[(&str, String)],
    ) -> std::io::Result<External> {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[{label}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(External {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits for a line satisfying `pred`; panics after `timeout` or at end of output.
    pub async fn expect(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("{}: timed out; output so far: {:#?}", self.name, self.seen)
                })
                .unwrap_or_else(|| panic!("{}: exited; output: {:#?}", self.name, self.seen));
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    /// Waits for the JSON line of `action` and parses it.
    pub async fn action(&mut self, action: &str, timeout: Duration) -> serde_json::Value {
        let is_action = |l: &str| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["action"] == action)
        };
        let line = self.expect(timeout, is_action).await;
        serde_json::from_str(&line).unwrap()
    }

    /// Closes stdin (ends `--duration -1` nodes) and waits for the final PASS/FAIL line.
    pub async fn finish(&mut self, timeout: Duration) -> String {
        self.stdin.take();
        self.expect(timeout, |l| l.starts_with("PASS") || l.starts_with("FAIL"))
            .await
    }
}

impl Drop for External {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lab scripts copied beside the tests.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// A `node_modules` holding bittorrent-dht: `$LAB_NODE_MODULES`, `tests/peers/node_modules`, or
/// the lab's `../shared/peers/node_modules`; `None` if `node` or the package is missing.
pub fn bittorrent_dht_modules() -> Option<PathBuf> {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        return None;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::var_os("LAB_NODE_MODULES").map(PathBuf::from),
        Some(peers_dir().join("node_modules")),
        Some(manifest.join("../../../shared/peers/node_modules")),
    ]
    .into_iter()
    .flatten()
    .find(|dir| dir.join("bittorrent-dht/package.json").exists())
}

/// True when `python3 -c "import libtorrent"` works.
pub fn have_libtorrent() -> bool {
    Command::new("python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lab scripts' `get_peers:` and `get_mutable:` actions for an info-hash announced with
/// `peer` and the BEP 44 item of `key` under `salt`.
pub fn read_actions(info_hash: &str, peer: &str, key: &[u8; 32], salt: &[u8]) -> Vec<String> {
    vec![
        format!("get_peers:{info_hash}:{peer}"),
        format!("get_mutable:{}:{}", hex(key), hex(salt)),
    ]
}

/// Waits for a node spawned with [`read_actions`] to answer both: `peer` is among the peers it
/// found, and the item it got has `seq`, a valid signature and the bencoded value `v_benc`. Then
/// the node must finish with PASS.
pub async fn assert_reads_peer_and_item(
    node: &mut External,
    peer: &str,
    seq: i64,
    v_benc: &[u8],
    timeout: Duration,
) {
    let got_peers = node.action("get_peers", timeout).await;
    let peers = got_peers["peers"].as_array().expect("peers array");
    assert!(peers.iter().any(|p| p == peer), "{got_peers}");
    let got = node.action("get_mutable", timeout).await;
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["seq"], seq);
    assert_eq!(got["sig_valid"], true);
    assert_eq!(got["v_benc"].as_str().expect("v_benc"), hex(v_benc));
    assert!(node.finish(timeout).await.starts_with("PASS"));
}
