//! The index variant (docs/compatibility.md, "Index variants") around a bulk load, and finishing statements
//! (the projection, index builds, ANALYZE) run over several connections at once.
//!
//! The crm_contacts extension says which variant is active and which of its
//! `crm_` indexes are present (`crm.variant()`), and drops them
//! (`crm.use_variant('baseline')`). The loader rebuilds them itself from the
//! definitions noted before the load rather than with `crm.use_variant`,
//! because that builds one index after the other in a single backend; several
//! connections build several indexes at once (PostgreSQL 15 cannot build a
//! GIN index with parallel workers, and the trigram ones dominate).
//!
//! Filling the projection is one statement on one core; the indexes of the
//! application tables do not need it and are built alongside on the other
//! connections (`crm.use_variant` locks the tables in SHARE mode, which index
//! builds share). The projection's own indexes start once it is filled.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::future::try_join_all;
use indicatif::ProgressBar;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::db::Database;

/// What `crm.variant()` reports.
#[derive(Clone, Debug, Deserialize)]
pub struct VariantReport {
    pub variant: String,
    /// The variant's projection (one flat row per contact, kept by
    /// triggers): "absent", "present" or stale; dropped with the variant.
    #[serde(default)]
    projection: Option<String>,
    indexes: Vec<ReportedIndex>,
}

#[derive(Clone, Debug, Deserialize)]
struct ReportedIndex {
    name: String,
    table: String,
    managed: bool,
    definition: String,
}

impl VariantReport {
    /// Jobs recreating the extension-managed indexes present, heaviest first.
    /// `rows` gives a table's row count after the load.
    pub fn rebuild_jobs(&self, rows: impl Fn(&str) -> u64) -> Vec<Job> {
        let jobs = self.indexes.iter().filter(|i| i.managed).map(|i| {
            // A trigram GIN index costs several times a B-tree on the same rows.
            let factor = if i.definition.contains(" USING gin ") { 8 } else { 1 };
            Job {
                label: i.name.clone(),
                sql: i.definition.clone(),
                weight: rows(&i.table) * factor,
                needs_projection: PROJECTION_TABLES.contains(&i.table.as_str()),
            }
        });
        let mut jobs: Vec<Job> = jobs.collect();
        // The projection's text postings (crm.refresh_postings): one pass
        // over the projection per text column, beside its index builds.
        if self.has_projection() {
            jobs.push(Job {
                label: "postings".to_string(),
                sql: "SELECT crm.refresh_postings()".to_string(),
                weight: rows(FLAT) * 8,
                needs_projection: true,
            });
        }
        heaviest_first(jobs)
    }

    pub fn has_projection(&self) -> bool {
        self.projection.as_deref().is_some_and(|p| p != "absent")
    }

    pub fn has_managed_indexes(&self) -> bool {
        self.indexes.iter().any(|i| i.managed)
    }
}

/// The projection's tables, as `crm.variant()` names them.
const FLAT: &str = "crm_contact_flat";
const DICTIONARY: &str = "crm_dictionary";
const PROJECTION_TABLES: [&str; 3] = [FLAT, DICTIONARY, "crm_contact_count"];

/// Rebuilds the projection of `variant` after a load, filled from the new
/// rows, without its indexes (`rebuild_jobs` builds them in parallel).
async fn restore_projection(client: &Client, variant: &str) -> Result<()> {
    if variant == "custom" {
        bail!("the projection belongs to no known variant (crm.variant() says custom): run SELECT crm.use_variant('trgm')");
    }
    client
        .query_one("SELECT crm.use_variant($1, build_indexes => false)::text", &[&variant])
        .await
        .with_context(|| format!("cannot rebuild the projection (crm.use_variant('{variant}', false))"))?;
    Ok(())
}

/// `VACUUM (ANALYZE)` of the projection's tables: their rows were inserted,
/// not copied frozen, and index-only scans need the visibility map.
pub fn vacuum_projection_jobs(rows: u64) -> Vec<Job> {
    [FLAT, DICTIONARY]
        .iter()
        .map(|t| Job {
            label: t.to_string(),
            sql: format!("VACUUM (ANALYZE) {t}"),
            weight: rows,
            needs_projection: true,
        })
        .collect()
}

