//! `createServer(opts)`: webtorrent's `origin` and `hostname` for a torrent's streaming server.

use serde_json::Value;
use swarmfs_http::{AllowOrigin, StreamServer};

/// The browser-access options of a torrent's streaming server, as a client asked for them.
///
/// One server serves every client of a torrent, so the options of the request that starts it
/// hold until it stops. Unlike webtorrent, which allows every origin unless told otherwise, a
/// server without `origin` answers no cross-origin reads (a `<video>` element plays all the
/// same); `"*"` allows any origin, another string that exact origin. `hostname` makes the
/// server refuse requests for other `Host` names (DNS rebinding). Fields of other types are
/// ignored, as unknown fields are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ServerOpts {
    origin: AllowOrigin,
    hostname: Option<String>,
}

impl ServerOpts {
    pub(super) fn parse(opts: Option<&Value>) -> Self {
        let field = |name: &str| opts.and_then(|o| o.get(name)).and_then(Value::as_str);
        Self {
            origin: AllowOrigin::from_option(field("origin")),
            hostname: field("hostname")
                .filter(|h| !h.is_empty())
                .map(str::to_owned),
        }
    }

    pub(super) fn apply(&self, server: StreamServer) -> StreamServer {
        let server = server.allow_origin(self.origin.clone());
        match &self.hostname {
            Some(h) => server.require_host(h.clone()),
            None => server,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_origin_and_hostname_and_ignores_the_rest() {
        assert_eq!(ServerOpts::parse(None), ServerOpts::default());
        let all = ServerOpts::parse(Some(&json!({"origin": "*", "hostname": "localhost"})));
        assert_eq!(all.origin, AllowOrigin::Any);
        assert_eq!(all.hostname.as_deref(), Some("localhost"));
        let odd = ServerOpts::parse(Some(&json!({"origin": 5, "hostname": "", "port": 80})));
        assert_eq!(odd, ServerOpts::default());
        let not_an_object = ServerOpts::parse(Some(&json!("origin")));
        assert_eq!(not_an_object, ServerOpts::default());
    }
}
