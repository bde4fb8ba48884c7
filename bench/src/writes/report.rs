//! The write group as a person reads it: the "Writes" section of
//! REPORT.md, the table printed on the console, and the progress lines.

use std::fmt::Write;

use super::results::{Cleanup, WriteResult};
use crate::format::{ms, thousands};
use crate::results::RunResults;

/// Operations timed per request, and the transfers.
const SINGLE: [&str; 3] = ["create", "update", "delete"];

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// `3.10 / 5.20 / 21.0`: p50 / p95 / max in ms.
fn spread(r: &WriteResult) -> String {
    r.timing.map_or("–".to_string(), |t| format!("{} / {} / {}", ms(t.p50_ms), ms(t.p95_ms), ms(t.max_ms)))
}

/// `21,300`: a rate, rounded.
fn per_s(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| thousands(v.round() as u64))
}

/// What failed, for a cell: `3 of 200 failed: HTTP 400: …`.
fn failure(r: &WriteResult) -> Option<String> {
    let error = r.error.as_deref()?;
    let what = if r.requests > 1 { format!("{} of {} failed: ", r.failed, r.requests) } else { String::new() };
    Some(format!("{what}{}", short(error, 60)))
}

/// A Markdown cell of an operation on a variant.
fn cell(r: Option<&WriteResult>, show: fn(&WriteResult) -> String) -> String {
    match r {
        None => "–".to_string(),
        Some(r) => match failure(r) {
            None => show(r),
            Some(f) => format!("**{}** ({})", escape(&f), show(r)),
        },
    }
}

fn seconds(r: &WriteResult) -> String {
    r.timing.map_or("–".to_string(), |t| format!("{:.1} s", t.max_ms / 1000.0))
}

/// The "Writes" section of REPORT.md; empty when the group did not run.
pub fn section(run: &RunResults) -> String {
    let Some(plan) = &run.meta.writes else {
        return String::new();
    };
    let mut out = String::new();
    let _ = writeln!(out, "## Writes (HTTP)\n");
    let _ = writeln!(
        out,
        "Per variant, after its reads: {} single creates (`POST /api/contacts/`, every other one with a new \
         address), then a PATCH of each (points, last_name), then a DELETE of each, one at a time, each timed \
         (p50 / p95 / max ms); one import of {} NDJSON contacts (half with a new address), timed from the \
         first byte sent to the report (rows/s); then everything the bench wrote is deleted through the \
         database (contacts and addresses marked `{}`){}, untimed; then one CSV export \
         (`{}`), timed from the request to the last byte, read as a stream (rows/s, MB/s of 10^6 bytes, no \
         gzip). Each timed part starts once no postings refresh or autovacuum runs in the database, and the \
         postings refresh that the import and the cleanup make due is run, untimed, before the export. \
         The data set is left as it was.\n",
        plan.single_writes,
        thousands(plan.import_rows),
        plan.marker,
        if plan.vacuum { " and vacuumed" } else { " (not vacuumed: `--no-vacuum`)" },
        plan.export_path()
    );
    let _ = writeln!(
        out,
        "| variant | create p50 / p95 / max | update p50 / p95 / max | delete p50 / p95 / max | import rows/s | \
         export rows/s | export MB/s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for v in writes_variants(run) {
        let mut line = format!("| {v} |");
        for op in SINGLE {
            let _ = write!(line, " {} |", cell(run.write(&v, op), spread));
        }
        let import = run.write(&v, "import");
        let _ = write!(line, " {} |", cell(import, |r| format!("{} ({})", per_s(r.rows_per_s), seconds(r))));
        let export = run.write(&v, "export");
        let _ = write!(line, " {} |", cell(export, |r| format!("{} ({})", per_s(r.rows_per_s), seconds(r))));
        let _ = write!(line, " {} |", cell(export, |r| r.mb_per_s.map_or("–".to_string(), |m| format!("{m:.1}"))));
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    for v in &run.meta.variants {
        let details = details(run, &v.name, v.writes_cleanup.as_ref());
        if !details.is_empty() {
            let _ = writeln!(out, "- {}: {}", v.name, details.join("; "));
        }
    }
    out
}

/// Variants with write results, in run order.
fn writes_variants(run: &RunResults) -> Vec<String> {
    run.variants().into_iter().filter(|v| run.writes.iter().any(|w| w.variant == *v)).collect()
}

/// The facts behind a variant's row: sizes, first byte, the cleanup.
fn details(run: &RunResults, variant: &str, cleanup: Option<&Cleanup>) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(r) = run.write(variant, "import") {
        parts.push(format!(
            "import of {} rows ({:.1} MB) in {}",
            thousands(r.rows.unwrap_or(0)),
            r.bytes.unwrap_or(0) as f64 / 1e6,
            seconds(r)
        ));
    }
    if let Some(r) = run.write(variant, "export") {
        parts.push(format!(
            "export of {} rows ({:.1} MB) in {}, first byte after {} ms",
            thousands(r.rows.unwrap_or(0)),
            r.bytes.unwrap_or(0) as f64 / 1e6,
            seconds(r),
            r.first_byte_ms.map_or("–".to_string(), ms)
        ));
    }
    if let Some(c) = cleanup {
        parts.push(cleanup_text(c));
    }
    parts
}

