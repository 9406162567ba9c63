//! One client connection, whatever carries its frames: token check, decoding, `clientKey`
//! ownership, replies to bad input, and the outbox its writer drains.

use std::sync::Arc;

use serde_json::Value;

use crate::outbox::Outbox;
use crate::protocol::{ClientMessage, DecodeError, ErrorInfo, MAX_KEY_LEN, ServerMessage};
use crate::server::RemoteServer;
use crate::transport::Router;

/// Malformed frames a connection may send before it is closed.
pub const MAX_BAD_LINES: u32 = 16;

/// What the transport does after a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    /// Stop reading; the writer ends once the outbox drained (or at once if it was closed).
    Close,
}

pub(crate) struct Conn {
    id: u64,
    token: Option<Arc<str>>,
    server: RemoteServer,
    router: Arc<Router>,
    outbox: Arc<Outbox>,
    bad: u32,
}

impl Conn {
    /// A connection that must first send `{"token": ...}` when `token` is set.
    pub(crate) fn new(token: Option<Arc<str>>, server: RemoteServer, router: Arc<Router>) -> Self {
        Self {
            id: router.connection_id(),
            token,
            server,
            router,
            outbox: Arc::new(Outbox::new()),
            bad: 0,
        }
    }

    pub(crate) fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// Handles one frame (a line or a WebSocket text message).
    pub(crate) fn frame(&mut self, bytes: &[u8]) -> Step {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Step::Continue;
        }
        if let Some(token) = self.token.take() {
            let ok = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| v.get("token")?.as_str().map(|t| t == &*token))
                .unwrap_or(false);
            if ok {
                return Step::Continue;
            }
            self.outbox.reject("{\"error\":\"bad token\"}");
            return Step::Close;
        }
        match ClientMessage::decode(bytes) {
            Ok(msg) => {
                if self
                    .router
                    .register_outbox(msg.client_key(), self.id, &self.outbox)
                {
                    self.server.receive(msg);
                } else {
                    tracing::debug!("clientKey taken by another connection, dropped");
                }
                Step::Continue
            }
            Err(e) => self.bad_frame(bytes, &e),
        }
    }

    /// Counts a bad frame and, when it names a `clientKey`, answers with a `warning` on this
    /// connection only.
    fn bad_frame(&mut self, bytes: &[u8], e: &DecodeError) -> Step {
        tracing::debug!("dropped message: {e}");
        self.bad += 1;
        if self.bad > MAX_BAD_LINES {
            return Step::Close;
        }
        let key = match e {
            DecodeError::Oversized { .. } => None,
            _ => serde_json::from_slice::<Value>(bytes).ok().and_then(|v| {
                let k = v.get("clientKey")?.as_str()?;
                (!k.is_empty() && k.len() <= MAX_KEY_LEN).then(|| k.to_owned())
            }),
        };
        if let Some(client_key) = key {
            self.outbox.push(ServerMessage::Warning {
                client_key,
                torrent_key: None,
                error: ErrorInfo {
                    message: format!("dropped message: {e}"),
                    stack: None,
                },
            });
        }
        Step::Continue
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.router.unregister(self.id);
    }
}
