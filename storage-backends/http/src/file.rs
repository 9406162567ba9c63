//! One remote file opened for range reads: pinned validators, windowed cache with coalescing of
//! adjacent and concurrent reads, sequential read-ahead.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::{HttpClient, HttpError, HttpUrl};

/// Most bytes one range request asks for.
const MAX_REQUEST: u64 = 16 << 20;

/// What the origin said about the resource when it was opened; every later response must agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    /// Total length (from `Content-Range`).
    pub len: u64,
    /// The `ETag` header, if any.
    pub etag: Option<String>,
    /// The `Last-Modified` header, if any.
    pub last_modified: Option<String>,
}

impl Validators {
    /// A 64-bit marker of the validators (FNV-1a), for storage stamps.
    pub fn marker(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let parts = [
            self.etag.as_deref().unwrap_or(""),
            "\0",
            self.last_modified.as_deref().unwrap_or(""),
        ];
        for b in parts.iter().flat_map(|p| p.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}

type Window = Arc<Vec<u8>>;
type Slot = Option<Result<Window, HttpError>>;

/// A remote file, read through HTTP range requests. Cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct HttpFile {
    inner: Arc<Inner>,
}

struct Inner {
    client: HttpClient,
    url: HttpUrl,
    validators: Validators,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cache: HashMap<u64, Window>,
    lru: VecDeque<u64>,
    inflight: HashMap<u64, watch::Receiver<Slot>>,
    /// End of the previous read, to detect sequential access.
    last_end: u64,
}

impl fmt::Debug for HttpFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFile")
            .field("url", &self.inner.url.to_string())
            .field("validators", &self.inner.validators)
            .finish()
    }
}

impl HttpFile {
    pub(crate) async fn open(client: HttpClient, mut url: HttpUrl) -> Result<Self, HttpError> {
        let mut redirects = 0;
        loop {
            let resp = client
                .send(&url, "GET", &[("Range", "bytes=0-0".to_owned())], 1)
                .await?;
            let u = url.to_string();
            let validators = |len| Validators {
                len,
                etag: resp.header("etag").map(str::to_owned),
                last_modified: resp.header("last-modified").map(str::to_owned),
            };
            let v = match resp.status {
                206 => {
                    let (start, end, total) = content_range(resp.header("content-range"))
                        .ok_or_else(|| HttpError::NoRangeSupport {
                            url: u.clone(),
                            status: 206,
                        })?;
                    if (start, end) != (0, 0) {
                        return Err(HttpError::Malformed {
                            url: u,
                            reason: "content-range does not match the request",
                        });
                    }
                    validators(total)
                }
                416 if unsatisfied_total(resp.header("content-range")) == Some(0) => validators(0),
                200 if resp.header("content-length") == Some("0") => validators(0),
                200 => {
                    return Err(HttpError::NoRangeSupport {
                        url: u,
                        status: 200,
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    redirects += 1;
                    if redirects > client.options().max_redirects {
                        return Err(HttpError::Redirect {
                            url: u,
                            reason: "too many redirects",
                        });
                    }
                    let loc = resp.header("location").ok_or(HttpError::Redirect {
                        url: u.clone(),
                        reason: "no location header",
                    })?;
                    url = url.join(loc)?;
                    continue;
                }
                404 | 410 => {
                    return Err(HttpError::Vanished {
                        url: u,
                        status: resp.status,
                    });
                }
                status => return Err(HttpError::Status { url: u, status }),
            };
            return Ok(Self {
                inner: Arc::new(Inner {
                    client,
                    url,
                    validators: v,
                    state: Mutex::new(State::default()),
                }),
            });
        }
    }

    /// The URL read (after redirects).
    pub fn url(&self) -> &HttpUrl {
        &self.inner.url
    }

    /// The validators pinned at open.
    pub fn validators(&self) -> &Validators {
        &self.inner.validators
    }

    /// The length pinned at open.
    pub fn len(&self) -> u64 {
        self.inner.validators.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client this file reads through.
    pub fn client(&self) -> &HttpClient {
        &self.inner.client
    }

    /// Reads exactly `buf.len()` bytes at `offset` (the caller keeps the range inside
    /// [`HttpFile::len`]; [`crate::HttpStorage`] checks it for the storage trait).
    pub async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), HttpError> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = offset + buf.len() as u64;
        let w = u64::from(self.inner.client.options().window);
        if w == 0 {
            let data = self.inner.fetch(offset, buf.len() as u64).await?;
            buf.copy_from_slice(&data);
            return Ok(());
        }
        let first = offset / w;
        let last = (end - 1) / w;
        let windows = self.inner.windows(first, last).await?;
        for (i, data) in (first..=last).zip(windows) {
            let ws = i * w;
            let from = offset.max(ws);
            let to = end.min(ws + data.len() as u64);
            if to < from || to - ws > data.len() as u64 {
                return Err(HttpError::Malformed {
                    url: self.inner.url.to_string(),
                    reason: "window shorter than expected",
                });
            }
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - ws) as usize..(to - ws) as usize]);
        }
        Ok(())
    }

    /// Drops cached windows overlapping `len` bytes at `offset`, so the next read fetches them
    /// from the origin again (e.g. after the bytes failed a hash check above this layer).
    pub fn forget(&self, offset: u64, len: u64) {
        let w = u64::from(self.inner.client.options().window);
        if w == 0 || len == 0 {
            return;
        }
        let (first, last) = (offset / w, (offset.saturating_add(len) - 1) / w);
        let mut st = lock(&self.inner.state);
        for i in first..=last {
            if st.cache.remove(&i).is_some() {
                st.lru.retain(|&x| x != i);
            }
        }
    }

    /// Reads the whole file from the origin, range by range, handing each chunk to `sink` (no
    /// caching): a streaming read of at most `chunk` bytes per request.
    pub async fn stream(&self, chunk: u32, mut sink: impl FnMut(&[u8])) -> Result<(), HttpError> {
        let chunk = u64::from(chunk.max(1));
        let mut offset = 0;
        while offset < self.len() {
            let n = chunk.min(self.len() - offset);
            let data = self.inner.fetch(offset, n).await?;
            sink(&data);
            offset += n;
        }
        Ok(())
    }
}

