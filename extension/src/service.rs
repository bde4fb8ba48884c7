//! What each SQL entry point does: parse → validate → build SQL → run →
//! render. Errors stay values until `lib.rs` raises them.

use std::collections::BTreeSet;

use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiError};
use serde_json::{json, Value as Json};

use crate::contact::{Cell, ContactRow};
use crate::cursor::{self, Direction, Position};
use crate::error::QueryError;
use crate::fields::{self, Table};
use crate::params::{self, complete_ordering, ListRequest, OrderTerm, PageRequest, RawParams};
use crate::sql::{self, Context, Source};
use crate::variants::{self, Variant};
use crate::{db, page, projection};

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

/// The source the active variant provides and, for the projection, the
/// request's patterns resolved against its dictionary.
fn context(client: &SpiClient<'_>, request: &ListRequest) -> Result<Context, Failure> {
    if !db::projection_present(client)? {
        return Ok(Context::tables());
    }
    let mut resolutions = sql::Resolutions::new();
    for (key, text) in sql::patterns_to_resolve(request) {
        let resolution = db::resolve(client, key, &text)?;
        resolutions.insert((key, text), resolution);
    }
    Ok(Context { source: Source::Projection, resolutions })
}

/// A page read from the database, before rendering.
enum Page {
    Numbered { count: u64, window: page::PageWindow, rows: Vec<ContactRow> },
    Keyset { rows: Vec<ContactRow>, next: Option<Position>, previous: Option<Position> },
}

impl Page {
    fn into_rows(self) -> Vec<ContactRow> {
        match self {
            Page::Numbered { rows, .. } | Page::Keyset { rows, .. } => rows,
        }
    }
}

fn numbered_page(client: &SpiClient<'_>, request: &ListRequest, context: &Context) -> Result<Page, Failure> {
    let count = db::count(client, &sql::count_query(request, context))?;
    let window = page::resolve(&request.page, count, request.page_size)?;
    let rows = db::contacts(client, &sql::offset_page_query(request, context, window.offset))?;
    Ok(Page::Numbered { count, window, rows })
}

/// A row's position in an ordering: its values of the ordering's columns.
fn position_of(row: &[Cell], terms: &[OrderTerm], direction: Direction) -> Position {
    let values = terms
        .iter()
        .map(|t| {
            let index =
                fields::CONTACT.iter().position(|o| o.column == t.field.column()).expect("ordered columns are output");
            row[index].clone()
        })
        .collect();
    Position { values, direction }
}

fn keyset_page(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    token: Option<&str>,
) -> Result<Page, Failure> {
    let terms = complete_ordering(request);
    let position = match token {
        None => None,
        Some(token) => Some(cursor::decode(token, &terms).ok_or(QueryError::InvalidCursor)?),
    };
    let size = request.page_size as usize;
    let mut rows = Vec::with_capacity(size + 1);
    for query in sql::keyset_page_queries(request, context, position.as_ref()) {
        if rows.len() > size {
            break;
        }
        rows.extend(db::contacts(client, &query)?);
    }
    let has_more = rows.len() > size;
    rows.truncate(size);
    let backward = position.as_ref().is_some_and(|p| p.direction == Direction::Backward);
    if backward {
        rows.reverse();
    }
    // With no rows (the position's neighbours are gone), links restart from
    // the position itself.
    let at = |row: Option<&ContactRow>, direction| match (row, &position) {
        (Some(row), _) => Some(position_of(row, &terms, direction)),
        (None, Some(p)) => Some(Position { values: p.values.clone(), direction }),
        (None, None) => None,
    };
    let (next, previous) = if backward {
        (at(rows.last(), Direction::Forward), if has_more { at(rows.first(), Direction::Backward) } else { None })
    } else {
        (
            if has_more { at(rows.last(), Direction::Forward) } else { None },
            if position.is_some() { at(rows.first(), Direction::Backward) } else { None },
        )
    };
    Ok(Page::Keyset { rows, next, previous })
}

fn fetch_page(request: &ListRequest) -> Result<Page, Failure> {
    Spi::connect(|client| {
        let context = context(client, request)?;
        match &request.page {
            PageRequest::Cursor(token) => keyset_page(client, request, &context, token.as_deref()),
            _ => numbered_page(client, request, &context),
        }
    })
}

/// `crm.contacts_page`: the DRF page as JSON text.
pub fn contacts_page(params: &Json, url: Option<&str>) -> Result<String, Failure> {
    let (raw, request) = list_request(params)?;
    Ok(match fetch_page(&request)? {
        Page::Numbered { count, window, rows } => {
            let (next, previous) = page::links(&window, url, &raw);
            page::page_json(Some(count), &next, &previous, &rows)
        }
        Page::Keyset { rows, next, previous } => {
            let terms = complete_ordering(&request);
            let link = |p: Option<Position>| p.map(|p| page::cursor_link(url, &raw, &cursor::encode(&terms, &p)));
            page::page_json(None, &link(next), &link(previous), &rows)
        }
    })
}

