//! Deterministic simulated networks of sans-IO nodes (fake clock, latency, packet loss).

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::sim::Sim;
use swarmfs_dht::{ErrorCode, Event, Id, ImmutableItem, Item, K, MutableItem, Value};

fn converge(nodes: usize, loss: f64, seed: u64) -> (usize, f64) {
    let mut sim = Sim::new(nodes, loss, seed);
    sim.bootstrap_all();
    let routing: usize = sim.nodes.iter().map(|n| n.stats().routing_nodes).sum();
    assert!(
        routing / sim.nodes.len() >= 3 * K,
        "tables too small: {routing}"
    );
    let mut rng = StdRng::seed_from_u64(seed + 99);
    let (mut exact, mut overlap_total) = (0, 0);
    let lookups = 20;
    for l in 0..lookups {
        let target = Id::random(&mut rng);
        let from = (l * 37 + 11) % sim.nodes.len();
        let now = sim.now;
        let op = sim.nodes[from].find_node(now, target);
        let (outcome, _) = sim.wait(from, op);
        let found: HashSet<Id> = outcome.closest.iter().map(|n| n.id).collect();
        let truth: Vec<Id> = sim
            .true_closest(&target, K + 1)
            .into_iter()
            .filter(|id| *id != sim.nodes[from].id())
            .take(K)
            .collect();
        exact += usize::from(outcome.closest[0].id == truth[0]);
        overlap_total += truth.iter().filter(|id| found.contains(id)).count();
    }
    (exact, overlap_total as f64 / lookups as f64)
}

#[test]
fn lookups_converge_to_the_true_closest_nodes() {
    let (exact, overlap) = converge(200, 0.0, 1);
    assert_eq!(
        exact, 20,
        "every lookup finds the closest node without loss"
    );
    assert!(
        overlap >= 7.5,
        "mean overlap with the true {K} closest: {overlap}"
    );
}

#[test]
fn lookups_converge_under_packet_loss() {
    // 5% loss each way: a lost query or reply drops that candidate (no retries), so allow a miss.
    let (exact, overlap) = converge(250, 0.05, 7);
    assert!(exact >= 17, "closest node found in {exact}/20 lookups");
    assert!(
        overlap >= 6.5,
        "mean overlap with the true {K} closest: {overlap}"
    );
}

#[test]
fn announced_peers_and_immutable_items_are_found_under_loss() {
    let mut sim = Sim::new(200, 0.05, 2);
    sim.bootstrap_all();
    announced_peers_are_found(&mut sim);
    immutable_items_stored_and_retrieved(&mut sim);
}

