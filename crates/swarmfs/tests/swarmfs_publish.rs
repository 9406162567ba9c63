//! BEP 46 mutable magnets on a private loopback DHT: publish, resolve, update, conflicts.

mod support;

use std::time::Duration;

use swarmfs::{Archive, Keypair, LookupError, LookupOptions, PublishError};
use swarmfs_memory::MemoryStorage;

use support::{builder, client, dht_network, shutdown, within};

async fn draft(text: &str) -> Archive {
    let a = Archive::with_name("site", MemoryStorage::factory());
    a.write_file("/index.html", text).await.unwrap();
    a.write_file("/static/logo.txt", b"logo").await.unwrap();
    a
}

fn opts() -> LookupOptions {
    LookupOptions::default().timeout(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_resolve_and_follow_updates() {
    let nodes = within(30, dht_network(5)).await;
    let publisher = client(&nodes).await;
    let reader = client(&nodes).await;
    let keypair = Keypair::generate();

    for salt in [&b""[..], &b"blog"[..]] {
        let site = draft("v1").await;
        let url = within(30, publisher.seed(&site)).await.unwrap();
        let murl = within(30, publisher.publish(&url, &keypair, salt))
            .await
            .unwrap();
        let expect = format!("magnet:?xs=urn:btpk:{}", keypair.public_key_hex());
        if salt.is_empty() {
            assert_eq!(murl, expect);
        } else {
            assert_eq!(murl, format!("{expect}&s={}", hex::encode(salt)));
        }
        let v1 = reader.resolve(&murl).await.unwrap();
        assert_eq!(v1.seq, 1);
        assert_eq!(v1.magnet(), {
            let m = swarmfs_metainfo::Magnet::parse(&url).unwrap();
            swarmfs_metainfo::Magnet::from_info_hash(m.info_hash().unwrap()).to_string()
        });
        // Publishing the same torrent again stores nothing new.
        within(30, publisher.publish(&url, &keypair, salt))
            .await
            .unwrap();
        assert_eq!(reader.resolve(&murl).await.unwrap().seq, 1);

        // The reader opens the mutable magnet: a bare info-hash found through the DHT.
        let archive = within(30, reader.lookup(&murl, opts())).await.unwrap();
        assert_eq!(archive.info_hash(), Some(v1.info_hash));
        assert_eq!(archive.read_file("/index.html").await.unwrap(), b"v1");
        let mut updates = archive.updates().expect("opened from a mutable magnet");

        // Change one file and publish again: the next sequence number.
        site.write_file("/index.html", "v2").await.unwrap();
        let url2 = within(30, publisher.seed(&site)).await.unwrap();
        assert_ne!(url2, url);
        within(30, publisher.publish(&url2, &keypair, salt))
            .await
            .unwrap();
        let update = within(20, updates.next()).await.expect("an update");
        assert_eq!(update.seq, 2);
        assert_ne!(update.info_hash, v1.info_hash);
        assert_eq!(updates.latest(), Some(update.clone()));

        // Resolving again yields the newest version, and the old one keeps being seeded.
        let latest = within(30, reader.lookup(&murl, opts())).await.unwrap();
        assert_eq!(latest.info_hash(), Some(update.info_hash));
        assert_eq!(latest.read_file("/index.html").await.unwrap(), b"v2");
        assert_eq!(latest.read_file("/static/logo.txt").await.unwrap(), b"logo");
        assert_eq!(
            archive.read_file("/static/logo.txt").await.unwrap(),
            b"logo"
        );

        archive.close().await.unwrap();
        assert!(within(5, updates.next()).await.is_none(), "closed archive");
        latest.close().await.unwrap();
    }
    reader.stop().await;
    publisher.stop().await;
    assert_eq!(reader.live_tasks(), 0);
    assert_eq!(publisher.live_tasks(), 0);
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_conflict_instead_of_overwriting() {
    let nodes = within(30, dht_network(5)).await;
    let a = client(&nodes).await;
    let b = client(&nodes).await;
    let keypair = Keypair::generate();
    let url_a = within(30, a.seed(&draft("from a").await)).await.unwrap();
    let url_b = within(30, b.seed(&draft("from b").await)).await.unwrap();
    let murl = within(30, a.publish(&url_a, &keypair, b"shared"))
        .await
        .unwrap();

    // Both read version 1, then both try to replace it.
    let seen_a = a.resolve(&murl).await.unwrap();
    let seen_b = b.resolve(&murl).await.unwrap();
    assert_eq!((seen_a.seq, seen_b.seq), (1, 1));
    within(
        30,
        a.publish_replacing(&url_b, &keypair, b"shared", Some(seen_a.seq)),
    )
    .await
    .unwrap();
    let r = within(
        30,
        b.publish_replacing(&url_a, &keypair, b"shared", Some(seen_b.seq)),
    )
    .await;
    assert!(
        matches!(r, Err(PublishError::Conflict { expected: Some(1) })),
        "{r:?}"
    );
    let now = b.resolve(&murl).await.unwrap();
    assert_eq!(now.seq, 2);
    assert_eq!(now.magnet(), {
        let m = swarmfs_metainfo::Magnet::parse(&url_b).unwrap();
        swarmfs_metainfo::Magnet::from_info_hash(m.info_hash().unwrap()).to_string()
    });
    // A plain publish reads the current version first and succeeds.
    within(30, b.publish(&url_a, &keypair, b"shared"))
        .await
        .unwrap();
    assert_eq!(a.resolve(&murl).await.unwrap().seq, 3);

    a.stop().await;
    b.stop().await;
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_item_is_kept_alive() {
    let nodes = within(30, dht_network(4)).await;
    let mut b = builder(&nodes);
    b.republish_interval(Duration::from_secs(2));
    let publisher = b.build().await.unwrap();
    let keypair = Keypair::generate();
    let url = within(30, publisher.seed(&draft("alive").await))
        .await
        .unwrap();
    let murl = within(30, publisher.publish(&url, &keypair, b""))
        .await
        .unwrap();
    // A node that joins after the put holds nothing until the item is stored again (the
    // network is smaller than a lookup's 8 closest nodes, so it is among them).
    let late = swarmfs_dht::Dht::builder()
        .bootstrap(&[nodes[0].local_addr()])
        .build()
        .await
        .unwrap();
    late.bootstrapped().await.unwrap();
    for n in &nodes {
        n.find_node(n.id()).await.unwrap();
    }
    assert_eq!(late.stats().await.unwrap().stored_items, 0);
    within(10, async {
        while late.stats().await.unwrap().stored_items == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let item = late
        .get_mutable(&keypair.public_key(), b"")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.seq(), 1);
    assert_eq!(publisher.resolve(&murl).await.unwrap().seq, 1);
    publisher.stop().await;
    assert_eq!(publisher.live_tasks(), 0);
    late.shutdown().await;
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutable_lookup_errors_are_typed() {
    let nodes = within(30, dht_network(3)).await;
    let reader = client(&nodes).await;
    let nobody = Keypair::generate();
    let murl = format!("magnet:?xs=urn:btpk:{}", nobody.public_key_hex());
    assert!(matches!(
        within(30, reader.lookup(&murl, opts())).await,
        Err(LookupError::NoItem { .. })
    ));
    assert!(matches!(
        reader.publish(&murl, &nobody, b"").await,
        Err(PublishError::NoInfoHash)
    ));
    let url = format!("magnet:?xt=urn:btih:{}", "cd".repeat(20));
    assert!(matches!(
        reader.publish(&url, &nobody, &[0u8; 65]).await,
        Err(PublishError::SaltTooLong { len: 65 })
    ));
    let mut no_dht = builder(&nodes);
    no_dht.dht(false);
    let offline = no_dht.build().await.unwrap();
    assert!(offline.dht().is_none());
    assert!(matches!(
        offline.lookup(&murl, opts()).await,
        Err(LookupError::NoDht)
    ));
    assert!(matches!(
        offline.publish(&url, &nobody, b"").await,
        Err(PublishError::NoDht)
    ));
    offline.stop().await;
    reader.stop().await;
    shutdown(&nodes).await;
}
