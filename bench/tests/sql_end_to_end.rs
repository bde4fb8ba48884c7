//! The SQL path end to end: a private schema in the test database with
//! 2,000 generated contacts, the bench run programmatically with
//! `--via sql` over two variants, and every output checked.

mod support;

use std::path::PathBuf;

use bench::RunResults;
use support::{csv_rows, read_json, Sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_path_end_to_end_over_two_variants() {
    let sandbox = Sandbox::new().await;
    sandbox.load(2_000).await;
    assert_eq!(sandbox.variant().await, "baseline");

    let args = sandbox.args(&["--via", "sql", "--variants", "baseline,trgm", "--reps", "2"]);
    let (run, files): (RunResults, Vec<PathBuf>) = bench::run(&args).await.expect("the bench runs");

    // The run: complete, on the data loaded, the variant restored.
    let meta = &run.meta;
    assert_eq!(meta.incomplete, None);
    assert_eq!(meta.dataset.total_contacts, 2_000);
    assert_eq!((meta.via.as_str(), meta.reps), ("sql", 2));
    assert_eq!((meta.initial_variant.as_str(), meta.final_variant.as_str()), ("baseline", "baseline"));
    assert_eq!(sandbox.variant().await, "baseline");
    assert_eq!(run.variants(), ["baseline", "trgm"]);
    assert!(!meta.samples.first_name.is_empty() && !meta.samples.city.is_empty());
    assert_eq!(meta.samples.detail_ids.len(), 3);

    // Every scenario on every variant, successful, with its numbers.
    let expected: Vec<String> = bench::scenarios::all(&meta.samples)
        .iter()
        .map(|s| s.id.clone())
        .chain(
            ["pagination_selected_pages:1000", "pagination_selected_pages:50", "cursor_pages:1000", "cursor_pages:50"]
                .map(String::from),
        )
        .collect();
    assert_eq!(expected.len(), 17);
    for variant in ["baseline", "trgm"] {
        for id in &expected {
            let r = run.result(variant, id).unwrap_or_else(|| panic!("{variant} {id} missing"));
            assert_eq!((r.status, &r.error), (200, &None), "{variant} {id}: {r:?}");
            let t = r.timing.unwrap_or_else(|| panic!("{variant} {id} has no timing"));
            assert!(t.min_ms > 0.0 && t.min_ms <= t.p50_ms && t.p50_ms <= t.p95_ms && t.p95_ms <= t.max_ms);
            if !id.contains(':') || id.starts_with("sort") || id.starts_with("multi") {
                let expected_samples = if id == "detail" { 2 * 3 } else { 2 };
                assert_eq!(r.samples_ms.len(), expected_samples, "{variant} {id}");
            }
        }
        let list = run.result(variant, "initial_list_load").unwrap();
        assert_eq!((list.result_count, list.total_count), (Some(1000), Some(2000)));
        let plan = list.plan.as_ref().expect("a plan");
        assert_eq!(list.query_count, Some(plan.statements.len() as u32 + 1));
        assert!(list.query_count.unwrap() >= 2, "{list:?}");
        assert!(run.result(variant, "stats").unwrap().query_count.is_none());
        assert_eq!(run.result(variant, "detail").unwrap().result_count, Some(1));
    }
    // The projection serves trgm: its plans read crm_contact_flat.
    let trgm_plan = run.result("trgm", "sort_by_attribute:-created").unwrap().plan.as_ref().unwrap();
    assert!(trgm_plan.indexes.iter().any(|i| i.starts_with("crm_contact_flat")), "{trgm_plan:?}");
    assert!(meta.variants[1].switch.as_ref().is_some_and(|s| s.from == "baseline" && s.to == "trgm"));

    // Pagination: the original's pages and cursors at the depths reached
    // (2,000 rows: cursors at 0 and 1,000).
    for variant in ["baseline", "trgm"] {
        let pages = |mode: &str, size: u64| {
            run.pages
                .iter()
                .filter(|p| p.variant == variant && p.mode == mode && p.page_size == size)
                .collect::<Vec<_>>()
        };
        let numbered = pages("page", 50);
        assert_eq!(numbered.iter().map(|p| p.selection.as_str()).filter(|s| *s == "random").count(), 10);
        assert!(numbered.iter().any(|p| p.selection == "last" && p.page == Some(40) && p.result_count == Some(50)));
        let cursors = pages("cursor", 50);
        let measured: Vec<u64> = cursors.iter().filter(|p| p.status == 200).map(|p| p.depth).collect();
        assert_eq!(measured, [0, 1000], "{cursors:?}");
        assert!(cursors.iter().filter(|p| p.status != 200).all(|p| p
            .error
            .as_deref()
            .unwrap()
            .starts_with("not reached")));
        assert_eq!(pages("cursor_walk", 1000).len(), 2);
    }

    // The files, with the original's names.
    let ts = &meta.timestamp;
    let dir = &sandbox.out_dir;
    let mut names = vec![
        format!("benchmark_results_{ts}.json"),
        format!("benchmark_results_{ts}.csv"),
        format!("benchmark_charts_{ts}.png"),
        format!("benchmark_queries_{ts}.png"),
        "REPORT.md".to_string(),
    ];
    for size in [1000, 50] {
        names.push(format!("pagination_report_page_size_{size}_{ts}.json"));
        names.push(format!("pagination_report_page_size_{size}_{ts}.csv"));
        names.push(format!("pagination_charts_page_size_{size}_{ts}.png"));
    }
    let mut written: Vec<String> =
        files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    written.sort();
    names.sort();
    assert_eq!(written, names);
    for name in names.iter().filter(|n| n.ends_with(".png")) {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    }
    let json = read_json(&dir.join(format!("benchmark_results_{ts}.json")));
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2 * expected.len());
    for id in &expected {
        for variant in ["baseline", "trgm"] {
            let r = results.iter().find(|r| r["scenario"] == id.as_str() && r["variant"] == variant).unwrap();
            assert_eq!(r["status"], 200, "{r}");
            assert!(r["timing"]["p50_ms"].as_f64().is_some(), "{r}");
        }
    }
    let rows = csv_rows(&dir.join(format!("benchmark_results_{ts}.csv")));
    assert_eq!(rows.len(), 2 * expected.len());
    assert!(rows.iter().all(|r| &r[15] == "200"), "status column");
    let pagination = read_json(&dir.join(format!("pagination_report_page_size_50_{ts}.json")));
    assert_eq!(pagination["total_pages"], 40);
    assert_eq!(pagination["summary"].as_array().unwrap().len(), 4);
    let page_rows = csv_rows(&dir.join(format!("pagination_report_page_size_50_{ts}.csv")));
    assert_eq!(page_rows.len(), pagination["pages"].as_array().unwrap().len());
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    for r in &run.results {
        assert!(report.contains(&r.label), "REPORT.md lacks {}", r.label);
    }
    assert!(report.contains(&format!("(benchmark_charts_{ts}.png)")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_empty_database() {
    let sandbox = Sandbox::new().await;
    let error = bench::run(&sandbox.args(&["--via", "sql", "--variants", "baseline"])).await.unwrap_err();
    assert!(format!("{error:#}").contains("holds no contacts"), "{error:#}");
    assert!(!sandbox.out_dir.exists(), "nothing is written for a refused run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_says_how_to_start_the_api() {
    let sandbox = Sandbox::new().await;
    sandbox.load(20).await;
    // Nothing listens on port 9 of the loopback.
    let args = sandbox.args(&[
        "--via",
        "http",
        "--api-url",
        "http://127.0.0.1:9",
        "--api-wait",
        "1",
        "--variants",
        "baseline",
    ]);
    let started = std::time::Instant::now();
    let error = format!("{:#}", bench::run(&args).await.unwrap_err());
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "--api-wait waits");
    assert!(error.starts_with("cannot reach the API at http://127.0.0.1:9"), "{error}");
    assert!(error.contains("cargo run --release -p api") && error.contains("--via sql"), "{error}");
    assert!(!error.contains('\n'), "one line: {error}");
}
