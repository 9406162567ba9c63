//! The server's state, sans-IO: peers, topics, offers, inboxes, rate limits and counters.
//! Every method takes `now`, so expiry and rate limits are tested with a fake clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::api::{
    Answer, AnswerRequest, AnswerResponse, Credentials, Limits, Offer, PublishRequest,
    PublishResponse, QueryRequest, QueryResponse, Stats, WithdrawResponse,
};
use crate::bloom::BloomFilter;
use crate::error::RequestError;
use crate::limit::TokenBucket;

/// A topic: a v1 info-hash.
pub(crate) type Topic = [u8; 20];

/// Parses a topic path segment (40 hex digits, either case).
pub(crate) fn parse_topic(s: &str) -> Result<Topic, RequestError> {
    let mut t = [0u8; 20];
    if s.len() != 40 {
        return Err(RequestError::bad("topic must be 40 hex digits"));
    }
    hex::decode_to_slice(s, &mut t)
        .map_err(|_| RequestError::bad("topic must be 40 hex digits"))?;
    Ok(t)
}

#[derive(Debug)]
struct Peer {
    secret: [u8; 32],
    bucket: TokenBucket,
    topics: HashSet<Topic>,
    inbox: VecDeque<Answer>,
    last_seen: Instant,
}

#[derive(Debug)]
struct Entry {
    addrs: Vec<std::net::SocketAddr>,
    signal: Option<String>,
    expires: Instant,
}

/// All server state.
#[derive(Debug)]
pub(crate) struct Store {
    limits: Limits,
    peers: HashMap<String, Peer>,
    topics: HashMap<Topic, HashMap<String, Entry>>,
    register_bucket: TokenBucket,
    stats: Stats,
    /// Live offers, all topics.
    offers_total: usize,
    /// Bytes of signaling blobs held (offers and inboxes).
    signal_bytes: usize,
}

impl Store {
    pub(crate) fn new(limits: Limits, now: Instant) -> Self {
        Store {
            register_bucket: TokenBucket::new(limits.register_burst, limits.register_per_sec, now),
            limits,
            peers: HashMap::new(),
            topics: HashMap::new(),
            stats: Stats::default(),
            offers_total: 0,
            signal_bytes: 0,
        }
    }

    /// Registers a new peer.
    pub(crate) fn register(&mut self, now: Instant) -> Result<Credentials, RequestError> {
        if !self.register_bucket.take(now) {
            self.stats.rejected_rate += 1;
            return Err(RequestError::RateLimited);
        }
        if self.peers.len() >= self.limits.max_peers {
            self.evict_idle_peers(now);
        }
        if self.peers.len() >= self.limits.max_peers {
            self.stats.rejected_full += 1;
            return Err(RequestError::Full { what: "peers" });
        }
        let mut rng = rand::thread_rng();
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let peer_id = hex::encode(id);
        self.peers.insert(
            peer_id.clone(),
            Peer {
                secret,
                bucket: TokenBucket::new(self.limits.rate_burst, self.limits.rate_per_sec, now),
                topics: HashSet::new(),
                inbox: VecDeque::new(),
                last_seen: now,
            },
        );
        self.stats.registrations += 1;
        Ok(Credentials {
            peer_id,
            secret: hex::encode(secret),
        })
    }

    /// Checks `peer_id`'s `secret` (constant time) and takes a token from its bucket.
    pub(crate) fn authenticate(
        &mut self,
        peer_id: &str,
        secret: &str,
        now: Instant,
    ) -> Result<(), RequestError> {
        let mut given = [0u8; 32];
        let ok_hex = secret.len() == 64 && hex::decode_to_slice(secret, &mut given).is_ok();
        let Some(peer) = self.peers.get_mut(peer_id) else {
            self.stats.rejected_auth += 1;
            return Err(RequestError::Unauthorized);
        };
        if !(ok_hex & ct_eq(&peer.secret, &given)) {
            self.stats.rejected_auth += 1;
            return Err(RequestError::Unauthorized);
        }
        if !peer.bucket.take(now) {
            self.stats.rejected_rate += 1;
            return Err(RequestError::RateLimited);
        }
        peer.last_seen = now;
        Ok(())
    }

