//! The timed import: M generated contacts (every other one with a new
//! address) as one NDJSON body, timed from the first byte sent to the
//! import's report; all or nothing (the API's default), so a refused row
//! leaves nothing behind.

use anyhow::{bail, Result};

use super::generate;
use super::plan::WritePlan;
use super::results::{rate, Tally, WriteResult};
use super::send::{self, IMPORT_PATH};
use crate::client::http::HttpClient;
use crate::client::Reply;
use crate::progress::Progress;
use crate::rng::Rng;

/// Salt of the generator (see `single`).
const SALT: u64 = 0x494D_504F_5254;

/// Imports `plan.import_rows` contacts; the result is returned also for a
/// refused import (an error means the API did not answer).
pub async fn run(http: &HttpClient, plan: &WritePlan, variant: &str, progress: &Progress) -> Result<WriteResult> {
    progress.message(format!("making {} NDJSON rows", plan.import_rows));
    let (body, addresses) = generate::ndjson(&mut Rng::new(plan.seed ^ SALT), &plan.marker, plan.import_rows);
    let bytes = body.len() as u64;
    progress.message(format!("POST {IMPORT_PATH} ({} rows, {:.1} MB)", plan.import_rows, bytes as f64 / 1e6));
    let reply = send::import(http, body).await;
    progress.tick();
    let result = result_of(&reply, plan.import_rows, addresses, bytes, variant);
    if reply.status == 0 {
        bail!("no answer to the import on {variant} ({}): stopping the run", reply.error.unwrap_or_default());
    }
    Ok(result)
}

/// The import's result from its answer: rows/s over the contacts created;
/// fewer created than sent is a failure.
pub fn result_of(reply: &Reply, rows: u64, addresses: u64, bytes: u64, variant: &str) -> WriteResult {
    let created = send::imported(reply);
    let mut error = reply.error.clone();
    if error.is_none() && created != Some(rows) {
        error = Some(format!("{} of {rows} rows created", created.map_or("none".to_string(), |c| c.to_string())));
    }
    let mut tally = Tally::default();
    tally.add(reply.status, reply.elapsed_ms(), error.as_deref());
    let mut result = tally.into_result(variant, "import", &format!("POST {IMPORT_PATH} (application/x-ndjson)"));
    result.rows = created;
    result.bytes = Some(bytes);
    result.rows_per_s = created.and_then(|c| rate(c, reply.elapsed_ms()));
    result.mb_per_s = rate(bytes, reply.elapsed_ms()).map(|b| b / 1e6);
    result.note = Some(format!("{rows} rows, {addresses} with a new address, {:.1} MB uploaded", bytes as f64 / 1e6));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn reply(status: u16, ms: u64, body: serde_json::Value, error: Option<&str>) -> Reply {
        Reply {
            status,
            elapsed: Duration::from_millis(ms),
            bytes: 0,
            body: Some(body),
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn rows_per_second_of_a_complete_import() {
        let ok = reply(200, 4000, json!({"created": 100000, "failed": 0, "errors": []}), None);
        let r = result_of(&ok, 100_000, 50_000, 25_000_000, "full");
        assert!(r.is_success(), "{r:?}");
        assert_eq!((r.rows, r.rows_per_s, r.mb_per_s), (Some(100_000), Some(25_000.0), Some(6.25)));
        assert_eq!(r.timing.unwrap().p50_ms, 4000.0);
        assert_eq!(r.note.as_deref(), Some("100000 rows, 50000 with a new address, 25.0 MB uploaded"));
    }

    #[test]
    fn refused_or_short_imports_fail() {
        let refused = reply(400, 50, json!({"created": 0, "failed": 1}), Some("HTTP 400: {\"created\":0}"));
        let r = result_of(&refused, 10, 5, 100, "full");
        assert_eq!((r.status, r.failed, r.rows), (400, 1, None));
        assert_eq!(r.error.as_deref(), Some("HTTP 400: {\"created\":0}"));
        let short = reply(200, 50, json!({"created": 9}), None);
        let r = result_of(&short, 10, 5, 100, "full");
        assert_eq!((r.error.as_deref(), r.rows), (Some("9 of 10 rows created"), Some(9)));
    }
}
