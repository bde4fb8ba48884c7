//! The slowest requests of a pass, each explained once afterwards with
//! `crm.explain` on the bench's own session (EXPLAIN ANALYZE runs the
//! statements again, so it is not done during the timed pass).

use super::results::{Outcome, RequestRecord, SlowRequest};
use crate::client::TIMEOUT;
use crate::db::Admin;
use crate::plan::PlanSummary;
use crate::progress::Progress;
use crate::scenarios::Params;

/// How many of the slowest requests are explained.
pub const COUNT: usize = 20;

/// The `count` slowest answered requests, slowest first.
pub fn pick(records: &[RequestRecord], count: usize) -> Vec<&RequestRecord> {
    let mut answered: Vec<&RequestRecord> = records.iter().filter(|r| r.outcome != Outcome::NoAnswer).collect();
    answered.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms).then(a.seq.cmp(&b.seq)));
    answered.truncate(count);
    answered
}

fn slow(record: &RequestRecord) -> SlowRequest {
    SlowRequest {
        seq: record.seq,
        class: record.class,
        query: record.query.clone(),
        latency_ms: record.latency_ms,
        status: record.status,
        query_count: None,
        plan: None,
        explain: None,
        explain_error: None,
    }
}

/// The [`COUNT`] slowest requests with their plans (`explain` false: the
/// requests alone).
pub async fn explain(admin: &Admin, records: &[RequestRecord], explain: bool, progress: &Progress) -> Vec<SlowRequest> {
    let mut out = Vec::new();
    for record in pick(records, COUNT) {
        let mut s = slow(record);
        if !explain {
            out.push(s);
            continue;
        }
        if record.error.as_deref() == Some(TIMEOUT) {
            s.explain_error = Some("not explained: the request timed out".into());
            out.push(s);
            continue;
        }
        progress.message(format!("EXPLAIN ANALYZE of ?{}", record.query));
        match admin.explain(&Params::from_query(&record.query)).await {
            Ok(json) => {
                match PlanSummary::from_explain(&json) {
                    Ok(plan) => {
                        s.query_count = Some(plan.query_count);
                        s.plan = Some(plan.compact());
                    }
                    Err(e) => s.explain_error = Some(format!("{e:#}")),
                }
                s.explain = Some(json);
            }
            Err(e) => s.explain_error = Some(format!("{e:#}")),
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::request::Class;

    #[test]
    fn the_slowest_answered_first() {
        let record = |seq: usize, ms: f64, status: u16| RequestRecord {
            seq,
            item: seq,
            class: Class::Range,
            hop: 0,
            key: String::new(),
            query: format!("q{seq}"),
            status,
            outcome: Outcome::of(status, None),
            latency_ms: ms,
            count: None,
            rows: None,
            error: None,
        };
        let records = vec![
            record(0, 5.0, 200),
            record(1, 90.0, 0),
            record(2, 40.0, 400),
            record(3, 40.0, 200),
            record(4, 1.0, 200),
        ];
        let seqs: Vec<usize> = pick(&records, 3).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3, 0]);
        assert_eq!(pick(&records, 100).len(), 4);
        assert_eq!(slow(&records[2]).query, "q2");
    }
}
