//! The result files, with the original's names (docs/compatibility.md, "Benchmark"):
//! `benchmark_results_<ts>.json|.csv`, `pagination_report_page_size_<n>_<ts>.json|.csv`
//! (charts: see `charts`, the report: `report`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::json;

use crate::results::{PageResult, RunResults, ScenarioResult};
use crate::scenarios;
use crate::writes::{self, WriteResult};

/// The files of one run.
pub struct OutputFiles {
    pub dir: PathBuf,
    pub timestamp: String,
}

impl OutputFiles {
    pub fn new(dir: &Path, timestamp: &str) -> OutputFiles {
        OutputFiles { dir: dir.to_path_buf(), timestamp: timestamp.to_string() }
    }

    fn file(&self, name: String) -> PathBuf {
        self.dir.join(name)
    }

    pub fn results_json(&self) -> PathBuf {
        self.file(format!("benchmark_results_{}.json", self.timestamp))
    }

    pub fn results_csv(&self) -> PathBuf {
        self.file(format!("benchmark_results_{}.csv", self.timestamp))
    }

    pub fn charts_png(&self) -> PathBuf {
        self.file(format!("benchmark_charts_{}.png", self.timestamp))
    }

    /// Query counts, time against query count and the spread of the
    /// samples, per scenario.
    pub fn queries_png(&self) -> PathBuf {
        self.file(format!("benchmark_queries_{}.png", self.timestamp))
    }

    pub fn pagination_json(&self, page_size: u64) -> PathBuf {
        self.file(format!("pagination_report_page_size_{page_size}_{}.json", self.timestamp))
    }

    pub fn pagination_csv(&self, page_size: u64) -> PathBuf {
        self.file(format!("pagination_report_page_size_{page_size}_{}.csv", self.timestamp))
    }

    pub fn pagination_png(&self, page_size: u64) -> PathBuf {
        self.file(format!("pagination_charts_page_size_{page_size}_{}.png", self.timestamp))
    }

    pub fn report(&self) -> PathBuf {
        self.dir.join("REPORT.md")
    }
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| format!("cannot write {}", path.display()))?))
}

/// `{"meta": …, "results": [every scenario on every variant]}`, and
/// `"writes": [every write operation on every variant]` when the write
/// group ran.
pub fn write_results_json(path: &Path, run: &RunResults) -> Result<()> {
    let mut out = create(path)?;
    let mut document = json!({"meta": run.meta, "results": run.results});
    if !run.writes.is_empty() {
        document["writes"] = json!(run.writes);
    }
    serde_json::to_writer_pretty(&mut out, &document)?;
    out.flush()?;
    Ok(())
}

/// The pages of one page size, with their summary lines.
pub fn pagination_json(run: &RunResults, page_size: u64) -> serde_json::Value {
    let pages: Vec<&PageResult> = run.pages.iter().filter(|p| p.page_size == page_size).collect();
    let names = [format!("pagination_selected_pages:{page_size}"), format!("cursor_pages:{page_size}")];
    let summaries: Vec<&ScenarioResult> = run.results.iter().filter(|r| names.contains(&r.scenario)).collect();
    json!({
        "meta": run.meta,
        "page_size": page_size,
        "total_pages": scenarios::page_count(run.meta.dataset.total_contacts, page_size),
        "summary": summaries,
        "pages": pages,
    })
}

pub fn write_pagination_json(path: &Path, run: &RunResults, page_size: u64) -> Result<()> {
    let mut out = create(path)?;
    serde_json::to_writer_pretty(&mut out, &pagination_json(run, page_size))?;
    out.flush()?;
    Ok(())
}

fn ms(v: Option<f64>) -> Option<String> {
    v.map(|v| format!("{v:.3}"))
}

