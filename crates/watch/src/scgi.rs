//! SCGI client: one request per connection, as rtorrent's `network.scgi.open_port` expects.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on a response (headers and body).
const MAX_RESPONSE: u64 = 256 * 1024 * 1024;

/// Sends `body` as an SCGI POST to `addr` and returns the response body (after the CGI
/// headers). The caller bounds the time.
pub async fn scgi_request(addr: SocketAddr, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    let headers = format!(
        "CONTENT_LENGTH\0{}\0SCGI\x001\0REQUEST_METHOD\0POST\0REQUEST_URI\0/RPC2\0CONTENT_TYPE\0text/xml\0",
        body.len()
    );
    let mut req = Vec::with_capacity(headers.len() + body.len() + 16);
    req.extend_from_slice(format!("{}:", headers.len()).as_bytes());
    req.extend_from_slice(headers.as_bytes());
    req.push(b',');
    req.extend_from_slice(body);
    s.write_all(&req).await?;
    let mut resp = Vec::new();
    (&mut s).take(MAX_RESPONSE).read_to_end(&mut resp).await?;
    Ok(split_body(&resp).to_vec())
}

/// The body after CGI-style headers (`Status: ...\r\n...\r\n\r\n`); the whole response if it
/// has no headers.
fn split_body(resp: &[u8]) -> &[u8] {
    if resp.starts_with(b"<") {
        return resp;
    }
    if let Some(i) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
        return &resp[i + 4..];
    }
    if let Some(i) = resp.windows(2).position(|w| w == b"\n\n") {
        return &resp[i + 2..];
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_stripped() {
        assert_eq!(
            split_body(b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n<x/>"),
            b"<x/>"
        );
        assert_eq!(split_body(b"<x/>"), b"<x/>");
        assert_eq!(split_body(b"A: b\n\n<x/>"), b"<x/>");
    }
}
