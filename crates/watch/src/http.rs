//! A minimal HTTP/1.1 POST over hyper's client connection (plain `http://` only).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Bound on a response body kept for the failure callback.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// A failed request (no response).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("unsupported url {url:?}")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// Connecting failed.
    #[error("connecting to {authority}: {source}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("http: {reason}")]
    Http {
        /// Why.
        reason: String,
    },
}

/// The receiver's answer.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path.to_owned()))
}

pub(crate) async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let (authority, path) = split_url(url).ok_or_else(|| HttpError::BadUrl {
        url: url.to_owned(),
    })?;
    let stream = TcpStream::connect(&authority)
        .await
        .map_err(|source| HttpError::Connect {
            authority: authority.clone(),
            source,
        })?;
    let http = |e: hyper::Error| HttpError::Http {
        reason: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::post(path).header("host", authority.as_str());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).map_err(|e| HttpError::Http {
        reason: e.to_string(),
    })?;
    let resp = sender.send_request(req).await.map_err(http)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = Limited::new(resp.into_body(), MAX_RESPONSE_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/hook?x=1"),
            Some(("127.0.0.1:8080".into(), "/hook?x=1".into()))
        );
        assert_eq!(split_url("http://h"), Some(("h:80".into(), "/".into())));
        assert_eq!(split_url("https://h/"), None);
        assert_eq!(split_url("http:///x"), None);
    }
}