impl Inner {
    fn window_len(&self, i: u64) -> u64 {
        let w = u64::from(self.client.options().window);
        w.min(self.validators.len.saturating_sub(i * w))
    }

    /// The windows `first..=last`, from cache, from a fetch already in flight, or fetched now
    /// (missing neighbours in one request), starting read-ahead behind a sequential read.
    async fn windows(self: &Arc<Self>, first: u64, last: u64) -> Result<Vec<Window>, HttpError> {
        let opts = self.client.options();
        let w = u64::from(opts.window);
        let count = self.validators.len.div_ceil(w);
        let mut have: HashMap<u64, Window> = HashMap::new();
        let mut waits = Vec::new();
        let mut mine = Vec::new();
        let mut ahead = Vec::new();
        {
            let mut st = lock(&self.state);
            let sequential = st.last_end == first * w || st.last_end / w == first;
            st.last_end = (last + 1) * w;
            let ahead_last = if sequential {
                (last + u64::from(opts.read_ahead)).min(count.saturating_sub(1))
            } else {
                last
            };
            for i in first..=ahead_last.max(last) {
                if let Some(d) = st.cache.get(&i).cloned() {
                    if i <= last {
                        have.insert(i, d);
                        touch(&mut st.lru, i);
                    }
                } else if let Some(rx) = st.inflight.get(&i) {
                    if i <= last {
                        waits.push((i, rx.clone()));
                    }
                } else {
                    let (tx, rx) = watch::channel(None);
                    st.inflight.insert(i, rx);
                    if i <= last {
                        mine.push((i, tx));
                    } else {
                        ahead.push((i, tx));
                    }
                }
            }
        }
        if !ahead.is_empty() {
            let me = self.clone();
            tokio::spawn(async move {
                let _ = me.fill(ahead).await;
            });
        }
        let mut result = Ok(());
        if !mine.is_empty() {
            match self.fill(mine).await {
                Ok(got) => have.extend(got),
                Err(e) => result = Err(e),
            }
        }
        result?;
        for (i, mut rx) in waits {
            let got = match rx.wait_for(Option::is_some).await {
                Ok(v) => v.clone(),
                Err(_) => None,
            };
            let data = match got {
                Some(r) => r?,
                // The fetching read was cancelled: fetch it ourselves.
                None => Arc::new(self.fetch(i * w, self.window_len(i)).await?),
            };
            have.insert(i, data);
        }
        (first..=last)
            .map(|i| {
                have.remove(&i).ok_or_else(|| HttpError::Malformed {
                    url: self.url.to_string(),
                    reason: "window missing after fetch",
                })
            })
            .collect()
    }

