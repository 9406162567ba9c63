//! The HTTP backend against the in-process test origin on loopback.

use std::sync::Arc;
use std::time::Duration;

use swarmfs_http_storage::testing::TestServer;
use swarmfs_http_storage::{HttpClient, HttpError, HttpOptions, HttpStorage};
use swarmfs_storage::conformance::pattern;
use swarmfs_storage::{StorageError, StorageFactory, StoragePath};

fn fast() -> HttpOptions {
    HttpOptions::default().backoff(Duration::from_millis(5))
}

#[tokio::test]
async fn range_reads_match_the_origin() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(1, 3 * 1024 * 1024 + 777);
    server.put("/f.bin", data.clone());
    for window in [0, 64 * 1024, 256 * 1024] {
        let client = HttpClient::new(fast().window(window));
        let f = client.open(&server.url("/f.bin")).await.unwrap();
        assert_eq!(f.len(), data.len() as u64);
        for (off, len) in [
            (0u64, 1usize),
            (5, 70_000),
            (1_000_000, 300_000),
            (data.len() as u64 - 10, 10),
        ] {
            let mut buf = vec![0u8; len];
            f.read_at(off, &mut buf).await.unwrap();
            assert_eq!(
                buf,
                data[off as usize..off as usize + len],
                "window {window} at {off}"
            );
        }
    }
}

#[tokio::test]
async fn adjacent_block_reads_coalesce_into_few_requests() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(2, 1024 * 1024);
    server.put("/f", data.clone());
    let opts = fast().window(256 * 1024).read_ahead(0);
    let f = HttpClient::new(opts).open(&server.url("/f")).await.unwrap();
    let before = server.range_requests();
    // 64 concurrent 16 KiB block reads over the whole 1 MiB file.
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            f.read_at(i * 16 * 1024, &mut buf).await.map(|_| buf)
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let buf = t.await.unwrap().unwrap();
        assert_eq!(buf, data[i * 16384..(i + 1) * 16384]);
    }
    let used = server.range_requests() - before;
    assert!(
        used <= 4,
        "64 block reads took {used} range requests (4 windows)"
    );

    // The same reads without coalescing: one request each.
    let g = HttpClient::new(fast().window(0))
        .open(&server.url("/f"))
        .await
        .unwrap();
    let before = server.range_requests();
    for i in 0..64u64 {
        let mut buf = vec![0u8; 16 * 1024];
        g.read_at(i * 16 * 1024, &mut buf).await.unwrap();
    }
    assert_eq!(server.range_requests() - before, 64);
}

#[tokio::test]
async fn connections_are_reused() {
    let server = TestServer::start().await.unwrap();
    server.put("/f", pattern(3, 100_000));
    let client = HttpClient::new(fast().window(0).max_connections_per_origin(1));
    let f = client.open(&server.url("/f")).await.unwrap();
    for i in 0..20 {
        let mut buf = [0u8; 100];
        f.read_at(i * 1000, &mut buf).await.unwrap();
    }
    assert_eq!(client.stats().connections, 1);
    assert_eq!(client.stats().requests, 21);
}

