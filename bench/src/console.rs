//! The console table printed at the end of a run.

use crate::format::{ms, opt, thousands};
use crate::original;
use crate::results::RunResults;

/// A cell: the p50, or what went wrong.
fn cell(run: &RunResults, variant: &str, scenario: &str) -> String {
    match run.result(variant, scenario) {
        None => "-".to_string(),
        Some(r) if r.is_success() => r.headline().map_or("-".to_string(), ms),
        Some(r) => match r.error.as_deref() {
            Some("TIMEOUT") => "TIMEOUT".to_string(),
            _ if r.status == 0 => "NO ANSWER".to_string(),
            _ => format!("ERR {}", r.status),
        },
    }
}

pub fn table(run: &RunResults) -> String {
    let m = &run.meta;
    let mut out = format!(
        "\ncrm-contacts benchmark {} — via {} ({}), {} contacts, p50 ms over {} repetitions after {} warm-up\n",
        m.timestamp,
        m.via,
        m.target,
        thousands(m.dataset.total_contacts),
        m.reps,
        m.warmup
    );
    if !run.results.is_empty() {
        out.push_str(&reads(run));
    }
    out.push_str(&crate::writes::report::console(run));
    if let Some(why) = &m.incomplete {
        out.push_str(&format!("\nINCOMPLETE RUN: {why}\n"));
    }
    out
}

/// One line per read scenario, a column per variant.
fn reads(run: &RunResults) -> String {
    let variants = run.variants();
    let mut out = String::new();
    let label_width = run.scenario_ids().iter().map(|(_, l)| l.chars().count()).max().unwrap_or(8).max(8);
    let mut header = format!("{:<label_width$}", "scenario");
    for v in &variants {
        header.push_str(&format!(" | {v:>10}"));
    }
    header.push_str(" | queries | original b/i/t");
    out.push_str(&header);
    out.push('\n');
    out.push_str(&"-".repeat(header.chars().count()));
    out.push('\n');
    for (id, label) in run.scenario_ids() {
        let mut line = format!("{label:<label_width$}");
        for v in &variants {
            line.push_str(&format!(" | {:>10}", cell(run, v, &id)));
        }
        let mut queries: Vec<String> = Vec::new();
        for v in &variants {
            let q = opt(run.result(v, &id).and_then(|r| r.query_count));
            if !queries.contains(&q) {
                queries.push(q);
            }
        }
        let figures = original::figures(&id)
            .map_or("-".to_string(), |f| f.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join("/"));
        line.push_str(&format!(" | {:>7} | {figures}", queries.join("/")));
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("(pagination and cursor rows: the average of the pages' p50, as the original's avg per page)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample_run;

    #[test]
    fn one_line_per_scenario_with_errors_shown() {
        let text = table(&sample_run());
        assert!(text.contains("via sql"), "{text}");
        let search = text.lines().find(|l| l.starts_with("search (Paul)")).unwrap();
        assert!(search.contains("TIMEOUT") && search.contains("9.00") && search.contains("1643/1694/1569"), "{search}");
        let sort = text.lines().find(|l| l.starts_with("sort -created")).unwrap();
        assert!(sort.contains(" 310 |") && sort.contains(" 0.50 |") && sort.ends_with(" 3 | 66/63/66"), "{sort}");
        assert!(!text.contains("writes via http"));
        let mut with_writes = crate::writes::report::tests::with_writes();
        let text = table(&with_writes);
        assert!(text.contains("search (Paul)") && text.contains("\nwrites via http"), "{text}");
        assert!(text.contains("\ntrgm "), "{text}");
        with_writes.results.clear();
        let writes_only = table(&with_writes);
        assert!(!writes_only.contains("scenario |") && writes_only.contains("\nwrites via http"), "{writes_only}");
    }
}
