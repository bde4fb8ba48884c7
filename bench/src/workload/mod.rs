//! The randomized workload (`--workload N`, `--workload-replay FILE`):
//! requests drawn from the data in named classes, each sent once and
//! timed; the slowest explained; optionally a load of concurrent clients
//! (`--clients`, `--duration`) and a check that abandoned requests stop
//! running in the database (`--cancel-check`). `bench compare-workloads`
//! compares two result files request by request.
//!
//! - [`fields`]: the query language as the generator knows it (checked
//!   against `crm.openapi()`); [`sample`]: the contacts values come from;
//!   [`generate`]: the requests, a pure function of seed and sample;
//! - [`sequential`], [`slowest`], [`load`], [`cancel`]: the measurements;
//! - [`results`], [`export`], [`report`], [`chart`]: what is written;
//!   [`compare`]: two files side by side.

pub mod cancel;
pub mod chart;
pub mod compare;
pub mod export;
pub mod fields;
pub mod generate;
pub mod load;
pub mod report;
pub mod request;
pub mod results;
pub mod sample;
pub mod sequential;
pub mod slowest;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

use crate::cli::{Args, Via};
use crate::client::sql::SqlClient;
use crate::client::Client;
use crate::db::{self, Admin, Dataset, VariantInfo};
use crate::progress::Progress;
use crate::results::Machine;
use crate::runner;
use export::WorkloadFiles;
use request::WorkloadRequest;
use results::{summarize, WorkloadMeta, WorkloadResults, WorkloadRun};

/// Contacts read to draw the values from.
pub const SAMPLE_ROWS: usize = 1000;

struct Plan<'a> {
    args: &'a Args,
    admin: &'a Admin,
    progress: &'a Progress,
    requests: &'a [WorkloadRequest],
    variants: Vec<String>,
    /// `--variants` given: switch to each (and restore at the end).
    switch: bool,
}

/// The requests to send, and where they come from.
struct Drawn {
    requests: Vec<WorkloadRequest>,
    source: String,
    sample_rows: usize,
}

async fn draw(args: &Args, admin: &Admin, dataset: &Dataset, progress: &Progress) -> Result<Drawn> {
    if let Some(path) = &args.workload_replay {
        let requests = export::read_requests(path)?;
        progress.line(format!("replaying the {} requests of {}", requests.len(), path.display()));
        return Ok(Drawn { requests, source: format!("replay of {}", path.display()), sample_rows: 0 });
    }
    let n = args.workload.unwrap_or_default() as usize;
    let rows = sample::fetch(admin, args.seed, SAMPLE_ROWS).await?;
    if rows.is_empty() {
        bail!("no contacts could be sampled");
    }
    let requests = generate::generate(args.seed, &rows, dataset.total_contacts, n);
    progress.line(format!(
        "drew {} requests (seed {}) from {} sampled contacts",
        requests.len(),
        args.seed,
        rows.len()
    ));
    Ok(Drawn { requests, source: "generated".into(), sample_rows: rows.len() })
}

/// The bench's list of fields against the server's (a warning: the run
/// goes on; `tests/workload_fields.rs` is where a drift fails).
async fn check_fields(admin: &Admin, progress: &Progress) {
    match admin.openapi().await {
        Ok(doc) => {
            for difference in fields::drift(&doc) {
                progress.line(format!("warning: {difference} (bench/src/workload/fields.rs)"));
            }
        }
        Err(e) => progress.line(format!("warning: cannot read crm.openapi() to check the field list: {e:#}")),
    }
}

/// Runs the workload as `args` say. Results are returned also when it
/// stopped early (`meta.incomplete` says why).
pub async fn run(args: &Args) -> Result<WorkloadResults> {
    args.validate()?;
    let started_at = chrono::Utc::now();
    let progress = Progress::new(args.quiet);
    let url = args.database_url();
    let admin = Admin::connect(url).await?;
    let dataset = runner::dataset(&admin, url, &progress).await?;
    let http = match args.via {
        Via::Http => Some(runner::http_client(args, &dataset).await?),
        Via::Sql => None,
    };
    check_fields(&admin, &progress).await;
    let initial = admin.variant().await?;
    let switch = !args.variants.is_empty();
    let variants =
        if switch { runner::choose_variants(&args.variants, &initial)? } else { vec![initial.variant.clone()] };
    let drawn = draw(args, &admin, &dataset, &progress).await?;
    let context = Plan { args, admin: &admin, progress: &progress, requests: &drawn.requests, variants, switch };
    let mut runs = Vec::new();
    let outcome = match &http {
        Some(client) => measure_all(client, &context, &mut runs).await,
        None => {
            let client = SqlClient::connect(url, args.statement_timeout).await?;
            measure_all(&client, &context, &mut runs).await
        }
    };
    let final_variant =
        if switch { runner::restore(&admin, url, &progress, &initial).await } else { initial.variant.clone() };
    progress.finish();
    for run in &mut runs {
        run.summaries = summarize(&run.records);
    }
    let target = match &http {
        Some(client) => client.target(),
        None => format!("crm.contacts_page on {}", db::redacted(url)),
    };
    let meta =
        meta(args, &context, Facts { started_at, dataset, initial, final_variant, target, drawn: &drawn }, outcome);
    Ok(WorkloadResults { meta, requests: drawn.requests.clone(), runs })
}

