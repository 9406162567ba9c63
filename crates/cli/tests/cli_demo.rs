//! `swarmfs demo` runs offline and narrates every step.

mod support;

use support::{ok, run};

#[test]
fn demo_exits_zero_with_its_narration() {
    let out = ok(&run(&["demo"]));
    for step in [
        "[dht] private DHT of 4 nodes on 127.0.0.1",
        "[publisher] seeding magnet:?xt=urn:btih:",
        "[publisher] published as magnet:?xs=urn:btpk:",
        "[reader] resolved the key to ",
        "[reader] file /index.html (28 bytes)",
        "-> 206, 100 bytes match",
        "[reader] /index.html is now \"<h1>Hello again</h1>\"",
        "every step worked",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
}
