//! The sequential pass: every drawn request once, in order, one at a time
//! on one connection; a cursor request then follows its `next` links.

use anyhow::{bail, Result};

use super::request::WorkloadRequest;
use super::results::{Outcome, RequestRecord};
use crate::client::{Client, Reply};
use crate::progress::Progress;
use crate::scenarios::Request;

/// Requests in a row without an answer that stop the pass: the API or
/// the server is gone, and the rest would only record the same failure.
const SILENT_LIMIT: usize = 3;

/// The timed requests of `requests`: each, plus its hops.
pub fn timed_requests(requests: &[WorkloadRequest]) -> u64 {
    requests.iter().map(|r| 1 + r.hops as u64).sum()
}

/// Counts answers missing in a row; fails at [`SILENT_LIMIT`].
fn check_answer(silent: &mut usize, record: &RequestRecord) -> Result<()> {
    if record.outcome != Outcome::NoAnswer {
        *silent = 0;
        return Ok(());
    }
    *silent += 1;
    if *silent >= SILENT_LIMIT {
        bail!(
            "no answer to {SILENT_LIMIT} requests in a row (last: {}): stopping the workload",
            record.error.as_deref().unwrap_or("connection lost")
        );
    }
    Ok(())
}

/// The `next` cursor of a successful page.
fn next_of(reply: &Reply) -> Option<String> {
    reply.is_success().then(|| reply.next_cursor()).flatten()
}

/// Sends `requests` in order, appending one record per timed request to
/// `out` (kept when the pass stops early).
pub async fn run<C: Client>(
    client: &C,
    requests: &[WorkloadRequest],
    progress: &Progress,
    out: &mut Vec<RequestRecord>,
) -> Result<()> {
    let mut silent = 0;
    for (item, request) in requests.iter().enumerate() {
        progress.message(format!("{} ?{}", request.class, request.query));
        let params = request.params();
        let reply = client.send(&Request::List(params.clone())).await;
        progress.tick();
        let mut next = next_of(&reply);
        out.push(RequestRecord::new(out.len(), item, request, 0, request.query.clone(), &reply));
        check_answer(&mut silent, out.last().expect("just pushed"))?;
        for hop in 1..=request.hops {
            let Some(token) = next.take() else { break };
            let params = params.with("cursor", &token);
            let reply = client.send(&Request::List(params.clone())).await;
            progress.tick();
            next = next_of(&reply);
            out.push(RequestRecord::new(out.len(), item, request, hop, params.query_string(), &reply));
            check_answer(&mut silent, out.last().expect("just pushed"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::Params;
    use crate::workload::request::Class;
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Answers cursor pages with a `next` link until the third, and
    /// records what it was sent.
    #[derive(Default)]
    struct Fake {
        sent: Mutex<Vec<String>>,
        silent: bool,
    }

    impl Client for Fake {
        fn via(&self) -> &'static str {
            "fake"
        }

        fn target(&self) -> String {
            "fake".into()
        }

        async fn send(&self, request: &Request) -> Reply {
            let path = request.path();
            self.sent.lock().unwrap().push(path.clone());
            let elapsed = Duration::from_millis(2);
            if self.silent {
                return Reply { status: 0, elapsed, bytes: 0, body: None, error: Some("refused".into()) };
            }
            let Request::List(params) = request else { unreachable!() };
            let cursor = params.0.iter().find(|(k, _)| k == "cursor").map(|(_, v)| v.clone());
            let body = match cursor.as_deref() {
                None => json!({"count": 7, "next": null, "previous": null, "results": [{"id": 1}]}),
                Some(c) => {
                    let depth = c.len();
                    let next = (depth < 3).then(|| format!("http://x/api/contacts/?cursor={}", "c".repeat(depth + 1)));
                    json!({"next": next, "previous": null, "results": [{"id": 1}, {"id": 2}]})
                }
            };
            Reply { status: 200, elapsed, bytes: 10, body: Some(body), error: None }
        }
    }

    fn requests() -> Vec<WorkloadRequest> {
        vec![
            WorkloadRequest::new(Class::Search, &Params::new(&[("search", "pa")]), 0),
            WorkloadRequest::new(Class::Cursor, &Params::new(&[("ordering", "id"), ("cursor", "")]), 5),
        ]
    }

    #[tokio::test]
    async fn cursor_requests_follow_next_links() {
        let fake = Fake::default();
        let mut out = Vec::new();
        run(&fake, &requests(), &Progress::new(true), &mut out).await.unwrap();
        // The walk ends where the list does: 3 hops of 5.
        assert_eq!(out.len(), 1 + 1 + 3);
        assert_eq!(timed_requests(&requests()), 1 + 6);
        assert_eq!(out.iter().map(|r| r.hop).collect::<Vec<_>>(), [0, 0, 1, 2, 3]);
        assert_eq!(out.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!((out[0].count, out[0].rows, out[1].count, out[1].rows), (Some(7), Some(1), None, Some(2)));
        assert_eq!(out[3].key, "ordering=id&cursor=#next2");
        assert_eq!(out[3].query, "ordering=id&cursor=cc");
        assert!(out.iter().all(|r| r.outcome == Outcome::Ok && r.latency_ms == 2.0));
        assert_eq!(fake.sent.lock().unwrap()[4], "/api/contacts/?ordering=id&cursor=ccc");
    }

    #[tokio::test]
    async fn no_answers_stop_the_pass() {
        let fake = Fake { silent: true, ..Default::default() };
        let mut out = Vec::new();
        let many: Vec<WorkloadRequest> = (0..10).map(|_| requests()[0].clone()).collect();
        let e = run(&fake, &many, &Progress::new(true), &mut out).await.unwrap_err().to_string();
        assert_eq!(out.len(), SILENT_LIMIT, "kept");
        assert!(e.contains("no answer to 3 requests in a row (last: refused)"), "{e}");
    }
}