struct Facts<'a> {
    started_at: chrono::DateTime<chrono::Utc>,
    dataset: Dataset,
    initial: VariantInfo,
    final_variant: String,
    target: String,
    drawn: &'a Drawn,
}

fn meta(args: &Args, context: &Plan<'_>, facts: Facts<'_>, outcome: Result<()>) -> WorkloadMeta {
    if let Err(e) = &outcome {
        context.progress.line(format!("the workload stopped early: {e:#}"));
    }
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    WorkloadMeta {
        timestamp: facts.started_at.format("%Y%m%d_%H%M%S").to_string(),
        started_at: time(facts.started_at),
        finished_at: time(chrono::Utc::now()),
        via: match args.via {
            Via::Http => "http",
            Via::Sql => "sql",
        }
        .to_string(),
        target: facts.target,
        database: db::redacted(args.database_url()),
        dataset: facts.dataset,
        seed: args.seed,
        source: facts.drawn.source.clone(),
        sample_rows: facts.drawn.sample_rows,
        statement_timeout_ms: args.statement_timeout,
        explain: !args.no_explain,
        clients: args.clients.map(|c| c as usize),
        duration_s: args.duration,
        cancel_check: args.cancel_check.map(|k| k as usize),
        initial_variant: facts.initial.variant,
        final_variant: facts.final_variant,
        incomplete: outcome.err().map(|e| format!("{e:#}")),
        machine: Machine::this(),
        bench_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

async fn measure_all<C: Client>(client: &C, context: &Plan<'_>, runs: &mut Vec<WorkloadRun>) -> Result<()> {
    tokio::select! {
        outcome = measure_variants(client, context, runs) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted (Ctrl-C)")),
    }
}

async fn measure_variants<C: Client>(client: &C, context: &Plan<'_>, runs: &mut Vec<WorkloadRun>) -> Result<()> {
    for variant in &context.variants {
        let switch = if context.switch {
            context.progress.line(format!("variant {variant}: switching (when not active)…"));
            let (_, switch) = context.admin.use_variant(variant).await?;
            if let Some(s) = &switch {
                context
                    .progress
                    .line(format!("  switched in {:.1} s, VACUUM/ANALYZE {:.1} s", s.switch_s, s.maintenance_s));
            }
            switch
        } else {
            None
        };
        runs.push(WorkloadRun { variant: variant.clone(), switch, ..Default::default() });
        measure_variant(client, context, runs.last_mut().expect("just pushed")).await?;
    }
    Ok(())
}

async fn measure_variant<C: Client>(client: &C, context: &Plan<'_>, run: &mut WorkloadRun) -> Result<()> {
    let (args, progress) = (context.args, context.progress);
    if args.clients.is_none() {
        progress.stage(&run.variant, sequential::timed_requests(context.requests));
        let pass = sequential::run(client, context.requests, progress, &mut run.records).await;
        let summaries = summarize(&run.records);
        if let Some(l) = summaries.first().and_then(|s| s.latency) {
            progress.line(format!(
                "  {} on {}: {} requests, p50 {} ms, p99 {} ms, max {} ms",
                client.via(),
                run.variant,
                l.n,
                crate::format::ms(l.p50_ms),
                crate::format::ms(l.p99_ms),
                crate::format::ms(l.max_ms)
            ));
        }
        pass?;
        run.slowest = slowest::explain(context.admin, &run.records, !args.no_explain, progress).await;
    }
    if let (Some(clients), Some(duration)) = (args.clients, args.duration) {
        run.load = Some(load::run(args, clients as usize, duration, context.requests, progress).await?);
    }
    if let Some(k) = args.cancel_check {
        let chosen = cancel::choose(&run.records, context.requests, k as usize);
        run.cancel = Some(cancel::run(args, context.admin, &chosen, progress).await?);
    }
    Ok(())
}

/// Writes the workload's files into `dir` and its section of REPORT.md;
/// returns the files written.
pub fn export_all(results: &WorkloadResults, dir: &Path, charts: bool) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = WorkloadFiles::new(dir, &results.meta.timestamp);
    export::write_json(&files.json(), results)?;
    export::write_csv(&files.csv(), results)?;
    let mut written = vec![files.json(), files.csv()];
    if charts {
        chart::workload_chart(&files.chart(), results)?;
        written.push(files.chart());
    }
    let write = |path: PathBuf, text: String| -> Result<PathBuf> {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    };
    written.push(write(files.report(), report::render(results, &files, charts))?);
    let report_path = crate::export::OutputFiles::new(dir, &results.meta.timestamp).report();
    let existing = std::fs::read_to_string(&report_path).ok();
    let merged = report::merge_into_report(existing.as_deref(), &report::section(results, &files, charts));
    written.push(write(report_path, merged)?);
    Ok(written)
}