fn announced_peers_are_found(sim: &mut Sim) {
    let info_hash = Id::sha1(b"swarmfs sim torrent");
    let announcers = [5usize, 77, 150];
    for (n, &i) in announcers.iter().enumerate() {
        let now = sim.now;
        let op = sim.nodes[i].announce_peer(now, info_hash, Some(7000 + n as u16));
        let (outcome, _) = sim.wait(i, op);
        assert!(
            outcome.stored >= K / 2,
            "announce stored on {} nodes",
            outcome.stored
        );
    }
    // implied_port: the DHT socket's own port is announced.
    let now = sim.now;
    let op = sim.nodes[9].announce_peer(now, info_hash, None);
    sim.wait(9, op);
    let now = sim.now;
    let op = sim.nodes[120].get_peers(now, info_hash);
    let (_, events) = sim.wait(120, op);
    let peers: HashSet<SocketAddr> = events
        .iter()
        .flat_map(|e| match e {
            Event::Peers { peers, .. } => peers.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut expect: HashSet<SocketAddr> = announcers
        .iter()
        .enumerate()
        .map(|(n, &i)| SocketAddr::new(sim.addrs[i].ip(), 7000 + n as u16))
        .collect();
    expect.insert(sim.addrs[9]);
    assert_eq!(peers, expect);
}

fn immutable_items_stored_and_retrieved(sim: &mut Sim) {
    let item = ImmutableItem::new(Value::from_bencode(b"d3:foo3:bare".to_vec()).unwrap());
    let now = sim.now;
    let op = sim.nodes[3].put_immutable(now, item.clone());
    let (outcome, _) = sim.wait(3, op);
    assert!(outcome.stored >= K / 2, "stored on {}", outcome.stored);
    let now = sim.now;
    let op = sim.nodes[190].get_immutable(now, item.target());
    let (outcome, _) = sim.wait(190, op);
    assert_eq!(outcome.item, Some(Item::Immutable(item)));
    let now = sim.now;
    let op = sim.nodes[190].get_immutable(now, Id::sha1(b"never stored"));
    assert_eq!(sim.wait(190, op).0.item, None);
}

#[test]
fn mutable_items_seq_cas_and_bep46() {
    // No loss: every put reaches the same K closest nodes, so CAS and seq checks are exact.
    let mut sim = Sim::new(200, 0.0, 4);
    sim.bootstrap_all();
    let key = SigningKey::from_bytes(&[0x46; 32]);
    let salt = b"bep46";
    let sign = |seq, ih: u8| MutableItem::sign(&key, salt, seq, Value::bep46(&[ih; 20])).unwrap();
    let put = |sim: &mut Sim, i: usize, item: MutableItem, cas| {
        let now = sim.now;
        let op = sim.nodes[i].put_mutable(now, item, cas);
        sim.wait(i, op).0
    };
    let get = |sim: &mut Sim, i: usize| {
        let now = sim.now;
        let op = sim.nodes[i].get_mutable(now, &key.verifying_key().to_bytes(), salt);
        match sim.wait(i, op).0.item {
            Some(Item::Mutable(item)) => Some(item),
            None => None,
            other => panic!("{other:?}"),
        }
    };
    let first = put(&mut sim, 10, sign(1, 1), None);
    assert!(
        first.stored >= K / 2 && first.errors.is_empty(),
        "{first:?}"
    );
    let got = get(&mut sim, 180).unwrap();
    assert_eq!(got.seq(), 1);
    assert_eq!(got.value().bep46_info_hash(), Some([1; 20]));

    let second = put(&mut sim, 11, sign(2, 2), Some(1));
    assert!(second.stored >= K / 2, "{second:?}");
    let cas_fail = put(&mut sim, 12, sign(3, 3), Some(1));
    assert_eq!(cas_fail.stored, 0, "{cas_fail:?}");
    assert!(cas_fail.errors.len() >= K / 2, "{cas_fail:?}");
    assert!(
        cas_fail
            .errors
            .iter()
            .all(|e| e.code == ErrorCode::CasMismatch),
        "{cas_fail:?}"
    );
    let stale = put(&mut sim, 13, sign(1, 9), None);
    assert_eq!(stale.stored, 0, "{stale:?}");
    assert!(
        stale
            .errors
            .iter()
            .all(|e| e.code == ErrorCode::SequenceTooLow),
        "{stale:?}"
    );

    let got = get(&mut sim, 199).unwrap();
    assert_eq!(
        (got.seq(), got.value().bep46_info_hash()),
        (2, Some([2; 20]))
    );
    got.verify().unwrap();
}

#[test]
fn read_only_nodes_look_up_but_stay_out_of_tables() {
    let mut sim = Sim::with_config(60, 0.0, 5, |i, c| c.read_only = i >= 50);
    sim.bootstrap_all();
    let ro_ids: HashSet<Id> = sim.nodes[50..].iter().map(|n| n.id()).collect();
    for node in &sim.nodes[..50] {
        let now = sim.now;
        assert!(
            node.routing_nodes(now)
                .iter()
                .all(|n| !ro_ids.contains(&n.id))
        );
    }
    assert!(sim.nodes[55].stats().routing_nodes >= K);
    let target = sim.nodes[20].id();
    let now = sim.now;
    let op = sim.nodes[55].find_node(now, target);
    let (outcome, _) = sim.wait(55, op);
    assert_eq!(outcome.closest[0].id, target);
}

#[test]
fn heavy_loss_still_finishes_every_lookup() {
    let mut sim = Sim::new(100, 0.3, 6);
    sim.bootstrap_all();
    let now = sim.now;
    let op = sim.nodes[42].find_node(now, Id::sha1(b"x"));
    let (outcome, _) = sim.wait(42, op);
    assert!(!outcome.closest.is_empty());
    sim.run_for(Duration::from_secs(60));
    assert!(sim.nodes.iter().all(|n| n.stats().lookups <= 2));
}
