//! The load mode (`--clients C --duration S`): C clients, each on its own
//! connection, send requests drawn at random from the workload, one after
//! the other, for S seconds; then requests/s, answers by status class and
//! latency percentiles. Cursor requests send their first page only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::task::JoinSet;

use super::request::{Class, WorkloadRequest};
use super::results::{Latency, LoadClass, LoadResult, Outcome, StatusCounts};
use crate::cli::{Args, Via};
use crate::client::http::HttpClient;
use crate::client::sql::SqlClient;
use crate::client::Client;
use crate::progress::Progress;
use crate::rng::Rng;
use crate::runner::http_timeout;
use crate::scenarios::Request;

/// How long requests in flight when the time is up may still take before
/// they are abandoned (and counted as cut at the end): the run stops by
/// itself, whatever the server does.
pub const GRACE: Duration = Duration::from_secs(10);

/// One answered request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub class: Class,
    pub status: u16,
    pub outcome: Outcome,
    pub latency_ms: f64,
    /// Seconds from the start of the load to the answer.
    pub done_s: f64,
}

/// What one client did.
struct ClientOutcome {
    samples: Vec<Sample>,
    cut: usize,
}

async fn client_loop<C: Client>(
    client: C,
    requests: Arc<Vec<(Class, Request)>>,
    mut rng: Rng,
    started: Instant,
    deadline: Instant,
) -> ClientOutcome {
    let mut outcome = ClientOutcome { samples: Vec::new(), cut: 0 };
    while Instant::now() < deadline {
        let (class, request) = &requests[rng.below(requests.len() as u64) as usize];
        let answer = tokio::time::timeout_at((deadline + GRACE).into(), client.send(request)).await;
        let Ok(reply) = answer else {
            outcome.cut += 1;
            break;
        };
        outcome.samples.push(Sample {
            class: *class,
            status: reply.status,
            outcome: Outcome::of(reply.status, reply.error.as_deref()),
            latency_ms: reply.elapsed_ms(),
            done_s: started.elapsed().as_secs_f64(),
        });
    }
    outcome
}

/// Runs `clients` against `requests` for `duration`.
pub async fn drive<C: Client + Send + 'static>(
    clients: Vec<C>,
    requests: &[WorkloadRequest],
    duration: Duration,
    seed: u64,
) -> LoadResult {
    let requests: Arc<Vec<(Class, Request)>> = Arc::new(requests.iter().map(|r| (r.class, r.request())).collect());
    let count = clients.len();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        let rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        tasks.spawn(client_loop(client, requests.clone(), rng, started, deadline));
    }
    let (mut samples, mut cut) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        if let Ok(done) = done {
            samples.extend(done.samples);
            cut += done.cut;
        }
    }
    aggregate(&samples, cut, count, duration.as_secs())
}

/// The load result of the answered `samples`.
pub fn aggregate(samples: &[Sample], cut: usize, clients: usize, duration_s: u64) -> LoadResult {
    let elapsed_s = samples.iter().map(|s| s.done_s).fold(duration_s as f64, f64::max);
    let class = |name: &str, mine: Vec<&Sample>| {
        let mut statuses = StatusCounts::default();
        mine.iter().for_each(|s| statuses.add(s.status, s.outcome));
        let answered: Vec<f64> = mine.iter().filter(|s| s.status != 0).map(|s| s.latency_ms).collect();
        LoadClass { class: name.to_string(), latency: Latency::of(&answered), statuses }
    };
    let mut classes = vec![class("all", samples.iter().collect())];
    for c in Class::ALL {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.class == c).collect();
        if !mine.is_empty() {
            classes.push(class(c.id(), mine));
        }
    }
    let mut statuses = classes[0].statuses;
    statuses.cut_at_end = cut;
    classes[0].statuses.cut_at_end = cut;
    let mut per_second = vec![0; elapsed_s.ceil().max(1.0) as usize];
    for s in samples {
        let at = (s.done_s.floor() as usize).min(per_second.len() - 1);
        per_second[at] += 1;
    }
    let requests = statuses.answered();
    LoadResult {
        clients,
        duration_s,
        elapsed_s,
        requests,
        requests_per_s: if elapsed_s > 0.0 { requests as f64 / elapsed_s } else { 0.0 },
        statuses,
        classes,
        per_second,
    }
}

