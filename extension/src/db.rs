//! The SPI boundary: runs generated queries and reads their rows into plain
//! Rust values. Nothing here decides what to query.

use std::cell::RefCell;

use pgrx::datum::{Date, DatumWithOid, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult, SpiTupleTable};
use serde_json::Value as Json;

use crate::contact::{Cell, ContactRow};
use crate::fields::{self, ValueType};
use crate::sql::{self, Arg, Resolution, SqlQuery, MAX_RESOLVED_VALUES};

fn datum(arg: &Arg) -> DatumWithOid<'static> {
    match arg {
        Arg::Int8(v) => (*v).into(),
        Arg::Int8Array(values) => values.clone().into(),
        Arg::Text(s) => s.clone().into(),
        Arg::TextArray(values) => values.clone().into(),
        Arg::NullableTextArray(values) => values.clone().into(),
        // Values come from our own parsers, which stay inside PostgreSQL's range.
        Arg::Timestamptz(t) => TimestampWithTimeZone::try_from(*t).expect("timestamp in range").into(),
        Arg::Date(d) => Date::try_from(*d).expect("date in range").into(),
    }
}

pub fn datums(query: &SqlQuery) -> Vec<DatumWithOid<'static>> {
    query.args.iter().map(datum).collect()
}

thread_local! {
    /// While `explaining` runs: the plan of every query this module runs.
    static EXPLAINED: RefCell<Option<Vec<Json>>> = const { RefCell::new(None) };
}

/// Runs `f`, recording `EXPLAIN (ANALYZE, BUFFERS)` of every query it makes
/// through this module (each query then runs twice: explained, and for
/// its rows).
pub fn explaining<T>(f: impl FnOnce() -> T) -> (T, Vec<Json>) {
    // EXPLAIN ANALYZE must run read-write: pgrx runs SPI read-only until
    // the transaction has an id.
    // SAFETY: assigns the current transaction an id, or raises an ERROR.
    unsafe {
        pgrx::pg_sys::GetCurrentTransactionId();
    }
    EXPLAINED.with(|e| *e.borrow_mut() = Some(Vec::new()));
    let result = f();
    let plans = EXPLAINED.with(|e| e.borrow_mut().take()).unwrap_or_default();
    (result, plans)
}

/// Every query of the request path goes through here.
pub fn select<'conn>(
    client: &SpiClient<'conn>,
    sql: &str,
    limit: Option<i64>,
    args: &[DatumWithOid<'static>],
) -> SpiResult<pgrx::spi::SpiTupleTable<'conn>> {
    if EXPLAINED.with(|e| e.borrow().is_some()) {
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}");
        let plan = client.select(explain.as_str(), None, args)?.first().get_one::<pgrx::datum::Json>()?;
        let entry = serde_json::json!({ "sql": sql, "plan": plan.map(|p| p.0) });
        EXPLAINED.with(|e| e.borrow_mut().as_mut().map(|plans| plans.push(entry)));
    }
    client.select(sql, limit, args)
}

/// The single bigint a `SELECT count(*) …` returns.
pub fn count(client: &SpiClient<'_>, query: &SqlQuery) -> SpiResult<u64> {
    let table = select(client, query.text.as_str(), Some(1), &datums(query))?;
    Ok(table.first().get_one::<i64>()?.unwrap_or(0).max(0) as u64)
}

/// The planner's estimate of the rows a query returns (its top plan
/// node's rows), without running it. EXPLAIN is refused inside a stable
/// function, so the query is planned by opening a cursor for it, whose
/// portal holds the plan; the cursor is closed unread.
pub fn estimate(client: &SpiClient<'_>, query: &SqlQuery) -> SpiResult<u64> {
    let cursor = client.try_open_cursor(query.text.as_str(), &datums(query))?;
    let name = std::ffi::CString::new(cursor.detach_into_name()).expect("portal names have no NUL");
    // SAFETY: the portal was just opened by SPI in this transaction and is
    // closed here; its statement list holds PlannedStmt nodes for a query.
    let rows = unsafe {
        let portal = pgrx::pg_sys::GetPortalByName(name.as_ptr());
        let mut rows = 0.0;
        if !portal.is_null() {
            let statements = pgrx::PgList::<pgrx::pg_sys::PlannedStmt>::from_pg((*portal).stmts);
            if let Some(statement) = statements.get_ptr(0) {
                if !(*statement).planTree.is_null() {
                    rows = (*(*statement).planTree).plan_rows;
                }
            }
            pgrx::pg_sys::SPI_cursor_close(portal);
        }
        rows
    };
    Ok(rows.max(0.0).round() as u64)
}

/// The bigint columns of a one-row query.
pub fn counts(client: &SpiClient<'_>, sql: &str, width: usize) -> SpiResult<Vec<u64>> {
    let table = select(client, sql, Some(1), &[])?.first();
    (1..=width).map(|i| Ok(table.get::<i64>(i)?.unwrap_or(0).max(0) as u64)).collect()
}

