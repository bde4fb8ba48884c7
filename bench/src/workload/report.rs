//! The workload as a person reads it: the console table, `WORKLOAD.md`
//! (everything, with the slowest requests' plans) and the "Randomized
//! workload" section of `REPORT.md`.
//!
//! REPORT.md is written by scenario runs too: the workload's section sits
//! between two markers, a workload run replaces just that part, and a
//! scenario run keeps it.

use std::fmt::Write;

use super::export::WorkloadFiles;
use super::generate;
use super::results::{CancelResult, LoadResult, Summary, WorkloadResults, WorkloadRun};
use crate::format::{ms, opt, thousands};

pub const BEGIN: &str = "<!-- randomized workload: begin (rewritten by workload runs) -->";
pub const END: &str = "<!-- randomized workload: end -->";

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A table cell: pipes escaped, on one line (errors carry a DETAIL line).
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A long query string shortened for a table cell.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn latency_cells(s: &Summary) -> [String; 6] {
    match &s.latency {
        Some(l) => [l.n.to_string(), ms(l.p50_ms), ms(l.p90_ms), ms(l.p95_ms), ms(l.p99_ms), ms(l.max_ms)],
        None => ["0".into(), "–".into(), "–".into(), "–".into(), "–".into(), "–".into()],
    }
}

/// p50/p90/p95/p99/max per class, with the outcomes.
pub fn latency_table(summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| class | n | p50 | p90 | p95 | p99 | max | 2xx | 404 page past the end | errors | no answer |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in summaries {
        let [n, p50, p90, p95, p99, max] = latency_cells(s);
        let o = s.outcomes;
        let class = if s.class == "all" { "**all**".to_string() } else { format!("`{}`", s.class) };
        let _ = writeln!(
            out,
            "| {class} | {n} | {p50} | {p90} | {p95} | {p99} | {max} | {} | {} | {} | {} |",
            o.ok, o.invalid_page, o.error, o.no_answer
        );
    }
    out
}

fn load_table(load: &LoadResult) -> String {
    let s = load.statuses;
    let mut out = format!(
        "{} clients for {} s (last answer after {:.1} s): **{:.0} requests/s** ({} answered; 2xx {}, 4xx {} \
         of which {} pages past the end, 5xx {}, no answer {}, cut at the end {}).\n\n",
        load.clients,
        load.duration_s,
        load.elapsed_s,
        load.requests_per_s,
        load.requests,
        s.s2xx,
        s.s4xx,
        s.invalid_page,
        s.s5xx,
        s.no_answer,
        s.cut_at_end
    );
    out.push_str("| class | n | p50 | p90 | p95 | p99 | max | 2xx | 4xx | 5xx | no answer |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &load.classes {
        let summary = Summary { class: c.class.clone(), latency: c.latency, outcomes: Default::default() };
        let [n, p50, p90, p95, p99, max] = latency_cells(&summary);
        let st = c.statuses;
        let _ = writeln!(
            out,
            "| `{}` | {n} | {p50} | {p90} | {p95} | {p99} | {max} | {} | {} | {} | {} |",
            c.class, st.s2xx, st.s4xx, st.s5xx, st.no_answer
        );
    }
    out
}

fn cancel_table(cancel: &CancelResult) -> String {
    let mut out = format!(
        "Each request dropped after {} ms; then `pg_stat_activity` polled every 5 ms until the `contacts_page` \
         backends that started since it was sent are no longer active (cap {} ms).\n\n",
        cancel.drop_after_ms, cancel.cap_ms
    );
    out.push_str(
        "| class | requests | answered before the drop | running at the drop | median time to gone | max | capped |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for s in &cancel.summaries {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            s.class,
            s.requests,
            s.answered_before_drop,
            s.cancelled,
            s.median_gone_ms.map_or("–".into(), ms),
            s.max_gone_ms.map_or("–".into(), ms),
            s.capped
        );
    }
    out
}

fn slowest_table(run: &WorkloadRun) -> String {
    let mut out =
        String::from("| # | class | ms | status | queries | request | plan |\n|---:|---|---:|---:|---:|---|---|\n");
    for (i, s) in run.slowest.iter().enumerate() {
        let plan = s.plan.clone().or_else(|| s.explain_error.clone()).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | `?{}` | {} |",
            i + 1,
            s.class,
            ms(s.latency_ms),
            s.status,
            opt(s.query_count),
            escape(&short(&s.query, 160)),
            escape(&plan)
        );
    }
    out
}

