//! The rendezvous server: hyper HTTP/1.1 over tokio, routing to the [`Store`](crate::store).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::api::{AnswersResponse, ErrorBody, Limits, Stats};
use crate::error::{RequestError, ServeError};
use crate::store::{Store, parse_topic};

/// The address [`serve`] and [`ServerBuilder`] bind unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8642);

/// Runs a rendezvous server on `addr` with default [`Limits`] until the process ends (what
/// `swarmfs rendezvous serve [--listen ADDR]` calls).
pub async fn serve(addr: SocketAddr) -> Result<(), ServeError> {
    let server = Server::builder().listen(addr).bind().await?;
    tracing::info!(addr = %server.local_addr(), "rendezvous server listening");
    server.closed().await;
    Ok(())
}

/// Configures a [`Server`].
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    listen: SocketAddr,
    limits: Limits,
}

impl ServerBuilder {
    /// The listen address (default [`DEFAULT_LISTEN`], loopback; port 0 picks one).
    pub fn listen(&mut self, addr: SocketAddr) -> &mut Self {
        self.listen = addr;
        self
    }

    /// The server's bounds.
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// Binds and starts serving in background tasks.
    pub async fn bind(&self) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: self.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: self.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(self.limits.clone(), now())),
            limits: self.limits.clone(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(Server {
            local_addr,
            shared,
            stop: stop_tx,
            task: Mutex::new(Some(task)),
        })
    }
}

/// A running rendezvous server. Dropping it stops it.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Server {
    /// A builder with loopback and default bounds.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            listen: DEFAULT_LISTEN,
            limits: Limits::default(),
        }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<local_addr>`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The counters `GET /v1/stats` returns.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats()
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// Resolves when the server stopped (after [`Server::shutdown`], or never).
    async fn closed(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    limits: Limits,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

/// Locks, ignoring poisoning (the store stays consistent: no method panics midway).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    let mut conns = JoinSet::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            _ = sweep.tick() => shared.lock().sweep(now()),
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    // Over the connection bound: close at once.
                    drop(stream);
                    continue;
                };
                let shared = shared.clone();
                let header_timeout = shared.limits.header_timeout;
                conns.spawn(async move {
                    let _permit = permit;
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let mut b = http1::Builder::new();
                    b.timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .max_buf_size(64 * 1024);
                    let _ = b.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
    conns.shutdown().await;
}

type Body = Full<Bytes>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let resp = match route(&shared, req).await {
        Ok((status, body)) => json_response(status, body),
        Err(e) => {
            if matches!(
                e,
                RequestError::BadJson { .. } | RequestError::PayloadTooLarge { .. }
            ) {
                shared.lock().count_bad();
            }
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = ErrorBody {
                code: e.code().to_owned(),
                error: e.to_string(),
            };
            json_response(status, to_json(&body))
        }
    };
    Ok(resp)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail; an empty object is a safe fallback anyway.
    serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec())
}

type Routed = Result<(StatusCode, Vec<u8>), RequestError>;

async fn route(shared: &Shared, req: Request<Incoming>) -> Routed {
    let path = req.uri().path().to_owned();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match segs.as_slice() {
        ["v1", "register"] => {
            expect_method(&method, &Method::POST)?;
            let _ = read_body(shared, req).await?;
            let creds = shared.lock().register(now())?;
            Ok((StatusCode::CREATED, to_json(&creds)))
        }
        ["v1", "stats"] => {
            expect_method(&method, &Method::GET)?;
            Ok((StatusCode::OK, to_json(&shared.lock().stats())))
        }
        ["v1", "answers"] => {
            expect_method(&method, &Method::GET)?;
            let peer = authenticate(shared, &req)?;
            let answers = shared.lock().take_answers(&peer);
            Ok((StatusCode::OK, to_json(&AnswersResponse { answers })))
        }
        ["v1", "topics", topic, action] => {
            let action = *action;
            let allowed = match action {
                "offer" => method == Method::POST || method == Method::DELETE,
                "query" | "answer" => method == Method::POST,
                _ => return Err(RequestError::NotFound),
            };
            if !allowed {
                return Err(RequestError::MethodNotAllowed);
            }
            let topic = parse_topic(topic).inspect_err(|_| shared.lock().count_bad())?;
            let peer = authenticate(shared, &req)?;
            if method == Method::DELETE {
                let r = shared.lock().withdraw(&peer, topic);
                return Ok((StatusCode::OK, to_json(&r)));
            }
            let body = read_body(shared, req).await?;
            match action {
                "offer" => {
                    let r = shared.lock().publish(&peer, topic, parse(&body)?, now())?;
                    Ok((StatusCode::OK, to_json(&r)))
                }
                "query" => {
                    let q = if body.is_empty() {
                        Default::default()
                    } else {
                        parse(&body)?
                    };
                    let r = shared.lock().query(&peer, topic, &q, now())?;
                    Ok((StatusCode::OK, to_json(&r)))
                }
                _ => {
                    let r = shared.lock().answer(&peer, topic, parse(&body)?, now())?;
                    Ok((StatusCode::OK, to_json(&r)))
                }
            }
        }
        _ => Err(RequestError::NotFound),
    }
}

fn expect_method(got: &Method, want: &Method) -> Result<(), RequestError> {
    if got == want {
        Ok(())
    } else {
        Err(RequestError::MethodNotAllowed)
    }
}

/// Checks `authorization: Bearer <peer_id>:<secret>` and the caller's rate limit.
fn authenticate(shared: &Shared, req: &Request<Incoming>) -> Result<String, RequestError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|v| v.split_once(':'));
    let mut store = shared.lock();
    let Some((peer_id, secret)) = header else {
        store.count_unauthorized();
        return Err(RequestError::Unauthorized);
    };
    store.authenticate(peer_id, secret, now())?;
    Ok(peer_id.to_owned())
}

/// Reads the body, refusing more than `max_body_bytes` (by `content-length` first, then while
/// reading, so nothing beyond the bound is buffered).
async fn read_body(shared: &Shared, req: Request<Incoming>) -> Result<Bytes, RequestError> {
    let max = shared.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(RequestError::PayloadTooLarge { max });
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(RequestError::PayloadTooLarge { max })
        }
        Err(e) => Err(RequestError::bad(format!("reading body: {e}"))),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    serde_json::from_slice(body).map_err(|e| RequestError::BadJson {
        reason: e.to_string(),
    })
}
