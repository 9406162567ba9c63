//! The real npm `webtorrent-remote` 2.1.0 client (its `client.js`, fetched with `npm pack`)
//! drives the swarmfs server over newline-delimited JSON on loopback TCP, and over WebSocket
//! (node's built-in WebSocket, `--experimental-websocket` on node 20). Prints SKIP and passes
//! when node or npm (or the registry) is unavailable.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use swarmfs_remote::{TcpServer, WsServer};

/// `client.js` of webtorrent-remote 2.1.0: `$WEBTORRENT_REMOTE_DIR/client.js` if set, else
/// `npm pack` into a temporary directory and unpack it.
fn client_js(tag: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("WEBTORRENT_REMOTE_DIR") {
        let p = PathBuf::from(dir).join("client.js");
        return p.exists().then_some(p);
    }
    let dir = std::env::temp_dir().join(format!("swarmfs-wtr-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let ok = Command::new("npm")
        .args(["pack", "webtorrent-remote@2.1.0", "--silent"])
        .current_dir(&dir)
        .output()
        .ok()?
        .status
        .success();
    if !ok {
        return None;
    }
    let tar = Command::new("tar")
        .args(["xzf", "webtorrent-remote-2.1.0.tgz"])
        .current_dir(&dir)
        .status()
        .ok()?;
    let p = dir.join("package/client.js");
    (tar.success() && p.exists()).then_some(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_client_drives_the_server() {
    drive(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_client_drives_the_server_over_websocket() {
    let has_ws = Command::new("node")
        .args([
            "--experimental-websocket",
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ws {
        println!("SKIP: this node has no WebSocket client");
        return;
    }
    drive(true).await;
}

async fn drive(ws: bool) {
    if Command::new("node").arg("--version").output().is_err() {
        println!("SKIP: node not available");
        return;
    }
    let Some(js) = tokio::task::spawn_blocking(move || client_js(if ws { "ws" } else { "tcp" }))
        .await
        .unwrap()
    else {
        println!("SKIP: webtorrent-remote@2.1.0 could not be fetched with npm pack");
        return;
    };
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "npm", 200_000, 4).await;
    let (server, router) = server(fast_config()).await;
    let local = "127.0.0.1:0".parse().unwrap();
    let (_tcp, _ws, port) = if ws {
        let w = WsServer::bind(local, None, server.clone(), router)
            .await
            .unwrap();
        let port = w.local_addr().port();
        (None, Some(w), port)
    } else {
        let t = TcpServer::bind(local, None, server.clone(), router)
            .await
            .unwrap();
        let port = t.local_addr().port();
        (Some(t), None, port)
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/drive.js");
    let mut node = tokio::process::Command::new("node");
    if ws {
        node.arg("--experimental-websocket");
    }
    node.arg(&script)
        .arg(&js)
        .arg(port.to_string())
        .arg(&magnet)
        .arg(if ws { "ws" } else { "tcp" });
    let out = tokio::time::timeout(Duration::from_secs(60), node.output())
        .await
        .expect("node timed out")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("OK "))
        .expect("no OK line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let seen: Vec<&str> = v["seen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for ev in ["subscribed", "infohash", "metadata", "done"] {
        assert!(seen.contains(&ev), "{ev} not seen: {seen:?}");
    }
    assert_eq!(v["status"], 206);
    let want: String = data[10..20].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["body"], want);
    assert_eq!(v["name"], "npm");
    assert_eq!(v["length"], data.len());
    assert_eq!(v["progress"], 1.0);
    assert_eq!(v["family"], "IPv4");
    assert!(magnet.contains(v["infoHash"].as_str().unwrap()));
    // The node client destroyed itself: its torrent goes after the grace period.
    assert!(eventually(Duration::from_secs(10), || server.torrent_count() == 0).await);
    server.shutdown().await;
    seeder.stop().await;
    if std::env::var_os("WEBTORRENT_REMOTE_DIR").is_none() {
        if let Some(dir) = js.parent().and_then(|p| p.parent()) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    println!(
        "npm webtorrent-remote 2.1.0 client ({}) saw {seen:?}",
        if ws { "websocket" } else { "tcp" }
    );
}
