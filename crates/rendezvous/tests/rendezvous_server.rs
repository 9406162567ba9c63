//! The rendezvous server over loopback: credentials, publish/query/bloom/limit, expiry,
//! withdraw, answers, rate limits and malformed requests.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;
use swarmfs_metainfo::InfoHash;
use swarmfs_rendezvous::api::{AnswerRequest, PublishRequest, QueryRequest};
use swarmfs_rendezvous::{
    BloomFilter, ClientError, Credentials, ErrorBody, Limits, RendezvousClient,
};

const TOPIC: InfoHash = InfoHash([0xab; 20]);

fn offer(port: u16) -> PublishRequest {
    PublishRequest {
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        signal: Some("v=0 opaque sdp".into()),
        ttl_secs: Some(60),
    }
}

async fn registered(c: &RendezvousClient, n: usize) -> Vec<Credentials> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(c.register().await.expect("register"));
    }
    v
}

fn status(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Status { status, code, .. } => (status, code),
        other => panic!("expected a status error, got {other}"),
    }
}

#[tokio::test]
async fn publish_query_excludes_self_and_honours_limit_and_bloom() {
    let s = server(Limits::default()).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let peers = registered(&c, 6).await;
    for (i, p) in peers.iter().enumerate() {
        c.publish(p, &TOPIC, &offer(1000 + i as u16))
            .await
            .expect("publish");
    }
    let me = &peers[0];
    let all = c
        .query(me, &TOPIC, &QueryRequest::default())
        .await
        .expect("query");
    assert_eq!(all.offers.len(), 5);
    assert!(all.offers.iter().all(|o| o.peer_id != me.peer_id));
    assert_eq!(all.offers[0].signal.as_deref(), Some("v=0 opaque sdp"));

    let limited = QueryRequest {
        bloom: None,
        limit: Some(2),
    };
    assert_eq!(
        c.query(me, &TOPIC, &limited)
            .await
            .expect("query")
            .offers
            .len(),
        2
    );

    let seen: Vec<&str> = all.offers[..3].iter().map(|o| o.peer_id.as_str()).collect();
    let bloom = BloomFilter::for_ids(seen.iter().copied(), 42).to_wire();
    let q = QueryRequest {
        bloom: Some(bloom),
        limit: None,
    };
    let rest = c.query(me, &TOPIC, &q).await.expect("query");
    assert_eq!(rest.filtered, 3);
    assert_eq!(rest.offers.len(), 2);
    assert!(
        rest.offers
            .iter()
            .all(|o| !seen.contains(&o.peer_id.as_str()))
    );

    let st = c.stats().await.expect("stats");
    assert_eq!((st.peers, st.topics, st.offers, st.publishes), (6, 1, 6, 6));
    assert_eq!(
        (st.queries, st.offers_returned, st.offers_filtered),
        (3, 9, 3)
    );
    assert_eq!(st, s.stats());
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401() {
    let s = server(Limits::default()).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let good = c.register().await.expect("register");
    let forged = Credentials {
        peer_id: good.peer_id.clone(),
        secret: "00".repeat(32),
    };
    let e = c
        .publish(&forged, &TOPIC, &offer(1))
        .await
        .expect_err("forged");
    assert_eq!(status(e), (401, "unauthorized".into()));
    let stranger = Credentials {
        peer_id: "nobody".into(),
        secret: good.secret.clone(),
    };
    assert_eq!(
        status(
            c.query(&stranger, &TOPIC, &QueryRequest::default())
                .await
                .expect_err("x")
        )
        .0,
        401
    );
    let (code, body) = raw(
        s.local_addr(),
        "POST",
        &format!("/v1/topics/{}/query", TOPIC.to_hex()),
        &[],
        b"{}",
    )
    .await;
    assert_eq!(code, 401);
    let err: ErrorBody = serde_json::from_slice(&body).expect("json error body");
    assert_eq!(err.code, "unauthorized");
    for h in ["Bearer", "Bearer :", "Basic abc", "Bearer a:b:c"] {
        let (code, _) = raw(
            s.local_addr(),
            "GET",
            "/v1/answers",
            &[("authorization", h)],
            b"",
        )
        .await;
        assert_eq!(code, 401, "{h}");
    }
    assert_eq!(s.stats().rejected_auth, 7);
    assert_eq!(s.stats().offers, 0);
}

#[tokio::test]
async fn offers_expire_after_their_ttl() {
    let s = server(Limits::default()).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let p = registered(&c, 2).await;
    let mut short = offer(1);
    short.ttl_secs = Some(1);
    assert_eq!(
        c.publish(&p[0], &TOPIC, &short)
            .await
            .expect("publish")
            .ttl_secs,
        1
    );
    let q = QueryRequest::default();
    assert_eq!(c.query(&p[1], &TOPIC, &q).await.expect("q").offers.len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        c.query(&p[1], &TOPIC, &q)
            .await
            .expect("q")
            .offers
            .is_empty()
    );
    let st = s.stats();
    assert_eq!((st.offers, st.topics, st.offers_expired), (0, 0, 1));
}

#[tokio::test]
async fn withdraw_removes_the_offer() {
    let s = server(Limits::default()).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let p = registered(&c, 2).await;
    c.publish(&p[0], &TOPIC, &offer(1)).await.expect("publish");
    assert!(c.withdraw(&p[0], &TOPIC).await.expect("withdraw").withdrawn);
    assert!(!c.withdraw(&p[0], &TOPIC).await.expect("withdraw").withdrawn);
    assert!(
        c.query(&p[1], &TOPIC, &QueryRequest::default())
            .await
            .expect("q")
            .offers
            .is_empty()
    );
    assert_eq!(s.stats().offers_withdrawn, 1);
}

#[tokio::test]
async fn answers_reach_the_offerer() {
    let s = server(Limits::default()).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let p = registered(&c, 2).await;
    let ans = AnswerRequest {
        peer_id: p[0].peer_id.clone(),
        signal: "answer sdp".into(),
    };
    assert_eq!(
        status(
            c.answer(&p[1], &TOPIC, &ans)
                .await
                .expect_err("no offer yet")
        )
        .0,
        400
    );
    c.publish(&p[0], &TOPIC, &offer(1)).await.expect("publish");
    assert!(c.answer(&p[1], &TOPIC, &ans).await.expect("answer").queued);
    let got = c.answers(&p[0]).await.expect("answers").answers;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].from.as_str(), got[0].signal.as_str()),
        (p[1].peer_id.as_str(), "answer sdp")
    );
    assert_eq!(got[0].topic, TOPIC.to_hex());
    assert!(c.answers(&p[0]).await.expect("answers").answers.is_empty());
}