/// `--clients` connections of the kind `--via` says, then [`drive`].
pub async fn run(
    args: &Args,
    clients: usize,
    duration: u64,
    requests: &[WorkloadRequest],
    progress: &Progress,
) -> Result<LoadResult> {
    progress.line(format!("  load: {clients} clients for {duration} s over {} requests…", requests.len()));
    progress.message(format!("load: {clients} clients for {duration} s"));
    let duration = Duration::from_secs(duration);
    Ok(match args.via {
        Via::Http => {
            let connections = (0..clients)
                .map(|_| HttpClient::new(&args.api_url, args.api_token.as_deref(), http_timeout(args)))
                .collect::<Result<Vec<_>>>()?;
            drive(connections, requests, duration, args.seed).await
        }
        Via::Sql => {
            let mut connections = Vec::with_capacity(clients);
            for _ in 0..clients {
                connections.push(SqlClient::connect(args.database_url(), args.statement_timeout).await?);
            }
            drive(connections, requests, duration, args.seed).await
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Reply;
    use crate::scenarios::Params;

    fn sample(class: Class, status: u16, ms: f64, done_s: f64) -> Sample {
        let error = (status == 404).then_some("HTTP 404: Invalid page.");
        Sample { class, status, outcome: Outcome::of(status, error), latency_ms: ms, done_s }
    }

    #[test]
    fn rates_statuses_and_percentiles() {
        let samples = vec![
            sample(Class::Search, 200, 10.0, 0.2),
            sample(Class::Search, 200, 20.0, 0.9),
            sample(Class::DeepPage, 404, 30.0, 1.5),
            sample(Class::DeepPage, 500, 40.0, 1.7),
            sample(Class::Exact, 0, 1.0, 2.5),
        ];
        let r = aggregate(&samples, 2, 4, 2);
        assert_eq!((r.clients, r.duration_s, r.requests), (4, 2, 4));
        assert_eq!(r.elapsed_s, 2.5);
        assert_eq!(r.requests_per_s, 4.0 / 2.5);
        let s = r.statuses;
        assert_eq!((s.s2xx, s.s4xx, s.invalid_page, s.s5xx, s.no_answer, s.cut_at_end), (2, 1, 1, 1, 1, 2));
        assert_eq!(r.per_second, [2, 2, 1]);
        assert_eq!(
            r.classes.iter().map(|c| c.class.as_str()).collect::<Vec<_>>(),
            ["all", "search", "exact", "deep_page"]
        );
        assert_eq!(r.classes[0].latency.unwrap().n, 4, "no answer, no latency");
        assert_eq!(r.classes[1].latency.unwrap().p50_ms, 15.0);
        assert_eq!(r.classes[2].latency, None);
        let empty = aggregate(&[], 0, 1, 0);
        assert_eq!((empty.requests, empty.requests_per_s, empty.per_second.len()), (0, 0.0, 1));
    }

    struct Instant200;

    impl Client for Instant200 {
        fn via(&self) -> &'static str {
            "fake"
        }

        fn target(&self) -> String {
            String::new()
        }

        async fn send(&self, _: &Request) -> Reply {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Reply { status: 200, elapsed: Duration::from_millis(5), bytes: 0, body: None, error: None }
        }
    }

    #[tokio::test]
    async fn clients_stop_by_themselves() {
        let requests = vec![WorkloadRequest::new(Class::Name, &Params::new(&[("name", "pa")]), 0)];
        let started = Instant::now();
        let r = drive(vec![Instant200, Instant200], &requests, Duration::from_millis(300), 1).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(r.requests > 20 && r.statuses.s2xx == r.requests, "{r:?}");
        assert_eq!(r.classes[1].class, "name");
    }
}
