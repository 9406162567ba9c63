//! Seeding a directory on disk and looking it up into file storage.

mod support;

use std::time::Duration;

use swarmfs::{LookupOptions, SeedError};

use support::{builder, client, dht_network, pattern, shutdown, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_a_directory_and_download_it_to_disk() {
    let nodes = within(30, dht_network(4)).await;
    let src = tempfile::tempdir().unwrap();
    let site = src.path().join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("index.html"), b"<p>disk</p>").unwrap();
    let blob = pattern(700_000, 3);
    std::fs::write(site.join("sub/a.bin"), &blob).unwrap();

    let publisher = client(&nodes).await;
    let url = within(30, publisher.seed_path(&site)).await.unwrap();
    assert!(url.contains("dn=site"), "{url}");

    let dest = tempfile::tempdir().unwrap();
    let mut b = builder(&nodes);
    b.storage_dir(dest.path());
    let reader = b.build().await.unwrap();
    let archive = within(
        30,
        reader.lookup(
            &url,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(archive.name(), "site");
    assert_eq!(
        archive.read_file("/index.html").await.unwrap(),
        b"<p>disk</p>"
    );
    assert_eq!(archive.read_file("/sub/a.bin").await.unwrap(), blob);
    within(30, archive.torrent().unwrap().wait_done())
        .await
        .unwrap();
    // Each looked-up torrent lives under its info-hash.
    let ih = archive.info_hash().unwrap().to_hex();
    let on_disk = std::fs::read(dest.path().join(&ih).join("site/sub/a.bin")).unwrap();
    assert_eq!(on_disk, blob);

    assert!(matches!(
        publisher.seed_path(src.path().join("missing")).await,
        Err(SeedError::BadDir { .. })
    ));
    reader.stop().await;
    publisher.stop().await;
    assert_eq!(reader.live_tasks() + publisher.live_tasks(), 0);
    shutdown(&nodes).await;
}
