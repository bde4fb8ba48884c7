//! The index variant (SPEC §2) around a bulk load, and finishing statements
//! (index builds, ANALYZE) run over several connections at once.
//!
//! The crm_contacts extension says which variant is active and which of its
//! `crm_` indexes are present (`crm.variant()`), and drops them
//! (`crm.use_variant('baseline')`). The loader rebuilds them itself from the
//! definitions noted before the load rather than with `crm.use_variant`,
//! because that builds one index after the other in a single backend; several
//! connections build several indexes at once (PostgreSQL 15 cannot build a
//! GIN index with parallel workers, and the trigram ones dominate).

use std::collections::VecDeque;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use futures_util::future::try_join_all;
use indicatif::ProgressBar;
use serde::Deserialize;
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
            Job { label: i.name.clone(), sql: i.definition.clone(), weight: rows(&i.table) * factor }
        });
        heaviest_first(jobs.collect())
    }

    pub fn has_projection(&self) -> bool {
        self.projection.as_deref().is_some_and(|p| p != "absent")
    }

    pub fn has_managed_indexes(&self) -> bool {
        self.indexes.iter().any(|i| i.managed)
    }
}

/// Rebuilds the projection of `variant` after a load, filled from the new
/// rows, without its indexes (`rebuild_jobs` builds them in parallel).
pub async fn restore_projection(client: &Client, variant: &str) -> Result<()> {
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
    ["crm_contact_flat", "crm_dictionary"]
        .iter()
        .map(|t| Job { label: t.to_string(), sql: format!("VACUUM (ANALYZE) {t}"), weight: rows })
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
}

/// `ANALYZE` of each table, largest first.
pub fn analyze_jobs(tables: &[&str], rows: impl Fn(&str) -> u64) -> Vec<Job> {
    heaviest_first(
        tables.iter().map(|t| Job { label: t.to_string(), sql: format!("ANALYZE {t}"), weight: rows(t) }).collect(),
    )
}

/// Longest jobs first, then greedy: with a worker taking the next job when it
/// is free, the run ends close to the best possible makespan.
fn heaviest_first(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.label.cmp(&b.label)));
    jobs
}

/// Runs `jobs` over `connections` connections, each taking the next job when
/// it is free. Statements on the same table may run together: CREATE INDEX
/// takes a lock that other index builds share.
pub async fn run_parallel(db: &Database, jobs: Vec<Job>, connections: usize, bar: &ProgressBar) -> Result<()> {
    let workers = connections.clamp(1, jobs.len().max(1));
    let queue = Mutex::new(VecDeque::from(jobs));
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    try_join_all((0..workers).map(|_| async {
        let client = db.connect().await?;
        while let Some(job) = next() {
            bar.set_message(job.label.clone());
            client.batch_execute(&job.sql).await.with_context(|| format!("{} failed", job.sql))?;
            bar.inc(1);
        }
        anyhow::Ok(())
    }))
    .await?;
    bar.finish_with_message("done");
    Ok(())
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
                 "definition": "CREATE INDEX crm_appuser_last_name_trgm ON public.appuser USING gin (last_name gin_trgm_ops)"}
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
        assert_eq!(labels, ["crm_appuser_last_name_trgm", "crm_appuser_created", "crm_address_city_trgm"]);
        assert_eq!(jobs[1].sql, "CREATE INDEX crm_appuser_created ON public.appuser USING btree (created)");
    }

    #[test]
    fn analyze_starts_with_the_largest_table() {
        let jobs = analyze_jobs(&["address", "appuser"], rows);
        assert_eq!(jobs[0].sql, "ANALYZE appuser");
        assert_eq!(jobs[1].sql, "ANALYZE address");
    }
}
