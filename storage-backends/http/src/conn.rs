//! A small HTTP/1.1 client connection over a tokio `TcpStream`: one request at a time,
//! bounded head and body, `Content-Length` and chunked bodies, keep-alive when the server allows.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{HttpError, HttpUrl};

/// Longest response head (status line and headers) accepted.
const MAX_HEAD: usize = 32 * 1024;
/// Most headers accepted.
const MAX_HEADERS: usize = 128;

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Whether the connection may carry another request.
    pub(crate) reusable: bool,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection to an origin.
#[derive(Debug)]
pub(crate) struct Conn {
    io: BufReader<TcpStream>,
}

impl Conn {
    pub(crate) async fn connect(url: &HttpUrl) -> Result<Self, HttpError> {
        let (host, port) = url.connect_addr();
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| io_err(url, e))?;
        let _ = stream.set_nodelay(true);
        Ok(Self {
            io: BufReader::with_capacity(64 * 1024, stream),
        })
    }

    /// Sends one request and reads the whole response; a body longer than `max_body` is an
    /// error (and the connection is not reusable).
    pub(crate) async fn request(
        &mut self,
        url: &HttpUrl,
        method: &str,
        headers: &[(&str, String)],
        max_body: usize,
    ) -> Result<Response, HttpError> {
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: swarmfs-http-storage\r\nAccept-Encoding: identity\r\n",
            url.target(),
            url.host_header()
        );
        for (k, v) in headers {
            req.push_str(k);
            req.push_str(": ");
            req.push_str(v);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        let stream = self.io.get_mut();
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| io_err(url, e))?;
        self.read_response(url, method == "HEAD", max_body).await
    }

    async fn read_response(
        &mut self,
        url: &HttpUrl,
        head_only: bool,
        max_body: usize,
    ) -> Result<Response, HttpError> {
        let bad = |reason| HttpError::Malformed {
            url: url.to_string(),
            reason,
        };
        let mut line = Vec::new();
        let mut total = 0usize;
        let status_line = self.read_line(url, &mut line, &mut total).await?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..600).contains(s))
            .ok_or_else(|| bad("bad status line"))?;
        if !version.starts_with("HTTP/1.") {
            return Err(bad("not http/1.x"));
        }
        let mut reusable = version == "HTTP/1.1";
        let mut headers = Vec::new();
        loop {
            let l = self.read_line(url, &mut line, &mut total).await?;
            if l.is_empty() {
                break;
            }
            if headers.len() >= MAX_HEADERS {
                return Err(bad("too many headers"));
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| bad("header without colon"))?;
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
            reusable: false,
        };
        if let Some(c) = resp.header("connection") {
            if c.eq_ignore_ascii_case("close") {
                reusable = false;
            } else if c.eq_ignore_ascii_case("keep-alive") {
                reusable = true;
            }
        }
        if head_only || status < 200 || status == 204 || status == 304 {
            resp.reusable = reusable;
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        if chunked {
            resp.body = self.read_chunked(url, max_body).await?;
        } else if let Some(len) = resp.header("content-length") {
            let len: u64 = len.parse().map_err(|_| bad("bad content-length"))?;
            if len > max_body as u64 && status != 206 {
                // An answer we will not use the body of (a whole file instead of a range, an
                // error page): report the status, drop the connection unread.
                return Ok(resp);
            }
            if len > max_body as u64 {
                return Err(bad("body longer than expected"));
            }
            // Bounded by max_body just above.
            let mut body = vec![0u8; len as usize];
            self.io
                .read_exact(&mut body)
                .await
                .map_err(|e| io_err(url, e))?;
            resp.body = body;
        } else {
            // Body runs to the end of the connection.
            reusable = false;
            let mut body = Vec::new();
            let mut limited = (&mut self.io).take(max_body as u64 + 1);
            limited
                .read_to_end(&mut body)
                .await
                .map_err(|e| io_err(url, e))?;
            if body.len() > max_body {
                return Err(bad("body longer than expected"));
            }
            resp.body = body;
        }
        resp.reusable = reusable;
        Ok(resp)
    }

    async fn read_line(
        &mut self,
        url: &HttpUrl,
        line: &mut Vec<u8>,
        total: &mut usize,
    ) -> Result<String, HttpError> {
        line.clear();
        let mut limited = (&mut self.io).take((MAX_HEAD - *total) as u64);
        let n = limited
            .read_until(b'\n', line)
            .await
            .map_err(|e| io_err(url, e))?;
        *total += n;
        if n == 0 || line.last() != Some(&b'\n') {
            if *total >= MAX_HEAD {
                return Err(HttpError::Malformed {
                    url: url.to_string(),
                    reason: "response head too long",
                });
            }
            return Err(io_err(
                url,
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"),
            ));
        }
        let s = std::str::from_utf8(line).map_err(|_| HttpError::Malformed {
            url: url.to_string(),
            reason: "non-utf-8 response head",
        })?;
        Ok(s.trim_end_matches(['\r', '\n']).to_owned())
    }

    async fn read_chunked(&mut self, url: &HttpUrl, max_body: usize) -> Result<Vec<u8>, HttpError> {
        let bad = |reason| HttpError::Malformed {
            url: url.to_string(),
            reason,
        };
        let mut body = Vec::new();
        let mut line = Vec::new();
        loop {
            let mut total = 0;
            let l = self.read_line(url, &mut line, &mut total).await?;
            let size_str = l.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers until the empty line.
                loop {
                    let mut total = 0;
                    if self.read_line(url, &mut line, &mut total).await?.is_empty() {
                        return Ok(body);
                    }
                }
            }
            if body.len().saturating_add(size) > max_body {
                return Err(bad("body longer than expected"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.io
                .read_exact(&mut body[start..])
                .await
                .map_err(|e| io_err(url, e))?;
            let mut crlf = [0u8; 2];
            self.io
                .read_exact(&mut crlf)
                .await
                .map_err(|e| io_err(url, e))?;
            if &crlf != b"\r\n" {
                return Err(bad("chunk not followed by crlf"));
            }
        }
    }
}

pub(crate) fn io_err(url: &HttpUrl, e: std::io::Error) -> HttpError {
    HttpError::Io {
        url: url.to_string(),
        source: Arc::new(e),
    }
}
