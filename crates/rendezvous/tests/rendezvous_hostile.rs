//! Random requests at every endpoint: the server answers each with a 2xx or 4xx and a JSON
//! body, never panics, and keeps serving.

mod support;

use proptest::prelude::*;
use support::*;
use swarmfs_rendezvous::{Limits, RendezvousClient};
use tokio::io::AsyncWriteExt;

const PATHS: &[&str] = &[
    "/v1/register",
    "/v1/stats",
    "/v1/answers",
    "/v1/topics/abababababababababababababababababababab/offer",
    "/v1/topics/abababababababababababababababababababab/query",
    "/v1/topics/abababababababababababababababababababab/answer",
    "/v1/topics/ABABABABABABABABABABABABABABABABABABABAB/query",
    "/v1/topics/xyz/offer",
    "/v1/topics//query",
    "/v1//",
    "/",
];

const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "PATCH"];

/// Bodies that look like the real ones with random values, or random bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let json_like = (
        prop::collection::vec(any::<u16>(), 0..12),
        prop::option::of("[ -~]{0,64}"),
        prop::option::of(any::<i64>()),
        prop::option::of("[A-Za-z0-9+/=!]{0,40}"),
        any::<u32>(),
        any::<i64>(),
    )
        .prop_map(|(ports, signal, ttl, bits, k, limit)| {
            let addrs: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
            let mut fields = vec![format!("\"addrs\":[{}]", addrs.join(","))];
            if let Some(s) = signal {
                fields.push(format!("\"signal\":{}", serde_json::Value::String(s)));
            }
            if let Some(t) = ttl {
                fields.push(format!("\"ttl_secs\":{t}"));
            }
            let v = format!("{{{}}}", fields.join(","));
            match bits {
                Some(b) => {
                    format!("{{\"bloom\":{{\"bits\":\"{b}\",\"k\":{k}}},\"limit\":{limit}}}")
                }
                None => v,
            }
            .into_bytes()
        });
    prop_oneof![
        json_like,
        prop::collection::vec(any::<u8>(), 0..300),
        "[{}\\[\\]\":,0-9a-z ]{0,80}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_get_2xx_or_4xx_json(
        reqs in prop::collection::vec(
            (0..METHODS.len(), 0..PATHS.len(), 0..3usize, body()),
            1..6,
        )
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let mut limits = Limits::default();
            limits.max_body_bytes = 256;
            let s = server(limits).await;
            let c = RendezvousClient::new(&s.url()).expect("client");
            let creds = c.register().await.expect("register");
            let good = bearer(&creds);
            for (m, p, auth, body) in reqs {
                let header = match auth {
                    0 => vec![],
                    1 => vec![("authorization", good.as_str())],
                    _ => vec![("authorization", "Bearer 00:11")],
                };
                let (status, resp) = raw(s.local_addr(), METHODS[m], PATHS[p], &header, &body).await;
                prop_assert!((200..500).contains(&status), "{} {} -> {status}", METHODS[m], PATHS[p]);
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&resp).is_ok(),
                    "non-json answer {:?}", String::from_utf8_lossy(&resp));
            }
            // Still serving.
            c.stats().await.expect("stats after the random requests");
            Ok(())
        })?;
    }

    #[test]
    fn random_bytes_on_the_socket_do_not_stop_the_server(
        junk in prop::collection::vec(any::<u8>(), 0..2000)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let s = server(Limits::default()).await;
            let mut t = tokio::net::TcpStream::connect(s.local_addr()).await.expect("connect");
            let _ = t.write_all(&junk).await;
            drop(t);
            let c = RendezvousClient::new(&s.url()).expect("client");
            c.register().await.expect("register after junk");
        });
    }
}
