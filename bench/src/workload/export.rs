//! The workload's files: `workload_<ts>.json` (everything), `workload_<ts>.csv`
//! (one row per timed request), `workload_charts_<ts>.png`, `WORKLOAD.md`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::request::WorkloadRequest;
use super::results::WorkloadResults;

pub struct WorkloadFiles {
    pub dir: PathBuf,
    pub timestamp: String,
}

impl WorkloadFiles {
    pub fn new(dir: &Path, timestamp: &str) -> WorkloadFiles {
        WorkloadFiles { dir: dir.to_path_buf(), timestamp: timestamp.to_string() }
    }

    pub fn json(&self) -> PathBuf {
        self.dir.join(format!("workload_{}.json", self.timestamp))
    }

    pub fn csv(&self) -> PathBuf {
        self.dir.join(format!("workload_{}.csv", self.timestamp))
    }

    pub fn chart(&self) -> PathBuf {
        self.dir.join(format!("workload_charts_{}.png", self.timestamp))
    }

    pub fn report(&self) -> PathBuf {
        self.dir.join("WORKLOAD.md")
    }
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| format!("cannot write {}", path.display()))?))
}

pub fn write_json(path: &Path, results: &WorkloadResults) -> Result<()> {
    let mut out = create(path)?;
    serde_json::to_writer_pretty(&mut out, results)?;
    out.flush()?;
    Ok(())
}

/// A CSV line: one timed request.
#[derive(Serialize)]
struct Row<'a> {
    variant: &'a str,
    seq: usize,
    item: usize,
    class: &'a str,
    hop: u8,
    status: u16,
    outcome: &'a str,
    latency_ms: String,
    count: Option<u64>,
    rows: Option<u64>,
    query: &'a str,
    key: &'a str,
    error: Option<&'a str>,
}

pub fn csv<W: Write>(out: W, results: &WorkloadResults) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for run in &results.runs {
        for r in &run.records {
            let outcome = serde_json::to_value(r.outcome)?;
            writer.serialize(Row {
                variant: &run.variant,
                seq: r.seq,
                item: r.item,
                class: r.class.id(),
                hop: r.hop,
                status: r.status,
                outcome: outcome.as_str().unwrap_or_default(),
                latency_ms: format!("{:.3}", r.latency_ms),
                count: r.count,
                rows: r.rows,
                query: &r.query,
                key: &r.key,
                error: r.error.as_deref(),
            })?;
        }
    }
    // A header even without rows (a load-only run), so the file always reads.
    if results.runs.iter().all(|r| r.records.is_empty()) {
        writer.write_record([
            "variant",
            "seq",
            "item",
            "class",
            "hop",
            "status",
            "outcome",
            "latency_ms",
            "count",
            "rows",
            "query",
            "key",
            "error",
        ])?;
    }
    writer.flush()?;
    Ok(())
}

pub fn write_csv(path: &Path, results: &WorkloadResults) -> Result<()> {
    csv(create(path)?, results)
}

