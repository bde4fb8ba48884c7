//! What each SQL entry point does: parse → validate → build SQL → run →
//! render. Errors stay values until `lib.rs` raises them.

use std::collections::BTreeSet;

use pgrx::prelude::*;
use pgrx::spi::SpiError;
use serde_json::{json, Value as Json};

use crate::contact::ContactRow;
use crate::error::QueryError;
use crate::fields::Table;
use crate::params::{self, ListRequest, RawParams};
use crate::variants::{self, Variant};
use crate::{db, page, sql};

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("SPI failure: {0}")]
    Spi(#[from] SpiError),
    #[error("table {0} not found in search_path")]
    MissingTable(&'static str),
}

/// A validated list request with the raw parameters it came from (for links).
fn list_request(params: &Json) -> Result<(RawParams, ListRequest), QueryError> {
    let raw = params::normalize(params)?;
    let request = params::parse_list_request(&raw)?;
    Ok((raw, request))
}

/// The rows of the requested page, with the total count and page window.
fn fetch_page(request: &ListRequest) -> Result<(u64, page::PageWindow, Vec<ContactRow>), Failure> {
    Spi::connect(|client| {
        let count = db::count(client, &sql::count_query(request))?;
        let window = page::resolve(request.page, count, request.page_size)?;
        let rows = db::contacts(client, &sql::page_query(request, window.offset))?;
        Ok((count, window, rows))
    })
}

/// `crm.contacts_page`: the DRF page as JSON text.
pub fn contacts_page(params: &Json, url: Option<&str>) -> Result<String, Failure> {
    let (raw, request) = list_request(params)?;
    let (count, window, rows) = fetch_page(&request)?;
    let (next, previous) = page::links(&window, url, &raw);
    Ok(page::page_json(count, &next, &previous, &rows))
}

/// `crm.contacts`: the same page as rows.
pub fn contacts_rows(params: &Json) -> Result<Vec<ContactRow>, Failure> {
    let (_, request) = list_request(params)?;
    Ok(fetch_page(&request)?.2)
}

/// `crm.contact`: one contact as JSON, `None` when the id does not exist.
pub fn contact(id: i64) -> Result<Option<String>, Failure> {
    let rows = Spi::connect(|client| db::contacts(client, &sql::detail_query(id)))?;
    Ok(rows.first().map(|row| {
        let mut out = String::new();
        crate::contact::write_json(&mut out, row);
        out
    }))
}

/// `crm.stats`.
pub fn stats() -> Result<String, Failure> {
    let (total, with_address, with_relationship) = Spi::connect(|client| -> Result<_, Failure> {
        let count = |text: &str| db::count(client, &sql::SqlQuery { text: text.into(), args: vec![] });
        Ok((
            count("SELECT count(*) FROM appuser")?,
            count("SELECT count(address_id) FROM appuser")?,
            // One-to-one and cascading: every relationship belongs to one contact.
            count("SELECT count(*) FROM customer_relationship")?,
        ))
    })?;
    Ok(json!({
        "total_contacts": total,
        "contacts_with_address": with_address,
        "contacts_with_relationship": with_relationship,
    })
    .to_string())
}

/// An index on one of the application tables, as the catalog reports it.
struct PresentIndex {
    name: String,
    table: String,
    definition: String,
}

/// The schema each application table resolves to through search_path.
fn table_schema(client: &pgrx::spi::SpiClient<'_>, table: Table) -> Result<String, Failure> {
    let sql = "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.oid = to_regclass($1)";
    db::text_value(client, sql, &[sql::Arg::Text(table.name().into())])?.ok_or(Failure::MissingTable(table.name()))
}

fn present_indexes(client: &pgrx::spi::SpiClient<'_>) -> Result<Vec<PresentIndex>, Failure> {
    let tables: Vec<String> = Table::ALL.iter().map(|t| format!("to_regclass('{}')", t.name())).collect();
    let sql = format!(
        "SELECT ic.relname::text, tc.relname::text, pg_get_indexdef(i.indexrelid) \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid \
         WHERE i.indrelid IN ({}) ORDER BY tc.relname, ic.relname",
        tables.join(", ")
    );
    let rows = db::text_rows(client, &sql, 3)?;
    Ok(rows
        .into_iter()
        .map(|mut r| PresentIndex {
            definition: r.pop().flatten().unwrap_or_default(),
            table: r.pop().flatten().unwrap_or_default(),
            name: r.pop().flatten().unwrap_or_default(),
        })
        .collect())
}

fn variant_report(indexes: &[PresentIndex]) -> String {
    let names: BTreeSet<String> = indexes.iter().map(|i| i.name.clone()).collect();
    let variant = variants::identify(&names).map_or("custom", |v| v.name());
    let listed: Vec<Json> = indexes
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "table": i.table,
                "managed": i.name.starts_with(variants::MANAGED_PREFIX),
                "definition": i.definition,
            })
        })
        .collect();
    json!({ "variant": variant, "available": Variant::names(), "indexes": listed }).to_string()
}

/// `crm.variant`: the active variant (derived from the indexes present) and
/// every index on the application tables.
pub fn variant() -> Result<String, Failure> {
    let indexes = Spi::connect(present_indexes)?;
    Ok(variant_report(&indexes))
}

/// `crm.use_variant`: drops and creates managed indexes until exactly the
/// variant's set is present, then reports as `crm.variant()`.
pub fn use_variant(name: &str) -> Result<String, Failure> {
    let target = Variant::from_name(name).ok_or_else(|| {
        QueryError::parameter("variant", format!("Unknown variant. Choices: {}.", Variant::names().join(", ")))
    })?;
    Spi::connect_mut(|client| -> Result<(), Failure> {
        let present: BTreeSet<String> = present_indexes(client)?.into_iter().map(|i| i.name).collect();
        let trgm_schema = db::text_value(
            client,
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_trgm'",
            &[],
        )?
        .unwrap_or_else(|| "public".into());
        let (to_drop, to_create) = variants::plan_switch(target, &present);
        for index in to_drop {
            let schema = table_schema(client, index.table)?;
            db::execute(client, &index.drop_sql(&schema))?;
        }
        for index in to_create {
            let schema = table_schema(client, index.table)?;
            db::execute(client, &index.create_sql(&schema, &trgm_schema))?;
        }
        Ok(())
    })?;
    variant()
}
