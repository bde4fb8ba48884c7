//! The crm-contacts benchmark: the original's scenarios (docs/compatibility.md, "Benchmark") over every
//! index variant in one run, through the HTTP API or straight through the
//! SQL function, with plans, query counts and page-number against cursor
//! pagination; results as the original's files plus charts and a report.
//!
//! - [`cli`]: the command line; [`runner`]: the run (variants, scenarios,
//!   pages, the cursor walk); [`scenarios`]: what is requested;
//! - [`client`]: HTTP and SQL behind one trait; [`db`]: the bench's own
//!   session (variants, sample values, `crm.explain`);
//! - [`stats`]: percentiles; [`plan`]: EXPLAIN summaries;
//! - [`export`]: JSON and CSV; [`charts`]: PNG; [`report`]: REPORT.md;
//!   [`console`]: the table printed at the end;
//! - [`workload`]: the randomized workload (`--workload N`), its load
//!   mode, replay, comparison and cancellation check;
//! - [`writes`]: the write group (`--scenarios writes`): single writes,
//!   import and export per variant, undone afterwards.

pub mod charts;
pub mod cli;
pub mod client;
pub mod console;
pub mod db;
pub mod export;
pub mod format;
pub mod original;
pub mod plan;
pub mod progress;
pub mod report;
pub mod results;
pub mod rng;
pub mod runner;
pub mod scenarios;
pub mod stats;
pub mod workload;
pub mod writes;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use cli::{Args, Via};
pub use results::RunResults;
pub use workload::results::WorkloadResults;

/// Runs the bench as `args` say and writes its files (unless
/// `--no-export`); returns the results and the files written.
pub async fn run(args: &Args) -> Result<(RunResults, Vec<PathBuf>)> {
    let results = runner::run(args).await?;
    let files = if args.no_export { Vec::new() } else { export_all(&results, &args.out_dir, !args.no_charts)? };
    Ok((results, files))
}

/// Runs the randomized workload as `args` say and writes its files
/// (unless `--no-export`); returns the results and the files written.
pub async fn run_workload(args: &Args) -> Result<(WorkloadResults, Vec<PathBuf>)> {
    let results = workload::run(args).await?;
    let files =
        if args.no_export { Vec::new() } else { workload::export_all(&results, &args.out_dir, !args.no_charts)? };
    Ok((results, files))
}

/// Writes every file of a run into `dir`: JSON and CSV, pagination reports
/// per page size, charts (when `charts` and the run has reads), and REPORT.md (keeping the
/// randomized workload's section of the REPORT.md it replaces).
pub fn export_all(run: &RunResults, dir: &Path, charts: bool) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The charts draw the reads: a run of the write group alone has none.
    let charts = charts && !run.results.is_empty();
    let files = export::OutputFiles::new(dir, &run.meta.timestamp);
    let mut written = Vec::new();
    export::write_results_json(&files.results_json(), run)?;
    written.push(files.results_json());
    export::write_results_csv(&files.results_csv(), run)?;
    written.push(files.results_csv());
    for size in run.page_sizes() {
        export::write_pagination_json(&files.pagination_json(size), run, size)?;
        written.push(files.pagination_json(size));
        export::write_pagination_csv(&files.pagination_csv(size), run, size)?;
        written.push(files.pagination_csv(size));
    }
    if charts {
        charts::scenario_chart(&files.charts_png(), run)?;
        written.push(files.charts_png());
        charts::queries_chart(&files.queries_png(), run)?;
        written.push(files.queries_png());
        for size in run.page_sizes() {
            charts::pagination_chart(&files.pagination_png(size), run, size)?;
            written.push(files.pagination_png(size));
        }
    }
    let mut text = report::render(run, &files, charts);
    let previous = std::fs::read_to_string(files.report()).ok();
    if let Some(section) = previous.as_deref().and_then(workload::report::existing_section) {
        text = format!("{}\n\n{section}\n", text.trim_end());
    }
    std::fs::write(files.report(), text).with_context(|| format!("cannot write {}", files.report().display()))?;
    written.push(files.report());
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use workload::report::{BEGIN, END};

    #[test]
    fn a_scenario_run_keeps_the_workload_section_of_the_report() {
        let dir = std::env::temp_dir().join(format!("bench-lib-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let section = format!("{BEGIN}\n## Randomized workload\n\nkept\n{END}");
        std::fs::write(dir.join("REPORT.md"), format!("# old report\n\n{section}\n")).unwrap();
        export_all(&export::tests::sample_run(), &dir, false).unwrap();
        let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
        assert!(report.starts_with("# crm-contacts benchmark report") && !report.contains("# old report"));
        assert!(report.ends_with(&format!("\n\n{section}\n")), "{report}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