/// The requests of an earlier workload file, for `--workload-replay`.
pub fn read_requests(path: &Path) -> Result<Vec<WorkloadRequest>> {
    #[derive(Deserialize)]
    struct Requests {
        requests: Vec<WorkloadRequest>,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: Requests =
        serde_json::from_str(&text).with_context(|| format!("{} is not a workload result file", path.display()))?;
    if file.requests.is_empty() {
        bail!("{} holds no requests to replay", path.display());
    }
    Ok(file.requests)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::client::Reply;
    use crate::db::Dataset;
    use crate::results::Machine;
    use crate::scenarios::Params;
    use crate::workload::request::Class;
    use crate::workload::results::*;
    use serde_json::json;
    use std::time::Duration;

    /// A small workload run on one variant: a search, a 404 page and a
    /// cursor with one hop, plus load and cancellation results.
    pub fn sample_results() -> WorkloadResults {
        let requests = vec![
            WorkloadRequest::new(Class::Search, &Params::new(&[("search", "pa ul")]), 0),
            WorkloadRequest::new(Class::DeepPage, &Params::new(&[("page_size", "1000"), ("page", "3000")]), 0),
            WorkloadRequest::new(Class::Cursor, &Params::new(&[("ordering", "-id"), ("cursor", "")]), 1),
        ];
        let reply = |status: u16, ms: u64, body: serde_json::Value, error: Option<&str>| Reply {
            status,
            elapsed: Duration::from_millis(ms),
            bytes: 1,
            body: Some(body),
            error: error.map(str::to_string),
        };
        let records = vec![
            RequestRecord::new(
                0,
                0,
                &requests[0],
                0,
                requests[0].query.clone(),
                &reply(200, 12, json!({"count": 3, "results": [{}, {}, {}]}), None),
            ),
            RequestRecord::new(
                1,
                1,
                &requests[1],
                0,
                requests[1].query.clone(),
                &reply(404, 250, json!({"detail": "Invalid page."}), Some("HTTP 404: Invalid page.")),
            ),
            RequestRecord::new(
                2,
                2,
                &requests[2],
                0,
                requests[2].query.clone(),
                &reply(200, 3, json!({"next": "?cursor=x", "results": [{}]}), None),
            ),
            RequestRecord::new(
                3,
                2,
                &requests[2],
                1,
                "ordering=-id&cursor=x".into(),
                &reply(200, 2, json!({"next": null, "results": [{}]}), None),
            ),
        ];
        let slowest = vec![SlowRequest {
            seq: 1,
            class: Class::DeepPage,
            query: requests[1].query.clone(),
            latency_ms: 250.0,
            status: 404,
            query_count: Some(3),
            plan: Some("count: 240ms rows=1 hit=10 read=0 [f.created_id]".into()),
            explain: Some(json!({"statements": []})),
            explain_error: None,
        }];
        let load = crate::workload::load::aggregate(
            &[crate::workload::load::Sample {
                class: Class::Search,
                status: 200,
                outcome: Outcome::Ok,
                latency_ms: 11.0,
                done_s: 0.5,
            }],
            0,
            2,
            1,
        );
        let cancel_records = vec![CancelRecord {
            class: Class::DeepPage,
            query: requests[1].query.clone(),
            answered_before_drop: false,
            active_at_drop: 1,
            gone_ms: Some(7.5),
            capped: false,
        }];
        let run = WorkloadRun {
            variant: "trgm".into(),
            switch: None,
            summaries: summarize(&records),
            records,
            slowest,
            load: Some(load),
            cancel: Some(CancelResult {
                drop_after_ms: 50,
                cap_ms: 5000,
                summaries: summarize_cancel(&cancel_records),
                records: cancel_records,
            }),
        };
        WorkloadResults {
            meta: WorkloadMeta {
                timestamp: "20250101_120000".into(),
                started_at: "2025-01-01T12:00:00Z".into(),
                finished_at: "2025-01-01T12:01:00Z".into(),
                via: "http".into(),
                target: "http://127.0.0.1:8000".into(),
                database: "postgres://u@h/db".into(),
                dataset: Dataset {
                    total_contacts: 3000,
                    contacts_with_address: 2900,
                    contacts_with_relationship: 2800,
                },
                seed: 42,
                source: "generated".into(),
                sample_rows: 1000,
                statement_timeout_ms: 30000,
                explain: true,
                clients: Some(2),
                duration_s: Some(1),
                cancel_check: Some(1),
                initial_variant: "trgm".into(),
                final_variant: "trgm".into(),
                incomplete: None,
                machine: Machine::this(),
                bench_version: "0.1.0".into(),
            },
            requests,
            runs: vec![run],
        }
    }

    #[test]
    fn file_names() {
        let f = WorkloadFiles::new(Path::new("benchmark_results"), "20250101_120000");
        assert_eq!(f.json(), Path::new("benchmark_results/workload_20250101_120000.json"));
        assert_eq!(f.csv(), Path::new("benchmark_results/workload_20250101_120000.csv"));
        assert_eq!(f.chart(), Path::new("benchmark_results/workload_charts_20250101_120000.png"));
        assert_eq!(f.report(), Path::new("benchmark_results/WORKLOAD.md"));
    }

    #[test]
    fn one_csv_row_per_request() {
        let mut out = Vec::new();
        csv(&mut out, &sample_results()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(&headers[..8], ["variant", "seq", "item", "class", "hop", "status", "outcome", "latency_ms"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!((&rows[1][3], &rows[1][5], &rows[1][6]), ("deep_page", "404", "invalid_page"));
        assert_eq!((&rows[0][7], &rows[0][8], &rows[0][9], &rows[0][10]), ("12.000", "3", "3", "search=pa+ul"));
        assert_eq!((&rows[3][4], &rows[3][11]), ("1", "ordering=-id&cursor=#next1"));
        let mut load_only = sample_results();
        load_only.runs[0].records.clear();
        let mut out = Vec::new();
        csv(&mut out, &load_only).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("variant,seq,item,class,hop,status,outcome,latency_ms,"));
    }

    #[test]
    fn json_round_trips_and_replays() {
        let results = sample_results();
        let dir = std::env::temp_dir().join(format!("bench-workload-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.json");
        write_json(&path, &results).unwrap();
        let back: WorkloadResults = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, results);
        assert_eq!(read_requests(&path).unwrap(), results.requests);
        let compared = crate::workload::compare::read(&path).unwrap();
        assert_eq!(compared.runs[0].records.len(), 4);
        std::fs::write(&path, r#"{"requests": []}"#).unwrap();
        assert!(read_requests(&path).unwrap_err().to_string().contains("no requests"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
