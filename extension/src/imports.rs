//! `crm.import_contacts(source, on_error)`: the rows of a table (a COPY's
//! staging table, typically) validated as single creates (`import_rows`)
//! and written in batches of set-based inserts (`sql::import`).
//!
//! The function runs as its caller, who reads the source with their own
//! rights (a temporary table of the caller's is the common source), and
//! writes as the function's owner, who owns the tables: what SECURITY
//! DEFINER does for the other write functions, but for the writes only.
//! As for them, only the roles granted the function may call it, and the
//! writes run with search_path pinned (`writes::pinned_to_tables_schema`).

use std::collections::HashSet;

use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiCursor};

use crate::db;
use crate::error::QueryError;
use crate::fields::Table;
use crate::import_rows::{validate, Allocated, Columns, OnError, Report, SourceRow, ValidRow};
use crate::service::Failure;
use crate::sql::{import as statements, SqlQuery};
use crate::write_body;
use crate::writes;

/// Rows validated and inserted together: large enough that the per-statement
/// work (the triggers that keep the projection) is spread over many rows,
/// small enough that a batch's arrays stay a few megabytes.
pub const BATCH_ROWS: i64 = 20_000;

/// The function itself, whose owner writes the rows.
const FUNCTION: &str = "crm.import_contacts(pg_catalog.regclass, pg_catalog.text)";

/// `crm.import_contacts`: the import's report (`Report::to_json`). With
/// `OnError::Abort`, any refused row raises `QueryError::RejectedRows`, and
/// the caller's transaction rolls back what earlier batches wrote.
pub fn import_contacts(source: pg_sys::Oid, on_error: &str) -> Result<String, Failure> {
    let on_error = OnError::parse(on_error)?;
    Spi::connect_mut(|client| {
        let owner = function_owner(client)?;
        let query = source_query(client, source)?;
        let mut cursor = client.try_open_cursor(query.as_str(), &[])?;
        let mut report = Report::default();
        loop {
            let rows = fetch(&mut cursor)?;
            if rows.is_empty() {
                break;
            }
            let mut valid = Vec::with_capacity(rows.len());
            for row in rows {
                match validate(row) {
                    Ok(row) => valid.push(row),
                    Err((line, errors)) => report.refuse(line, errors),
                }
            }
            as_user(owner, || {
                writes::pinned_to_tables_schema(client, |client| write_batch(client, valid, on_error, &mut report))
            })?;
        }
        if on_error == OnError::Abort && report.failed > 0 {
            report.created = 0;
            return Err(QueryError::RejectedRows(report.to_json().to_string()).into());
        }
        Ok(report.to_json().to_string())
    })
}

/// The owner of `crm.import_contacts` (set-up makes it the tables' owner).
fn function_owner(client: &mut SpiClient<'_>) -> Result<pg_sys::Oid, Failure> {
    let sql =
        format!("SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = '{FUNCTION}'::pg_catalog.regprocedure");
    let owner: Option<pg_sys::Oid> = client.update(sql.as_str(), Some(1), &[])?.first().get_one()?;
    Ok(owner.expect("the function exists: it is running"))
}

/// How a source table is read: `(line bigint, body text)` per row.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceShape {
    /// A column `line` numbers the rows; otherwise (or where it is NULL) they are numbered from 1
    /// in the order the table is read (for a table just filled by COPY, the
    /// file's order).
    pub has_line: bool,
    /// A column `body` (json, jsonb or text) holds each row's JSON object;
    /// otherwise the row's other columns are the body's keys, NULLs left out.
    pub has_body: bool,
}

impl SourceShape {
    pub fn of(columns: &[String]) -> SourceShape {
        SourceShape { has_line: columns.iter().any(|c| c == "line"), has_body: columns.iter().any(|c| c == "body") }
    }

    /// The query over `relation` (a quoted, qualified name from the catalog).
    pub fn query(&self, relation: &str) -> String {
        // A row without a line number gets its place in the table.
        let line =
            if self.has_line { "COALESCE(s.line::bigint, row_number() OVER ())" } else { "row_number() OVER ()" };
        // A NULL cell (an empty one, as COPY reads a CSV file) is a key not
        // given: the field's default, or "required".
        let body = if self.has_body { "s.body::text" } else { "jsonb_strip_nulls(to_jsonb(s) - 'line')::text" };
        format!("SELECT {line}, {body} FROM {relation} s")
    }
}

fn source_query(client: &mut SpiClient<'_>, source: pg_sys::Oid) -> Result<String, Failure> {
    let columns = client.update(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        None,
        &[source.into()],
    )?;
    let mut names = Vec::new();
    for row in columns {
        names.extend(row.get::<String>(1)?);
    }
    let relation: Option<String> = client
        .update(
            "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
            Some(1),
            &[source.into()],
        )?
        .first()
        .get_one()?;
    let relation = relation.ok_or(Failure::MissingTable("import source"))?;
    Ok(SourceShape::of(&names).query(&relation))
}

