//! The cancellation check (`--cancel-check K`, HTTP only): does a request
//! its client abandons stop running in the database? For K requests per
//! class: send it; after 50 ms note the backends running `contacts_page`
//! calls that started since it was sent (see [`ACTIVE`]), drop the request
//! (closing the connection), then poll every 5 ms until none of those
//! transactions is still running (capped at 5 s).
//!
//! Backends are told apart only by their query and start time (or, for
//! the API's role, whose queries the bench may not read, by the API's
//! application name), so other clients of the same database can blur the
//! result: run it on a quiet server.

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

/// The transactions running a `contacts_page` call now, other than this
/// session's: backends with their own `virtualxid` lock (held exactly
/// while a statement's transaction runs), identified by that virtualxid.
/// Where `pg_stat_activity` may be read (the same role, or
/// pg_read_all_stats): active, the query contains `contacts_page`, started
/// within the last `$1` seconds. The API's role (`crm_api`) hides its
/// query, state and backend type from the bench's (`crm_owner`): there the
/// backend is recognised by the API's application name. A parallel query's
/// workers count with their leader (the request is gone when all are).
const ACTIVE: &str = "SELECT l.pid, l.virtualxid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.locktype = 'virtualxid' AND l.granted AND l.pid <> pg_backend_pid() \
     AND ( \
       (a.state = 'active' AND a.query LIKE '%contacts_page%' \
        AND a.query_start >= clock_timestamp() - make_interval(secs => $1)) \
       OR (a.state IS NULL AND a.application_name = 'crm-api'))";

/// How many of those transactions still run.
const STILL: &str = "SELECT count(*) FROM pg_locks l \
     JOIN unnest($1::int[], $2::text[]) AS s(pid, vxid) ON l.pid = s.pid AND l.virtualxid = s.vxid \
     WHERE l.locktype = 'virtualxid' AND l.granted";

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
    let rows = admin.session().query(ACTIVE, &[&since.as_secs_f64()]).await.context("cannot read pg_locks")?;
    Ok(rows.iter().map(|r| (r.get::<_, i32>(0), r.get::<_, String>(1))).unzip())
}

/// One request: sent, dropped, watched.
async fn check_one(args: &Args, admin: &Admin, class: Class, query: &str) -> Result<CancelRecord> {
    let client = HttpClient::new(&args.api_url, args.api_token.as_deref(), http_timeout(args))?;
    let request = Request::List(Params::from_query(query));
    let sent = Instant::now();
    let mut send = Box::pin(client.send(&request));
    let answered = tokio::select! {
        _ = &mut send => true,
        _ = tokio::time::sleep(DROP_AFTER) => false,
    };
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
    // Which backends run it, read while it is still in flight: the API
    // cancels within a millisecond of the drop, before a read after it.
    let (pids, starts) = active(admin, sent.elapsed() + SLACK).await?;
    // Dropping the request closes its connection.
    drop(send);
    drop(client);
    let dropped = Instant::now();
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