fn facts(r: &WorkloadResults) -> String {
    let m = &r.meta;
    let mut out = String::from("| | |\n|---|---|\n");
    let _ = writeln!(out, "| run | {} ({} → {}) |", m.timestamp, m.started_at, m.finished_at);
    let _ = writeln!(out, "| path | **{}**: {} |", m.via, escape(&m.target));
    let _ = writeln!(out, "| dataset | {} contacts |", thousands(m.dataset.total_contacts));
    let variants: Vec<&str> = r.runs.iter().map(|r| r.variant.as_str()).collect();
    let _ = writeln!(
        out,
        "| variants | {} (active before: {}, after: {}) |",
        variants.join(", "),
        m.initial_variant,
        m.final_variant
    );
    let source = if m.source == "generated" {
        format!("generated with seed {} from {} sampled contacts", m.seed, m.sample_rows)
    } else {
        escape(&m.source)
    };
    let _ = writeln!(out, "| requests | {} drawn, {source} |", r.requests.len());
    let _ = writeln!(out, "| statement timeout | {} ms |", m.statement_timeout_ms);
    let _ = writeln!(out, "| machine | {} CPUs, {} |", m.machine.cpus, m.machine.os);
    out
}

/// The section of REPORT.md, between [`BEGIN`] and [`END`].
pub fn section(r: &WorkloadResults, files: &WorkloadFiles, chart: bool) -> String {
    let m = &r.meta;
    let mut out = format!("{BEGIN}\n## Randomized workload\n\n");
    let _ = writeln!(
        out,
        "Run **{}**: {} requests via {} on {} contacts ({}). Everything, with the 20 slowest requests and \
         their plans: [WORKLOAD.md](WORKLOAD.md).\n",
        m.timestamp,
        r.requests.len(),
        m.via,
        thousands(m.dataset.total_contacts),
        if m.source == "generated" { format!("seed {}", m.seed) } else { escape(&m.source) }
    );
    if let Some(why) = &m.incomplete {
        let _ = writeln!(out, "> **Incomplete run**: {why}.\n");
    }
    for run in &r.runs {
        let _ = writeln!(out, "### {} (ms)\n", run.variant);
        if !run.records.is_empty() {
            out.push_str(&latency_table(&run.summaries));
            out.push('\n');
        }
        if let Some(load) = &run.load {
            out.push_str("Load: ");
            out.push_str(&load_table(load));
            out.push('\n');
        }
    }
    if chart {
        let _ = writeln!(out, "![latency per class]({})\n", file_name(&files.chart()));
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// REPORT.md with `section` in place of the old one (or appended; or on
/// its own when there is no report yet).
pub fn merge_into_report(existing: Option<&str>, section: &str) -> String {
    match existing {
        Some(text) => match (text.find(BEGIN), text.find(END)) {
            (Some(begin), Some(end)) if end > begin => {
                let tail = &text[end + END.len()..];
                format!("{}{}{}", &text[..begin], section.trim_end_matches('\n'), tail)
            }
            _ => format!("{}\n\n{section}", text.trim_end()),
        },
        None => format!(
            "# crm-contacts benchmark report\n\nWritten by `cargo run --release -p bench` (see \
             [bench/README.md](../bench/README.md)). No scenario run has written this directory yet: \
             only the randomized workload is here.\n\n{section}"
        ),
    }
}

/// The workload section of an existing REPORT.md, for a scenario run to keep.
pub fn existing_section(report: &str) -> Option<&str> {
    let begin = report.find(BEGIN)?;
    let end = report[begin..].find(END)? + begin + END.len();
    Some(&report[begin..end])
}

/// WORKLOAD.md.
pub fn render(r: &WorkloadResults, files: &WorkloadFiles, chart: bool) -> String {
    let mut out = String::from("# crm-contacts: randomized workload\n\n");
    let _ = writeln!(
        out,
        "Written by `cargo run --release -p bench -- --workload N` (see [bench/README.md](../bench/README.md)); \
         every workload run replaces it.\n"
    );
    if let Some(why) = &r.meta.incomplete {
        let _ = writeln!(out, "> **Incomplete run**: {why}. The tables hold what was measured before.\n");
    }
    out.push_str(&facts(r));
    out.push('\n');
    if chart {
        let _ = writeln!(out, "![latency per class]({})\n", file_name(&files.chart()));
    }
    for run in &r.runs {
        let _ = writeln!(out, "## Variant {}\n", run.variant);
        if let Some(s) = &run.switch {
            let _ = writeln!(
                out,
                "Switched from {} in {:.1} s (VACUUM/ANALYZE {:.1} s).\n",
                s.from, s.switch_s, s.maintenance_s
            );
        }
        if !run.records.is_empty() {
            let _ = writeln!(out, "### Latency per class (ms), every request once, in order\n");
            out.push_str(&latency_table(&run.summaries));
            out.push('\n');
        }
        if !run.slowest.is_empty() {
            let _ = writeln!(
                out,
                "### The {} slowest requests\n\nPlans from one `crm.explain(params)` call each after the pass \
                 (the whole JSON is in the result file); queries = the statements it ran plus the call.\n",
                run.slowest.len()
            );
            out.push_str(&slowest_table(run));
            out.push('\n');
        }
        if let Some(load) = &run.load {
            let _ = writeln!(out, "### Load\n");
            out.push_str(&load_table(load));
            out.push('\n');
        }
        if let Some(cancel) = &run.cancel {
            let _ = writeln!(out, "### Cancellation of abandoned requests\n");
            out.push_str(&cancel_table(cancel));
            out.push('\n');
        }
    }
    out.push_str(&method());
    let _ = writeln!(out, "## Files of this run\n");
    let mut listed = vec![files.json(), files.csv()];
    if chart {
        listed.push(files.chart());
    }
    for path in listed {
        let name = file_name(&path);
        let _ = writeln!(out, "- [{name}]({name})");
    }
    out
}

fn method() -> String {
    format!(
        "## How it was measured\n\n\
         - The requests are drawn from contacts read at seeded random ids (a pure function of the seed and \
         those rows): `icontains` (a 1–{frag} character fragment of a real value, random case), `search` (1–3 \
         terms of 1–{term} characters, short ones of 1–{short} often), `name`, `range`, `exact`, `combined` \
         (2–4 filters), `search_filters` (search with 1–3 filters), each with a random ordering of 0–3 fields \
         and mostly page 1 (else up to {page}); `deep_page` (page sizes {sizes:?}, any page); `cursor` \
         (a first keyset page, then 1–{hops} `next` links, each one request).\n\
         - Every request is sent once, one at a time on one connection (HTTP: keep-alive, the body read; \
         SQL: the function's JSON text received). A page past the end (404 `Invalid page.`) is a legitimate \
         answer and counted apart from the errors. Percentiles interpolate linearly between ranks.\n\
         - Load mode: each client its own connection, requests drawn at random from the workload, cursor \
         requests without their hops.\n\n",
        frag = generate::MAX_FRAGMENT,
        term = generate::MAX_TERM,
        short = generate::SHORT_TERM,
        page = generate::MAX_PAGE,
        sizes = generate::PAGE_SIZES,
        hops = generate::MAX_HOPS,
    )
}

/// The table printed at the end of a workload run.
pub fn console(r: &WorkloadResults) -> String {
    let m = &r.meta;
    let mut out = format!(
        "\ncrm-contacts randomized workload {} — via {} ({}), {} contacts, {} requests ({})\n",
        m.timestamp,
        m.via,
        m.target,
        thousands(m.dataset.total_contacts),
        r.requests.len(),
        if m.source == "generated" { format!("seed {}", m.seed) } else { m.source.clone() }
    );
    for run in &r.runs {
        let _ = writeln!(out, "\nvariant {} (ms)", run.variant);
        if !run.records.is_empty() {
            let _ = writeln!(
                out,
                "{:<15} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}",
                "class", "n", "p50", "p90", "p95", "p99", "max", "2xx", "404pg", "err", "lost"
            );
            for s in &run.summaries {
                let [n, p50, p90, p95, p99, max] = latency_cells(s);
                let o = s.outcomes;
                let _ = writeln!(
                    out,
                    "{:<15} {n:>6} {p50:>9} {p90:>9} {p95:>9} {p99:>9} {max:>9} {:>6} {:>6} {:>6} {:>6}",
                    s.class, o.ok, o.invalid_page, o.error, o.no_answer
                );
            }
        }
        if let Some(slow) = run.slowest.first() {
            let _ = writeln!(out, "slowest: {} ms `{}` ?{}", ms(slow.latency_ms), slow.class, short(&slow.query, 100));
        }
        if let Some(load) = &run.load {
            let s = load.statuses;
            let all = load.classes.first().and_then(|c| c.latency);
            let _ = writeln!(
                out,
                "load: {} clients × {} s: {:.0} requests/s; 2xx {} 4xx {} (pages past the end {}) 5xx {} no answer {} cut {}; p50 {} p99 {} ms",
                load.clients,
                load.duration_s,
                load.requests_per_s,
                s.s2xx,
                s.s4xx,
                s.invalid_page,
                s.s5xx,
                s.no_answer,
                s.cut_at_end,
                all.map_or("-".into(), |l| ms(l.p50_ms)),
                all.map_or("-".into(), |l| ms(l.p99_ms))
            );
        }
        if let Some(cancel) = &run.cancel {
            for s in &cancel.summaries {
                let _ = writeln!(
                    out,
                    "cancel {:<15} {} requests, {} running at the drop: gone after median {} / max {} ms{}",
                    s.class,
                    s.requests,
                    s.cancelled,
                    s.median_gone_ms.map_or("-".into(), ms),
                    s.max_gone_ms.map_or("-".into(), ms),
                    if s.capped > 0 { format!(" ({} still running at the cap)", s.capped) } else { String::new() }
                );
            }
        }
    }
    if let Some(why) = &m.incomplete {
        let _ = writeln!(out, "\nINCOMPLETE RUN: {why}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::export::tests::sample_results;
    use std::path::Path;

    #[test]
    fn workload_md_and_the_report_section() {
        let r = sample_results();
        let files = WorkloadFiles::new(Path::new("benchmark_results"), &r.meta.timestamp);
        let text = render(&r, &files, true);
        assert!(text.starts_with("# crm-contacts: randomized workload"));
        let all = text.lines().find(|l| l.starts_with("| **all** |")).expect(&text);
        assert_eq!(all, "| **all** | 4 | 7.50 | 179 | 214 | 243 | 250 | 3 | 1 | 0 | 0 |");
        assert!(text.contains("| `deep_page` | 1 | 250 | 250 | 250 | 250 | 250 | 0 | 1 | 0 | 0 |"), "{text}");
        assert!(
            text.contains("| 1 | `deep_page` | 250 | 404 | 3 | `?page_size=1000&page=3000` | count: 240ms"),
            "{text}"
        );
        assert!(text.contains("**11 requests/s**") || text.contains("requests/s"), "{text}");
        assert!(text.contains("| `deep_page` | 1 | 0 | 1 | 7.50 | 7.50 | 0 |"), "{text}");
        assert!(text.contains("![latency per class](workload_charts_20250101_120000.png)"));
        assert!(text.contains("- [workload_20250101_120000.csv](workload_20250101_120000.csv)"));
        let section = section(&r, &files, true);
        assert!(section.starts_with(BEGIN) && section.trim_end().ends_with(END));
        assert!(section.contains("## Randomized workload") && section.contains("[WORKLOAD.md](WORKLOAD.md)"));
        assert!(section.contains("| **all** | 4 |") && section.contains("Load: 2 clients"));
        let console = console(&r);
        assert!(console.contains("variant trgm (ms)") && console.contains("load: 2 clients"), "{console}");
        assert!(console.contains("cancel deep_page"), "{console}");
    }

    #[test]
    fn the_section_replaces_its_old_self() {
        let new = format!("{BEGIN}\nnew\n{END}\n");
        let fresh = merge_into_report(None, &new);
        assert!(fresh.starts_with("# crm-contacts benchmark report") && fresh.contains("\nnew\n"));
        let report = format!("# r\n\nscenarios\n\n{BEGIN}\nold\n{END}\n\n## after\n");
        let merged = merge_into_report(Some(&report), &new);
        assert_eq!(merged, format!("# r\n\nscenarios\n\n{BEGIN}\nnew\n{END}\n\n## after\n"));
        let appended = merge_into_report(Some("# r\n\nscenarios\n"), &new);
        assert_eq!(appended, format!("# r\n\nscenarios\n\n{BEGIN}\nnew\n{END}\n"));
        assert_eq!(existing_section(&merged), Some(format!("{BEGIN}\nnew\n{END}").as_str()));
        assert_eq!(existing_section("# r"), None);
        assert_eq!(escape("a|b\nDETAIL: c"), "a\\|b DETAIL: c");
    }
}
