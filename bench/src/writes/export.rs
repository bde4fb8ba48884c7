//! The timed CSV export: `GET /api/contacts/export/?format=csv&…` read as
//! a stream (the whole table is some 250 bytes a row: never held in
//! memory), its rows counted on the fly.

use std::time::{Duration, Instant};

use reqwest::Method;

use anyhow::{bail, Result};

use super::plan::WritePlan;
use super::results::{rate, Tally, WriteResult};
use super::send::BULK_TIMEOUT;
use crate::client::error_text;
use crate::client::http::{describe, HttpClient};
use crate::progress::Progress;

/// Counts CSV records across chunks: a newline inside a quoted field (RFC
/// 4180: `"…"`, with `""` for a quote) does not end a record.
#[derive(Debug, Default)]
pub struct CsvLines {
    lines: u64,
    in_quotes: bool,
    /// Bytes after the last record's end (a last line without newline).
    open: bool,
}

impl CsvLines {
    pub fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        // Most chunks hold no quote at all: count newlines the fast way.
        if !self.in_quotes && !chunk.contains(&b'"') {
            self.lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        } else {
            for &b in chunk {
                if b == b'"' {
                    self.in_quotes = !self.in_quotes;
                } else if b == b'\n' && !self.in_quotes {
                    self.lines += 1;
                }
            }
        }
        self.open = chunk.last() != Some(&b'\n') || self.in_quotes;
    }

    /// Records, a last one without its newline included.
    pub fn lines(&self) -> u64 {
        self.lines + u64::from(self.open)
    }

    /// Records after the header row.
    pub fn rows(&self) -> u64 {
        self.lines().saturating_sub(1)
    }
}

/// What one export transferred.
#[derive(Clone, Debug, PartialEq)]
pub struct Streamed {
    /// 0: no answer.
    pub status: u16,
    /// From sending the request to the last byte.
    pub elapsed: Duration,
    pub first_byte: Option<Duration>,
    pub bytes: u64,
    /// Rows after the header (counted for a 2xx answer only).
    pub rows: u64,
    pub error: Option<String>,
}

/// The bytes of an error's answer kept for its message.
const ERROR_BYTES: usize = 4096;

/// Sends `path` and reads the answer chunk by chunk to its end. reqwest is
/// built without its gzip feature, so no `Accept-Encoding: gzip` is sent:
/// the bytes counted are the CSV's own.
pub async fn stream(http: &HttpClient, path: &str) -> Streamed {
    let started = Instant::now();
    let mut out = Streamed { status: 0, elapsed: Duration::ZERO, first_byte: None, bytes: 0, rows: 0, error: None };
    let mut response = match http.request(Method::GET, path).timeout(BULK_TIMEOUT).send().await {
        Ok(response) => response,
        Err(e) => {
            out.elapsed = started.elapsed();
            out.error = Some(describe(&e));
            return out;
        }
    };
    out.status = response.status().as_u16();
    let success = response.status().is_success();
    let mut lines = CsvLines::default();
    let mut kept = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                out.first_byte.get_or_insert_with(|| started.elapsed());
                out.bytes += chunk.len() as u64;
                if success {
                    lines.feed(&chunk);
                } else if kept.len() < ERROR_BYTES {
                    kept.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(e) => {
                // Cut mid-body: the rows so far are kept, the export failed.
                out.error = Some(format!("the answer broke off after {} bytes: {}", out.bytes, describe(&e)));
                break;
            }
        }
    }
    out.elapsed = started.elapsed();
    out.rows = lines.rows();
    if !success {
        let body = serde_json::from_slice(&kept).ok();
        out.error = Some(error_text(out.status, body.as_ref(), &kept));
    }
    out
}