    /// Publishes or refreshes `peer_id`'s offer on `topic`.
    pub(crate) fn publish(
        &mut self,
        peer_id: &str,
        topic: Topic,
        req: PublishRequest,
        now: Instant,
    ) -> Result<PublishResponse, RequestError> {
        if req.addrs.len() > self.limits.max_addrs {
            return Err(self.bad(format!("at most {} addrs", self.limits.max_addrs)));
        }
        if req.addrs.is_empty() && req.signal.is_none() {
            return Err(self.bad("an offer needs addrs or a signal"));
        }
        if req.signal.as_ref().map_or(0, String::len) > self.limits.max_signal_bytes {
            return Err(self.bad(format!(
                "signal longer than {} bytes",
                self.limits.max_signal_bytes
            )));
        }
        let ttl = req
            .ttl_secs
            .map_or(self.limits.default_ttl, Duration::from_secs)
            .clamp(Duration::from_secs(1), self.limits.max_ttl);
        self.expire_topic(topic, now);
        let Some(peer) = self.peers.get(peer_id) else {
            return Err(RequestError::Unauthorized);
        };
        let known = peer.topics.contains(&topic);
        if !known && peer.topics.len() >= self.limits.max_topics_per_peer {
            return Err(self.full("topics for this peer"));
        }
        let on_topic = self.topics.get(&topic);
        if on_topic.is_none() && self.topics.len() >= self.limits.max_topics {
            return Err(self.full("topics"));
        }
        let replaced = on_topic.and_then(|o| o.get(peer_id)).map(Entry::signal_len);
        if replaced.is_none() {
            if on_topic.map_or(0, HashMap::len) >= self.limits.max_offers_per_topic {
                return Err(self.full("offers on this topic"));
            }
            if self.offers_total >= self.limits.max_offers {
                return Err(self.full("offers"));
            }
        }
        let new_len = req.signal.as_ref().map_or(0, String::len);
        let bytes = self.signal_bytes - replaced.unwrap_or(0) + new_len;
        if bytes > self.limits.max_signal_total_bytes {
            return Err(self.full("signal memory"));
        }
        self.signal_bytes = bytes;
        self.offers_total += usize::from(replaced.is_none());
        self.topics.entry(topic).or_default().insert(
            peer_id.to_owned(),
            Entry {
                addrs: req.addrs,
                signal: req.signal,
                expires: now + ttl,
            },
        );
        if let Some(peer) = self.peers.get_mut(peer_id) {
            peer.topics.insert(topic);
        }
        self.stats.publishes += 1;
        Ok(PublishResponse {
            ttl_secs: ttl.as_secs(),
        })
    }

    /// Removes `peer_id`'s offer on `topic`.
    pub(crate) fn withdraw(&mut self, peer_id: &str, topic: Topic) -> WithdrawResponse {
        let withdrawn = self.remove_offer(peer_id, topic);
        if withdrawn {
            self.stats.offers_withdrawn += 1;
        }
        WithdrawResponse { withdrawn }
    }

    /// Offers on `topic` other than `peer_id`'s own, minus those in the bloom filter.
    pub(crate) fn query(
        &mut self,
        peer_id: &str,
        topic: Topic,
        req: &QueryRequest,
        now: Instant,
    ) -> Result<QueryResponse, RequestError> {
        let bloom = match &req.bloom {
            Some(w) => match BloomFilter::from_wire(w) {
                Ok(b) => Some(b),
                Err(e) => return Err(self.bad(e.to_string())),
            },
            None => None,
        };
        let limit = req
            .limit
            .unwrap_or(self.limits.default_query_limit)
            .clamp(1, self.limits.max_query_limit) as usize;
        self.expire_topic(topic, now);
        self.stats.queries += 1;
        let mut offers = Vec::new();
        let mut filtered = 0u64;
        if let Some(entries) = self.topics.get(&topic) {
            for (id, e) in entries {
                if id == peer_id {
                    continue;
                }
                if bloom.as_ref().is_some_and(|b| b.contains(id)) {
                    filtered += 1;
                    continue;
                }
                if offers.len() < limit {
                    offers.push(Offer {
                        peer_id: id.clone(),
                        addrs: e.addrs.clone(),
                        signal: e.signal.clone(),
                        expires_in_secs: e.expires.saturating_duration_since(now).as_secs(),
                    });
                }
            }
        }
        self.stats.offers_returned += offers.len() as u64;
        self.stats.offers_filtered += filtered;
        Ok(QueryResponse { offers, filtered })
    }

