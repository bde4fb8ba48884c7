//! The randomized workload end to end through the SQL function: the
//! bench's field list against the server's, a generated workload on 2,000
//! contacts (every request answered as the API would, no 400), its files,
//! a replay compared with it, a short load, and a run on another variant.

mod support;

use std::collections::BTreeSet;

use bench::workload::fields;
use bench::workload::request::Class;
use bench::workload::results::Outcome;
use bench::WorkloadResults;
use support::{connect, csv_rows, read_json, test_database_url, Sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_list_is_the_servers() {
    let client = connect(&test_database_url()).await;
    let text: String = client.query_one("SELECT crm.openapi()::text", &[]).await.unwrap().get(0);
    let openapi: serde_json::Value = serde_json::from_str(&text).unwrap();
    let drift = fields::drift(&openapi);
    assert!(
        drift.is_empty(),
        "bench/src/workload/fields.rs differs from the extension's field table:\n{}",
        drift.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_replay_compare_and_load_over_sql() {
    let sandbox = Sandbox::new().await;
    sandbox.load(2_000).await;

    let args = sandbox.args(&["--via", "sql", "--workload", "250", "--seed", "3"]);
    let (run, files): (WorkloadResults, _) = bench::run_workload(&args).await.expect("the workload runs");
    assert_eq!(run.meta.incomplete, None);
    assert_eq!((run.meta.dataset.total_contacts, run.meta.source.as_str()), (2_000, "generated"));
    assert_eq!(run.requests.len(), 250);
    assert_eq!(run.runs.len(), 1);
    let pass = &run.runs[0];
    assert_eq!(pass.variant, "baseline", "the active variant, not switched");
    let hops: usize = run.requests.iter().map(|r| r.hops as usize).sum();
    assert!(pass.records.len() > 250 && pass.records.len() <= 250 + hops);
    let classes: BTreeSet<Class> = pass.records.iter().map(|r| r.class).collect();
    assert_eq!(classes.len(), Class::ALL.len());
    // The generator's requests are all valid: answered, or a page past the end.
    let failed: Vec<_> =
        pass.records.iter().filter(|r| !matches!(r.outcome, Outcome::Ok | Outcome::InvalidPage)).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(pass.records.iter().any(|r| r.class == Class::Cursor && r.hop > 0), "cursor hops");
    assert!(pass.records.iter().filter(|r| r.outcome == Outcome::Ok).all(|r| r.rows.is_some()));
    let all = &pass.summaries[0];
    assert_eq!((all.class.as_str(), all.latency.unwrap().n), ("all", pass.records.len()));
    assert_eq!(pass.slowest.len(), 20);
    for slow in &pass.slowest {
        // crm.explain raises for a page past the end, as contacts_page does.
        if slow.status == 404 {
            assert!(slow.explain_error.as_deref().is_some_and(|e| e.contains("Invalid page.")), "{slow:?}");
            continue;
        }
        let explain = slow.explain.as_ref().unwrap_or_else(|| panic!("{slow:?}"));
        assert!(explain["statements"].as_array().is_some_and(|s| !s.is_empty()), "{explain}");
        assert!(slow.query_count.unwrap() >= 2);
    }
    assert!(pass.slowest.iter().any(|s| s.explain.is_some()));

    // The files.
    let ts = &run.meta.timestamp;
    let dir = &sandbox.out_dir;
    let mut names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut expected = vec![
        format!("workload_{ts}.json"),
        format!("workload_{ts}.csv"),
        format!("workload_charts_{ts}.png"),
        "WORKLOAD.md".to_string(),
        "REPORT.md".to_string(),
    ];
    expected.sort();
    assert_eq!(names, expected);
    let json = read_json(&dir.join(format!("workload_{ts}.json")));
    assert_eq!(json["runs"][0]["records"].as_array().unwrap().len(), pass.records.len());
    assert_eq!(csv_rows(&dir.join(format!("workload_{ts}.csv"))).len(), pass.records.len());
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(report.contains("## Randomized workload") && report.contains("(WORKLOAD.md)"), "{report}");
    let workload_md = std::fs::read_to_string(dir.join("WORKLOAD.md")).unwrap();
    assert!(workload_md.contains("The 20 slowest requests"), "{workload_md}");

    // The replay sends the same requests: every key comes back.
    let file = dir.join(format!("workload_{ts}.json"));
    let replay_args = sandbox.args(&["--via", "sql", "--workload-replay", &file.to_string_lossy(), "--no-export"]);
    let (replayed, _) = bench::run_workload(&replay_args).await.expect("the replay runs");
    assert_eq!(replayed.requests, run.requests);
    let keys = |r: &WorkloadResults| r.runs[0].records.iter().map(|x| x.key.clone()).collect::<BTreeSet<_>>();
    assert_eq!(keys(&replayed), keys(&run));
    let replay_file = dir.join("replay.json");
    bench::workload::export::write_json(&replay_file, &replayed).unwrap();
    let text = bench::workload::compare::run(&file, &replay_file).unwrap();
    assert!(text.contains(&format!("requests in both: {} (only in A: 0, only in B: 0)", keys(&run).len())), "{text}");

    // A short load: two clients, one second.
    let load_args =
        sandbox.args(&["--via", "sql", "--workload", "30", "--clients", "2", "--duration", "1", "--no-export"]);
    let (loaded, _) = bench::run_workload(&load_args).await.expect("the load runs");
    let load = loaded.runs[0].load.as_ref().expect("a load result");
    assert!(loaded.runs[0].records.is_empty(), "no sequential pass in load mode");
    assert!(load.requests > 10 && load.requests_per_s > 0.0, "{load:?}");
    assert_eq!((load.statuses.s5xx, load.statuses.no_answer), (0, 0), "{load:?}");
    assert_eq!(load.statuses.s2xx + load.statuses.s4xx, load.requests);

    // With --variants: on each, then the variant of the start is back.
    let switched = sandbox.args(&["--via", "sql", "--workload", "20", "--variants", "trgm", "--no-export"]);
    let (on_trgm, _) = bench::run_workload(&switched).await.expect("the workload runs on trgm");
    assert_eq!(on_trgm.runs.iter().map(|r| r.variant.as_str()).collect::<Vec<_>>(), ["trgm"]);
    assert!(on_trgm.runs[0].switch.as_ref().is_some_and(|s| s.from == "baseline"));
    assert_eq!((on_trgm.meta.initial_variant.as_str(), on_trgm.meta.final_variant.as_str()), ("baseline", "baseline"));
    assert_eq!(sandbox.variant().await, "baseline");
    assert!(on_trgm.runs[0].records.iter().all(|r| matches!(r.outcome, Outcome::Ok | Outcome::InvalidPage)));
}
