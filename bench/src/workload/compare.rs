//! `bench compare-workloads A.json B.json`: how the cost of the same
//! requests changed from run A to run B (e.g. 1M against 3M contacts, the
//! second a `--workload-replay` of the first), request by request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::format::{factor, ms, thousands};
use crate::stats::percentile;

/// What a comparison reads of a workload file (other fields are ignored,
/// so files of other bench versions still compare).
#[derive(Clone, Debug, Deserialize)]
pub struct File {
    pub meta: FileMeta,
    pub runs: Vec<FileRun>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FileMeta {
    pub timestamp: String,
    pub via: String,
    pub dataset: crate::db::Dataset,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FileRun {
    pub variant: String,
    pub records: Vec<FileRecord>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FileRecord {
    pub class: String,
    pub key: String,
    pub status: u16,
    pub latency_ms: f64,
}

pub fn read(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a workload result file", path.display()))
}

/// A request present in both runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub variant: String,
    pub class: String,
    pub key: String,
    pub a_ms: f64,
    pub b_ms: f64,
}

impl Pair {
    pub fn ratio(&self) -> f64 {
        self.b_ms / self.a_ms
    }
}

/// The ratios B/A of the matched requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub pairs: Vec<Pair>,
    pub only_a: usize,
    pub only_b: usize,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    /// The largest ratios first (at most [`LARGEST`]).
    pub largest: Vec<Pair>,
    /// (class, requests, median ratio).
    pub per_class: Vec<(String, usize, f64)>,
}

/// How many of the largest ratios are listed.
pub const LARGEST: usize = 10;

/// Per key, its class and the median of its answered latencies (a key may
/// occur more than once: the same request drawn twice).
fn by_key(records: &[FileRecord]) -> BTreeMap<&str, (&str, f64)> {
    let mut grouped: BTreeMap<&str, (&str, Vec<f64>)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status != 0 && r.latency_ms.is_finite() && r.latency_ms > 0.0) {
        grouped.entry(&r.key).or_insert((&r.class, Vec::new())).1.push(r.latency_ms);
    }
    grouped
        .into_iter()
        .map(|(key, (class, mut times))| {
            times.sort_by(f64::total_cmp);
            (key, (class, percentile(&times, 50.0)))
        })
        .collect()
}

/// The runs of B matched with those of A: by variant, or the only run of
/// each whatever its variant (comparing two variants, or a replay on
/// another one).
fn matched_runs<'a>(a: &'a File, b: &'a File) -> Vec<(&'a FileRun, &'a FileRun)> {
    if a.runs.len() == 1 && b.runs.len() == 1 {
        return vec![(&a.runs[0], &b.runs[0])];
    }
    a.runs.iter().filter_map(|ra| b.runs.iter().find(|rb| rb.variant == ra.variant).map(|rb| (ra, rb))).collect()
}

