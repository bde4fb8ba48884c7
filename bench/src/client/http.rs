//! Requests through the running API, as a client would send them: one
//! keep-alive connection, the whole body read before the clock stops.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::Value as Json;

use super::{error_text, Client, Reply};
use crate::scenarios::Request;

pub struct HttpClient {
    base: String,
    client: reqwest::Client,
}

impl HttpClient {
    /// `base` like `http://127.0.0.1:8000`; `token` sent as a bearer token;
    /// requests give up after `timeout` (longer than the API's statement
    /// timeout, which answers 504 first).
    pub fn new(base: &str, token: Option<&str>, timeout: Duration) -> Result<HttpClient> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("the API token contains characters a header cannot carry"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client =
            reqwest::Client::builder().default_headers(headers).timeout(timeout).pool_max_idle_per_host(1).build()?;
        Ok(HttpClient { base: base.trim_end_matches('/').to_string(), client })
    }

    /// Fails with one line telling what to do when the API cannot be
    /// reached (within `wait`) or refuses the bench; returns the API's
    /// contact total.
    pub async fn check(&self, wait: Duration) -> Result<u64> {
        let deadline = Instant::now() + wait;
        let mut reply = self.send(&Request::Stats).await;
        while reply.status == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            reply = self.send(&Request::Stats).await;
        }
        match reply.status {
            0 => bail!(
                "cannot reach the API at {} ({}): start it with `cargo run --release -p api` \
                 (API_BIND sets its address; `make bench` starts one), pass --api-url, \
                 or measure the SQL function directly with --via sql",
                self.base,
                reply.error.unwrap_or_default()
            ),
            401 | 403 => bail!(
                "the API at {} refused the bench ({}): pass its bearer token with --api-token or API_TOKEN",
                self.base,
                reply.status
            ),
            _ if !reply.is_success() => {
                bail!("the API at {} answered /api/contacts/stats/ with {}", self.base, reply.error.unwrap_or_default())
            }
            _ => Ok(reply.total_count().unwrap_or(0)),
        }
    }

    /// A request of any method to `path` (with its query string) of the
    /// API, on the same connection and with the same token as the reads
    /// (the write group's requests).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }
}

/// reqwest's errors chain their causes; the innermost says what happened.
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer within the client timeout".to_string();
    }
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

impl Client for HttpClient {
    fn via(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> String {
        self.base.clone()
    }

    async fn send(&self, request: &Request) -> Reply {
        let url = format!("{}{}", self.base, request.path());
        let started = Instant::now();
        let outcome = async {
            let response = self.client.get(&url).send().await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        }
        .await;
        let elapsed = started.elapsed();
        match outcome {
            Ok((status, bytes)) => {
                let body: Option<Json> = serde_json::from_slice(&bytes).ok();
                let error = match (&body, (200..300).contains(&status)) {
                    (_, false) => Some(error_text(status, body.as_ref(), &bytes)),
                    (None, true) => Some("the answer is not JSON".to_string()),
                    (Some(_), true) => None,
                };
                Reply { status, elapsed, bytes: bytes.len(), body, error }
            }
            Err(e) => Reply { status: 0, elapsed, bytes: 0, body: None, error: Some(describe(&e)) },
        }
    }
}
