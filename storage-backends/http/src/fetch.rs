//! Whole-resource GETs of small documents (a `.torrent` named by a magnet's `xs=`): redirects
//! followed, the body bounded, no range support needed.

use crate::{HttpClient, HttpError, HttpUrl};

impl HttpClient {
    /// Fetches the whole body of `url` with a plain `GET` (redirects followed up to
    /// [`HttpOptions::max_redirects`](crate::HttpOptions::max_redirects), retries as for range
    /// reads). A body longer than `max_len` is [`HttpError::TooLarge`]; any final status but
    /// `200` is an error ([`HttpError::Vanished`] for `404`/`410`). Returns the final URL and
    /// the body.
    pub async fn get(&self, url: &str, max_len: usize) -> Result<(HttpUrl, Vec<u8>), HttpError> {
        let mut url = HttpUrl::parse(url)?;
        let mut redirects = 0;
        loop {
            let resp = self.send(&url, "GET", &[], max_len).await?;
            let u = url.to_string();
            match resp.status {
                200 => {
                    let declared = resp
                        .header("content-length")
                        .and_then(|l| l.parse::<u64>().ok());
                    // The connection layer drops a body longer than `max_len` unread.
                    if declared.is_some_and(|l| l != resp.body.len() as u64) {
                        return Err(HttpError::TooLarge {
                            url: u,
                            max: max_len,
                        });
                    }
                    return Ok((url, resp.body));
                }
                301 | 302 | 303 | 307 | 308 => {
                    redirects += 1;
                    if redirects > self.options().max_redirects {
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
                }
                404 | 410 => {
                    return Err(HttpError::Vanished {
                        url: u,
                        status: resp.status,
                    });
                }
                status => return Err(HttpError::Status { url: u, status }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestServer;
    use crate::{HttpClient, HttpError, HttpOptions};

    #[tokio::test]
    async fn gets_whole_bodies_follows_redirects_and_bounds_the_size() {
        let server = TestServer::start().await.unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        server.put("/t.torrent", data.clone());
        server.redirect("/moved", "/t.torrent");
        let client = HttpClient::new(HttpOptions::default());
        let (url, body) = client.get(&server.url("/moved"), 10_000).await.unwrap();
        assert_eq!(body, data);
        assert!(url.to_string().ends_with("/t.torrent"));
        // An origin without ranges still serves whole bodies.
        server.set_no_range(true);
        let (_, body) = client.get(&server.url("/t.torrent"), 5000).await.unwrap();
        assert_eq!(body, data);
        let err = client
            .get(&server.url("/t.torrent"), 4999)
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::TooLarge { max: 4999, .. }),
            "{err}"
        );
        let err = client.get(&server.url("/none"), 10).await.unwrap_err();
        assert!(
            matches!(err, HttpError::Vanished { status: 404, .. }),
            "{err}"
        );
    }
}
