//! Choking rounds: who is unchoked when, optimistic rotation, seeding, interest rules.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::{ChokeAction, ChokeCandidate, ChokeMode, Choker, ChokerConfig, PeerKey, Rng};

fn peer(k: u64, interested: bool, down: f64, up: f64, connected_at: Instant) -> ChokeCandidate {
    ChokeCandidate {
        peer: PeerKey(k),
        interested,
        download_rate: down,
        upload_rate: up,
        connected_at,
    }
}

fn actions(c: &mut Choker) -> Vec<ChokeAction> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn unchoked(c: &Choker) -> BTreeSet<u64> {
    c.unchoked().map(|p| p.0).collect()
}

#[test]
fn leeching_unchokes_best_uploaders_to_us_plus_one_optimistic() {
    let t0 = Instant::now();
    let old = t0 - Duration::from_secs(600);
    let peers: Vec<ChokeCandidate> = (1..=6)
        .map(|k| peer(k, true, 100.0 * k as f64, 1000.0 - k as f64, old))
        .collect();
    let mut c = Choker::new(ChokerConfig::default());
    let mut rng = Rng::new(1);
    assert_eq!(c.poll_timeout(), None, "first round due at once");
    c.handle_timeout(t0, &peers, ChokeMode::Leeching, &mut rng);
    let opt = c.optimistic().unwrap().0;
    assert!(
        (1..=3).contains(&opt),
        "optimistic is outside the top 3: {opt}"
    );
    let mut expected: BTreeSet<u64> = [4, 5, 6].into();
    expected.insert(opt);
    assert_eq!(unchoked(&c), expected);
    let mut sent = actions(&mut c);
    sent.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|a| matches!(a, ChokeAction::Unchoke(_))));
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(10)));
}

#[test]
fn seeding_ranks_by_upload_rate() {
    let t0 = Instant::now();
    let old = t0 - Duration::from_secs(600);
    let peers: Vec<ChokeCandidate> = (1..=6)
        .map(|k| peer(k, true, 0.0, 100.0 * (7 - k) as f64, old))
        .collect();
    let mut c = Choker::new(ChokerConfig::default());
    c.round(t0, &peers, ChokeMode::Seeding, &mut Rng::new(2));
    let u = unchoked(&c);
    assert!([1, 2, 3].iter().all(|k| u.contains(k)), "{u:?}");
    assert_eq!(u.len(), 4);
}

#[test]
fn rounds_follow_rates_and_optimistic_rotates_every_30s() {
    let t0 = Instant::now();
    let old = t0 - Duration::from_secs(600);
    let mut peers: Vec<ChokeCandidate> = (1..=8)
        .map(|k| peer(k, true, 100.0 * k as f64, 0.0, old))
        .collect();
    let mut c = Choker::new(ChokerConfig::default());
    let mut rng = Rng::new(3);
    c.handle_timeout(t0, &peers, ChokeMode::Leeching, &mut rng);
    actions(&mut c);
    let first_opt = c.optimistic().unwrap();
    // Nothing happens before the round is due.
    c.handle_timeout(
        t0 + Duration::from_secs(9),
        &peers,
        ChokeMode::Leeching,
        &mut rng,
    );
    assert_eq!(actions(&mut c), vec![]);
    // At 10 s a slow peer (not the optimistic one) has become the fastest: it is unchoked, and
    // peer 6 (now 4th) is choked unless it is the optimistic one.
    let promoted = (1..=5).map(PeerKey).find(|&p| p != first_opt).unwrap();
    peers[promoted.0 as usize - 1].download_rate = 10_000.0;
    let at10 = t0 + Duration::from_secs(10);
    c.handle_timeout(at10, &peers, ChokeMode::Leeching, &mut rng);
    assert!(c.is_unchoked(promoted));
    assert!(c.is_unchoked(PeerKey(7)) && c.is_unchoked(PeerKey(8)));
    let acts = actions(&mut c);
    if first_opt != PeerKey(6) {
        assert!(acts.contains(&ChokeAction::Choke(PeerKey(6))), "{acts:?}");
    }
    assert_eq!(c.optimistic(), Some(first_opt), "not rotated before 30 s");
    // The optimistic slot keeps its peer until 30 s unless that peer joined the top 3.
    let opt10 = first_opt;
    c.handle_timeout(
        t0 + Duration::from_secs(20),
        &peers,
        ChokeMode::Leeching,
        &mut rng,
    );
    assert_eq!(c.optimistic(), Some(opt10));
    c.handle_timeout(
        t0 + Duration::from_secs(30),
        &peers,
        ChokeMode::Leeching,
        &mut rng,
    );
    let opt30 = c.optimistic().unwrap();
    assert_ne!(opt30, opt10, "rotated at 30 s");
    assert!(![promoted.0, 7, 8].contains(&opt30.0));
    assert_eq!(c.unchoked().count(), 4);
}

#[test]
fn interest_rules() {
    let t0 = Instant::now();
    let old = t0 - Duration::from_secs(600);
    let peers = vec![
        peer(1, true, 300.0, 0.0, old),
        peer(2, true, 200.0, 0.0, old),
        peer(3, true, 100.0, 0.0, old),
        peer(4, false, 1000.0, 0.0, old), // not interested but better than the worst regular
        peer(5, false, 50.0, 0.0, old),   // not interested, slower: stays choked
    ];
    let mut c = Choker::new(ChokerConfig::default());
    c.round(t0, &peers, ChokeMode::Leeching, &mut Rng::new(4));
    assert_eq!(
        unchoked(&c),
        [1, 2, 3, 4].into(),
        "no interested peer is left for optimistic"
    );
    assert_eq!(c.optimistic(), None);
    // The optimistic peer leaves: forgotten without an action.
    c.handle_peer_gone(PeerKey(4));
    assert!(!c.is_unchoked(PeerKey(4)));
}

#[test]
fn new_peers_are_three_times_as_likely_to_be_optimistic() {
    let t0 = Instant::now();
    let old = t0 - Duration::from_secs(600);
    let config = ChokerConfig {
        regular_slots: 0,
        ..ChokerConfig::default()
    };
    let peers = vec![
        peer(1, true, 0.0, 0.0, t0), // new
        peer(2, true, 0.0, 0.0, old),
        peer(3, true, 0.0, 0.0, old),
    ];
    let mut rng = Rng::new(5);
    let trials = 6000;
    let new_chosen = (0..trials)
        .filter(|_| {
            let mut c = Choker::new(config.clone());
            c.round(t0, &peers, ChokeMode::Leeching, &mut rng);
            c.optimistic() == Some(PeerKey(1))
        })
        .count();
    let share = new_chosen as f64 / trials as f64;
    // Weights 3:1:1 give 60 %; uniform would give 33 %.
    assert!((0.56..0.64).contains(&share), "new peer share {share}");
}