fn cleanup_text(c: &Cleanup) -> String {
    let done = format!(
        "cleanup: {} contacts and {} addresses deleted in {:.1} s, {}",
        thousands(c.contacts_deleted),
        thousands(c.addresses_deleted),
        c.delete_s,
        c.vacuum_s.map_or("no VACUUM".to_string(), |s| format!("VACUUM ANALYZE {s:.1} s"))
    );
    match &c.error {
        Some(e) => format!("{done} — **{}**", escape(e)),
        None => done,
    }
}

/// The progress line after an operation.
pub fn line(r: &WriteResult) -> String {
    let timing = match (r.timing, r.requests) {
        (None, _) => "no timing".to_string(),
        (Some(t), 1) => format!("{:>9.2} s", t.max_ms / 1000.0),
        (Some(t), _) => format!("p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>8.2} ms", t.p50_ms, t.p95_ms, t.max_ms),
    };
    let rates = match (r.rows, r.rows_per_s, r.mb_per_s) {
        (Some(rows), Some(rps), Some(mbs)) => {
            format!("  {} rows, {} rows/s, {mbs:.1} MB/s", thousands(rows), per_s(Some(rps)))
        }
        _ => String::new(),
    };
    let outcome = failure(r).unwrap_or_else(|| format!("{} requests, {}", r.requests, r.status));
    format!("  {:<9} {:<7} {timing}{rates}  {outcome}", r.variant, r.operation)
}

/// The progress line after a cleanup.
pub fn cleanup_line(c: &Cleanup) -> String {
    format!("  {}", cleanup_text(c).replace("**", ""))
}

