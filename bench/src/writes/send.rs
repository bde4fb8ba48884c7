//! The write group's requests with a body: a JSON write (POST, PATCH,
//! DELETE) and the NDJSON import, each timed from sending to having the
//! whole answer.

use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::Value as Json;

use crate::client::http::{describe, HttpClient};
use crate::client::{error_text, Reply};

/// The import and the export may last minutes at 3M rows: longer than the
/// client's timeout for one read.
pub const BULK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A 2xx answer is a success whatever its body (a DELETE's 204 has none);
/// the body is parsed when it is JSON.
async fn finish(request: reqwest::RequestBuilder) -> Reply {
    let started = Instant::now();
    let outcome = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    }
    .await;
    let elapsed = started.elapsed();
    match outcome {
        Ok((status, bytes)) => {
            let body: Option<Json> = serde_json::from_slice(&bytes).ok();
            let error = (!(200..300).contains(&status)).then(|| error_text(status, body.as_ref(), &bytes));
            Reply { status, elapsed, bytes: bytes.len(), body, error }
        }
        Err(e) => Reply { status: 0, elapsed, bytes: 0, body: None, error: Some(describe(&e)) },
    }
}

/// `method path` with `body` as JSON (none for a DELETE).
pub async fn json(http: &HttpClient, method: Method, path: &str, body: Option<&Json>) -> Reply {
    let request = http.request(method, path);
    finish(match body {
        Some(body) => request.json(body),
        None => request,
    })
    .await
}

/// `POST /api/contacts/import/` of an NDJSON body held in memory (so that
/// only the upload and the import are timed, not making the rows).
pub async fn import(http: &HttpClient, body: Vec<u8>) -> Reply {
    let request = http
        .request(Method::POST, IMPORT_PATH)
        .header(CONTENT_TYPE, "application/x-ndjson")
        .timeout(BULK_TIMEOUT)
        .body(body);
    finish(request).await
}

pub const IMPORT_PATH: &str = "/api/contacts/import/";

/// The new contact's id in a create's answer.
pub fn created_id(reply: &Reply) -> Option<i64> {
    reply.body.as_ref().filter(|_| reply.is_success())?.get("id")?.as_i64()
}

/// The import report's `created`.
pub fn imported(reply: &Reply) -> Option<u64> {
    reply.body.as_ref().filter(|_| reply.is_success())?.get("created")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Option<Json>) -> Reply {
        Reply { status, elapsed: Duration::from_millis(1), bytes: 0, body, error: None }
    }

    #[test]
    fn ids_and_reports_from_answers() {
        assert_eq!(created_id(&reply(201, Some(json!({"id": 3000001, "first_name": "A"})))), Some(3000001));
        assert_eq!(created_id(&reply(400, Some(json!({"id": ["This field is read-only."]})))), None);
        assert_eq!(created_id(&reply(201, None)), None);
        let report = json!({"created": 2000, "failed": 0, "errors_truncated": false, "errors": []});
        assert_eq!(imported(&reply(200, Some(report.clone()))), Some(2000));
        assert_eq!(imported(&reply(400, Some(report))), None);
    }
}
