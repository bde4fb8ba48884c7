//! The SPI boundary: runs generated queries and reads their rows into plain
//! Rust values. Nothing here decides what to query.

use pgrx::datum::{Date, DatumWithOid, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiHeapTupleData, SpiResult};

use crate::contact::{Cell, ContactRow};
use crate::fields::{self, ValueType};
use crate::sql::{self, Arg, Resolution, SqlQuery, MAX_RESOLVED_VALUES};

fn datum(arg: &Arg) -> DatumWithOid<'static> {
    match arg {
        Arg::Int8(v) => (*v).into(),
        Arg::Text(s) => s.clone().into(),
        Arg::TextArray(values) => values.clone().into(),
        // Values come from our own parsers, which stay inside PostgreSQL's range.
        Arg::Timestamptz(t) => TimestampWithTimeZone::try_from(*t).expect("timestamp in range").into(),
        Arg::Date(d) => Date::try_from(*d).expect("date in range").into(),
    }
}

fn datums(query: &SqlQuery) -> Vec<DatumWithOid<'static>> {
    query.args.iter().map(datum).collect()
}

/// The single bigint a `SELECT count(*) …` returns.
pub fn count(client: &SpiClient<'_>, query: &SqlQuery) -> SpiResult<u64> {
    let table = client.select(query.text.as_str(), Some(1), &datums(query))?;
    Ok(table.first().get_one::<i64>()?.unwrap_or(0).max(0) as u64)
}

/// The bigint columns of a one-row query.
pub fn counts(client: &SpiClient<'_>, sql: &str, width: usize) -> SpiResult<Vec<u64>> {
    let table = client.select(sql, Some(1), &[])?.first();
    (1..=width).map(|i| Ok(table.get::<i64>(i)?.unwrap_or(0).max(0) as u64)).collect()
}

fn cell(row: &SpiHeapTupleData<'_>, ordinal: usize, ty: ValueType) -> SpiResult<Cell> {
    Ok(match ty {
        ValueType::BigInt => row.get::<i64>(ordinal)?.map_or(Cell::Null, Cell::Int),
        ValueType::Int => row.get::<i32>(ordinal)?.map_or(Cell::Null, |v| Cell::Int(v.into())),
        ValueType::Text => row.get::<String>(ordinal)?.map_or(Cell::Null, Cell::Text),
        ValueType::Timestamp => {
            row.get::<TimestampWithTimeZone>(ordinal)?.map_or(Cell::Null, |t| Cell::Timestamp(t.into_inner()))
        }
        ValueType::Date => row.get::<Date>(ordinal)?.map_or(Cell::Null, |d| Cell::Date(d.into_inner())),
    })
}

/// Rows of a query whose select list is `sql::contact_select_list()`.
pub fn contacts(client: &SpiClient<'_>, query: &SqlQuery) -> SpiResult<Vec<ContactRow>> {
    let table = client.select(query.text.as_str(), None, &datums(query))?;
    let mut rows = Vec::with_capacity(table.len());
    for row in table {
        let cells = fields::CONTACT
            .iter()
            .enumerate()
            .map(|(i, output)| cell(&row, i + 1, output.column.ty))
            .collect::<SpiResult<ContactRow>>()?;
        rows.push(cells);
    }
    Ok(rows)
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
    let sql = format!("SELECT to_regclass('{}') IS NOT NULL", crate::projection::FLAT);
    Ok(client.select(sql.as_str(), Some(1), &[])?.first().get_one::<bool>()?.unwrap_or(false))
}

/// Whether the projection present was built by this version's definition.
pub fn projection_current(client: &SpiClient<'_>) -> SpiResult<bool> {
    let sql = format!("SELECT obj_description(to_regclass('{}'), 'pg_class')", crate::projection::FLAT);
    let comment = client.select(sql.as_str(), Some(1), &[])?.first().get_one::<String>()?;
    Ok(comment.as_deref() == Some(crate::projection::fingerprint().as_str()))
}

/// The dictionary's values of a projection column that contain `text`
/// (case-insensitively), or `TooMany`.
pub fn resolve(client: &SpiClient<'_>, key: &str, text: &str) -> SpiResult<Resolution> {
    let sql = format!(
        "SELECT value FROM {} WHERE field = $1 AND value ILIKE $2 LIMIT {}",
        crate::projection::DICTIONARY,
        MAX_RESOLVED_VALUES + 1
    );
    let args = [datum(&Arg::Text(key.to_string())), datum(&Arg::Text(sql::contains_pattern(text)))];
    let table = client.select(sql.as_str(), None, &args)?;
    if table.len() > MAX_RESOLVED_VALUES {
        return Ok(Resolution::TooMany);
    }
    let mut values = Vec::with_capacity(table.len());
    for row in table {
        values.extend(row.get::<String>(1)?);
    }
    Ok(Resolution::Values(values))
}

/// Runs a statement that returns nothing (DDL).
pub fn execute(client: &mut SpiClient<'_>, sql: &str) -> SpiResult<()> {
    client.update(sql, None, &[])?;
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
