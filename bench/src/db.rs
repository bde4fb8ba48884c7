//! The bench's own database session: the dataset, the index variants,
//! sample values and plans. It never writes contacts (the write group's
//! cleanup, `writes::cleanup`, deletes the ones the bench created).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tokio_postgres::{Client, NoTls};

use crate::rng::Rng;
use crate::scenarios::{self, Params, SampleValues};

/// The bench's own session waits this long for a statement: switching to
/// trgm builds the projection (about 2 minutes at 3M contacts) and EXPLAIN
/// ANALYZE of a slow baseline request runs it twice.
pub const ADMIN_STATEMENT_TIMEOUT_MS: u64 = 15 * 60 * 1000;

/// The name of the extension's projection table (found through search_path).
pub(crate) const PROJECTION: &str = "crm_contact_flat";

/// A session with a statement timeout and an application name (to tell
/// the bench's sessions apart in pg_stat_activity).
pub async fn connect(url: &str, statement_timeout_ms: u64, application: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to the database {}", redacted(url)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        .batch_execute(&format!(
            "SET statement_timeout = {statement_timeout_ms}; SET application_name = '{}'",
            application.replace('\'', "")
        ))
        .await
        .context("cannot configure the session")?;
    Ok(client)
}

/// A connection string without its password.
pub fn redacted(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if let Some((credentials, host)) = authority.rsplit_once('@') {
            let user = credentials.split(':').next().unwrap_or_default();
            return format!("{scheme}://{user}@{host}{tail}");
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|part| if part.starts_with("password=") { "password=***" } else { part })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `crm.stats()`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub total_contacts: u64,
    pub contacts_with_address: u64,
    pub contacts_with_relationship: u64,
}

/// `crm.variant()`, without the index list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantInfo {
    pub variant: String,
    pub available: Vec<String>,
    pub projection: String,
}

impl VariantInfo {
    pub fn from_json(json: &Json) -> Result<VariantInfo> {
        let text = |key: &str| json.get(key).and_then(Json::as_str).map(str::to_string);
        Ok(VariantInfo {
            variant: text("variant").context("crm.variant() has no variant")?,
            available: json
                .get("available")
                .and_then(Json::as_array)
                .context("crm.variant() has no list of available variants")?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            projection: text("projection").unwrap_or_default(),
        })
    }

    pub fn has_projection(&self) -> bool {
        self.projection == "present"
    }
}

/// How long a switch took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    pub from: String,
    pub to: String,
    /// `crm.use_variant`.
    pub switch_s: f64,
    /// `VACUUM ANALYZE` of the projection and `ANALYZE` of the tables.
    pub maintenance_s: f64,
}

/// Sessions of this database at work beside the bench's: refreshes of
/// the postings (the API's background task) and autovacuum workers.
const BACKGROUND_WORK: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' \
       AND (backend_type = 'autovacuum worker' OR query LIKE '%crm.refresh_%postings%')";

pub struct Admin {
    client: Client,
}

impl Admin {
    pub async fn connect(url: &str) -> Result<Admin> {
        Ok(Admin { client: connect(url, ADMIN_STATEMENT_TIMEOUT_MS, "crm-bench (control)").await? })
    }

