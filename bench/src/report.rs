//! `benchmark_results/REPORT.md`: the run as a person reads it, rewritten
//! by every exported run.

use std::fmt::Write;

use crate::export::OutputFiles;
use crate::format::{factor, ms, opt, thousands};
use crate::original;
use crate::results::{PageResult, RunResults, ScenarioResult};

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A table cell: p50, or the failure.
fn p50_cell(r: Option<&ScenarioResult>) -> String {
    match r {
        None => "–".to_string(),
        Some(r) if r.is_success() => r.headline().map_or("–".to_string(), ms),
        Some(r) => match (&r.error, r.p50()) {
            (Some(e), Some(p)) if e == "TIMEOUT" => format!("**TIMEOUT** ({} ms)", ms(p)),
            (Some(e), _) => format!("**{}**", e.replace('|', "\\|")),
            (None, _) => format!("**status {}**", r.status),
        },
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn render(run: &RunResults, files: &OutputFiles, charts: bool) -> String {
    let m = &run.meta;
    let variants = run.variants();
    let mut out = String::new();
    let _ = writeln!(out, "# crm-contacts benchmark report\n");
    let _ = writeln!(
        out,
        "Written by `cargo run --release -p bench` (see [bench/README.md](../bench/README.md)); \
         every exported run replaces it. Run **{}** ({} → {}).\n",
        m.timestamp, m.started_at, m.finished_at
    );
    if let Some(why) = &m.incomplete {
        let _ = writeln!(out, "> **Incomplete run**: {why}. The tables hold what was measured before.\n");
    }
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| path | **{}**: {} |", m.via, escape(&m.target));
    let _ = writeln!(
        out,
        "| dataset | {} contacts ({} with an address, {} with a relationship) |",
        thousands(m.dataset.total_contacts),
        thousands(m.dataset.contacts_with_address),
        thousands(m.dataset.contacts_with_relationship)
    );
    let _ = writeln!(
        out,
        "| variants | {} (active before: {}, after: {}) |",
        variants.join(", "),
        m.initial_variant,
        m.final_variant
    );
    let _ = writeln!(
        out,
        "| repetitions | {} measured after {} warm-up per scenario; {} per sampled page; p50/p95 interpolated |",
        m.reps, m.warmup, m.page_reps
    );
    let _ = writeln!(
        out,
        "| sample values (seed {}) | first name `{}`, city `{}`, detail ids {:?} |",
        m.seed, m.samples.first_name, m.samples.city, m.samples.detail_ids
    );
    let _ = writeln!(out, "| statement timeout | {} ms |", m.statement_timeout_ms);
    let _ = writeln!(out, "| machine | {} CPUs, {} |", m.machine.cpus, m.machine.os);
    for v in &m.variants {
        if let Some(s) = &v.switch {
            let _ = writeln!(
                out,
                "| switch to {} | from {}: {:.1} s, then VACUUM/ANALYZE {:.1} s |",
                v.name, s.from, s.switch_s, s.maintenance_s
            );
        }
    }
    out.push('\n');

    // Nothing to show for a run of the write group alone.
    if !run.results.is_empty() {
        against_the_original(run, &variants, &mut out);
    }

    // The write group right after the reads' table: write cost next to read speed.
    let writes = crate::writes::report::section(run);
    if !writes.is_empty() {
        let _ = writeln!(out, "{writes}");
    }

    if charts {
        let _ = writeln!(out, "## Charts\n");
        let _ = writeln!(out, "![p50 per scenario and speed-up]({})\n", file_name(&files.charts_png()));
        for size in run.page_sizes() {
            let _ = writeln!(out, "![pagination, page_size {size}]({})\n", file_name(&files.pagination_png(size)));
        }
    }

    if !run.results.is_empty() {
        per_variant(run, &variants, &mut out);
    }

    // Pagination.
    if !run.pages.is_empty() {
        let _ = writeln!(out, "## Pagination: page number against cursor (p50 ms)\n");
        let _ = writeln!(
            out,
            "Page-number pages: the original's sampling (first, middle, last, {} random pages, seeded) and \
             the pages at the cursor depths. Cursor pages: the walk follows `next` links from `?cursor=` with \
             pages of 1000 (a cursor holds a position, not a page size) and keeps the cursor found at each \
             depth; each is then requested with every page size. Depth = rows before the page.\n",
            m.random_pages
        );
        for v in &m.variants {
            if let (Some(depth), Some(why)) = (v.cursor_depth_reached, &v.cursor_walk) {
                let _ = writeln!(out, "- {}: the cursor walk reached depth {} ({why})", v.name, thousands(depth));
            }
        }
        out.push('\n');
        for size in run.page_sizes() {
            let _ = writeln!(out, "### page_size {size}\n");
            let mut header = String::from("| mode | selection | page | depth |");
            let mut rule = String::from("|---|---|---:|---:|");
            for v in &variants {
                let _ = write!(header, " {v} |");
                rule.push_str("---:|");
            }
            let _ = writeln!(out, "{header}\n{rule}");
            let mut keys: Vec<(&str, &str, Option<u64>, u64)> = Vec::new();
            for p in run.pages.iter().filter(|p| p.page_size == size && p.mode != "cursor_walk") {
                let key = (p.mode.as_str(), p.selection.as_str(), p.page, p.depth);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            keys.sort_by_key(|k| (k.0 != "page", k.3));
            for (mode, selection, page, depth) in keys {
                let mut line = format!("| {mode} | {selection} | {} | {} |", opt(page), thousands(depth));
                for v in &variants {
                    let row: Option<&PageResult> = run.pages.iter().find(|p| {
                        p.variant == *v && p.page_size == size && p.mode == mode && p.page == page && p.depth == depth
                    });
                    let cell = match row {
                        None => "–".to_string(),
                        Some(p) if p.error.is_none() => p.timing.map_or("–".to_string(), |t| ms(t.p50_ms)),
                        Some(p) if p.timing.is_none() => "not reached".to_string(),
                        Some(p) => format!("**{}**", escape(p.error.as_deref().unwrap_or_default())),
                    };
                    let _ = write!(line, " {cell} |");
                }
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
        }
    }

    let _ = writeln!(out, "## How it was measured\n");
    let _ = writeln!(
        out,
        "- One run measures every variant: `crm.use_variant(v)`, then `VACUUM ANALYZE` of the projection \
         (when the variant has it) and `ANALYZE` of the tables, then per scenario {} warm-up request(s) and {} \
         measured ones, one at a time on one connection. The variant active at the start is restored at the end.\n\
         - A time runs from sending the request to having the whole answer (HTTP: the body read; SQL: the \
         function's JSON text received); JSON parsing on the client is not included.\n\
         - `--via sql` calls `crm.contacts_page(params)` (and `crm.contact`, `crm.stats`) on a session \
         with the statement timeout above; its errors are mapped to the statuses the API answers \
         (22023 → 400, P0002 → 404, 57014 → 504 `TIMEOUT`). Comparing a `--via http` run with a `--via sql` \
         run shows the API's own cost.\n\
         - A request that times out is not repeated (its single time is kept, with a note); a failing \
         scenario stays in the tables with its status and error.\n\
         - Plans come from one extra `crm.explain(params)` call per scenario and variant after the timed \
         requests (EXPLAIN ANALYZE runs each statement once more), not from the timed requests.",
        m.warmup, m.reps
    );
    out.push('\n');
    let _ = writeln!(out, "## Files of this run\n");
    let mut listed = vec![files.results_json(), files.results_csv()];
    if charts {
        listed.push(files.charts_png());
    }
    for size in run.page_sizes() {
        listed.push(files.pagination_json(size));
        listed.push(files.pagination_csv(size));
        if charts {
            listed.push(files.pagination_png(size));
        }
    }
    for path in listed {
        let name = file_name(&path);
        let _ = writeln!(out, "- [{name}]({name})");
    }
    out
}

/// Our p50 next to the original's figures, per scenario and variant.
fn against_the_original(run: &RunResults, variants: &[String], out: &mut String) {
    let _ = writeln!(out, "## Against the original (p50 ms; pagination rows: avg per page)\n");
    let _ = writeln!(
        out,
        "The original's figures are those of docs/compatibility.md (3,000,000 contacts, its own machine; its \"trgm\" had no \
         trigram index). Every request of the original cost {} queries.\n",
        original::QUERIES_PER_REQUEST
    );
    let mut header = String::from("| scenario | original baseline | original indexed | original \"trgm\" |");
    let mut rule = String::from("|---|---:|---:|---:|");
    for v in variants {
        let _ = write!(header, " {v} |");
        rule.push_str("---:|");
    }
    header.push_str(" best vs original's best |");
    rule.push_str("---:|");
    let _ = writeln!(out, "{header}\n{rule}");
    for (id, label) in run.scenario_ids() {
        let figures = original::figures(&id);
        let mut line = format!("| {} |", escape(&label));
        for i in 0..3 {
            let _ = write!(line, " {} |", figures.map_or("–".to_string(), |f| format!("{:.0}", f[i])));
        }
        for v in variants {
            let _ = write!(line, " {} |", p50_cell(run.result(v, &id)));
        }
        let ours_best = variants
            .iter()
            .filter_map(|v| run.result(v, &id).filter(|r| r.is_success()).and_then(|r| r.headline()))
            .fold(f64::INFINITY, f64::min);
        let vs = match original::best(&id) {
            Some(theirs) if ours_best.is_finite() && ours_best > 0.0 => factor(theirs / ours_best),
            _ => "–".to_string(),
        };
        let _ = writeln!(out, "{line} {vs} |");
    }
    out.push('\n');
    let pagination: Vec<String> = variants
        .iter()
        .filter_map(|v| {
            let r = run.result(v, original::PAGINATION_SCENARIO)?;
            let t = r.timing?;
            let theirs =
                original::pagination(v).map_or(String::new(), |(avg, max)| format!(" (original: {avg:.0} / {max:.0})"));
            Some(format!("{v}: {} / {}{theirs}", ms(t.mean_ms), ms(t.max_ms)))
        })
        .collect();
    if !pagination.is_empty() {
        let _ =
            writeln!(out, "Pagination, page_size 1000, avg / max of the pages' p50 (ms): {}.\n", pagination.join("; "));
    }
}

/// A table per variant: timings, query counts and plans.
fn per_variant(run: &RunResults, variants: &[String], out: &mut String) {
    let _ = writeln!(out, "## Per variant\n");
    let _ = writeln!(
        out,
        "Queries = the statements the extension ran for one request (from `crm.explain`) plus the call \
         itself. Plan: per statement its execution time, rows, shared buffers hit/read, sequential scans \
         (SEQ) and indexes used.\n"
    );
    for v in variants {
        let _ = writeln!(out, "### {v}\n");
        let _ = writeln!(out, "| scenario | p50 | p95 | min | max | queries | results | count | status | plan |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        for r in run.results.iter().filter(|r| r.variant == *v) {
            let t = r.timing;
            let cell = |f: fn(&crate::stats::Timing) -> f64| t.as_ref().map_or("–".to_string(), |t| ms(f(t)));
            let plan = r
                .plan
                .as_ref()
                .map(|p| p.compact())
                .or_else(|| r.plan_error.clone())
                .or_else(|| r.note.clone())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                escape(&r.label),
                cell(|t| t.p50_ms),
                cell(|t| t.p95_ms),
                cell(|t| t.min_ms),
                cell(|t| t.max_ms),
                opt(r.query_count),
                opt(r.result_count),
                opt(r.total_count),
                escape(&r.outcome()),
                escape(&plan)
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample_run;
    use std::path::Path;

    #[test]
    fn report_compares_with_the_original_and_links_the_charts() {
        let run = sample_run();
        let files = OutputFiles::new(Path::new("benchmark_results"), &run.meta.timestamp);
        let text = render(&run, &files, true);
        assert!(text.starts_with("# crm-contacts benchmark report"));
        let search = text.lines().find(|l| l.starts_with("| search (Paul) | 1643 | 1694 | 1569 |")).expect(&text);
        assert!(search.contains("**TIMEOUT** (30000 ms)") && search.contains("| 9.00 |"), "{search}");
        // The original's best search (1569) over ours (9.0).
        assert!(search.ends_with("×174 |"), "{search}");
        assert!(text.contains("![p50 per scenario and speed-up](benchmark_charts_20250101_120000.png)"));
        assert!(text.contains("(pagination_charts_page_size_50_20250101_120000.png)"));
        assert!(text.contains("### trgm") && text.contains("### baseline"));
        assert!(text.contains("- [benchmark_results_20250101_120000.csv](benchmark_results_20250101_120000.csv)"));
        let no_charts = render(&run, &files, false);
        assert!(!no_charts.contains(".png"));
        assert!(!text.contains("## Writes"), "no write group, no section");
    }

    #[test]
    fn the_writes_section_follows_the_reads_table() {
        let run = crate::writes::report::tests::with_writes();
        let files = OutputFiles::new(Path::new("benchmark_results"), &run.meta.timestamp);
        let text = render(&run, &files, true);
        let (against, writes, charts) = (
            text.find("## Against the original").unwrap(),
            text.find("## Writes (HTTP)").unwrap(),
            text.find("## Charts").unwrap(),
        );
        assert!(against < writes && writes < charts, "{text}");
        assert!(text.contains("| trgm | 4.00 / 18.4 / 20.0 |"), "{text}");
    }
}
