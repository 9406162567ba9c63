//! Runs each example without arguments (its offline demo on 127.0.0.1) and checks that it
//! exits cleanly after printing its last step.
//!
//! `cargo test -p swarmfs-examples` builds the examples before running this test (cargo builds
//! examples with the tests); the binaries are found beside the test's own executable.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/<name>`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/examples_smoke-<hash> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("examples");
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn run(name: &str, last_line: &str) {
    let bin = example(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p swarmfs-examples` (it builds the examples)",
        bin.display()
    );
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn example");
    // The examples give up by themselves after 120 s; this is a backstop.
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("example {name} still running after 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "--- {name} ({:.1?}) ---\n{stdout}{stderr}",
        started.elapsed()
    );
    assert!(out.status.success(), "example {name} failed: {stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with(last_line)),
        "example {name} did not print {last_line:?}"
    );
}

#[test]
fn lookup_example_runs_offline() {
    run("lookup", "[lookup] done");
}

#[test]
fn seed_example_runs_offline() {
    run("seed", "[seed] done");
}

#[test]
fn publish_example_runs_offline() {
    run("publish", "[publish] done");
}