    async fn json(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<Json> {
        let row = self.client.query_one(sql, params).await.with_context(|| format!("{sql} failed"))?;
        let text: Option<String> = row.get(0);
        serde_json::from_str(text.as_deref().unwrap_or("null")).with_context(|| format!("{sql}: not JSON"))
    }

    pub async fn stats(&self) -> Result<Dataset> {
        let json = self
            .json("SELECT crm.stats()::text", &[])
            .await
            .context("is the crm_contacts extension installed in this database?")?;
        Ok(serde_json::from_value(json)?)
    }

    pub async fn variant(&self) -> Result<VariantInfo> {
        VariantInfo::from_json(&self.json("SELECT crm.variant()::text", &[]).await?)
    }

    /// Switches to `name` (nothing to do when it is active), then brings
    /// the statistics up to date: the projection needs VACUUM for its
    /// index-only scans, every switch ANALYZE.
    pub async fn use_variant(&self, name: &str) -> Result<(VariantInfo, Option<Switch>)> {
        let before = self.variant().await?;
        if before.variant == name {
            return Ok((before, None));
        }
        let started = Instant::now();
        let after = VariantInfo::from_json(&self.json("SELECT crm.use_variant($1)::text", &[&name]).await?)?;
        let switch_s = started.elapsed().as_secs_f64();
        if after.variant != name {
            bail!("crm.use_variant('{name}') left variant {}", after.variant);
        }
        let started = Instant::now();
        if after.has_projection() {
            self.client
                .batch_execute(&format!("VACUUM ANALYZE {PROJECTION}"))
                .await
                .with_context(|| format!("VACUUM ANALYZE {PROJECTION} failed"))?;
        }
        self.client.batch_execute("ANALYZE address, appuser, customer_relationship").await.context("ANALYZE failed")?;
        let maintenance_s = started.elapsed().as_secs_f64();
        Ok((after, Some(Switch { from: before.variant, to: name.to_string(), switch_s, maintenance_s })))
    }

    /// The session itself, for the workload's own reads (sample contacts,
    /// pg_stat_activity).
    pub fn session(&self) -> &Client {
        &self.client
    }

    /// `crm.openapi()`: the API's description, generated from the
    /// extension's field table.
    pub async fn openapi(&self) -> Result<Json> {
        self.json("SELECT crm.openapi()::text", &[]).await
    }

    /// What `crm.contacts_page(params)` runs, with its plans.
    pub async fn explain(&self, params: &Params) -> Result<Json> {
        self.json("SELECT crm.explain($1::text::jsonb)::text", &[&params.to_json().to_string()]).await
    }

    /// The run's sample values: 'Paul' if some contact is called so, else a
    /// seeded pick of the first names; a seeded pick of the cities; and
    /// `detail_count` existing contact ids.
    pub async fn sample_values(&self, seed: u64, detail_count: usize) -> Result<SampleValues> {
        let mut rng = Rng::new(seed);
        let has_paul: bool =
            self.client.query_one("SELECT EXISTS (SELECT 1 FROM appuser WHERE first_name = 'Paul')", &[]).await?.get(0);
        let first_name = if has_paul {
            "Paul".to_string()
        } else {
            let names = self.texts("SELECT DISTINCT first_name::text FROM appuser ORDER BY 1").await?;
            scenarios::pick(&names, &mut rng).cloned().context("no first names in appuser")?
        };
        let cities = self.texts("SELECT DISTINCT city::text FROM address ORDER BY 1").await?;
        let city = scenarios::pick(&cities, &mut rng).cloned().unwrap_or_default();
        let row = self.client.query_one("SELECT min(id), max(id) FROM appuser", &[]).await?;
        let (min, max): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        let mut detail_ids = Vec::new();
        if let (Some(min), Some(max)) = (min, max) {
            for _ in 0..detail_count {
                let at = min + rng.below((max - min + 1) as u64) as i64;
                let id: i64 = self
                    .client
                    .query_one("SELECT coalesce((SELECT min(id) FROM appuser WHERE id >= $1), $2)", &[&at, &min])
                    .await?
                    .get(0);
                detail_ids.push(id);
            }
        }
        Ok(SampleValues { first_name, city, detail_ids })
    }

    async fn texts(&self, sql: &str) -> Result<Vec<String>> {
        Ok(self.client.query(sql, &[]).await?.iter().map(|r| r.get(0)).collect())
    }

    /// Waits, at most `limit`, until no other session works on the database
    /// in the background: a postings refresh the API started after earlier
    /// writes, or an autovacuum. On two cores either takes one, and a timed
    /// part would measure them too. Returns the seconds waited.
    pub async fn wait_until_quiet(&self, limit: Duration) -> Result<f64> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            let busy: i64 = self.client.query_one(BACKGROUND_WORK, &[]).await.context("pg_stat_activity")?.get(0);
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(started.elapsed().as_secs_f64())
    }

    /// Refreshes the postings now when at least `min_dirty` contacts were
    /// written since their snapshot (what the API's background task would
    /// do within its period); the seconds it took, or `None` when nothing
    /// was due.
    pub async fn refresh_stale_postings(&self, min_dirty: i64) -> Result<Option<f64>> {
        let started = std::time::Instant::now();
        let row = self
            .client
            .query_one("SELECT crm.refresh_stale_postings($1)::text", &[&min_dirty])
            .await
            .context("crm.refresh_stale_postings")?;
        let done: Option<String> = row.get(0);
        Ok(done.map(|_| started.elapsed().as_secs_f64()))
    }

    /// Waits at most `timeout` for the session to answer.
    pub async fn ping(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.client.simple_query("SELECT 1")).await.is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(redacted("postgres://crm_owner:crm@127.0.0.1:5433/crm"), "postgres://crm_owner@127.0.0.1:5433/crm");
        assert_eq!(
            redacted("postgres://u:p@h/db?options=-c%20search_path%3Dx"),
            "postgres://u@h/db?options=-c%20search_path%3Dx"
        );
        assert_eq!(
            redacted("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:5433/crm_test"),
            "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:5433/crm_test"
        );
        assert_eq!(redacted("host=h user=u password=secret dbname=crm"), "host=h user=u password=*** dbname=crm");
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn variant_report() {
        let info = VariantInfo::from_json(&json!({
            "variant": "trgm", "available": ["baseline", "indexed", "trgm", "full"], "projection": "present", "indexes": []
        }))
        .unwrap();
        assert_eq!(info.available.len(), 4);
        assert!(info.has_projection());
        assert!(VariantInfo::from_json(&json!({"variant": "x"})).is_err());
    }
}