/// A cell from a datum of a column typed `ty` (NULL when `null`).
///
/// # Safety
/// `datum` must be a valid datum of the column's SQL type, alive while
/// this runs (it is copied into Rust values).
unsafe fn cell_of_datum(datum: pg_sys::Datum, null: bool, ty: ValueType) -> Cell {
    if null {
        return Cell::Null;
    }
    // SAFETY: per this function's contract; none of these returns NULL
    // for a datum that is not NULL.
    unsafe {
        match ty {
            ValueType::BigInt => i64::from_datum(datum, false).map_or(Cell::Null, Cell::Int),
            ValueType::Int => i32::from_datum(datum, false).map_or(Cell::Null, |v| Cell::Int(v.into())),
            ValueType::Text => String::from_datum(datum, false).map_or(Cell::Null, Cell::Text),
            ValueType::Timestamp => {
                TimestampWithTimeZone::from_datum(datum, false).map_or(Cell::Null, |t| Cell::Timestamp(t.into_inner()))
            }
            ValueType::Date => Date::from_datum(datum, false).map_or(Cell::Null, |d| Cell::Date(d.into_inner())),
        }
    }
}

/// The rows of `table` as cells of `types`, the first at column
/// `first_ordinal` (1-based); `each` also sees the row's datums.
///
/// Each tuple is deformed once (`heap_deform_tuple`): reading it column by
/// column (`SpiHeapTupleData`, `SPI_getbinval`) walks the tuple from its
/// start again for every column after the first text one, and a page
/// reads 19 columns of up to 10,000 rows.
fn typed_rows(
    table: &SpiTupleTable<'_>,
    first_ordinal: usize,
    types: &[ValueType],
    mut each: impl FnMut(&[pg_sys::Datum], &[bool]),
) -> SpiResult<Vec<Vec<Cell>>> {
    if table.is_empty() {
        return Ok(Vec::new());
    }
    // SAFETY: `select` leaves SPI_tuptable pointing at the table it
    // returned, which `table` keeps alive (borrowed for this call); its
    // `numvals` tuples all have `tupdesc`'s shape.
    unsafe {
        let tuptable = pg_sys::SPI_tuptable;
        if tuptable.is_null() || (*tuptable).numvals as usize != table.len() {
            return Err(pgrx::spi::SpiError::NoTupleTable);
        }
        let desc = (*tuptable).tupdesc;
        let width = (*desc).natts as usize;
        if width + 1 < first_ordinal + types.len() {
            return Err(pgrx::spi::SpiError::SpiError(pgrx::spi::SpiErrorCodes::NoAttribute));
        }
        let tuples = std::slice::from_raw_parts((*tuptable).vals, table.len());
        let (mut datums, mut nulls) = (vec![pg_sys::Datum::from(0); width], vec![false; width]);
        let mut rows = Vec::with_capacity(tuples.len());
        for tuple in tuples {
            pg_sys::heap_deform_tuple(*tuple, desc, datums.as_mut_ptr(), nulls.as_mut_ptr());
            each(&datums, &nulls);
            let row = types.iter().enumerate().map(|(i, ty)| {
                let at = first_ordinal - 1 + i;
                cell_of_datum(datums[at], nulls[at], *ty)
            });
            rows.push(row.collect());
        }
        Ok(rows)
    }
}

/// The first column of every row, typed `ty`.
pub fn cells(client: &SpiClient<'_>, query: &SqlQuery, ty: ValueType) -> SpiResult<Vec<Cell>> {
    let table = select(client, query.text.as_str(), None, &datums(query))?;
    Ok(typed_rows(&table, 1, &[ty], |_, _| {})?.into_iter().flatten().collect())
}

/// The types of the contact's columns, in order.
fn contact_types() -> Vec<ValueType> {
    fields::CONTACT.iter().map(|output| output.column.ty).collect()
}

/// Rows of a query whose columns are the contact's.
pub fn contacts(client: &SpiClient<'_>, query: &SqlQuery) -> SpiResult<Vec<ContactRow>> {
    let table = select(client, query.text.as_str(), None, &datums(query))?;
    typed_rows(&table, 1, &contact_types(), |_, _| {})
}

/// What `sql::probe_query` returns: the number of matches collected and
/// the page's rows.
pub fn probe(client: &SpiClient<'_>, query: &SqlQuery) -> SpiResult<(u64, Vec<ContactRow>)> {
    let table = select(client, query.text.as_str(), None, &datums(query))?;
    let mut matched = 0;
    let mut rows = typed_rows(&table, 2, &contact_types(), |datums, nulls| {
        // SAFETY: column 1 is the bigint count of the matches.
        let count = if nulls[0] { None } else { unsafe { i64::from_datum(datums[0], false) } };
        matched = count.unwrap_or(0).max(0) as u64;
    })?;
    rows.retain(|contact| contact[0] != Cell::Null);
    Ok((matched, rows))
}

