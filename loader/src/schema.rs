//! The application schema: creating it, checking it is there, setting its
//! constraints aside during a bulk load, and its identity sequences.
//!
//! Everything works on the tables found through search_path (unqualified
//! names), so tests and other tools can load into a schema of their own.

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use tokio_postgres::Client;

use crate::ids::IdBlock;

/// The schema DDL (idempotent); creates the tables in the first schema of
/// search_path.
pub const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");

/// The application tables, parents first.
pub const TABLES: [&str; 3] = ["address", "appuser", "customer_relationship"];

/// Runs [`SCHEMA_SQL`] on `client`.
pub async fn create_schema(client: &Client) -> Result<()> {
    client.batch_execute(SCHEMA_SQL).await.context("cannot create the schema")
}

/// Fails with a clear message unless the tables and the crm_contacts
/// extension are present.
pub async fn check(client: &Client) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_database()::text, array_to_string(current_schemas(false), ', '), \
                    array(SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NULL), \
                    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'crm_contacts')",
            &[&&TABLES[..]],
        )
        .await
        .context("cannot inspect the database")?;
    let (database, schemas, missing, extension): (String, String, Vec<String>, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if !missing.is_empty() {
        let schemas =
            if schemas.is_empty() { "no schema of search_path exists".into() } else { format!("schemas {schemas}") };
        bail!(
            "table {} not found in database {database} ({schemas}): \
             create the schema with sql/schema.sql (scripts/setup.sh does it)",
            missing.join(", ")
        );
    }
    if !extension {
        bail!(
            "the crm_contacts extension is not installed in database {database}: \
             run scripts/setup.sh (or CREATE EXTENSION crm_contacts)"
        );
    }
    Ok(())
}

/// Rows in appuser now.
pub async fn count_contacts(client: &Client) -> Result<u64> {
    let n: i64 = client.query_one("SELECT count(*) FROM appuser", &[]).await?.get(0);
    Ok(n.unsigned_abs())
}

/// The primary keys, unique and foreign-key constraints and the plain indexes
/// of the tables, as DDL to drop and to recreate them.
///
/// Building an index once over all rows is several times faster than
/// maintaining it row by row, and a foreign key added after the load is
/// checked by one join instead of one lookup per row. This is only safe
/// inside the loading transaction: nobody can see the tables without their
/// constraints, and a failure or interrupt rolls the drop back too.
pub struct Constraints {
    /// In creation order: indexes and keys first, then the foreign keys that
    /// need the referenced keys.
    objects: Vec<SchemaObject>,
}

struct SchemaObject {
    name: String,
    drop: String,
    create: String,
}

impl Constraints {
    pub async fn capture(client: &Client) -> Result<Self> {
        let rows = client
            .query(
                "WITH t AS (SELECT array_agg(to_regclass(n)::oid) AS oids FROM unnest($1::text[]) n) \
                 SELECT name, drop_sql, create_sql FROM ( \
                   SELECT CASE c.contype WHEN 'f' THEN 2 ELSE 1 END AS stage, c.conname::text AS name, \
                          format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop_sql, \
                          format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, \
                                 pg_get_constraintdef(c.oid)) AS create_sql \
                   FROM pg_constraint c, t WHERE c.conrelid = ANY (t.oids) AND c.contype IN ('p', 'u', 'f') \
                   UNION ALL \
                   SELECT 1, ic.relname::text, format('DROP INDEX %s', i.indexrelid::regclass), \
                          pg_get_indexdef(i.indexrelid) \
                   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid, t \
                   WHERE i.indrelid = ANY (t.oids) AND NOT EXISTS ( \
                     SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid \
                       AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) \
                 ) s ORDER BY stage, name",
                &[&&TABLES[..]],
            )
            .await
            .context("cannot read the tables' constraints")?;
        let objects = rows.iter().map(|r| SchemaObject { name: r.get(0), drop: r.get(1), create: r.get(2) });
        Ok(Constraints { objects: objects.collect() })
    }

    /// How many objects are set aside.
    pub fn count(&self) -> usize {
        self.objects.len()
    }

    pub async fn drop(&self, client: &Client) -> Result<()> {
        for object in self.objects.iter().rev() {
            client.batch_execute(&object.drop).await.with_context(|| format!("{} failed", object.drop))?;
        }
        Ok(())
    }

    /// Recreates everything, one step of `bar` per object.
    pub async fn restore(&self, client: &Client, bar: &ProgressBar) -> Result<()> {
        for object in &self.objects {
            bar.set_message(object.name.clone());
            client.batch_execute(&object.create).await.with_context(|| format!("{} failed", object.create))?;
            bar.inc(1);
        }
        Ok(())
    }
}

/// Allocates `len` (≥ 1) explicit ids for `table`, after both its highest id
/// and its identity sequence, and advances the sequence past them, so that
/// ordinary INSERTs (which take ids from the sequence) never collide with
/// loaded rows, even while the load runs.
///
/// Callers hold a lock that stops concurrent reservations in between. Ids
/// past `max_id` are refused.
pub async fn reserve_ids(client: &Client, table: &'static str, len: u64, max_id: i64) -> Result<IdBlock> {
    let row = client
        .query_one(
            &format!(
                "SELECT s.seq::text, greatest((SELECT max(id) FROM {table}), pg_sequence_last_value(s.seq), 0) + 1 \
                 FROM (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq) s"
            ),
            &[],
        )
        .await
        .with_context(|| format!("cannot read the ids of {table}"))?;
    let Some(sequence): Option<String> = row.get(0) else {
        bail!("{table}.id has no identity sequence: create the schema with sql/schema.sql");
    };
    let first: i64 = row.get(1);
    let last = i64::try_from(len).ok().and_then(|n| first.checked_add(n - 1)).filter(|&last| last <= max_id);
    let Some(last) = last else {
        bail!("{table} has no room for {len} more ids after {}", first - 1);
    };
    let block = IdBlock::new(first, len);
    client
        .execute("SELECT setval($1::text::regclass, $2)", &[&sequence, &last])
        .await
        .with_context(|| format!("cannot advance {sequence}"))?;
    Ok(block)
}

/// Bytes used by the database, and by each table with its indexes.
pub async fn sizes(client: &Client) -> Result<(i64, Vec<(&'static str, i64)>)> {
    let database: i64 = client.query_one("SELECT pg_database_size(current_database())", &[]).await?.get(0);
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let bytes: i64 = client.query_one("SELECT pg_total_relation_size(to_regclass($1))", &[&table]).await?.get(0);
        tables.push((table, bytes));
    }
    Ok((database, tables))
}
