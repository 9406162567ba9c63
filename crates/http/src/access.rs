//! Who may use the server from a browser: cross-origin reads (CORS) and the `Host` check that
//! stops DNS rebinding, the two options of webtorrent's `createServer({origin, hostname})`.

use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::body::Body;
use crate::respond::status;

/// Which other origins' pages may read the server's responses (CORS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowOrigin {
    /// No CORS headers: only same-origin scripts can read responses (a `<video>` element
    /// plays from anywhere all the same). The default.
    #[default]
    SameOrigin,
    /// Any origin (`Access-Control-Allow-Origin` echoes the request's `Origin`), as
    /// webtorrent's server does by default.
    Any,
    /// Only this exact origin, such as `https://app.example`.
    Only(String),
}

impl AllowOrigin {
    /// webtorrent's `opts.origin`: `"*"` is [`AllowOrigin::Any`], another string that origin,
    /// `None` or an empty string [`AllowOrigin::SameOrigin`].
    pub fn from_option(origin: Option<&str>) -> Self {
        match origin {
            Some("*") => Self::Any,
            Some(o) if !o.is_empty() => Self::Only(o.to_owned()),
            _ => Self::SameOrigin,
        }
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::SameOrigin => false,
            Self::Any => true,
            Self::Only(o) => o == origin,
        }
    }
}

/// The access rules of one server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Access {
    pub(crate) origin: AllowOrigin,
    /// With a name, only requests whose `Host` is that name (with or without the port) are
    /// served: a page on a rebound DNS name reaches the socket but sends its own name.
    pub(crate) hostname: Option<String>,
    pub(crate) port: u16,
}

impl Access {
    /// The answer when the request is refused or is a CORS preflight; `None` to serve it.
    pub(crate) fn intercept<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        if !self.host_ok(req.headers()) {
            return Some(status(StatusCode::FORBIDDEN, "host not allowed\n"));
        }
        if req.method() != Method::OPTIONS {
            return None;
        }
        let origin = self.allowed_origin(req.headers())?;
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(600u32));
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        Some(r)
    }

    /// Adds the CORS and hardening headers to a response of `req`.
    pub(crate) fn decorate(&self, req_headers: &HeaderMap, r: &mut Response<Body>) {
        let h = r.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if self.origin == AllowOrigin::SameOrigin {
            return;
        }
        h.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed_origin(req_headers) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("content-range, accept-ranges, content-length, etag"),
            );
        }
    }

    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origin.allows(text).then(|| origin.clone())
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.hostname else {
            return true;
        };
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let host = host.trim();
        let name = match host.rsplit_once(':') {
            // "[::1]:8080" and "name:8080"; a bare IPv6 literal has its colons inside brackets.
            Some((name, port)) if !name.is_empty() && !port.contains(']') => {
                if port != self.port.to_string() {
                    return false;
                }
                name
            }
            _ => host,
        };
        name.eq_ignore_ascii_case(want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&'static str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request")
    }

    fn access(origin: AllowOrigin, hostname: Option<&str>) -> Access {
        Access {
            origin,
            hostname: hostname.map(str::to_owned),
            port: 8080,
        }
    }

    #[test]
    fn host_check_takes_the_name_with_or_without_our_port() {
        let a = access(AllowOrigin::SameOrigin, Some("localhost"));
        let ok = |host: &str| a.intercept(&req(Method::GET, &[("host", host)])).is_none();
        assert!(ok("localhost:8080"));
        assert!(ok("LOCALHOST"));
        assert!(!ok("localhost:9090"));
        assert!(!ok("evil.example:8080"));
        assert!(!ok("localhost.evil.example:8080"));
        assert!(a.intercept(&req(Method::GET, &[])).is_some(), "no Host");
        let v6 = access(AllowOrigin::SameOrigin, Some("[::1]"));
        assert!(v6.host_ok(req(Method::GET, &[("host", "[::1]:8080")]).headers()));
        assert!(v6.host_ok(req(Method::GET, &[("host", "[::1]")]).headers()));
        // Without a name every Host is served.
        let open = access(AllowOrigin::SameOrigin, None);
        assert!(open.host_ok(req(Method::GET, &[("host", "anything")]).headers()));
    }

    #[test]
    fn cors_headers_follow_the_allowed_origin() {
        let page = [("origin", "https://app.example")];
        let decorated = |a: &Access, headers: &[(&'static str, &str)]| {
            let mut r = Response::new(Body::empty());
            a.decorate(req(Method::GET, headers).headers(), &mut r);
            r.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        let same = access(AllowOrigin::SameOrigin, None);
        assert_eq!(decorated(&same, &page), None);
        let any = access(AllowOrigin::Any, None);
        assert_eq!(
            decorated(&any, &page).as_deref(),
            Some("https://app.example")
        );
        assert_eq!(decorated(&any, &[]), None, "no Origin, no CORS header");
        let only = access(AllowOrigin::Only("https://app.example".into()), None);
        assert_eq!(
            decorated(&only, &page).as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            decorated(&only, &[("origin", "https://evil.example")]),
            None
        );
    }

    #[test]
    fn preflight_is_answered_only_for_an_allowed_origin() {
        let any = access(AllowOrigin::Any, None);
        let pre = req(
            Method::OPTIONS,
            &[
                ("origin", "https://app.example"),
                ("access-control-request-headers", "range"),
            ],
        );
        let r = any.intercept(&pre).expect("preflight");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers().get(header::ACCESS_CONTROL_ALLOW_HEADERS),
            Some(&HeaderValue::from_static("range"))
        );
        // Same-origin servers leave OPTIONS to the router (405).
        assert!(
            access(AllowOrigin::SameOrigin, None)
                .intercept(&pre)
                .is_none()
        );
    }

    #[test]
    fn origin_option_reads_like_webtorrent() {
        assert_eq!(AllowOrigin::from_option(Some("*")), AllowOrigin::Any);
        assert_eq!(AllowOrigin::from_option(None), AllowOrigin::SameOrigin);
        assert_eq!(AllowOrigin::from_option(Some("")), AllowOrigin::SameOrigin);
        assert_eq!(
            AllowOrigin::from_option(Some("http://a")),
            AllowOrigin::Only("http://a".into())
        );
    }
}
