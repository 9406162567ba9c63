//! `swarmfs bridge URL`: a file on an HTTP server seeded to a `swarmfs get` leecher.

mod support;

use support::{Background, ok, pattern, run, split_peers};
use swarmfs_http_storage::testing::TestServer;

#[test]
fn bridge_seeds_a_file_from_an_http_origin() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let origin = rt.block_on(TestServer::start()).unwrap();
    let data = pattern(3 * 1024 * 1024 + 777, 9);
    origin.put("/files/movie.bin", data.clone());
    let url = origin.url("/files/movie.bin");

    let (_bridge, magnet) = Background::start(&[
        "bridge",
        &url,
        "--no-dht",
        "--no-lsd",
        "--no-pex",
        "--bind",
        "127.0.0.1",
    ]);
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"), "{magnet}");
    let (bare, peers) = split_peers(&magnet);
    assert_eq!(peers.len(), 1, "the bridge names its own address: {magnet}");

    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_str().unwrap();
    ok(&run(&[
        "get", &bare, "--out", out_s, "--no-dht", "--no-lsd", "--peer", &peers[0],
    ]));
    let got = std::fs::read(out.path().join("movie.bin")).unwrap();
    assert!(got == data, "downloaded bytes differ from the origin's");
    assert!(
        origin.range_requests() > 0,
        "pieces came from the origin by range requests"
    );
}