#[tokio::test]
async fn retries_a_503_burst_then_gives_up_on_a_long_one() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(4, 50_000);
    server.put("/f", data.clone());
    let client = HttpClient::new(fast().window(0).retries(3));
    let f = client.open(&server.url("/f")).await.unwrap();
    server.fail_next(3);
    let mut buf = vec![0u8; 1000];
    f.read_at(10, &mut buf).await.unwrap();
    assert_eq!(buf, data[10..1010]);
    assert_eq!(client.stats().retries, 3);
    server.fail_next(10);
    let err = f.read_at(10, &mut buf).await.unwrap_err();
    assert!(
        matches!(err, HttpError::Status { status: 503, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn changed_or_vanished_origin_is_a_typed_error() {
    let server = TestServer::start().await.unwrap();
    server.put("/f", pattern(5, 10_000));
    let client = HttpClient::new(fast().window(0));
    let f = client.open(&server.url("/f")).await.unwrap();
    server.put("/f", pattern(6, 10_000));
    let mut buf = [0u8; 10];
    let err = f.read_at(0, &mut buf).await.unwrap_err();
    assert!(
        matches!(err, HttpError::Changed { .. }) && err.is_origin_changed(),
        "{err}"
    );
    server.remove("/f");
    let err = f.read_at(0, &mut buf).await.unwrap_err();
    assert!(
        matches!(err, HttpError::Vanished { status: 404, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn origin_without_ranges_is_refused_at_open() {
    let server = TestServer::start().await.unwrap();
    server.put("/f", pattern(7, 10_000));
    server.set_no_range(true);
    let err = HttpClient::new(fast())
        .open(&server.url("/f"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::NoRangeSupport { status: 200, .. }),
        "{err}"
    );
    let err = HttpClient::new(fast())
        .open(&server.url("/missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Vanished { .. }), "{err}");
}

#[tokio::test]
async fn redirects_are_followed_at_open() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(8, 5000);
    server.put("/real", data.clone());
    server.redirect("/alias", "/real");
    let f = HttpClient::new(fast())
        .open(&server.url("/alias"))
        .await
        .unwrap();
    assert!(f.url().to_string().ends_with("/real"));
    let mut buf = vec![0u8; 5000];
    f.read_at(0, &mut buf).await.unwrap();
    assert_eq!(buf, data);
    server.redirect("/loop", "/loop");
    let err = HttpClient::new(fast())
        .open(&server.url("/loop"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Redirect { .. }), "{err}");
}

#[tokio::test]
async fn slow_origin_times_out_with_a_typed_error() {
    let server = TestServer::start().await.unwrap();
    server.put("/f", pattern(9, 5000));
    let client = HttpClient::new(fast().retries(0).timeout(Duration::from_millis(100)));
    let f = client.open(&server.url("/f")).await.unwrap();
    server.set_delay(Duration::from_millis(400));
    let mut buf = [0u8; 10];
    let err = f.read_at(0, &mut buf).await.unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn storage_face_reads_bounds_and_refuses_writes() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(10, 70_000);
    server.put("/a", data.clone());
    server.put("/empty", Vec::new());
    let a = StoragePath::new(["t", "a"]).unwrap();
    let e = StoragePath::new(["t", "empty"]).unwrap();
    let storage: Arc<dyn StorageFactory> = Arc::new(HttpStorage::new(
        HttpClient::new(fast()),
        [
            (a.clone(), server.url("/a")),
            (e.clone(), server.url("/empty")),
        ],
    ));
    let f = storage.open(&a).await.unwrap();
    assert_eq!(f.len().await.unwrap(), 70_000);
    let mut buf = vec![0u8; 1000];
    f.read_at(69_000, &mut buf).await.unwrap();
    assert_eq!(buf, data[69_000..]);
    // A read past the end is OutOfBounds, never padded.
    let err = f.read_at(69_001, &mut buf).await.unwrap_err();
    assert!(err.is_out_of_bounds(), "{err}");
    let err = f.read_at(u64::MAX, &mut buf).await.unwrap_err();
    assert!(matches!(err, StorageError::Overflow { .. }), "{err}");
    // Shared handles see the same file; stamps are stable.
    let g = storage.open(&a).await.unwrap();
    assert_eq!(f.stamp().await.unwrap(), g.stamp().await.unwrap());
    // Writes are a typed read-only error.
    for err in [
        f.write_at(0, b"x").await.unwrap_err(),
        f.delete_range(0, 1).await.unwrap_err(),
        f.set_len(1).await.unwrap_err(),
    ] {
        assert!(
            matches!(
                HttpError::from_storage(&err),
                Some(HttpError::ReadOnly { .. })
            ),
            "{err}"
        );
    }
    let z = storage.open(&e).await.unwrap();
    assert_eq!(z.len().await.unwrap(), 0);
    let unmapped = StoragePath::new(["nope"]).unwrap();
    let err = storage.open(&unmapped).await.unwrap_err();
    assert!(
        matches!(
            HttpError::from_storage(&err),
            Some(HttpError::NotMapped { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn sequential_reads_hit_the_read_ahead() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(11, 4 * 1024 * 1024);
    server.put("/f", data.clone());
    let client = HttpClient::new(fast().window(256 * 1024).read_ahead(4));
    let f = client.open(&server.url("/f")).await.unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..64u64 {
        f.read_at(i * 65536, &mut buf).await.unwrap();
        out.extend_from_slice(&buf);
    }
    assert_eq!(out, data);
    // Every byte fetched about once (windows, not blocks), in far fewer requests than reads.
    let stats = client.stats();
    assert!(stats.bytes_fetched <= data.len() as u64 + 1, "{stats:?}");
    assert!(stats.requests < 32, "{stats:?}");
}
