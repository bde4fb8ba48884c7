//! What a workload run produces, as written to `workload_<ts>.json` (and
//! one CSV row per request).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::request::{Class, WorkloadRequest};
use crate::client::Reply;
use crate::db::{Dataset, Switch};
use crate::results::Machine;
use crate::stats::percentile;

/// How a request ended. A page past the end is a legitimate answer of the
/// API (404 `Invalid page.`), counted apart from the errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    InvalidPage,
    Error,
    NoAnswer,
}

impl Outcome {
    pub fn of(status: u16, error: Option<&str>) -> Outcome {
        match status {
            0 => Outcome::NoAnswer,
            200..=299 => Outcome::Ok,
            404 if error.is_some_and(|e| e.ends_with("Invalid page.")) => Outcome::InvalidPage,
            _ => Outcome::Error,
        }
    }
}

/// One timed request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Order of sending.
    pub seq: usize,
    /// Index of the drawn request in `requests`.
    pub item: usize,
    pub class: Class,
    /// 0 for the request itself, k for the k-th `next` link of a cursor.
    pub hop: u8,
    /// Matches the request across runs (see `request::key`).
    pub key: String,
    /// The query string sent.
    pub query: String,
    pub status: u16,
    pub outcome: Outcome,
    pub latency_ms: f64,
    /// The page's `count` (absent for cursor pages and failures).
    pub count: Option<u64>,
    /// Contacts in the page.
    pub rows: Option<u64>,
    pub error: Option<String>,
}

impl RequestRecord {
    pub fn new(seq: usize, item: usize, request: &WorkloadRequest, hop: u8, query: String, reply: &Reply) -> Self {
        RequestRecord {
            seq,
            item,
            class: request.class,
            hop,
            key: super::request::key(&request.query, hop),
            query,
            status: reply.status,
            outcome: Outcome::of(reply.status, reply.error.as_deref()),
            latency_ms: reply.elapsed_ms(),
            count: reply.total_count(),
            rows: reply.result_count(),
            error: reply.error.clone(),
        }
    }
}

/// Latency percentiles (linear interpolation between ranks), ms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(samples: &[f64]) -> Option<Latency> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|s| s.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Latency {
            n: sorted.len(),
            p50_ms: percentile(&sorted, 50.0),
            p90_ms: percentile(&sorted, 90.0),
            p95_ms: percentile(&sorted, 95.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted[sorted.len() - 1],
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }
}

/// Requests by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub ok: usize,
    pub invalid_page: usize,
    pub error: usize,
    pub no_answer: usize,
}

impl Outcomes {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::InvalidPage => self.invalid_page += 1,
            Outcome::Error => self.error += 1,
            Outcome::NoAnswer => self.no_answer += 1,
        }
    }
}

/// The requests of one class (or `all`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// A class id, or `all`.
    pub class: String,
    /// Over every answered request (errors and 404 pages too: their time
    /// was spent); `None` without one.
    pub latency: Option<Latency>,
    pub outcomes: Outcomes,
}

/// `all` first, then the classes present, in their order.
pub fn summarize(records: &[RequestRecord]) -> Vec<Summary> {
    let summary = |class: String, records: Vec<&RequestRecord>| {
        let mut outcomes = Outcomes::default();
        records.iter().for_each(|r| outcomes.add(r.outcome));
        let answered: Vec<f64> =
            records.iter().filter(|r| r.outcome != Outcome::NoAnswer).map(|r| r.latency_ms).collect();
        Summary { class, latency: Latency::of(&answered), outcomes }
    };
    let mut out = vec![summary("all".into(), records.iter().collect())];
    for class in Class::ALL {
        let mine: Vec<&RequestRecord> = records.iter().filter(|r| r.class == class).collect();
        if !mine.is_empty() {
            out.push(summary(class.id().into(), mine));
        }
    }
    out
}

/// One of the slowest requests, with what `crm.explain` says of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowRequest {
    pub seq: usize,
    pub class: Class,
    pub query: String,
    pub latency_ms: f64,
    pub status: u16,
    /// The statements it ran plus the call itself.
    pub query_count: Option<u32>,
    /// One line per statement (see `plan::PlanSummary::compact`).
    pub plan: Option<String>,
    /// `crm.explain(params)` as it answered.
    pub explain: Option<Json>,
    pub explain_error: Option<String>,
}