/// A CSV line of `benchmark_results_<ts>.csv`.
#[derive(Serialize)]
struct ResultRow<'a> {
    variant: &'a str,
    scenario: String,
    group: &'a str,
    label: &'a str,
    via: &'a str,
    request: &'a str,
    n: usize,
    min_ms: Option<String>,
    p50_ms: Option<String>,
    p95_ms: Option<String>,
    max_ms: Option<String>,
    mean_ms: Option<String>,
    query_count: Option<u32>,
    result_count: Option<u64>,
    total_count: Option<u64>,
    status: u16,
    error: Option<&'a str>,
    response_bytes: Option<u64>,
    plan_execution_ms: Option<String>,
    plan_planning_ms: Option<String>,
    plan_shared_hit: Option<u64>,
    plan_shared_read: Option<u64>,
    plan_temp_blocks: Option<u64>,
    plan_seq_scans: Option<String>,
    plan_indexes: Option<String>,
    plan: Option<String>,
    note: Option<String>,
    /// The write group's import and export (empty for reads).
    rows_per_s: Option<String>,
    mb_per_s: Option<String>,
}

pub fn results_csv<W: Write>(out: W, run: &RunResults) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for r in &run.results {
        let t = r.timing;
        let p = r.plan.as_ref();
        writer.serialize(ResultRow {
            variant: &r.variant,
            scenario: r.scenario.clone(),
            group: &r.group,
            label: &r.label,
            via: &r.via,
            request: &r.request,
            n: t.map_or(0, |t| t.n),
            min_ms: ms(t.map(|t| t.min_ms)),
            p50_ms: ms(t.map(|t| t.p50_ms)),
            p95_ms: ms(t.map(|t| t.p95_ms)),
            max_ms: ms(t.map(|t| t.max_ms)),
            mean_ms: ms(t.map(|t| t.mean_ms)),
            query_count: r.query_count,
            result_count: r.result_count,
            total_count: r.total_count,
            status: r.status,
            error: r.error.as_deref(),
            response_bytes: r.response_bytes,
            plan_execution_ms: ms(p.map(|p| p.execution_ms)),
            plan_planning_ms: ms(p.map(|p| p.planning_ms)),
            plan_shared_hit: p.map(|p| p.shared_hit),
            plan_shared_read: p.map(|p| p.shared_read),
            plan_temp_blocks: p.map(|p| p.temp_blocks),
            plan_seq_scans: p.map(|p| p.seq_scans.join(" ")),
            plan_indexes: p.map(|p| p.indexes.join(" ")),
            plan: p.map(|p| p.compact()).or_else(|| r.plan_error.clone()),
            note: r.note.clone(),
            rows_per_s: None,
            mb_per_s: None,
        })?;
    }
    for w in &run.writes {
        writer.serialize(write_row(w))?;
    }
    writer.flush()?;
    Ok(())
}

/// A write operation as a line of the results CSV: scenario
/// `writes:<operation>`, rows in `result_count`, bytes in `response_bytes`.
fn write_row(w: &WriteResult) -> ResultRow<'_> {
    let t = w.timing;
    let rate = |v: Option<f64>, decimals: usize| v.map(|v| format!("{v:.decimals$}"));
    let failed = (w.failed > 0).then(|| format!("{} of {} failed", w.failed, w.requests));
    let note = [failed, w.note.clone()].into_iter().flatten().collect::<Vec<_>>().join("; ");
    ResultRow {
        variant: &w.variant,
        scenario: format!("{}:{}", writes::plan::GROUP, w.operation),
        group: writes::plan::GROUP,
        label: &w.operation,
        via: "http",
        request: &w.request,
        n: t.map_or(0, |t| t.n),
        min_ms: ms(t.map(|t| t.min_ms)),
        p50_ms: ms(t.map(|t| t.p50_ms)),
        p95_ms: ms(t.map(|t| t.p95_ms)),
        max_ms: ms(t.map(|t| t.max_ms)),
        mean_ms: ms(t.map(|t| t.mean_ms)),
        query_count: None,
        result_count: w.rows,
        total_count: None,
        status: w.status,
        error: w.error.as_deref(),
        response_bytes: w.bytes,
        plan_execution_ms: None,
        plan_planning_ms: None,
        plan_shared_hit: None,
        plan_shared_read: None,
        plan_temp_blocks: None,
        plan_seq_scans: None,
        plan_indexes: None,
        plan: None,
        note: (!note.is_empty()).then_some(note),
        rows_per_s: rate(w.rows_per_s, 0),
        mb_per_s: rate(w.mb_per_s, 2),
    }
}