#[tokio::test]
async fn each_credential_is_rate_limited() {
    let mut limits = Limits::default();
    limits.rate_burst = 5.0;
    limits.rate_per_sec = 0.5;
    let s = server(limits).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let p = registered(&c, 2).await;
    let q = QueryRequest::default();
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..8 {
        match c.query(&p[0], &TOPIC, &q).await {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(status(e), (429, "rate_limited".into()));
                limited += 1;
            }
        }
    }
    assert_eq!((ok, limited), (5, 3));
    // The other credential has its own bucket.
    c.query(&p[1], &TOPIC, &q)
        .await
        .expect("other peer not limited");
    assert_eq!(s.stats().rejected_rate, 3);
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_a_json_error() {
    let mut limits = Limits::default();
    limits.max_body_bytes = 1024;
    let s = server(limits).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let p = c.register().await.expect("register");
    let auth = bearer(&p);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let offer_path = format!("/v1/topics/{}/offer", TOPIC.to_hex());
    let query_path = format!("/v1/topics/{}/query", TOPIC.to_hex());
    let big = format!("{{\"addrs\":[],\"signal\":\"{}\"}}", "x".repeat(4000));
    let too_many: Vec<String> = (0..20).map(|i| format!("\"127.0.0.1:{i}\"")).collect();
    let too_many = format!("{{\"addrs\":[{}]}}", too_many.join(","));
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            offer_path.clone(),
            b"{not json".to_vec(),
            400,
            "bad_json",
        ),
        ("POST", offer_path.clone(), b"".to_vec(), 400, "bad_json"),
        (
            "POST",
            offer_path.clone(),
            b"{\"addrs\":\"x\"}".to_vec(),
            400,
            "bad_json",
        ),
        (
            "POST",
            offer_path.clone(),
            b"{\"addrs\":[],\"extra\":1}".to_vec(),
            400,
            "bad_json",
        ),
        (
            "POST",
            offer_path.clone(),
            b"{\"addrs\":[]}".to_vec(),
            400,
            "bad_request",
        ),
        (
            "POST",
            offer_path.clone(),
            too_many.into_bytes(),
            400,
            "bad_request",
        ),
        (
            "POST",
            offer_path.clone(),
            big.into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "POST",
            query_path.clone(),
            b"{\"bloom\":{\"bits\":\"!!\",\"k\":3}}".to_vec(),
            400,
            "bad_request",
        ),
        (
            "POST",
            query_path.clone(),
            b"{\"bloom\":{\"bits\":\"AAAA\",\"k\":99}}".to_vec(),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/topics/zz/query".into(),
            b"{}".to_vec(),
            400,
            "bad_request",
        ),
        (
            "POST",
            format!("/v1/topics/{}/nope", TOPIC.to_hex()),
            b"{}".to_vec(),
            404,
            "not_found",
        ),
        (
            "GET",
            offer_path.clone(),
            b"".to_vec(),
            405,
            "method_not_allowed",
        ),
        (
            "GET",
            "/v1/register".into(),
            b"".to_vec(),
            405,
            "method_not_allowed",
        ),
        (
            "GET",
            "/nothing/here".into(),
            b"".to_vec(),
            404,
            "not_found",
        ),
    ];
    for (method, path, body, want, code) in cases {
        let (got, resp) = raw(s.local_addr(), method, &path, &h, &body).await;
        assert_eq!(
            got,
            want,
            "{method} {path} {}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        let err: ErrorBody = serde_json::from_slice(&resp).expect("json error body");
        assert_eq!(err.code, code, "{method} {path}");
    }
    // A declared length over the bound is refused before any body is read.
    let (got, _) = raw(
        s.local_addr(),
        "POST",
        &offer_path,
        &h,
        &vec![b' '; 1 << 20],
    )
    .await;
    assert_eq!(got, 413);
    assert_eq!(s.stats().offers, 0);
    // The server still serves.
    c.publish(&p, &TOPIC, &offer(9))
        .await
        .expect("publish after abuse");
}