/// `crm.contacts`: the same page as rows.
pub fn contacts_rows(params: &Json) -> Result<Vec<ContactRow>, Failure> {
    let (_, request) = list_request(params)?;
    Ok(fetch_page(&request)?.into_rows())
}

/// `crm.contact`: one contact as JSON, `None` when the id does not exist.
pub fn contact(id: i64) -> Result<Option<String>, Failure> {
    let rows = Spi::connect(|client| -> Result<_, Failure> {
        let source = if db::projection_present(client)? { Source::Projection } else { Source::Tables };
        Ok(db::contacts(client, &sql::detail_query(id, source))?)
    })?;
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
        let total = if db::projection_present(client)? {
            count(&format!("SELECT sum(n)::bigint FROM {}", projection::COUNTER))?
        } else {
            count("SELECT count(*) FROM appuser")?
        };
        Ok((
            total,
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

/// An index on one of the application's or the projection's tables.
struct PresentIndex {
    name: String,
    table: String,
    definition: String,
    /// Created and dropped by the extension: named `crm_…` and not a
    /// table's primary key.
    managed: bool,
}

fn managed_names(indexes: &[PresentIndex]) -> BTreeSet<String> {
    indexes.iter().filter(|i| i.managed).map(|i| i.name.clone()).collect()
}

/// The schema each application table resolves to through search_path.
fn table_schema(client: &SpiClient<'_>, table: Table) -> Result<String, Failure> {
    let sql = "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.oid = to_regclass($1)";
    db::text_value(client, sql, &[sql::Arg::Text(table.name().into())])?.ok_or(Failure::MissingTable(table.name()))
}

fn present_indexes(client: &SpiClient<'_>) -> Result<Vec<PresentIndex>, Failure> {
    let tables: Vec<String> = Table::ALL
        .iter()
        .map(|t| t.name())
        .chain(projection::TABLES)
        .map(|name| format!("to_regclass('{name}')"))
        .collect();
    let sql = format!(
        "SELECT ic.relname::text, tc.relname::text, pg_get_indexdef(i.indexrelid), \
                (ic.relname LIKE 'crm\\_%' AND NOT i.indisprimary)::text \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid \
         WHERE i.indrelid IN ({}) ORDER BY tc.relname, ic.relname",
        tables.join(", ")
    );
    let rows = db::text_rows(client, &sql, 4)?;
    Ok(rows
        .into_iter()
        .map(|mut r| PresentIndex {
            managed: r.pop().flatten().as_deref() == Some("true"),
            definition: r.pop().flatten().unwrap_or_default(),
            table: r.pop().flatten().unwrap_or_default(),
            name: r.pop().flatten().unwrap_or_default(),
        })
        .collect())
}

fn variant_report(indexes: &[PresentIndex], projection_present: bool) -> String {
    let variant = variants::identify(&managed_names(indexes), projection_present).map_or("custom", |v| v.name());
    let listed: Vec<Json> = indexes
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "table": i.table,
                "managed": i.managed,
                "definition": i.definition,
            })
        })
        .collect();
    json!({
        "variant": variant,
        "projection": projection_present,
        "available": Variant::names(),
        "indexes": listed,
    })
    .to_string()
}

/// `crm.variant`: the active variant (derived from what is present) and
/// every index on the application's and the projection's tables.
pub fn variant() -> Result<String, Failure> {
    let (indexes, projection_present) = Spi::connect(|client| -> Result<_, Failure> {
        Ok((present_indexes(client)?, db::projection_present(client)?))
    })?;
    Ok(variant_report(&indexes, projection_present))
}

/// `crm.use_variant`: creates and drops the extension's objects until
/// exactly the variant's are present, then reports as `crm.variant()`.
/// Writes to the application tables wait while the projection is built, so
/// it never misses one.
pub fn use_variant(name: &str) -> Result<String, Failure> {
    let target = Variant::from_name(name).ok_or_else(|| {
        QueryError::parameter("variant", format!("Unknown variant. Choices: {}.", Variant::names().join(", ")))
    })?;
    Spi::connect_mut(|client| -> Result<(), Failure> {
        let present = managed_names(&present_indexes(client)?);
        let plan = variants::plan_switch(target, &present, db::projection_present(client)?);
        let schema = table_schema(client, Table::Appuser)?;
        let trgm_schema = db::text_value(
            client,
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_trgm'",
            &[],
        )?
        .unwrap_or_else(|| "public".into());
        if plan.drop_projection {
            for statement in projection::drop_sql(&schema) {
                db::execute(client, &statement)?;
            }
        }
        for name in &plan.drop_indexes {
            db::execute(client, &variants::drop_index_sql(&schema, name))?;
        }
        if plan.create_projection {
            db::execute(client, &projection::lock_sql(&schema))?;
            for statement in projection::create_sql(&schema) {
                db::execute(client, &statement)?;
            }
        }
        for index in &plan.create_indexes {
            db::execute(client, &index.create_sql(&schema, &trgm_schema))?;
        }
        if plan.create_projection {
            db::execute(client, &projection::analyze_sql(&schema))?;
        }
        Ok(())
    })?;
    variant()
}