fn fetch(cursor: &mut SpiCursor<'_>) -> Result<Vec<SourceRow>, Failure> {
    let mut rows = Vec::new();
    for row in cursor.fetch(BATCH_ROWS)? {
        let line: Option<i64> = row.get(1)?;
        let body: Option<String> = row.get(2)?;
        rows.push(SourceRow { line: line.unwrap_or_default(), body: body.unwrap_or_else(|| "null".into()) });
    }
    Ok(rows)
}

/// Runs `f` as `user`, then as the current user again. An ERROR raised in
/// between aborts the (sub)transaction, which restores the user itself.
fn as_user<T>(user: pg_sys::Oid, f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    let (mut saved_user, mut saved_context) = (pg_sys::InvalidOid, 0);
    // SAFETY: plain reads and writes of the backend's current user, as
    // fmgr's SECURITY DEFINER call handler does them.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(user, saved_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
    }
    let result = f();
    // SAFETY: as above.
    unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) };
    result
}

/// Checks what only the database knows (linked addresses exist), then
/// inserts the batch's valid rows, unless the import is all-or-nothing and
/// has already refused a row.
fn write_batch(
    client: &mut SpiClient<'_>,
    rows: Vec<ValidRow>,
    on_error: OnError,
    report: &mut Report,
) -> Result<(), Failure> {
    let rows = with_existing_addresses(client, rows, report)?;
    if rows.is_empty() || (on_error == OnError::Abort && report.failed > 0) {
        return Ok(());
    }
    let contact_ids = ids(client, &statements::allocate_ids(Table::Appuser, rows.len()))?;
    let new_addresses = rows.iter().filter(|r| r.write.new_address.is_some()).count();
    let address_ids =
        if new_addresses > 0 { ids(client, &statements::allocate_ids(Table::Address, new_addresses))? } else { vec![] };
    let customer_ids = customer_ids(client, rows.len())?;
    let allocated = Allocated { contact_ids: &contact_ids, address_ids: &address_ids, customer_ids: &customer_ids };
    for q in statements::inserts(Columns::build(&rows, &allocated)) {
        // No row limit: it would stop the statement-level triggers (writes.rs).
        client.update(q.text.as_str(), None, &db::datums(&q))?;
    }
    report.created += rows.len() as u64;
    Ok(())
}

/// The rows whose `address_id`, if any, names an existing address; the
/// others are refused with a single create's message.
fn with_existing_addresses(
    client: &mut SpiClient<'_>,
    rows: Vec<ValidRow>,
    report: &mut Report,
) -> Result<Vec<ValidRow>, Failure> {
    let linked: HashSet<i64> = rows.iter().filter_map(|r| r.write.linked_address()).collect();
    if linked.is_empty() {
        return Ok(rows);
    }
    let existing: HashSet<i64> =
        ids(client, &statements::existing_addresses(linked.into_iter().collect()))?.into_iter().collect();
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        match row.write.linked_address() {
            Some(id) if !existing.contains(&id) => {
                report.refuse(row.line, serde_json::json!({"address_id": [write_body::no_such_address(id)]}))
            }
            _ => kept.push(row),
        }
    }
    Ok(kept)
}

fn ids(client: &mut SpiClient<'_>, q: &SqlQuery) -> Result<Vec<i64>, Failure> {
    let mut out = Vec::new();
    for row in client.update(q.text.as_str(), None, &db::datums(q))? {
        out.extend(row.get::<i64>(1)?);
    }
    Ok(out)
}

/// `n` customer ids, distinct from each other and from every contact's: a
/// random id can collide (48 bits), and one collision must not fail an
/// import of many rows on the unique constraint.
fn customer_ids(client: &mut SpiClient<'_>, n: usize) -> Result<Vec<String>, Failure> {
    let mut chosen: Vec<String> = Vec::with_capacity(n);
    let mut seen: HashSet<String> = HashSet::with_capacity(n);
    while chosen.len() < n {
        let q = statements::new_customer_ids(n - chosen.len());
        for row in client.update(q.text.as_str(), None, &db::datums(&q))? {
            if let Some(id) = row.get::<String>(1)? {
                if seen.insert(id.clone()) {
                    chosen.push(id);
                }
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gives_its_line_and_body_columns_or_is_the_body_itself() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let staging = SourceShape::of(&names(&["line", "body"]));
        assert_eq!(
            staging.query("pg_temp_3.crm_import"),
            "SELECT COALESCE(s.line::bigint, row_number() OVER ()), s.body::text FROM pg_temp_3.crm_import s"
        );
        let csv = SourceShape::of(&names(&["first_name", "last_name"]));
        assert_eq!(
            csv.query("public.x"),
            "SELECT row_number() OVER (), jsonb_strip_nulls(to_jsonb(s) - 'line')::text FROM public.x s"
        );
        let numbered = SourceShape::of(&names(&["line", "first_name"]));
        assert_eq!(numbered, SourceShape { has_line: true, has_body: false });
    }
}
