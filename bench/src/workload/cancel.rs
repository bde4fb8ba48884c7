//! The cancellation check (`--cancel-check K`, HTTP only): does a request
//! its client abandons stop running in the database? For K requests per
//! class: send it, drop it after 50 ms (closing the connection), then poll
//! `pg_stat_activity` every 5 ms until no backend is still running the
//! `contacts_page` calls that started since it was sent (capped at 5 s).
//!
//! Backends are told apart only by their query and start time, so other
//! clients of the same database can blur the result: run it on a quiet
//! server.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::request::{Class, WorkloadRequest};
use super::results::{summarize_cancel, CancelRecord, CancelResult, RequestRecord};
use crate::cli::Args;
use crate::client::http::HttpClient;
use crate::client::Client;
use crate::db::Admin;
use crate::progress::Progress;
use crate::runner::http_timeout;
use crate::scenarios::{Params, Request};

pub const DROP_AFTER: Duration = Duration::from_millis(50);
pub const POLL: Duration = Duration::from_millis(5);
pub const CAP: Duration = Duration::from_secs(5);
/// The database sees a request a little after it is sent.
const SLACK: Duration = Duration::from_millis(20);

/// The `contacts_page` calls running now that started within the last
/// `$1` seconds, other than this session's.
const ACTIVE: &str = "SELECT pid, query_start::text FROM pg_stat_activity \
     WHERE state = 'active' AND query LIKE '%contacts_page%' AND pid <> pg_backend_pid() \
     AND query_start >= clock_timestamp() - make_interval(secs => $1)";

/// How many of the given backends still run the same query.
const STILL: &str = "SELECT count(*) FROM pg_stat_activity a \
     JOIN unnest($1::int[], $2::text[]) AS s(pid, started) ON a.pid = s.pid AND a.query_start::text = s.started \
     WHERE a.state = 'active'";

/// Up to `k` requests per class: the slowest of the pass when there was
/// one (a fast request is answered before it can be dropped), otherwise
/// the first drawn ones. Distinct queries, classes in their order.
pub fn choose(records: &[RequestRecord], requests: &[WorkloadRequest], k: usize) -> Vec<(Class, String)> {
    let mut by_class: BTreeMap<Class, Vec<(f64, &str)>> = BTreeMap::new();
    if records.is_empty() {
        for (i, r) in requests.iter().enumerate() {
            by_class.entry(r.class).or_default().push((-(i as f64), &r.query));
        }
    } else {
        for r in records {
            by_class.entry(r.class).or_default().push((r.latency_ms, &r.query));
        }
    }
    let mut out = Vec::new();
    for (class, mut list) in by_class {
        list.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut chosen: Vec<&str> = Vec::new();
        for (_, query) in list {
            if chosen.len() < k && !chosen.contains(&query) {
                chosen.push(query);
            }
        }
        out.extend(chosen.into_iter().map(|q| (class, q.to_string())));
    }
    out
}

async fn active(admin: &Admin, since: Duration) -> Result<(Vec<i32>, Vec<String>)> {
    let rows = admin.session().query(ACTIVE, &[&since.as_secs_f64()]).await.context("cannot read pg_stat_activity")?;
    Ok(rows.iter().map(|r| (r.get::<_, i32>(0), r.get::<_, String>(1))).unzip())
}

/// One request: sent, dropped, watched.
async fn check_one(args: &Args, admin: &Admin, class: Class, query: &str) -> Result<CancelRecord> {
    let client = HttpClient::new(&args.api_url, args.api_token.as_deref(), http_timeout(args))?;
    let request = Request::List(Params::from_query(query));
    let sent = Instant::now();
    let answered = tokio::time::timeout(DROP_AFTER, client.send(&request)).await.is_ok();
    let mut record = CancelRecord {
        class,
        query: query.to_string(),
        answered_before_drop: answered,
        active_at_drop: 0,
        gone_ms: None,
        capped: false,
    };
    if answered {
        return Ok(record);
    }
    // The future is dropped: its connection is closed.
    drop(client);
    let dropped = Instant::now();
    let (pids, starts) = active(admin, sent.elapsed() + SLACK).await?;
    record.active_at_drop = pids.len();
    if pids.is_empty() {
        return Ok(record);
    }
    loop {
        let still: i64 = admin.session().query_one(STILL, &[&pids, &starts]).await?.get(0);
        if still == 0 || dropped.elapsed() >= CAP {
            record.capped = still > 0;
            record.gone_ms = Some(dropped.elapsed().min(CAP).as_secs_f64() * 1000.0);
            return Ok(record);
        }
        tokio::time::sleep(POLL).await;
    }
}

pub async fn run(args: &Args, admin: &Admin, chosen: &[(Class, String)], progress: &Progress) -> Result<CancelResult> {
    progress.line(format!(
        "  cancellation check: {} requests, dropped after {} ms…",
        chosen.len(),
        DROP_AFTER.as_millis()
    ));
    let mut records = Vec::new();
    for (class, query) in chosen {
        progress.message(format!("cancel check: {class} ?{query}"));
        records.push(check_one(args, admin, *class, query).await?);
    }
    Ok(CancelResult {
        drop_after_ms: DROP_AFTER.as_millis() as u64,
        cap_ms: CAP.as_millis() as u64,
        summaries: summarize_cancel(&records),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::results::Outcome;

    #[test]
    fn the_slowest_distinct_requests_per_class() {
        let record = |class, query: &str, ms| RequestRecord {
            seq: 0,
            item: 0,
            class,
            hop: 0,
            key: query.into(),
            query: query.into(),
            status: 200,
            outcome: Outcome::Ok,
            latency_ms: ms,
            count: None,
            rows: None,
            error: None,
        };
        let records = vec![
            record(Class::Search, "a", 5.0),
            record(Class::Search, "b", 50.0),
            record(Class::Search, "b", 40.0),
            record(Class::Search, "c", 20.0),
            record(Class::Exact, "d", 1.0),
        ];
        let chosen = choose(&records, &[], 2);
        assert_eq!(chosen, [(Class::Search, "b".to_string()), (Class::Search, "c".into()), (Class::Exact, "d".into())]);
        let requests: Vec<WorkloadRequest> = ["x", "y", "z"]
            .iter()
            .map(|q| WorkloadRequest { class: Class::Range, query: q.to_string(), hops: 0 })
            .collect();
        assert_eq!(choose(&[], &requests, 2), [(Class::Range, "x".to_string()), (Class::Range, "y".into())]);
    }
}