/// A contact row as a `crm.contact` composite value. Each attribute is set
/// with the Rust type of its column, NULLs included.
pub fn contact_tuple(row: ContactRow) -> PgHeapTuple<'static, AllocatedByRust> {
    let mut tuple = PgHeapTuple::new_composite_type("crm.contact").expect("crm.contact exists");
    for (i, (cell, output)) in row.into_iter().zip(fields::CONTACT.iter()).enumerate() {
        let attno = std::num::NonZeroUsize::new(i + 1).expect("ordinals start at 1");
        let set = match (output.column.ty, cell) {
            (ValueType::BigInt, Cell::Int(v)) => tuple.set_by_index(attno, Some(v)),
            (ValueType::BigInt, _) => tuple.set_by_index(attno, Option::<i64>::None),
            (ValueType::Int, Cell::Int(v)) => tuple.set_by_index(attno, i32::try_from(v).ok()),
            (ValueType::Int, _) => tuple.set_by_index(attno, Option::<i32>::None),
            (ValueType::Text, Cell::Text(s)) => tuple.set_by_index(attno, Some(s)),
            (ValueType::Text, _) => tuple.set_by_index(attno, Option::<String>::None),
            (ValueType::Timestamp, Cell::Timestamp(t)) => {
                tuple.set_by_index(attno, TimestampWithTimeZone::try_from(t).ok())
            }
            (ValueType::Timestamp, _) => tuple.set_by_index(attno, Option::<TimestampWithTimeZone>::None),
            (ValueType::Date, Cell::Date(d)) => tuple.set_by_index(attno, Date::try_from(d).ok()),
            (ValueType::Date, _) => tuple.set_by_index(attno, Option::<Date>::None),
        };
        set.expect("crm.contact attributes follow fields::CONTACT");
    }
    tuple
}

/// Whether the projection exists where search_path finds the tables.
pub fn projection_present(client: &SpiClient<'_>) -> SpiResult<bool> {
    let sql = format!("SELECT to_regclass('{}') IS NOT NULL", crate::objects::FLAT);
    Ok(select(client, sql.as_str(), Some(1), &[])?.first().get_one::<bool>()?.unwrap_or(false))
}

/// Whether the projection present was built by this version's definition.
pub fn projection_current(client: &SpiClient<'_>) -> SpiResult<bool> {
    let sql = format!("SELECT obj_description(to_regclass('{}'), 'pg_class')", crate::objects::FLAT);
    let comment = select(client, sql.as_str(), Some(1), &[])?.first().get_one::<String>()?;
    Ok(comment.as_deref() == Some(crate::projection::fingerprint().as_str()))
}

/// The dictionary's values that contain `text` (case-insensitively), for
/// each of the projection columns `keys`: one query for all of them,
/// through the trigram index (the field as an expression, see
/// `postings_store::values_bitmap`).
pub fn resolve(
    client: &SpiClient<'_>,
    keys: &[&'static str],
    text: &str,
) -> SpiResult<Vec<(&'static str, Resolution)>> {
    let sql = format!(
        "SELECT field, value FROM (SELECT field, value, row_number() OVER (PARTITION BY field) AS n \
         FROM {} WHERE field || '' = ANY($1) AND value ILIKE $2) d WHERE n <= $3",
        crate::objects::DICTIONARY,
    );
    let args = [
        datum(&Arg::TextArray(keys.iter().map(|k| k.to_string()).collect())),
        datum(&Arg::Text(sql::contains_pattern(text))),
        datum(&Arg::Int8(MAX_RESOLVED_VALUES as i64 + 1)),
    ];
    let mut values: Vec<(&'static str, Vec<String>)> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in select(client, sql.as_str(), None, &args)? {
        let (Some(field), Some(value)) = (row.get::<String>(1)?, row.get::<String>(2)?) else { continue };
        if let Some((_, list)) = values.iter_mut().find(|(k, _)| *k == field) {
            list.push(value);
        }
    }
    Ok(values
        .into_iter()
        .map(|(k, list)| {
            let resolution =
                if list.len() > MAX_RESOLVED_VALUES { Resolution::TooMany } else { Resolution::Values(list) };
            (k, resolution)
        })
        .collect())
}

/// Runs a statement that returns nothing (DDL).
pub fn execute(client: &mut SpiClient<'_>, sql: &str) -> SpiResult<()> {
    client.update(sql, None, &[])?;
    Ok(())
}

/// Waits for the transaction-level advisory lock named `key`.
pub fn advisory_xact_lock(client: &mut SpiClient<'_>, key: &str) -> SpiResult<()> {
    client.update("SELECT pg_advisory_xact_lock(hashtext($1))", None, &[datum(&Arg::Text(key.into()))])?;
    Ok(())
}

/// A single text value (catalog lookups).
pub fn text_value(client: &SpiClient<'_>, sql: &str, args: &[Arg]) -> SpiResult<Option<String>> {
    let args: Vec<_> = args.iter().map(datum).collect();
    client.select(sql, Some(1), &args)?.first().get_one::<String>()
}

/// Rows of text columns (catalog listings).
pub fn text_rows(client: &SpiClient<'_>, sql: &str, width: usize) -> SpiResult<Vec<Vec<Option<String>>>> {
    let table = client.select(sql, None, &[])?;
    let mut rows = Vec::with_capacity(table.len());
    for row in table {
        rows.push((1..=width).map(|i| row.get::<String>(i)).collect::<SpiResult<Vec<_>>>()?);
    }
    Ok(rows)
}