/// A CSV line of `pagination_report_page_size_<n>_<ts>.csv`.
#[derive(Serialize)]
struct PageRow<'a> {
    variant: &'a str,
    page_size: u64,
    mode: &'a str,
    selection: &'a str,
    page: Option<u64>,
    depth: u64,
    request: &'a str,
    n: usize,
    min_ms: Option<String>,
    p50_ms: Option<String>,
    p95_ms: Option<String>,
    max_ms: Option<String>,
    mean_ms: Option<String>,
    result_count: Option<u64>,
    total_count: Option<u64>,
    status: u16,
    error: Option<&'a str>,
    note: Option<&'a str>,
}

pub fn pagination_csv<W: Write>(out: W, run: &RunResults, page_size: u64) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for p in run.pages.iter().filter(|p| p.page_size == page_size) {
        let t = p.timing;
        writer.serialize(PageRow {
            variant: &p.variant,
            page_size: p.page_size,
            mode: &p.mode,
            selection: &p.selection,
            page: p.page,
            depth: p.depth,
            request: &p.request,
            n: t.map_or(0, |t| t.n),
            min_ms: ms(t.map(|t| t.min_ms)),
            p50_ms: ms(t.map(|t| t.p50_ms)),
            p95_ms: ms(t.map(|t| t.p95_ms)),
            max_ms: ms(t.map(|t| t.max_ms)),
            mean_ms: ms(t.map(|t| t.mean_ms)),
            result_count: p.result_count,
            total_count: p.total_count,
            status: p.status,
            error: p.error.as_deref(),
            note: p.note.as_deref(),
        })?;
    }
    writer.flush()?;
    Ok(())
}

pub fn write_results_csv(path: &Path, run: &RunResults) -> Result<()> {
    results_csv(create(path)?, run)
}