/// Exports what `plan.export_params` select; the result is returned also
/// for a failed export (an error means the API did not answer).
pub async fn run(http: &HttpClient, plan: &WritePlan, variant: &str, progress: &Progress) -> Result<WriteResult> {
    let path = plan.export_path();
    progress.message(format!("GET {path}"));
    let streamed = stream(http, &path).await;
    progress.tick();
    if streamed.status == 0 {
        bail!("no answer to the export on {variant} ({}): stopping the run", streamed.error.unwrap_or_default());
    }
    Ok(result_of(&streamed, &path, variant))
}

/// rows/s and MB/s (10^6 bytes) from the request to the last byte.
pub fn result_of(streamed: &Streamed, path: &str, variant: &str) -> WriteResult {
    let ms = streamed.elapsed.as_secs_f64() * 1000.0;
    let mut tally = Tally::default();
    tally.add(streamed.status, ms, streamed.error.as_deref());
    let mut result = tally.into_result(variant, "export", &format!("GET {path}"));
    result.rows = Some(streamed.rows);
    result.bytes = Some(streamed.bytes);
    result.first_byte_ms = streamed.first_byte.map(|d| d.as_secs_f64() * 1000.0);
    if streamed.error.is_none() {
        result.rows_per_s = rate(streamed.rows, ms);
        result.mb_per_s = rate(streamed.bytes, ms).map(|b| b / 1e6);
    }
    result.note = Some(format!("{} rows, {:.1} MB, CSV read as a stream", streamed.rows, streamed.bytes as f64 / 1e6));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_rates() {
        let streamed = Streamed {
            status: 200,
            elapsed: Duration::from_secs(10),
            first_byte: Some(Duration::from_millis(80)),
            bytes: 760_000_000,
            rows: 3_000_000,
            error: None,
        };
        let r = result_of(&streamed, "/api/contacts/export/?format=csv", "full");
        assert!(r.is_success(), "{r:?}");
        assert_eq!((r.rows_per_s, r.mb_per_s, r.first_byte_ms), (Some(300_000.0), Some(76.0), Some(80.0)));
        assert_eq!(r.request, "GET /api/contacts/export/?format=csv");
        let cut = Streamed { error: Some("the answer broke off".into()), ..streamed };
        let r = result_of(&cut, "/x", "full");
        assert_eq!((r.failed, r.rows_per_s, r.rows), (1, None, Some(3_000_000)));
    }

    fn count(chunks: &[&[u8]]) -> (u64, u64) {
        let mut c = CsvLines::default();
        for chunk in chunks {
            c.feed(chunk);
        }
        (c.lines(), c.rows())
    }

    #[test]
    fn counts_records_not_newlines() {
        assert_eq!(count(&[b"id,first_name\n1,Ada\n2,Paul\n"]), (3, 2));
        assert_eq!(count(&[b"id,first_name\n1,Ada\n2,Paul"]), (3, 2), "no final newline");
        assert_eq!(count(&[b"id,street\n1,\"Main St\nFlat 2\"\n2,\"a \"\"quoted\"\", b\"\n"]), (3, 2));
        assert_eq!(count(&[b"id,first_name\n"]), (1, 0), "header only");
        assert_eq!(count(&[]), (0, 0));
        assert_eq!(count(&[b""]), (0, 0));
    }

    #[test]
    fn records_across_chunks() {
        // Split inside a quoted field, at a newline, and between a quote pair.
        assert_eq!(count(&[b"h\n1,\"a\n", b"b\"\n2,x", b"\n3,\"q\"", b"\"z\"\n"]), (4, 3));
        assert_eq!(count(&[b"h\n1,a", b"\n", b"2,b\n"]), (3, 2));
        assert_eq!(count(&[b"h\n", b"", b"1,a"]), (2, 1));
        // Fast and slow paths agree on a large quote-free body.
        let body: Vec<u8> = (0..1000).flat_map(|i| format!("{i},name\n").into_bytes()).collect();
        let (fast, _) = count(&[&body]);
        let (slow, _) = count(&[b"\"h\"\n", &body]);
        assert_eq!((fast, slow), (1000, 1001));
    }
}