pub async fn variant(client: &Client) -> Result<VariantReport> {
    let json: String = client
        .query_one("SELECT crm.variant()::text", &[])
        .await
        .context("cannot read the index variant (crm.variant())")?
        .get(0);
    serde_json::from_str(&json).context("unexpected crm.variant() report")
}

/// Drops the extension-managed indexes, in the caller's transaction if any.
pub async fn use_baseline(client: &Client) -> Result<()> {
    let json: String = client
        .query_one("SELECT crm.use_variant('baseline')::text", &[])
        .await
        .context("cannot drop the variant's indexes (crm.use_variant('baseline'))")?
        .get(0);
    let report: VariantReport = serde_json::from_str(&json).context("unexpected crm.use_variant() report")?;
    if report.variant != "baseline" {
        bail!("crm.use_variant('baseline') left variant {}", report.variant);
    }
    Ok(())
}

/// One statement of a finishing step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub label: String,
    pub sql: String,
    /// Relative cost, to start the longest statements first.
    pub weight: u64,
    /// Runs only once the projection is filled.
    pub needs_projection: bool,
}

/// `ANALYZE` of each table, largest first.
pub fn analyze_jobs(tables: &[&str], rows: impl Fn(&str) -> u64) -> Vec<Job> {
    heaviest_first(
        tables
            .iter()
            .map(|t| Job {
                label: t.to_string(),
                sql: format!("ANALYZE {t}"),
                weight: rows(t),
                needs_projection: false,
            })
            .collect(),
    )
}

/// Longest jobs first, then greedy: with a worker taking the next job when it
/// is free, the run ends close to the best possible makespan.
fn heaviest_first(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.label.cmp(&b.label)));
    jobs
}

/// The jobs not yet started, heaviest first.
struct Queue(Mutex<Vec<Job>>);

impl Queue {
    fn new(jobs: Vec<Job>) -> Self {
        Queue(Mutex::new(heaviest_first(jobs)))
    }

    /// The heaviest job that can start, given whether the projection is filled.
    fn take(&self, projection_filled: bool) -> Option<Job> {
        let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let next = jobs.iter().position(|j| projection_filled || !j.needs_projection)?;
        Some(jobs.remove(next))
    }
}