pub fn write_pagination_csv(path: &Path, run: &RunResults, page_size: u64) -> Result<()> {
    pagination_csv(create(path)?, run, page_size)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::Dataset;
    use crate::plan::PlanSummary;
    use crate::results::{Machine, RunMeta, VariantRun};
    use crate::scenarios::SampleValues;
    use crate::stats::Timing;

    /// A small run: two variants, two scenarios (one failing), pages.
    pub fn sample_run() -> RunResults {
        let meta = RunMeta {
            timestamp: "20250101_120000".into(),
            started_at: "2025-01-01T12:00:00Z".into(),
            finished_at: "2025-01-01T12:05:00Z".into(),
            via: "sql".into(),
            target: "crm.contacts_page on postgres://u@h/db".into(),
            database: "postgres://u@h/db".into(),
            dataset: Dataset { total_contacts: 3000, contacts_with_address: 3000, contacts_with_relationship: 3000 },
            samples: SampleValues { first_name: "Paul".into(), city: "Lake Anna".into(), detail_ids: vec![5] },
            reps: 3,
            warmup: 1,
            page_reps: 3,
            seed: 42,
            statement_timeout_ms: 30000,
            page_sizes: vec![1000, 50],
            random_pages: 10,
            cursor_depths: vec![0, 1000],
            cursor_walk_budget_s: 120,
            explain: true,
            scenarios: vec!["search".into(), "sort_by_attribute:-created".into()],
            writes: None,
            variants: ["baseline", "trgm"]
                .iter()
                .map(|v| VariantRun { name: v.to_string(), ..Default::default() })
                .collect(),
            initial_variant: "trgm".into(),
            final_variant: "trgm".into(),
            incomplete: None,
            machine: Machine::this(),
            bench_version: "0.1.0".into(),
        };
        let plan = PlanSummary::from_explain(&json!({"response_bytes": 10, "statements": []})).unwrap();
        let result =
            |variant: &str, scenario: &str, label: &str, samples: &[f64], error: Option<&str>| ScenarioResult {
                variant: variant.into(),
                scenario: scenario.into(),
                group: scenario.split(':').next().unwrap().into(),
                label: label.into(),
                via: "sql".into(),
                request: "/api/contacts/?search=Paul".into(),
                timing: Timing::of(samples),
                samples_ms: samples.to_vec(),
                query_count: Some(3),
                result_count: error.is_none().then_some(50),
                total_count: error.is_none().then_some(1039),
                status: if error.is_some() { 504 } else { 200 },
                error: error.map(str::to_string),
                response_bytes: Some(26000),
                plan: Some(plan.clone()),
                plan_error: None,
                note: None,
            };
        let page = |variant: &str, size: u64, mode: &str, depth: u64, ms: f64| PageResult {
            variant: variant.into(),
            page_size: size,
            mode: mode.into(),
            selection: if mode == "page" { "first".into() } else { "depth".into() },
            page: (mode == "page").then_some(depth / size + 1),
            depth,
            request: "/api/contacts/?page=1&page_size=1000".into(),
            timing: Timing::of(&[ms]),
            samples_ms: vec![ms],
            result_count: Some(size),
            total_count: (mode == "page").then_some(3000),
            status: 200,
            error: None,
            note: None,
        };
        RunResults {
            meta,
            results: vec![
                result("baseline", "search", "search (Paul)", &[30000.0], Some("TIMEOUT")),
                result("baseline", "sort_by_attribute:-created", "sort -created", &[300.0, 310.0, 320.0], None),
                result("trgm", "search", "search (Paul)", &[8.0, 9.0, 10.0], None),
                result("trgm", "sort_by_attribute:-created", "sort -created", &[0.4, 0.5, 0.6], None),
            ],
            pages: vec![
                page("baseline", 1000, "page", 0, 2800.0),
                page("baseline", 1000, "page", 2000, 2900.0),
                page("baseline", 1000, "cursor", 0, 2700.0),
                page("trgm", 1000, "page", 0, 5.0),
                page("trgm", 1000, "page", 2000, 9.0),
                page("trgm", 1000, "cursor", 0, 5.0),
                page("trgm", 1000, "cursor", 1000, 5.2),
                page("trgm", 50, "page", 0, 0.5),
                page("trgm", 50, "cursor", 1000, 0.6),
            ],
            writes: Vec::new(),
        }
    }

    #[test]
    fn file_names_are_the_originals() {
        let f = OutputFiles::new(Path::new("benchmark_results"), "20250101_120000");
        assert_eq!(f.results_json(), Path::new("benchmark_results/benchmark_results_20250101_120000.json"));
        assert_eq!(f.results_csv(), Path::new("benchmark_results/benchmark_results_20250101_120000.csv"));
        assert_eq!(f.charts_png(), Path::new("benchmark_results/benchmark_charts_20250101_120000.png"));
        assert_eq!(f.queries_png(), Path::new("benchmark_results/benchmark_queries_20250101_120000.png"));
        assert_eq!(
            f.pagination_json(1000),
            Path::new("benchmark_results/pagination_report_page_size_1000_20250101_120000.json")
        );
        assert_eq!(
            f.pagination_csv(50),
            Path::new("benchmark_results/pagination_report_page_size_50_20250101_120000.csv")
        );
        assert_eq!(
            f.pagination_png(50),
            Path::new("benchmark_results/pagination_charts_page_size_50_20250101_120000.png")
        );
        assert_eq!(f.report(), Path::new("benchmark_results/REPORT.md"));
    }

    #[test]
    fn results_csv_shape() {
        let mut out = Vec::new();
        results_csv(&mut out, &sample_run()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(&headers[..8], ["variant", "scenario", "group", "label", "via", "request", "n", "min_ms"]);
        assert!(headers.contains(&"query_count".to_string()) && headers.contains(&"plan".to_string()));
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        assert_eq!(&rows[0][column("error")], "TIMEOUT");
        assert_eq!(&rows[0][column("status")], "504");
        assert_eq!(&rows[0][column("result_count")], "");
        assert_eq!(&rows[1][column("p50_ms")], "310.000");
        assert_eq!(&rows[3][column("n")], "3");
    }

    #[test]
    fn write_operations_are_lines_of_the_results_csv() {
        let mut out = Vec::new();
        results_csv(&mut out, &crate::writes::report::tests::with_writes()).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(headers[headers.len() - 2..], ["rows_per_s", "mb_per_s"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4 + 2 * 5);
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        assert_eq!(&rows[0][column("rows_per_s")], "", "reads have no rate");
        let export = rows.iter().find(|r| &r[0] == "trgm" && &r[1] == "writes:export").unwrap();
        assert_eq!(&export[column("group")], "writes");
        assert_eq!(&export[column("rows_per_s")], "300000");
        assert_eq!(&export[column("mb_per_s")], "76.00");
        assert_eq!(&export[column("result_count")], "3000000");
        assert_eq!(&export[column("p50_ms")], "10000.000");
        let create = rows.iter().find(|r| &r[0] == "trgm" && &r[1] == "writes:create").unwrap();
        assert_eq!((&create[column("n")], &create[column("max_ms")]), ("3", "20.000"));
        let refused = rows.iter().find(|r| &r[0] == "baseline" && &r[1] == "writes:import").unwrap();
        assert_eq!(&refused[column("status")], "400");
        assert!(refused[column("note")].starts_with("1 of 1 failed"), "{refused:?}");
    }

    #[test]
    fn pagination_shapes() {
        let run = sample_run();
        let mut out = Vec::new();
        pagination_csv(&mut out, &run, 1000).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 7);
        assert!(lines[0].starts_with("variant,page_size,mode,selection,page,depth,request,n,min_ms,p50_ms"));
        let json = pagination_json(&run, 50);
        assert_eq!(json["page_size"], 50);
        assert_eq!(json["total_pages"], 60);
        assert_eq!(json["pages"].as_array().unwrap().len(), 2);
        assert_eq!(json["meta"]["dataset"]["total_contacts"], 3000);
    }

    #[test]
    fn results_json_round_trips() {
        let run = sample_run();
        let dir = std::env::temp_dir().join(format!("bench-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        write_results_json(&path, &run).unwrap();
        let back: serde_json::Value = serde_json::from_reader(File::open(&path).unwrap()).unwrap();
        assert_eq!(back["results"].as_array().unwrap().len(), 4);
        assert_eq!(back["results"][0]["error"], "TIMEOUT");
        assert_eq!(back["meta"]["samples"]["first_name"], "Paul");
        let results: Vec<ScenarioResult> = serde_json::from_value(back["results"].clone()).unwrap();
        assert_eq!(results, run.results);
        assert!(back.get("writes").is_none(), "no write group, no key");
        let run = crate::writes::report::tests::with_writes();
        write_results_json(&path, &run).unwrap();
        let back: serde_json::Value = serde_json::from_reader(File::open(&path).unwrap()).unwrap();
        let writes: Vec<WriteResult> = serde_json::from_value(back["writes"].clone()).unwrap();
        assert_eq!(writes, run.writes);
        assert_eq!(back["meta"]["writes"]["marker"], "BenchW20250101T120000P1");
        assert_eq!(back["meta"]["variants"][1]["writes_cleanup"]["contacts_deleted"], 100_003);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
