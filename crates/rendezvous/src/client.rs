//! A small HTTP/1.1 client for the rendezvous API (hyper's connection API over a tokio
//! `TcpStream`, one connection per call).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use swarmfs_metainfo::InfoHash;
use tokio::net::TcpStream;

use crate::api::{
    AnswerRequest, AnswerResponse, AnswersResponse, Credentials, ErrorBody, PublishRequest,
    PublishResponse, QueryRequest, QueryResponse, Stats, WithdrawResponse,
};
use crate::error::ClientError;

/// Largest answer body the client reads.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// A client for one rendezvous server, e.g. `http://127.0.0.1:8642`.
#[derive(Clone, Debug)]
pub struct RendezvousClient {
    authority: String,
    prefix: String,
    timeout: Duration,
}

impl RendezvousClient {
    /// A client for `url` (`http://host:port[/prefix]`; `https` is not supported).
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// urls are supported"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("missing or unsupported host"));
        }
        let authority = if has_port(authority) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(RendezvousClient {
            authority,
            prefix: prefix.to_owned(),
            timeout: Duration::from_secs(10),
        })
    }

    /// The time allowed for one call (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Registers and returns new credentials.
    pub async fn register(&self) -> Result<Credentials, ClientError> {
        self.call::<(), _>(Method::POST, "/v1/register", None, None)
            .await
    }

    /// Publishes (or refreshes) our offer on `topic`.
    pub async fn publish(
        &self,
        creds: &Credentials,
        topic: &InfoHash,
        req: &PublishRequest,
    ) -> Result<PublishResponse, ClientError> {
        let path = format!("/v1/topics/{}/offer", topic.to_hex());
        self.call(Method::POST, &path, Some(creds), Some(req)).await
    }

    /// Withdraws our offer on `topic`.
    pub async fn withdraw(
        &self,
        creds: &Credentials,
        topic: &InfoHash,
    ) -> Result<WithdrawResponse, ClientError> {
        let path = format!("/v1/topics/{}/offer", topic.to_hex());
        self.call::<(), _>(Method::DELETE, &path, Some(creds), None)
            .await
    }

    /// Offers of other peers on `topic`.
    pub async fn query(
        &self,
        creds: &Credentials,
        topic: &InfoHash,
        req: &QueryRequest,
    ) -> Result<QueryResponse, ClientError> {
        let path = format!("/v1/topics/{}/query", topic.to_hex());
        self.call(Method::POST, &path, Some(creds), Some(req)).await
    }

    /// Answers another peer's offer on `topic`.
    pub async fn answer(
        &self,
        creds: &Credentials,
        topic: &InfoHash,
        req: &AnswerRequest,
    ) -> Result<AnswerResponse, ClientError> {
        let path = format!("/v1/topics/{}/answer", topic.to_hex());
        self.call(Method::POST, &path, Some(creds), Some(req)).await
    }

    /// Takes the answers to our offers.
    pub async fn answers(&self, creds: &Credentials) -> Result<AnswersResponse, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/answers", Some(creds), None)
            .await
    }

    /// The server's counters.
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/stats", None, None)
            .await
    }

    /// The local address this host uses to reach the server: a good default address to
    /// advertise to peers that use the same server.
    pub async fn local_ip(&self) -> Result<IpAddr, ClientError> {
        let stream = self.connect().await?;
        stream
            .local_addr()
            .map(|a| a.ip())
            .map_err(|source| self.connect_error(source))
    }

    async fn connect(&self) -> Result<TcpStream, ClientError> {
        tokio::time::timeout(self.timeout, TcpStream::connect(self.authority.as_str()))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(|source| self.connect_error(source))
    }

    fn connect_error(&self, source: std::io::Error) -> ClientError {
        ClientError::Connect {
            server: self.authority.clone(),
            source,
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        creds: Option<&Credentials>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(self.timeout, self.call_inner(method, path, creds, body))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn call_inner<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        creds: Option<&Credentials>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let stream = self.connect().await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let conn = tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(HOST, self.authority.as_str());
        if let Some(c) = creds {
            b = b.header(AUTHORIZATION, format!("Bearer {}:{}", c.peer_id, c.secret));
        }
        let body: http_body_util::combinators::BoxBody<Bytes, hyper::Error> = match body {
            Some(v) => {
                b = b.header(CONTENT_TYPE, "application/json");
                let json = serde_json::to_vec(v).map_err(|e| ClientError::BadAnswer {
                    reason: format!("encoding request: {e}"),
                })?;
                Full::new(Bytes::from(json))
                    .map_err(|never| match never {})
                    .boxed()
            }
            None => Empty::new().map_err(|never| match never {}).boxed(),
        };
        let req = b.body(body).map_err(|e| ClientError::BadAnswer {
            reason: format!("building request: {e}"),
        })?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::BadAnswer {
                reason: format!("reading answer: {e}"),
            })?
            .to_bytes();
        conn.abort();
        if !(200..300).contains(&status) {
            let err: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            return Err(ClientError::Status {
                status,
                code: err.as_ref().map(|e| e.code.clone()).unwrap_or_default(),
                message: err.map(|e| e.error).unwrap_or_default(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadAnswer {
            reason: e.to_string(),
        })
    }
}

/// Whether `authority` ends in `:port` (an IPv6 literal is bracketed).
fn has_port(authority: &str) -> bool {
    if authority.parse::<SocketAddr>().is_ok() {
        return true;
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let c = RendezvousClient::new("http://127.0.0.1:8642").expect("url");
        assert_eq!((c.authority(), c.prefix.as_str()), ("127.0.0.1:8642", ""));
        let c = RendezvousClient::new("http://[::1]:9/api/").expect("url");
        assert_eq!((c.authority(), c.prefix.as_str()), ("[::1]:9", "/api"));
        let c = RendezvousClient::new("http://localhost").expect("url");
        assert_eq!(c.authority(), "localhost:80");
        assert!(RendezvousClient::new("https://x:1").is_err());
        assert!(RendezvousClient::new("http://").is_err());
        assert!(RendezvousClient::new("http://u@x:1").is_err());
    }
}