/// Runs `jobs` over `connections` connections, each taking the next job it
/// can start when it is free. With `projection` (the variant to restore),
/// the first connection fills the projection first, and the jobs that need
/// it wait; meanwhile the other connections build without parallel workers,
/// leaving the fill a core of its own. Statements on the same table may run
/// together: CREATE INDEX takes a lock that other index builds share.
/// Returns when the projection was filled, counted from the start.
pub async fn run_parallel(
    db: &Database,
    projection: Option<&str>,
    jobs: Vec<Job>,
    connections: usize,
    bar: &ProgressBar,
) -> Result<Duration> {
    let started = Instant::now();
    let (filled, filled_rx) = watch::channel(projection.is_none());
    let workers = connections.clamp(1, jobs.len().max(1));
    let queue = Queue::new(jobs);
    let filled_at = try_join_all((0..workers).map(|worker| {
        let (queue, filled, mut filled_rx) = (&queue, &filled, filled_rx.clone());
        async move {
            let client = db.connect().await?;
            let mut filled_at = None;
            if let Some(variant) = projection.filter(|_| worker == 0) {
                bar.set_message("projection");
                restore_projection(&client, variant).await?;
                filled_at = Some(started.elapsed());
                filled.send_replace(true);
                bar.inc(1);
            }
            let mut serial = false;
            loop {
                let projection_filled = *filled_rx.borrow_and_update();
                let Some(job) = queue.take(projection_filled) else {
                    if projection_filled {
                        break;
                    }
                    // Nothing to do until the projection is filled.
                    filled_rx.wait_for(|filled| *filled).await.context("the projection was not filled")?;
                    continue;
                };
                let want_serial = !projection_filled;
                if serial != want_serial {
                    serial = want_serial;
                    let setting = if serial {
                        "SET max_parallel_maintenance_workers = 0"
                    } else {
                        "RESET max_parallel_maintenance_workers"
                    };
                    client.batch_execute(setting).await.with_context(|| format!("{setting} failed"))?;
                }
                bar.set_message(job.label.clone());
                client.batch_execute(&job.sql).await.with_context(|| format!("{} failed", job.sql))?;
                bar.inc(1);
            }
            anyhow::Ok(filled_at)
        }
    }))
    .await?;
    bar.finish_with_message("done");
    Ok(filled_at.into_iter().flatten().next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> VariantReport {
        serde_json::from_str(
            r#"{"variant": "trgm", "available": ["baseline"], "indexes": [
                {"name": "appuser_pkey", "table": "appuser", "managed": false,
                 "definition": "CREATE UNIQUE INDEX appuser_pkey ON public.appuser USING btree (id)"},
                {"name": "crm_address_city_trgm", "table": "address", "managed": true,
                 "definition": "CREATE INDEX crm_address_city_trgm ON public.address USING gin (city gin_trgm_ops)"},
                {"name": "crm_appuser_created", "table": "appuser", "managed": true,
                 "definition": "CREATE INDEX crm_appuser_created ON public.appuser USING btree (created)"},
                {"name": "crm_appuser_last_name_trgm", "table": "appuser", "managed": true,
                 "definition": "CREATE INDEX crm_appuser_last_name_trgm ON public.appuser USING gin (last_name gin_trgm_ops)"},
                {"name": "crm_contact_flat_points_id", "table": "crm_contact_flat", "managed": true,
                 "definition": "CREATE INDEX crm_contact_flat_points_id ON public.crm_contact_flat USING btree (points, id)"}
            ]}"#,
        )
        .unwrap()
    }

    fn rows(table: &str) -> u64 {
        if table == "address" {
            100
        } else {
            1000
        }
    }

    #[test]
    fn only_managed_indexes_are_rebuilt_heaviest_first() {
        let report = report();
        assert!(report.has_managed_indexes());
        let jobs = report.rebuild_jobs(rows);
        let labels: Vec<_> = jobs.iter().map(|j| j.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "crm_appuser_last_name_trgm",
                "crm_appuser_created",
                "crm_contact_flat_points_id",
                "crm_address_city_trgm"
            ]
        );
        assert_eq!(jobs[1].sql, "CREATE INDEX crm_appuser_created ON public.appuser USING btree (created)");
    }

    fn job(label: &str, weight: u64, needs_projection: bool) -> Job {
        Job { label: label.into(), sql: String::new(), weight, needs_projection }
    }

    #[test]
    fn jobs_that_need_the_projection_wait_for_it() {
        let queue = Queue::new(vec![job("table", 1, false), job("flat", 9, true), job("table2", 5, false)]);
        assert_eq!(queue.take(false).unwrap().label, "table2");
        assert_eq!(queue.take(false).unwrap().label, "table");
        assert!(queue.take(false).is_none(), "only jobs needing the projection are left");
        assert_eq!(queue.take(true).unwrap().label, "flat");
        assert!(queue.take(true).is_none());
    }

    #[test]
    fn projection_indexes_are_marked_as_needing_it() {
        let jobs = report().rebuild_jobs(rows);
        let waiting: Vec<_> = jobs.iter().filter(|j| j.needs_projection).map(|j| j.label.as_str()).collect();
        assert_eq!(waiting, ["crm_contact_flat_points_id"]);
        let vacuum = vacuum_projection_jobs(10);
        assert!(vacuum.iter().all(|j| j.needs_projection));
        assert!(analyze_jobs(&["appuser"], rows).iter().all(|j| !j.needs_projection));
    }

    #[test]
    fn a_projection_brings_its_postings_build_after_the_fill() {
        assert!(!report().rebuild_jobs(rows).iter().any(|j| j.label == "postings"));
        let mut with_projection = report();
        with_projection.projection = Some("present".into());
        let jobs = with_projection.rebuild_jobs(rows);
        let postings = jobs.iter().find(|j| j.label == "postings").expect("a postings job");
        assert_eq!(postings.sql, "SELECT crm.refresh_postings()");
        assert!(postings.needs_projection);
        assert!(jobs.iter().all(|j| j.weight <= postings.weight), "among the heaviest");
    }

    #[test]
    fn analyze_starts_with_the_largest_table() {
        let jobs = analyze_jobs(&["address", "appuser"], rows);
        assert_eq!(jobs[0].sql, "ANALYZE appuser");
        assert_eq!(jobs[1].sql, "ANALYZE address");
    }
}
