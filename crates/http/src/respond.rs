//! One request to one response: routing, ranges and headers.

use std::io::SeekFrom;

use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use swarmfs::{Archive, ArchiveError};
use tokio::io::AsyncSeekExt;

use crate::body::{Ahead, Body};
use crate::catalog::{Catalog, Route};
use crate::index;
use crate::mime::content_type;
use crate::path::{PathRefused, decode};
use crate::range::{RangeError, parse_range};

/// Answers one request from the archives of `catalog`. Never fails: every problem is an HTTP
/// status.
pub(crate) async fn respond<B>(catalog: &Catalog, req: &Request<B>) -> Response<Body> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
    };
    let path = match decode(req.uri().path()) {
        Ok(p) => p,
        Err(PathRefused::Traversal) => {
            return status(StatusCode::BAD_REQUEST, "path leaves the archive\n");
        }
        Err(PathRefused::Malformed) => return status(StatusCode::BAD_REQUEST, "malformed path\n"),
    };
    let (archive, base, path) = match catalog.route(&path) {
        Route::Archive { entry, base, path } => (&entry.archive, base, path),
        Route::Root => {
            let mut response = catalog_page(catalog, req).await;
            if head {
                *response.body_mut() = Body::empty();
            }
            return response;
        }
        Route::NotFound => return status(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut response = match archive.metadata(&path).await {
        Ok(m) if m.is_dir => index_page(archive, &base, &path, req).await,
        Ok(_) => file(archive, &path, req).await,
        Err(ArchiveError::NotFound { .. }) => status(StatusCode::NOT_FOUND, "not found\n"),
        Err(ArchiveError::InvalidPath { .. }) => status(StatusCode::BAD_REQUEST, "invalid path\n"),
        Err(e) => {
            tracing::debug!(error = %e, path, "metadata failed");
            status(StatusCode::SERVICE_UNAVAILABLE, "archive unavailable\n")
        }
    };
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

fn wants_json<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

async fn index_page<B>(
    archive: &Archive,
    base: &str,
    dir: &str,
    req: &Request<B>,
) -> Response<Body> {
    let files = index::list(archive, dir).await;
    if wants_json(req) {
        index_response(
            index::json(archive, base, &files).to_string(),
            "application/json",
        )
    } else {
        index_response(
            index::html(archive, base, dir, &files),
            "text/html; charset=utf-8",
        )
    }
}

/// `/` of a server with several archives: every archive with its files.
async fn catalog_page<B>(catalog: &Catalog, req: &Request<B>) -> Response<Body> {
    let mut torrents = Vec::with_capacity(catalog.entries().len());
    for e in catalog.entries() {
        torrents.push((&e.archive, e.base(), index::list(&e.archive, "/").await));
    }
    if wants_json(req) {
        let values = torrents
            .iter()
            .map(|(a, base, files)| index::json(a, base, files))
            .collect();
        index_response(index::catalog_json(values), "application/json")
    } else {
        index_response(index::catalog_html(&torrents), "text/html; charset=utf-8")
    }
}

fn index_response(text: String, kind: &'static str) -> Response<Body> {
    let len = text.len();
    let mut r = Response::new(Body::full(text));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn file<B>(archive: &Archive, path: &str, req: &Request<B>) -> Response<Body> {
    let mut f = match archive.open(path).await {
        Ok(f) => f,
        Err(ArchiveError::NotFound { .. }) => return status(StatusCode::NOT_FOUND, "not found\n"),
        Err(e) => {
            tracing::debug!(error = %e, path, "open failed");
            return status(StatusCode::SERVICE_UNAVAILABLE, "archive unavailable\n");
        }
    };
    let len = f.len();
    let etag = etag(archive, path, len);
    let range_header = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    // If-Range: a range applies only while the entity is unchanged.
    let if_range_ok = req
        .headers()
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = match range_header
        .filter(|_| if_range_ok)
        .map(|h| parse_range(h, len))
    {
        None | Some(Err(RangeError::Unsupported)) => None,
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => {
            let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        set_etag(&mut r, &etag);
        return r;
    }
    let (start, count) = range.map_or((0, len), |r| (r.start, r.len));
    if start > 0
        && let Err(e) = f.seek(SeekFrom::Start(start)).await
    {
        tracing::debug!(error = %e, path, "seek failed");
        return status(StatusCode::SERVICE_UNAVAILABLE, "archive unavailable\n");
    }
    let ahead = ahead(archive, path, start, start + count);
    let mut r = Response::new(Body::File {
        file: Box::new(f),
        remaining: count,
        ahead,
    });
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if let Some(range) = range {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", range.start, range.last()))
        {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    set_etag(&mut r, &etag);
    r
}

/// Requests ahead of a response of file bytes `start..end`, for a torrent's file.
fn ahead(archive: &Archive, path: &str, start: u64, end: u64) -> Option<Box<Ahead>> {
    let handle = archive.torrent()?;
    let info = handle.info()?;
    let rel = path.trim_start_matches('/');
    let file = info
        .files()
        .iter()
        .find(|f| !f.is_pad() && f.path().as_str() == rel)?;
    Some(Box::new(Ahead::new(
        handle.clone(),
        file.offset(),
        start,
        end,
    )))
}

/// A strong validator: the torrent's content is fixed by its info-hash, so info-hash, path
/// and length name the bytes exactly. Drafts change, so theirs is weak.
fn etag(archive: &Archive, path: &str, len: u64) -> String {
    let path_hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    match archive.info_hash() {
        Some(ih) => format!("\"{}-{path_hash:016x}-{len:x}\"", ih.to_hex()),
        None => format!("W/\"draft-{path_hash:016x}-{len:x}\""),
    }
}

fn set_etag(r: &mut Response<Body>, etag: &str) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
}

/// A short plain-text response.
pub(crate) fn status(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(text));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    r
}
