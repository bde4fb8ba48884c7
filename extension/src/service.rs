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
use crate::sql::{self, Context, Source, Strategy, Window};
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
    // One dictionary lookup per distinct text, for all its columns.
    let mut by_text: Vec<(String, Vec<&'static str>)> = Vec::new();
    for (key, text) in sql::patterns_to_resolve(request) {
        match by_text.iter_mut().find(|(t, _)| *t == text) {
            Some((_, keys)) => keys.push(key),
            None => by_text.push((text, vec![key])),
        }
    }
    let mut resolutions = sql::Resolutions::new();
    for (text, keys) in by_text {
        for (key, resolution) in db::resolve(client, &keys, &text)? {
            resolutions.insert((key, text.clone()), resolution);
        }
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
    if let Some(page) = probed_page(client, request, context)? {
        return Ok(page);
    }
    let count = db::count(client, &sql::count_query(request, context))?;
    let window = page::resolve(&request.page, count, request.page_size)?;
    let strategy = match context.source {
        Source::Projection if sql::has_conditions(request) => {
            let total = db::count(client, &sql::total_query())?;
            Strategy::choose(count, total, window.offset + request.page_size)
        }
        _ => Strategy::Ordered,
    };
    // Past the middle, the page is nearer the end: read it backward.
    let on_page = request.page_size.min(count.saturating_sub(window.offset));
    let backward = strategy == Strategy::Ordered && window.offset > count / 2;
    let read = if backward {
        Window::FromEnd { offset: count - window.offset - on_page, limit: on_page }
    } else {
        Window::Offset { offset: window.offset }
    };
    let mut rows = Vec::with_capacity(request.page_size as usize);
    for query in &sql::page_queries(request, context, read, strategy) {
        rows.extend(db::contacts(client, query)?);
    }
    if backward {
        rows.reverse();
    }
    Ok(Page::Numbered { count, window, rows })
}

/// A filtered page of the projection whose matches are few enough to
/// collect: counted and read in one pass (`sql::probe_query`). `None` when
/// they are too many (or the page number depends on the count).
fn probed_page(client: &SpiClient<'_>, request: &ListRequest, context: &Context) -> Result<Option<Page>, Failure> {
    let PageRequest::Number(number) = request.page else { return Ok(None) };
    if context.source != Source::Projection || !sql::has_conditions(request) {
        return Ok(None);
    }
    let offset = (number - 1).saturating_mul(request.page_size);
    let total = db::count(client, &sql::total_query())?;
    let cap = Strategy::materialize_limit(total, offset.saturating_add(request.page_size));
    let (matched, rows) = db::probe(client, &sql::probe_query(request, context, cap, offset))?;
    if matched > cap {
        return Ok(None);
    }
    let window = page::resolve(&request.page, matched, request.page_size)?;
    Ok(Some(Page::Numbered { count: matched, window, rows }))
}

/// For keyset pages, which have no count: the matches are counted only up
/// to the size where collecting them stops paying.
fn keyset_strategy(client: &SpiClient<'_>, request: &ListRequest, context: &Context) -> Result<Strategy, Failure> {
    if context.source != Source::Projection || !sql::has_conditions(request) {
        return Ok(Strategy::Ordered);
    }
    let total = db::count(client, &sql::total_query())?;
    let limit = Strategy::materialize_limit(total, request.page_size + 1);
    let count = db::count(client, &sql::count_up_to_query(request, context, limit + 1))?;
    Ok(Strategy::choose(count, total, request.page_size + 1))
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
    let strategy = keyset_strategy(client, request, context)?;
    let mut rows = Vec::with_capacity(size + 1);
    for query in sql::page_queries(request, context, Window::Keyset { position: position.as_ref() }, strategy) {
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

/// `crm.explain`: what `crm.contacts_page` does for these parameters: every
/// statement it runs with its `EXPLAIN (ANALYZE, BUFFERS)` plan.
pub fn explain(params: &Json) -> Result<String, Failure> {
    let (page, statements) = db::explaining(|| contacts_page(params, None));
    Ok(json!({ "response_bytes": page?.len(), "statements": statements }).to_string())
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

/// `crm.stats`: from the projection's counters when present, otherwise
/// counted in the tables.
pub fn stats() -> Result<String, Failure> {
    let counts = Spi::connect(|client| -> Result<_, Failure> {
        let sql = if db::projection_present(client)? {
            sql::stats_from_counter_query()
        } else {
            // One-to-one and cascading: every relationship belongs to one contact.
            "SELECT (SELECT count(*) FROM appuser), (SELECT count(address_id) FROM appuser), \
                    (SELECT count(*) FROM customer_relationship)"
                .to_string()
        };
        Ok(db::counts(client, &sql, 3)?)
    })?;
    Ok(json!({
        "total_contacts": counts[0],
        "contacts_with_address": counts[1],
        "contacts_with_relationship": counts[2],
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
    /// See `IndexDef::identity`.
    identity: String,
}

fn managed_identities(indexes: &[PresentIndex]) -> BTreeSet<String> {
    indexes.iter().filter(|i| i.managed).map(|i| i.identity.clone()).collect()
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
    // Key and included columns by position (indnkeyatts splits them).
    let columns = |which: &str| {
        format!(
            "coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.n) \
             FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE k.n {which} i.indnkeyatts), '')"
        )
    };
    let sql = format!(
        "SELECT ic.relname::text, tc.relname::text, pg_get_indexdef(i.indexrelid), \
                (ic.relname LIKE 'crm\\_%' AND NOT i.indisprimary)::text, am.amname::text, {}, {} \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid \
         JOIN pg_am am ON am.oid = ic.relam \
         WHERE i.indrelid IN ({}) ORDER BY tc.relname, ic.relname",
        columns("<="),
        columns(">"),
        tables.join(", ")
    );
    let rows = db::text_rows(client, &sql, 7)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let field = |i: usize| row[i].clone().unwrap_or_default();
            PresentIndex {
                identity: variants::index_identity(&field(0), &field(4), &field(5), &field(6)),
                name: field(0),
                table: field(1),
                definition: field(2),
                managed: field(3) == "true",
            }
        })
        .collect())
}

fn variant_report(indexes: &[PresentIndex], projection: ProjectionState) -> String {
    let identified = match projection {
        ProjectionState::Stale => None,
        state => variants::identify(&managed_identities(indexes), state == ProjectionState::Current),
    };
    let variant = identified.map_or("custom", |v| v.name());
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
        "projection": match projection {
            ProjectionState::Absent => "absent",
            ProjectionState::Current => "present",
            ProjectionState::Stale => "stale (rebuilt by crm.use_variant)",
        },
        "available": Variant::names(),
        "indexes": listed,
    })
    .to_string()
}

/// `crm.variant`: the active variant (derived from what is present) and
/// every index on the application's and the projection's tables.
pub fn variant() -> Result<String, Failure> {
    let (indexes, projection) =
        Spi::connect(|client| -> Result<_, Failure> { Ok((present_indexes(client)?, projection_state(client)?)) })?;
    Ok(variant_report(&indexes, projection))
}

/// The projection: absent, built by this version, or stale (built by
/// another version of the extension, to be rebuilt).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProjectionState {
    Absent,
    Current,
    Stale,
}

fn projection_state(client: &SpiClient<'_>) -> Result<ProjectionState, Failure> {
    Ok(match (db::projection_present(client)?, db::projection_current(client)?) {
        (false, _) => ProjectionState::Absent,
        (true, true) => ProjectionState::Current,
        (true, false) => ProjectionState::Stale,
    })
}

/// `crm.use_variant`: creates and drops the extension's objects until
/// exactly the variant's are present, then reports as `crm.variant()`.
/// Writes to the application tables wait while the projection is built, so
/// it never misses one.
pub fn use_variant(name: &str, build_indexes: bool) -> Result<String, Failure> {
    let target = Variant::from_name(name).ok_or_else(|| {
        QueryError::parameter("variant", format!("Unknown variant. Choices: {}.", Variant::names().join(", ")))
    })?;
    Spi::connect_mut(|client| -> Result<(), Failure> {
        let schema = table_schema(client, Table::Appuser)?;
        // Switches of the same tables take turns: the lock on the tables
        // (SHARE, see `projection::lock_sql`) does not exclude another switch.
        db::advisory_xact_lock(client, &format!("crm_contacts.use_variant {schema}"))?;
        let mut present = managed_identities(&present_indexes(client)?);
        let state = projection_state(client)?;
        if state == ProjectionState::Stale {
            // Rebuilt from scratch, with its indexes.
            for statement in projection::drop_sql(&table_schema(client, Table::Appuser)?) {
                db::execute(client, &statement)?;
            }
            present = managed_identities(&present_indexes(client)?);
        }
        let plan = variants::plan_switch(target, &present, state == ProjectionState::Current);
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
            db::execute(client, &projection::mark_sql(&schema))?;
        }
        for index in plan.create_indexes.iter().filter(|_| build_indexes) {
            db::execute(client, &index.create_sql(&schema, &trgm_schema))?;
        }
        if plan.create_projection {
            db::execute(client, &projection::analyze_sql(&schema))?;
        }
        Ok(())
    })?;
    variant()
}