/// Answers by status class, for the load mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub s2xx: usize,
    /// Every 4xx, the `Invalid page.` 404s included.
    pub s4xx: usize,
    pub invalid_page: usize,
    pub s5xx: usize,
    pub no_answer: usize,
    /// In flight when the time was up and not answered within the grace
    /// period (not counted elsewhere).
    pub cut_at_end: usize,
}

impl StatusCounts {
    pub fn add(&mut self, status: u16, outcome: Outcome) {
        match status {
            0 => self.no_answer += 1,
            200..=299 => self.s2xx += 1,
            400..=499 => self.s4xx += 1,
            _ => self.s5xx += 1,
        }
        if outcome == Outcome::InvalidPage {
            self.invalid_page += 1;
        }
    }

    pub fn answered(&self) -> usize {
        self.s2xx + self.s4xx + self.s5xx
    }
}

/// One class (or `all`) under load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadClass {
    pub class: String,
    pub latency: Option<Latency>,
    pub statuses: StatusCounts,
}

/// `--clients C --duration S`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    pub clients: usize,
    pub duration_s: u64,
    /// From the start to the last answer.
    pub elapsed_s: f64,
    /// Answered requests.
    pub requests: usize,
    pub requests_per_s: f64,
    pub statuses: StatusCounts,
    /// `all` first, then per class.
    pub classes: Vec<LoadClass>,
    /// Answers completed in each second of the run.
    pub per_second: Vec<usize>,
}

/// One request of the cancellation check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelRecord {
    pub class: Class,
    pub query: String,
    /// The answer came before the drop: nothing to cancel.
    pub answered_before_drop: bool,
    /// Backends running `contacts_page` (started since the request was
    /// sent) at the drop, parallel workers included.
    pub active_at_drop: usize,
    /// From the drop until none of them was active any more, capped.
    pub gone_ms: Option<f64>,
    /// Still active at the cap.
    pub capped: bool,
}

/// The cancellation check of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelSummary {
    pub class: String,
    pub requests: usize,
    pub answered_before_drop: usize,
    /// Requests whose query was seen running at the drop.
    pub cancelled: usize,
    pub median_gone_ms: Option<f64>,
    pub max_gone_ms: Option<f64>,
    pub capped: usize,
}

