//! What the write group measures, per variant and operation, and what its
//! cleanup did.

use serde::{Deserialize, Serialize};

use crate::stats::Timing;

/// The operations, in the order they run and are shown.
pub const OPERATIONS: [&str; 5] = ["create", "update", "delete", "import", "export"];

/// One operation on one variant: N timed requests (create, update,
/// delete) or one timed transfer (import, export).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WriteResult {
    pub variant: String,
    /// One of [`OPERATIONS`].
    pub operation: String,
    /// Method and path (`{id}` for the single writes).
    pub request: String,
    /// Over every answered request (failed ones included: a refusal costs
    /// time too).
    pub timing: Option<Timing>,
    pub samples_ms: Vec<f64>,
    pub requests: u64,
    /// Requests answered outside 2xx, or without an answer.
    pub failed: u64,
    /// Contacts imported, or rows exported (CSV header not counted).
    pub rows: Option<u64>,
    /// Bytes uploaded (import) or downloaded (export).
    pub bytes: Option<u64>,
    /// Export: from sending the request to its first byte.
    pub first_byte_ms: Option<f64>,
    pub rows_per_s: Option<f64>,
    /// 10^6 bytes per second.
    pub mb_per_s: Option<f64>,
    /// The first failure's status, else the last answer's.
    pub status: u16,
    /// The first failure.
    pub error: Option<String>,
    pub note: Option<String>,
}

impl WriteResult {
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.error.is_none() && self.timing.is_some()
    }
}

/// `count` per second over `elapsed_ms`.
pub fn rate(count: u64, elapsed_ms: f64) -> Option<f64> {
    (elapsed_ms > 0.0 && elapsed_ms.is_finite()).then(|| count as f64 / (elapsed_ms / 1000.0))
}

/// The answers of N requests of one operation, as they come.
#[derive(Debug, Default)]
pub struct Tally {
    samples: Vec<f64>,
    failed: u64,
    first_failure: Option<(u16, String)>,
    last_status: u16,
}

impl Tally {
    /// One answer: its status (0: none), time, and error for a failure.
    pub fn add(&mut self, status: u16, elapsed_ms: f64, error: Option<&str>) {
        self.samples.push(elapsed_ms);
        self.last_status = status;
        let failed = !(200..300).contains(&status) || error.is_some();
        if failed {
            self.failed += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some((status, error.unwrap_or("failed").to_string()));
            }
        }
    }

    pub fn into_result(self, variant: &str, operation: &str, request: &str) -> WriteResult {
        let (status, error) = match self.first_failure {
            Some((status, error)) => (status, Some(error)),
            None => (self.last_status, None),
        };
        WriteResult {
            variant: variant.to_string(),
            operation: operation.to_string(),
            request: request.to_string(),
            timing: Timing::of(&self.samples),
            requests: self.samples.len() as u64,
            samples_ms: self.samples,
            failed: self.failed,
            rows: None,
            bytes: None,
            first_byte_ms: None,
            rows_per_s: None,
            mb_per_s: None,
            status,
            error,
            note: None,
        }
    }
}

/// What the cleanup after a variant's writes did (not timed as a result).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cleanup {
    pub contacts_deleted: u64,
    pub addresses_deleted: u64,
    /// The two DELETE statements.
    pub delete_s: f64,
    /// `VACUUM ANALYZE` of the tables (and the projection) afterwards.
    /// `None`: not vacuumed (`--no-vacuum`).
    pub vacuum_s: Option<f64>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_of_requests() {
        let mut t = Tally::default();
        for ms in [3.0, 1.0, 2.0] {
            t.add(201, ms, None);
        }
        let r = t.into_result("full", "create", "POST /api/contacts/");
        assert_eq!((r.requests, r.failed, r.status, r.error.as_deref()), (3, 0, 201, None));
        assert_eq!(r.timing.map(|t| (t.p50_ms, t.max_ms)), Some((2.0, 3.0)));
        assert!(r.is_success());

        let mut t = Tally::default();
        t.add(200, 1.0, None);
        t.add(400, 2.0, Some("HTTP 400: bad"));
        t.add(0, 3.0, Some("connection refused"));
        t.add(200, 4.0, None);
        let r = t.into_result("full", "update", "PATCH /api/contacts/{id}/");
        assert_eq!((r.requests, r.failed, r.status, r.error.as_deref()), (4, 2, 400, Some("HTTP 400: bad")));
        assert!(!r.is_success());
        assert!(!Tally::default().into_result("full", "delete", "x").is_success(), "no requests, no timing");
    }

    #[test]
    fn rates() {
        assert_eq!(rate(100_000, 4000.0), Some(25_000.0));
        assert_eq!(rate(1, 0.0), None);
        assert_eq!(rate(1, f64::NAN), None);
    }
}