#[tokio::test]
async fn a_flood_of_topics_stops_at_the_bounds() {
    let mut limits = Limits::default();
    limits.max_topics = 50;
    limits.max_topics_per_peer = 20;
    let s = server(limits).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let peers = registered(&c, 4).await;
    let mut refused = 0;
    for (pi, p) in peers.iter().enumerate() {
        for t in 0..30u8 {
            let topic = InfoHash([t.wrapping_add(pi as u8 * 30); 20]);
            if let Err(e) = c.publish(p, &topic, &offer(1)).await {
                assert_eq!(status(e), (503, "full".into()));
                refused += 1;
            }
        }
    }
    let st = s.stats();
    assert_eq!(st.topics, 50);
    assert_eq!(refused, 120 - 50);
    assert_eq!(st.rejected_full, 70);
}

#[tokio::test]
async fn an_oversized_bloom_filter_is_refused() {
    let s = server(Limits::default()).await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let p = c.register().await.expect("register");
    let auth = bearer(&p);
    let path = format!("/v1/topics/{}/query", TOPIC.to_hex());
    // 12 000 base64 characters decode to 9 000 bytes, over the 8 KiB bound.
    let body = format!(
        "{{\"bloom\":{{\"bits\":\"{}\",\"k\":3}}}}",
        "A".repeat(12_000)
    );
    let (got, resp) = raw(
        s.local_addr(),
        "POST",
        &path,
        &[("authorization", &auth)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(got, 400);
    let err: ErrorBody = serde_json::from_slice(&resp).expect("json error body");
    assert!(err.error.contains("bloom filter of"), "{}", err.error);
    assert_eq!(s.stats().queries, 0);
}