pub fn summarize_cancel(records: &[CancelRecord]) -> Vec<CancelSummary> {
    Class::ALL
        .iter()
        .filter_map(|class| {
            let mine: Vec<&CancelRecord> = records.iter().filter(|r| r.class == *class).collect();
            if mine.is_empty() {
                return None;
            }
            let mut gone: Vec<f64> = mine.iter().filter(|r| r.active_at_drop > 0).filter_map(|r| r.gone_ms).collect();
            gone.sort_by(f64::total_cmp);
            Some(CancelSummary {
                class: class.id().into(),
                requests: mine.len(),
                answered_before_drop: mine.iter().filter(|r| r.answered_before_drop).count(),
                cancelled: gone.len(),
                median_gone_ms: (!gone.is_empty()).then(|| percentile(&gone, 50.0)),
                max_gone_ms: gone.last().copied(),
                capped: mine.iter().filter(|r| r.capped).count(),
            })
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelResult {
    pub drop_after_ms: u64,
    pub cap_ms: u64,
    pub records: Vec<CancelRecord>,
    pub summaries: Vec<CancelSummary>,
}

/// The workload on one variant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRun {
    pub variant: String,
    /// `None` when the variant was active already.
    pub switch: Option<Switch>,
    /// The sequential pass, in order (empty in load mode).
    pub records: Vec<RequestRecord>,
    pub summaries: Vec<Summary>,
    pub slowest: Vec<SlowRequest>,
    pub load: Option<LoadResult>,
    pub cancel: Option<CancelResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadMeta {
    /// The `<ts>` of the file names.
    pub timestamp: String,
    pub started_at: String,
    pub finished_at: String,
    pub via: String,
    pub target: String,
    pub database: String,
    pub dataset: Dataset,
    pub seed: u64,
    /// `generated` or `replay of <file>`.
    pub source: String,
    /// Sample contacts the values were drawn from (0 for a replay).
    pub sample_rows: usize,
    pub statement_timeout_ms: u64,
    pub explain: bool,
    pub clients: Option<usize>,
    pub duration_s: Option<u64>,
    pub cancel_check: Option<usize>,
    pub initial_variant: String,
    pub final_variant: String,
    /// Why the run stopped early, when it did.
    pub incomplete: Option<String>,
    pub machine: Machine,
    pub bench_version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadResults {
    pub meta: WorkloadMeta,
    /// The drawn (or replayed) requests.
    pub requests: Vec<WorkloadRequest>,
    pub runs: Vec<WorkloadRun>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(class: Class, ms: f64, status: u16, error: Option<&str>) -> RequestRecord {
        RequestRecord {
            seq: 0,
            item: 0,
            class,
            hop: 0,
            key: "k".into(),
            query: "q".into(),
            status,
            outcome: Outcome::of(status, error),
            latency_ms: ms,
            count: None,
            rows: None,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::of(200, None), Outcome::Ok);
        assert_eq!(Outcome::of(404, Some("HTTP 404: Invalid page.")), Outcome::InvalidPage);
        assert_eq!(Outcome::of(404, Some("HTTP 404: Invalid cursor")), Outcome::Error);
        assert_eq!(Outcome::of(400, Some("HTTP 400: {}")), Outcome::Error);
        assert_eq!(Outcome::of(0, Some("connection refused")), Outcome::NoAnswer);
        let mut s = StatusCounts::default();
        s.add(404, Outcome::InvalidPage);
        s.add(504, Outcome::Error);
        s.add(0, Outcome::NoAnswer);
        s.add(200, Outcome::Ok);
        assert_eq!((s.s2xx, s.s4xx, s.invalid_page, s.s5xx, s.no_answer, s.answered()), (1, 1, 1, 1, 1, 3));
    }

    #[test]
    fn percentiles_overall_and_per_class() {
        let l = Latency::of(&(1..=100).map(f64::from).collect::<Vec<_>>()).unwrap();
        assert_eq!((l.n, l.p50_ms, l.max_ms, l.mean_ms), (100, 50.5, 100.0, 50.5));
        assert!((l.p90_ms - 90.1).abs() < 1e-9 && (l.p99_ms - 99.01).abs() < 1e-9);
        let records = vec![
            record(Class::Search, 10.0, 200, None),
            record(Class::Search, 30.0, 404, Some("HTTP 404: Invalid page.")),
            record(Class::Cursor, 5.0, 200, None),
            record(Class::Cursor, 9000.0, 0, Some("gone")),
        ];
        let s = summarize(&records);
        assert_eq!(s.iter().map(|s| s.class.as_str()).collect::<Vec<_>>(), ["all", "search", "cursor"]);
        assert_eq!(s[0].latency.unwrap().n, 3, "no answer, no latency");
        assert_eq!(s[0].outcomes, Outcomes { ok: 2, invalid_page: 1, error: 0, no_answer: 1 });
        assert_eq!(s[1].latency.unwrap().p50_ms, 20.0);
        assert_eq!(s[2].latency.unwrap().max_ms, 5.0);
    }

    #[test]
    fn cancel_summaries() {
        let r = |class, active, gone: Option<f64>, capped| CancelRecord {
            class,
            query: String::new(),
            answered_before_drop: gone.is_none() && active == 0,
            active_at_drop: active,
            gone_ms: gone,
            capped,
        };
        let s = summarize_cancel(&[
            r(Class::Search, 1, Some(10.0), false),
            r(Class::Search, 1, Some(30.0), false),
            r(Class::Search, 1, Some(5000.0), true),
            r(Class::Search, 0, None, false),
            r(Class::DeepPage, 0, Some(0.0), false),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].requests, s[0].cancelled, s[0].answered_before_drop, s[0].capped), (4, 3, 1, 1));
        assert_eq!((s[0].median_gone_ms, s[0].max_gone_ms), (Some(30.0), Some(5000.0)));
        assert_eq!((s[1].cancelled, s[1].median_gone_ms), (0, None));
    }
}
