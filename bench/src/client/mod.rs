//! The two ways to reach the system, behind one trait: HTTP against the
//! running API ([`http`]) and the SQL function the API calls ([`sql`]).
//! Both answer with an HTTP status (the SQL outcome mapped as the API maps
//! it), so their results compare line by line.

pub mod http;
pub mod sql;

use std::future::Future;
use std::time::Duration;

use serde_json::Value as Json;

use crate::scenarios::Request;

/// What a timed-out statement is reported as (SQLSTATE 57014, HTTP 504).
pub const TIMEOUT: &str = "TIMEOUT";

/// One answer, timed from sending the request to having the whole body.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The HTTP status, or for SQL the status the API would answer; 0 when
    /// there was no answer at all (connection failure).
    pub status: u16,
    pub elapsed: Duration,
    pub bytes: usize,
    /// The parsed body (also for errors, where it is the error's JSON).
    pub body: Option<Json>,
    /// `TIMEOUT`, or what went wrong, for every status outside 2xx.
    pub error: Option<String>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_timeout(&self) -> bool {
        self.error.as_deref() == Some(TIMEOUT)
    }

    pub fn elapsed_ms(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1000.0
    }

    /// Contacts in the answer: the page's results, or 1 for a contact.
    pub fn result_count(&self) -> Option<u64> {
        let body = self.body.as_ref().filter(|_| self.is_success())?;
        match body.get("results") {
            Some(Json::Array(results)) => Some(results.len() as u64),
            _ if body.get("id").is_some() => Some(1),
            _ => None,
        }
    }

    /// The page's `count` (absent in cursor pages), or the stats' total.
    pub fn total_count(&self) -> Option<u64> {
        let body = self.body.as_ref().filter(|_| self.is_success())?;
        body.get("count").or_else(|| body.get("total_contacts")).and_then(Json::as_u64)
    }

    /// The `cursor` parameter of the `next` link.
    pub fn next_cursor(&self) -> Option<String> {
        let link = self.body.as_ref()?.get("next")?.as_str()?;
        cursor_of_link(link)
    }
}

/// The `cursor` query parameter of an absolute or relative (`?…`) link.
pub fn cursor_of_link(link: &str) -> Option<String> {
    let (_, query) = link.split_once('?')?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "cursor").map(|(_, v)| v.into_owned())
}

/// The error text of a non-2xx answer: `TIMEOUT` for 504, otherwise the
/// status with the body's `detail` (or the body itself, shortened).
pub fn error_text(status: u16, body: Option<&Json>, raw: &[u8]) -> String {
    if status == 504 {
        return TIMEOUT.to_string();
    }
    let detail = match body {
        Some(Json::Object(o)) => match o.get("detail") {
            Some(Json::String(d)) => d.clone(),
            _ => Json::Object(o.clone()).to_string(),
        },
        Some(other) => other.to_string(),
        None => String::from_utf8_lossy(raw).into_owned(),
    };
    let detail: String = detail.chars().take(300).collect();
    if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    }
}

/// A way to send the API's requests.
pub trait Client: Sync {
    /// `http` or `sql`.
    fn via(&self) -> &'static str;
    /// Where the requests go, for the report (no secrets).
    fn target(&self) -> String;
    fn send(&self, request: &Request) -> impl Future<Output = Reply> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Json) -> Reply {
        Reply { status, elapsed: Duration::from_millis(3), bytes: 10, body: Some(body), error: None }
    }

    #[test]
    fn counts_from_bodies() {
        let page = reply(200, json!({"count": 42, "next": null, "previous": null, "results": [{"id": 1}, {"id": 2}]}));
        assert_eq!((page.result_count(), page.total_count()), (Some(2), Some(42)));
        let contact = reply(200, json!({"id": 7, "first_name": "Paul"}));
        assert_eq!((contact.result_count(), contact.total_count()), (Some(1), None));
        let stats = reply(200, json!({"total_contacts": 3000000, "contacts_with_address": 1}));
        assert_eq!((stats.result_count(), stats.total_count()), (None, Some(3_000_000)));
        let missing = reply(404, json!({"detail": "Invalid page."}));
        assert_eq!((missing.result_count(), missing.total_count()), (None, None));
        assert_eq!(page.elapsed_ms(), 3.0);
    }

    #[test]
    fn cursors_from_links() {
        let absolute = "http://127.0.0.1:8000/api/contacts/?cursor=eyJvIjoiLWNyZWF0ZWQsLWlkIn0&page_size=1000";
        assert_eq!(cursor_of_link(absolute).as_deref(), Some("eyJvIjoiLWNyZWF0ZWQsLWlkIn0"));
        assert_eq!(cursor_of_link("?page_size=50&cursor=a%2Bb").as_deref(), Some("a+b"));
        assert_eq!(cursor_of_link("?page=2"), None);
        assert_eq!(cursor_of_link("no query"), None);
        let r = reply(200, json!({"next": "?cursor=abc", "previous": null, "results": []}));
        assert_eq!(r.next_cursor().as_deref(), Some("abc"));
        assert_eq!(reply(200, json!({"next": null})).next_cursor(), None);
    }

    #[test]
    fn error_texts() {
        assert_eq!(error_text(504, Some(&json!({"detail": "The query took longer"})), b""), "TIMEOUT");
        assert_eq!(error_text(404, Some(&json!({"detail": "Invalid page."})), b""), "HTTP 404: Invalid page.");
        assert_eq!(
            error_text(400, Some(&json!({"page_size": ["Enter a whole number."]})), b""),
            r#"HTTP 400: {"page_size":["Enter a whole number."]}"#
        );
        assert_eq!(error_text(502, None, b"Bad Gateway"), "HTTP 502: Bad Gateway");
        assert_eq!(error_text(500, None, b""), "HTTP 500");
        assert_eq!(error_text(500, None, "x".repeat(1000).as_bytes()).len(), "HTTP 500: ".len() + 300);
    }
}