    /// Queues `from`'s answer in the inbox of the peer whose live offer on `topic` it answers.
    pub(crate) fn answer(
        &mut self,
        from: &str,
        topic: Topic,
        req: AnswerRequest,
        now: Instant,
    ) -> Result<AnswerResponse, RequestError> {
        if req.signal.len() > self.limits.max_signal_bytes {
            return Err(self.bad(format!(
                "signal longer than {} bytes",
                self.limits.max_signal_bytes
            )));
        }
        self.expire_topic(topic, now);
        let has_offer = self
            .topics
            .get(&topic)
            .is_some_and(|o| o.contains_key(&req.peer_id));
        if self.signal_bytes + req.signal.len() > self.limits.max_signal_total_bytes {
            return Err(self.full("signal memory"));
        }
        let Some(target) = self.peers.get_mut(&req.peer_id).filter(|_| has_offer) else {
            return Err(RequestError::bad(
                "no live offer from that peer on this topic",
            ));
        };
        let queued = target.inbox.len() < self.limits.max_inbox;
        if !queued && let Some(old) = target.inbox.pop_front() {
            self.signal_bytes -= old.signal.len();
        }
        self.signal_bytes += req.signal.len();
        target.inbox.push_back(Answer {
            topic: hex::encode(topic),
            from: from.to_owned(),
            signal: req.signal,
        });
        self.stats.answers += 1;
        Ok(AnswerResponse { queued })
    }

    /// Empties `peer_id`'s inbox.
    pub(crate) fn take_answers(&mut self, peer_id: &str) -> Vec<Answer> {
        let answers: Vec<Answer> = self
            .peers
            .get_mut(peer_id)
            .map(|p| p.inbox.drain(..).collect())
            .unwrap_or_default();
        self.signal_bytes -= answers.iter().map(|a| a.signal.len()).sum::<usize>();
        answers
    }

    /// Drops every expired offer.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let topics: Vec<Topic> = self.topics.keys().copied().collect();
        for t in topics {
            self.expire_topic(t, now);
        }
    }

    /// Current counters.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            peers: self.peers.len() as u64,
            topics: self.topics.len() as u64,
            offers: self.offers_total as u64,
            ..self.stats.clone()
        }
    }

    /// Counts a malformed request the store did not see (bad JSON, oversized body).
    pub(crate) fn count_bad(&mut self) {
        self.stats.rejected_bad += 1;
    }

    /// Counts a request without credentials.
    pub(crate) fn count_unauthorized(&mut self) {
        self.stats.rejected_auth += 1;
    }

    fn bad(&mut self, reason: impl Into<String>) -> RequestError {
        self.stats.rejected_bad += 1;
        RequestError::bad(reason)
    }

    fn full(&mut self, what: &'static str) -> RequestError {
        self.stats.rejected_full += 1;
        RequestError::Full { what }
    }

    fn expire_topic(&mut self, topic: Topic, now: Instant) {
        let Some(offers) = self.topics.get_mut(&topic) else {
            return;
        };
        let mut gone = Vec::new();
        let mut freed = 0;
        offers.retain(|id, e| {
            let live = e.expires > now;
            if !live {
                gone.push(id.clone());
                freed += e.signal_len();
            }
            live
        });
        self.signal_bytes -= freed;
        self.offers_total -= gone.len();
        if offers.is_empty() {
            self.topics.remove(&topic);
        }
        self.stats.offers_expired += gone.len() as u64;
        for id in gone {
            if let Some(p) = self.peers.get_mut(&id) {
                p.topics.remove(&topic);
            }
        }
    }

    fn remove_offer(&mut self, peer_id: &str, topic: Topic) -> bool {
        let Some(offers) = self.topics.get_mut(&topic) else {
            return false;
        };
        let removed = offers.remove(peer_id);
        if let Some(e) = &removed {
            self.signal_bytes -= e.signal_len();
            self.offers_total -= 1;
        }
        if offers.is_empty() {
            self.topics.remove(&topic);
        }
        if let Some(p) = self.peers.get_mut(peer_id) {
            p.topics.remove(&topic);
        }
        removed.is_some()
    }

    fn evict_idle_peers(&mut self, now: Instant) {
        let idle = self.limits.peer_idle;
        let mut freed = 0;
        self.peers.retain(|_, p| {
            let keep = !p.topics.is_empty() || now.saturating_duration_since(p.last_seen) < idle;
            if !keep {
                freed += p.inbox.iter().map(|a| a.signal.len()).sum::<usize>();
            }
            keep
        });
        self.signal_bytes -= freed;
    }
}