pub fn compare(a: &File, b: &File) -> Comparison {
    let mut pairs = Vec::new();
    let (mut only_a, mut only_b) = (0, 0);
    for (ra, rb) in matched_runs(a, b) {
        let (ka, kb) = (by_key(&ra.records), by_key(&rb.records));
        only_a += ka.keys().filter(|k| !kb.contains_key(*k)).count();
        only_b += kb.keys().filter(|k| !ka.contains_key(*k)).count();
        for (key, (class, a_ms)) in &ka {
            if let Some((_, b_ms)) = kb.get(key) {
                let variant = if ra.variant == rb.variant {
                    ra.variant.clone()
                } else {
                    format!("{}→{}", ra.variant, rb.variant)
                };
                pairs.push(Pair { variant, class: class.to_string(), key: key.to_string(), a_ms: *a_ms, b_ms: *b_ms });
            }
        }
    }
    let mut ratios: Vec<f64> = pairs.iter().map(Pair::ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let mut largest = pairs.clone();
    largest.sort_by(|x, y| y.ratio().total_cmp(&x.ratio()));
    largest.truncate(LARGEST);
    let mut classes: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in &pairs {
        classes.entry(&p.class).or_default().push(p.ratio());
    }
    let per_class = classes
        .into_iter()
        .map(|(class, mut r)| {
            r.sort_by(f64::total_cmp);
            (class.to_string(), r.len(), percentile(&r, 50.0))
        })
        .collect();
    let at = |p: f64| (!ratios.is_empty()).then(|| percentile(&ratios, p));
    Comparison { median: at(50.0), p90: at(90.0), largest, per_class, only_a, only_b, pairs }
}

/// The comparison as printed.
pub fn render(a: &File, b: &File, c: &Comparison, names: (&str, &str)) -> String {
    let mut out = String::new();
    let (ta, tb) = (a.meta.dataset.total_contacts, b.meta.dataset.total_contacts);
    let _ = writeln!(out, "A: {} ({}, {} contacts, via {})", names.0, a.meta.timestamp, thousands(ta), a.meta.via);
    let _ = writeln!(out, "B: {} ({}, {} contacts, via {})", names.1, b.meta.timestamp, thousands(tb), b.meta.via);
    if ta > 0 {
        let _ = writeln!(out, "contacts B/A: {}", factor(tb as f64 / ta as f64));
    }
    let _ = writeln!(
        out,
        "requests in both: {} (only in A: {}, only in B: {}); latency ratio B/A per request:",
        c.pairs.len(),
        c.only_a,
        c.only_b
    );
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let _ = writeln!(out, "  median {}   p90 {}", show(c.median), show(c.p90));
    if !c.per_class.is_empty() {
        let _ = writeln!(out, "\nper class (requests, median ratio):");
        for (class, n, median) in &c.per_class {
            let _ = writeln!(out, "  {class:<15} {n:>6}  {median:>8.2}");
        }
    }
    if !c.largest.is_empty() {
        let _ = writeln!(out, "\nthe {} largest ratios:", c.largest.len());
        let _ = writeln!(out, "  {:>8} {:>10} {:>10}  {:<15} request", "B/A", "A ms", "B ms", "class");
        for p in &c.largest {
            let _ =
                writeln!(out, "  {:>8.2} {:>10} {:>10}  {:<15} {}", p.ratio(), ms(p.a_ms), ms(p.b_ms), p.class, p.key);
        }
    }
    out
}

/// Reads both files, compares and renders; an error when nothing matches.
pub fn run(a_path: &Path, b_path: &Path) -> Result<String> {
    let (a, b) = (read(a_path)?, read(b_path)?);
    let c = compare(&a, &b);
    if c.pairs.is_empty() {
        bail!(
            "no request of {} is in {} (compare a run with a --workload-replay of it, or two runs of the same seed on the same data)",
            a_path.display(),
            b_path.display()
        );
    }
    Ok(render(&a, &b, &c, (&a_path.display().to_string(), &b_path.display().to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(total: u64, variant: &str, records: &[(&str, &str, u16, f64)]) -> File {
        File {
            meta: FileMeta {
                timestamp: "t".into(),
                via: "sql".into(),
                dataset: crate::db::Dataset { total_contacts: total, ..Default::default() },
            },
            runs: vec![FileRun {
                variant: variant.into(),
                records: records
                    .iter()
                    .map(|(class, key, status, ms)| FileRecord {
                        class: class.to_string(),
                        key: key.to_string(),
                        status: *status,
                        latency_ms: *ms,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn ratios_of_the_requests_in_both() {
        let a = file(
            1_000_000,
            "trgm",
            &[
                ("search", "search=a", 200, 10.0),
                ("search", "search=b", 200, 2.0),
                ("range", "created__gte=x", 200, 4.0),
                ("range", "created__gte=x", 200, 6.0),
                ("cursor", "cursor=#next1", 200, 1.0),
                ("exact", "only_a=1", 200, 1.0),
                ("exact", "lost=1", 0, 1.0),
            ],
        );
        let b = file(
            3_000_000,
            "trgm",
            &[
                ("search", "search=a", 200, 30.0),
                ("search", "search=b", 404, 2.0),
                ("range", "created__gte=x", 200, 50.0),
                ("cursor", "cursor=#next1", 200, 1.5),
                ("exact", "only_b=1", 200, 1.0),
                ("exact", "lost=1", 200, 1.0),
            ],
        );
        let c = compare(&a, &b);
        let mut ratios: Vec<(String, f64)> = c.pairs.iter().map(|p| (p.key.clone(), p.ratio())).collect();
        ratios.sort_by(|x, y| x.0.cmp(&y.0));
        // created__gte=x ran twice in A: its median (5 ms) is compared.
        assert_eq!(
            ratios,
            [
                ("created__gte=x".to_string(), 10.0),
                ("cursor=#next1".into(), 1.5),
                ("search=a".into(), 3.0),
                ("search=b".into(), 1.0)
            ]
        );
        assert_eq!((c.only_a, c.only_b), (1, 2), "unanswered requests are left out");
        assert_eq!(c.median, Some(2.25));
        assert!((c.p90.unwrap() - 7.9).abs() < 1e-9);
        assert_eq!(c.largest.iter().map(|p| p.key.as_str()).collect::<Vec<_>>()[..2], ["created__gte=x", "search=a"]);
        assert_eq!(c.per_class, [("cursor".into(), 1, 1.5), ("range".into(), 1, 10.0), ("search".into(), 2, 2.0)]);
        let text = render(&a, &b, &c, ("a.json", "b.json"));
        assert!(text.contains("contacts B/A: ×3.0") && text.contains("median 2.25"), "{text}");
        assert!(text.contains("requests in both: 4 (only in A: 1, only in B: 2)"), "{text}");
    }

    #[test]
    fn runs_match_by_variant_or_alone() {
        let a = file(10, "trgm", &[("search", "q", 200, 2.0)]);
        let b = file(10, "full", &[("search", "q", 200, 1.0)]);
        let c = compare(&a, &b);
        assert_eq!((c.pairs.len(), c.pairs[0].variant.as_str(), c.median), (1, "trgm→full", Some(0.5)));
        let mut two = a.clone();
        two.runs.push(FileRun { variant: "full".into(), records: b.runs[0].records.clone() });
        let mut other = b.clone();
        other.runs.push(FileRun { variant: "baseline".into(), records: vec![] });
        let c = compare(&two, &other);
        assert_eq!(c.pairs.iter().map(|p| p.variant.as_str()).collect::<Vec<_>>(), ["full"]);
        let none = compare(&file(1, "x", &[]), &file(1, "x", &[]));
        assert_eq!((none.median, none.p90, none.largest.len()), (None, None, 0));
    }
}