/// The console table: one line per variant.
pub fn console(run: &RunResults) -> String {
    if run.writes.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nwrites via http (ms: p50 / p95 / max per request; import and export: rows/s)\n");
    let header = format!(
        "{:<9} | {:>22} | {:>22} | {:>22} | {:>12} | {:>13} | {:>11}",
        "variant", "create", "update", "delete", "import rows/s", "export rows/s", "export MB/s"
    );
    out.push_str(&header);
    out.push('\n');
    out.push_str(&"-".repeat(header.chars().count()));
    out.push('\n');
    for v in writes_variants(run) {
        let plain = |op: &str, show: fn(&WriteResult) -> String| match run.write(&v, op) {
            None => "-".to_string(),
            Some(r) if r.error.is_some() => format!("FAILED {}", r.failed),
            Some(r) => show(r),
        };
        let _ = writeln!(
            out,
            "{v:<9} | {:>22} | {:>22} | {:>22} | {:>12} | {:>13} | {:>11}",
            plain("create", spread),
            plain("update", spread),
            plain("delete", spread),
            plain("import", |r| per_s(r.rows_per_s)),
            plain("export", |r| per_s(r.rows_per_s)),
            plain("export", |r| r.mb_per_s.map_or("-".to_string(), |m| format!("{m:.1}")))
        );
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::export::tests::sample_run;
    use crate::scenarios::Params;
    use crate::stats::Timing;
    use crate::writes::{WriteParts, WritePlan};

    fn op(variant: &str, operation: &str, samples: &[f64]) -> WriteResult {
        WriteResult {
            variant: variant.into(),
            operation: operation.into(),
            request: format!("{operation} request"),
            timing: Timing::of(samples),
            samples_ms: samples.to_vec(),
            requests: samples.len() as u64,
            failed: 0,
            rows: None,
            bytes: None,
            first_byte_ms: None,
            rows_per_s: None,
            mb_per_s: None,
            status: 200,
            error: None,
            note: None,
        }
    }

    /// The sample run with the write group on both variants; the import
    /// on baseline failed.
    pub fn with_writes() -> RunResults {
        let mut run = sample_run();
        run.meta.writes = Some(WritePlan {
            parts: WriteParts { single: true, import: true, export: true },
            single_writes: 3,
            import_rows: 100_000,
            export_params: Params::default(),
            seed: 42,
            vacuum: true,
            marker: "BenchW20250101T120000P1".into(),
        });
        for v in ["baseline", "trgm"] {
            run.writes.push(op(v, "create", &[3.0, 4.0, 20.0]));
            run.writes.push(op(v, "update", &[2.0, 2.5, 3.0]));
            run.writes.push(op(v, "delete", &[1.0, 1.5, 2.0]));
            let mut import = op(v, "import", &[4000.0]);
            (import.rows, import.bytes, import.rows_per_s) = (Some(100_000), Some(25_000_000), Some(25_000.0));
            if v == "baseline" {
                (import.failed, import.status, import.rows, import.rows_per_s) = (1, 400, None, None);
                import.error = Some("HTTP 400: {\"created\":0,\"failed\":1}".into());
            }
            run.writes.push(import);
            let mut export = op(v, "export", &[10_000.0]);
            (export.rows, export.bytes, export.first_byte_ms) = (Some(3_000_000), Some(760_000_000), Some(80.0));
            (export.rows_per_s, export.mb_per_s) = (Some(300_000.0), Some(76.0));
            run.writes.push(export);
        }
        run.meta.variants[1].writes_cleanup = Some(Cleanup {
            contacts_deleted: 100_003,
            addresses_deleted: 50_002,
            delete_s: 6.24,
            vacuum_s: Some(12.1),
            error: None,
        });
        run
    }

    #[test]
    fn section_table_per_variant() {
        let text = section(&with_writes());
        assert!(text.starts_with("## Writes (HTTP)\n"), "{text}");
        assert!(text.contains("contacts and addresses marked `BenchW20250101T120000P1`"), "{text}");
        let trgm = text.lines().find(|l| l.starts_with("| trgm |")).expect(&text);
        assert_eq!(
            trgm,
            "| trgm | 4.00 / 18.4 / 20.0 | 2.50 / 2.95 / 3.00 | 1.50 / 1.95 / 2.00 | 25,000 (4.0 s) | \
             300,000 (10.0 s) | 76.0 |"
        );
        let baseline = text.lines().find(|l| l.starts_with("| baseline |")).unwrap();
        assert!(baseline.contains(r#"| **HTTP 400: {"created":0,"failed":1}** (– (4.0 s)) |"#), "{baseline}");
        let details = text.lines().find(|l| l.starts_with("- trgm: ")).unwrap();
        assert!(details.contains("import of 100,000 rows (25.0 MB) in 4.0 s"), "{details}");
        assert!(details.contains("export of 3,000,000 rows (760.0 MB) in 10.0 s, first byte after 80.0 ms"));
        assert!(
            details.ends_with("cleanup: 100,003 contacts and 50,002 addresses deleted in 6.2 s, VACUUM ANALYZE 12.1 s")
        );
        assert_eq!(section(&sample_run()), "", "no write group, no section");
    }

    #[test]
    fn console_and_progress_lines() {
        let run = with_writes();
        let text = console(&run);
        let trgm = text.lines().find(|l| l.starts_with("trgm")).expect(&text);
        assert!(trgm.contains("4.00 / 18.4 / 20.0") && trgm.contains("300,000") && trgm.ends_with("76.0"), "{trgm}");
        let baseline = text.lines().find(|l| l.starts_with("baseline")).unwrap();
        assert!(baseline.contains("FAILED 1"), "{baseline}");
        assert_eq!(console(&sample_run()), "");
        let create = line(run.write("trgm", "create").unwrap());
        assert!(create.contains("create") && create.contains("p50    4.00 ms") && create.ends_with("3 requests, 200"));
        let export = line(run.write("trgm", "export").unwrap());
        assert!(export.contains("10.00 s  3,000,000 rows, 300,000 rows/s, 76.0 MB/s"), "{export}");
        let refused = line(run.write("baseline", "import").unwrap());
        assert!(refused.ends_with(r#"HTTP 400: {"created":0,"failed":1}"#), "{refused}");
    }
}