impl Entry {
    fn signal_len(&self) -> usize {
        self.signal.as_ref().map_or(0, String::len)
    }
}

/// Compares two equal-length secrets in time independent of where they differ.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    const T: Topic = [7; 20];

    fn offer(port: u16, ttl: u64) -> PublishRequest {
        PublishRequest {
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
            signal: None,
            ttl_secs: Some(ttl),
        }
    }

    #[test]
    fn offers_expire_after_their_ttl() {
        let t0 = Instant::now();
        let mut s = Store::new(Limits::default(), t0);
        let a = s.register(t0).expect("a");
        let b = s.register(t0).expect("b");
        s.publish(&a.peer_id, T, offer(1, 5), t0).expect("publish");
        let q = |s: &mut Store, at| {
            s.query(&b.peer_id, T, &QueryRequest::default(), at)
                .expect("query")
                .offers
                .len()
        };
        assert_eq!(q(&mut s, t0 + Duration::from_secs(4)), 1);
        assert_eq!(q(&mut s, t0 + Duration::from_secs(5)), 0);
        let st = s.stats();
        assert_eq!((st.offers, st.topics, st.offers_expired), (0, 0, 1));
    }

    #[test]
    fn sweep_drops_expired_offers_and_frees_peer_topics() {
        let t0 = Instant::now();
        let limits = Limits {
            max_topics_per_peer: 1,
            ..Limits::default()
        };
        let mut s = Store::new(limits, t0);
        let a = s.register(t0).expect("a");
        s.publish(&a.peer_id, T, offer(1, 2), t0).expect("publish");
        assert!(matches!(
            s.publish(&a.peer_id, [8; 20], offer(1, 2), t0),
            Err(RequestError::Full { .. })
        ));
        s.sweep(t0 + Duration::from_secs(3));
        assert_eq!(s.stats().offers, 0);
        s.publish(
            &a.peer_id,
            [8; 20],
            offer(1, 2),
            t0 + Duration::from_secs(3),
        )
        .expect("room again");
    }

    #[test]
    fn topic_and_offer_bounds_hold() {
        let t0 = Instant::now();
        let limits = Limits {
            max_topics: 3,
            max_offers_per_topic: 2,
            ..Limits::default()
        };
        let mut s = Store::new(limits, t0);
        let peers: Vec<_> = (0..4).map(|_| s.register(t0).expect("reg")).collect();
        for t in 0..3u8 {
            s.publish(&peers[0].peer_id, [t; 20], offer(1, 60), t0)
                .expect("publish");
        }
        assert!(
            s.publish(&peers[0].peer_id, [9; 20], offer(1, 60), t0)
                .is_err()
        );
        s.publish(&peers[1].peer_id, [0; 20], offer(2, 60), t0)
            .expect("second offer");
        assert!(
            s.publish(&peers[2].peer_id, [0; 20], offer(3, 60), t0)
                .is_err()
        );
        // A refresh of an existing offer is always allowed.
        s.publish(&peers[1].peer_id, [0; 20], offer(4, 60), t0)
            .expect("refresh");
        let st = s.stats();
        assert_eq!((st.topics, st.offers, st.rejected_full), (3, 4, 2));
    }

    #[test]
    fn auth_is_checked_and_rate_limited() {
        let t0 = Instant::now();
        let limits = Limits {
            rate_burst: 2.0,
            rate_per_sec: 1.0,
            ..Limits::default()
        };
        let mut s = Store::new(limits, t0);
        let a = s.register(t0).expect("a");
        let mut wrong = a.secret.clone().into_bytes();
        wrong[63] = if wrong[63] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).expect("ascii");
        assert!(matches!(
            s.authenticate(&a.peer_id, &wrong, t0),
            Err(RequestError::Unauthorized)
        ));
        assert!(s.authenticate(&a.peer_id, "short", t0).is_err());
        assert!(s.authenticate("nobody", &a.secret, t0).is_err());
        assert!(s.authenticate(&a.peer_id, &a.secret, t0).is_ok());
        assert!(s.authenticate(&a.peer_id, &a.secret, t0).is_ok());
        assert!(matches!(
            s.authenticate(&a.peer_id, &a.secret, t0),
            Err(RequestError::RateLimited)
        ));
        assert!(
            s.authenticate(&a.peer_id, &a.secret, t0 + Duration::from_secs(1))
                .is_ok()
        );
        let st = s.stats();
        assert_eq!((st.rejected_auth, st.rejected_rate), (3, 1));
    }

    #[test]
    fn answers_reach_the_offer_owner_bounded() {
        let t0 = Instant::now();
        let limits = Limits {
            max_inbox: 2,
            ..Limits::default()
        };
        let mut s = Store::new(limits, t0);
        let a = s.register(t0).expect("a");
        let b = s.register(t0).expect("b");
        let ans = |sig: &str| AnswerRequest {
            peer_id: a.peer_id.clone(),
            signal: sig.into(),
        };
        assert!(s.answer(&b.peer_id, T, ans("x"), t0).is_err());
        s.publish(&a.peer_id, T, offer(1, 60), t0).expect("publish");
        for sig in ["1", "2", "3"] {
            s.answer(&b.peer_id, T, ans(sig), t0).expect("answer");
        }
        let got = s.take_answers(&a.peer_id);
        let sigs: Vec<&str> = got.iter().map(|a| a.signal.as_str()).collect();
        assert_eq!(sigs, ["2", "3"]);
        assert_eq!(got[0].from, b.peer_id);
        assert!(s.take_answers(&a.peer_id).is_empty());
    }

    #[test]
    fn global_offer_and_signal_memory_bounds_hold() {
        let t0 = Instant::now();
        let limits = Limits {
            max_offers: 3,
            max_signal_total_bytes: 100,
            ..Limits::default()
        };
        let mut s = Store::new(limits, t0);
        let p: Vec<_> = (0..5).map(|_| s.register(t0).expect("reg")).collect();
        let with_sig = |n: usize| PublishRequest {
            addrs: vec![],
            signal: Some("s".repeat(n)),
            ttl_secs: Some(5),
        };
        s.publish(&p[0].peer_id, T, with_sig(60), t0)
            .expect("60 bytes");
        assert!(s.publish(&p[1].peer_id, T, with_sig(50), t0).is_err());
        // Replacing an offer frees its old blob first.
        s.publish(&p[0].peer_id, T, with_sig(90), t0)
            .expect("replace");
        s.publish(&p[1].peer_id, T, with_sig(10), t0)
            .expect("10 more");
        s.publish(&p[2].peer_id, [1; 20], offer(1, 5), t0)
            .expect("third");
        assert!(s.publish(&p[3].peer_id, [2; 20], offer(1, 5), t0).is_err());
        let ans = AnswerRequest {
            peer_id: p[0].peer_id.clone(),
            signal: "a".into(),
        };
        assert!(s.answer(&p[1].peer_id, T, ans.clone(), t0).is_err());
        assert!(s.withdraw(&p[1].peer_id, T).withdrawn);
        s.answer(&p[1].peer_id, T, ans, t0)
            .expect("room after withdraw");
        assert_eq!(s.signal_bytes, 91);
        s.sweep(t0 + Duration::from_secs(5));
        assert_eq!((s.offers_total, s.signal_bytes), (0, 1));
        s.take_answers(&p[0].peer_id);
        assert_eq!(s.signal_bytes, 0);
        s.publish(
            &p[3].peer_id,
            [2; 20],
            offer(1, 5),
            t0 + Duration::from_secs(5),
        )
        .expect("room again");
        assert_eq!(s.stats().offers, 1);
    }

    #[test]
    fn idle_peers_are_evicted_when_full() {
        let t0 = Instant::now();
        let limits = Limits {
            max_peers: 2,
            peer_idle: Duration::from_secs(10),
            ..Limits::default()
        };
        let mut s = Store::new(limits, t0);
        let a = s.register(t0).expect("a");
        let _b = s.register(t0).expect("b");
        s.publish(&a.peer_id, T, offer(1, 3600), t0)
            .expect("publish");
        assert!(s.register(t0).is_err());
        let c = s
            .register(t0 + Duration::from_secs(11))
            .expect("c evicts idle b");
        assert!(
            s.authenticate(&a.peer_id, &a.secret, t0 + Duration::from_secs(11))
                .is_ok()
        );
        assert!(
            s.authenticate(&c.peer_id, &c.secret, t0 + Duration::from_secs(11))
                .is_ok()
        );
        assert_eq!(s.stats().peers, 2);
    }
}