    /// Fetches claimed windows, consecutive ones in a single request; publishes each result to
    /// waiting readers and to the cache. Unpublished claims are released if this is cancelled.
    async fn fill(
        self: &Arc<Self>,
        claims: Vec<(u64, watch::Sender<Slot>)>,
    ) -> Result<Vec<(u64, Window)>, HttpError> {
        let w = u64::from(self.client.options().window);
        let mut guard = Claims {
            inner: self.clone(),
            left: claims.iter().map(|c| c.0).collect(),
        };
        let mut out = Vec::new();
        let mut runs: Vec<Vec<(u64, watch::Sender<Slot>)>> = Vec::new();
        for c in claims {
            match runs.last_mut() {
                Some(run)
                    if run.last().is_some_and(|l| l.0 + 1 == c.0)
                        && (run.len() as u64 + 1) * w <= MAX_REQUEST =>
                {
                    run.push(c)
                }
                _ => runs.push(vec![c]),
            }
        }
        let mut first_err = None;
        for run in runs {
            let (a, b) = (run[0].0, run[run.len() - 1].0);
            let start = a * w;
            let len: u64 = (a..=b).map(|i| self.window_len(i)).sum();
            let fetched = self.fetch(start, len).await;
            let mut st = lock(&self.state);
            match fetched {
                Ok(data) => {
                    let cap = (self.client.options().cache_bytes as u64 / w.max(1)).max(1) as usize;
                    for (i, tx) in run {
                        let off = ((i - a) * w) as usize;
                        let wl = self.window_len(i) as usize;
                        let win = Arc::new(data[off..off + wl].to_vec());
                        st.inflight.remove(&i);
                        guard.left.retain(|&x| x != i);
                        st.cache.insert(i, win.clone());
                        touch(&mut st.lru, i);
                        while st.lru.len() > cap {
                            if let Some(old) = st.lru.pop_front() {
                                st.cache.remove(&old);
                            }
                        }
                        let _ = tx.send(Some(Ok(win.clone())));
                        out.push((i, win));
                    }
                }
                Err(e) => {
                    for (i, tx) in run {
                        st.inflight.remove(&i);
                        guard.left.retain(|&x| x != i);
                        let _ = tx.send(Some(Err(e.clone())));
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// One range request for `len` bytes at `start`, checked against the pinned validators.
    async fn fetch(&self, start: u64, len: u64) -> Result<Vec<u8>, HttpError> {
        let u = self.url.to_string();
        let end = start + len - 1;
        let mut headers = vec![("Range", format!("bytes={start}-{end}"))];
        match (&self.validators.etag, &self.validators.last_modified) {
            (Some(tag), _) if !tag.starts_with("W/") => headers.push(("If-Match", tag.clone())),
            (_, Some(lm)) => headers.push(("If-Unmodified-Since", lm.clone())),
            _ => {}
        }
        let max = usize::try_from(len).map_err(|_| HttpError::Malformed {
            url: u.clone(),
            reason: "range too large",
        })?;
        let resp = self.client.send(&self.url, "GET", &headers, max).await?;
        let changed = |what: String| HttpError::Changed {
            url: u.clone(),
            what,
        };
        match resp.status {
            206 => {}
            412 => return Err(changed("precondition failed (validator changed)".into())),
            416 => return Err(changed("range not satisfiable (file shrank)".into())),
            404 | 410 => {
                return Err(HttpError::Vanished {
                    url: u,
                    status: resp.status,
                });
            }
            301 | 302 | 303 | 307 | 308 => return Err(changed("now redirects elsewhere".into())),
            200 => {
                return Err(HttpError::NoRangeSupport {
                    url: u,
                    status: 200,
                });
            }
            status => return Err(HttpError::Status { url: u, status }),
        }
        if let Some(tag) = &self.validators.etag {
            if let Some(now) = resp.header("etag").filter(|now| now != tag) {
                return Err(changed(format!("etag {tag} became {now}")));
            }
        }
        if let Some(lm) = &self.validators.last_modified {
            if let Some(now) = resp.header("last-modified").filter(|now| now != lm) {
                return Err(changed(format!("last-modified {lm} became {now}")));
            }
        }
        let (s, e, total) =
            content_range(resp.header("content-range")).ok_or_else(|| HttpError::Malformed {
                url: u.clone(),
                reason: "206 without a valid content-range",
            })?;
        if total != self.validators.len {
            return Err(changed(format!(
                "length {} became {total}",
                self.validators.len
            )));
        }
        if (s, e) != (start, end) || resp.body.len() as u64 != len {
            return Err(HttpError::Malformed {
                url: u,
                reason: "206 body does not match the requested range",
            });
        }
        Ok(resp.body)
    }
}

/// Releases in-flight claims a cancelled fetch leaves behind, so waiters fetch themselves.
struct Claims {
    inner: Arc<Inner>,
    left: Vec<u64>,
}

impl Drop for Claims {
    fn drop(&mut self) {
        if self.left.is_empty() {
            return;
        }
        let mut st = lock(&self.inner.state);
        for i in &self.left {
            st.inflight.remove(i);
        }
    }
}

fn touch(lru: &mut VecDeque<u64>, i: u64) {
    if let Some(pos) = lru.iter().position(|&x| x == i) {
        lru.remove(pos);
    }
    lru.push_back(i);
}

/// Parses `bytes START-END/TOTAL`.
fn content_range(v: Option<&str>) -> Option<(u64, u64, u64)> {
    let rest = v?.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (s, e) = range.split_once('-')?;
    let (s, e, t): (u64, u64, u64) = (s.parse().ok()?, e.parse().ok()?, total.parse().ok()?);
    (s <= e && e < t).then_some((s, e, t))
}

/// Parses `bytes */TOTAL` (a 416 answer).
fn unsatisfied_total(v: Option<&str>) -> Option<u64> {
    v?.trim().strip_prefix("bytes */")?.parse().ok()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_and_refuses() {
        assert_eq!(content_range(Some("bytes 0-0/10")), Some((0, 0, 10)));
        assert_eq!(content_range(Some("bytes 5-9/10")), Some((5, 9, 10)));
        for bad in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-0/1",
            "bytes 0-0/x",
        ] {
            assert_eq!(content_range(Some(bad)), None, "{bad}");
        }
        assert_eq!(unsatisfied_total(Some("bytes */0")), Some(0));
    }
}
