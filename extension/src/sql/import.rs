//! The statements of a bulk import: set-based, one per table and batch
//! (`INSERT … SELECT FROM unnest(…)` over one bound array per column), with
//! ids allocated beforehand so that the three tables' rows refer to each
//! other without a round trip per row. Column names come from `fields`
//! (`import_rows::writable_columns`); every value is bound.

use super::binding::{Arg, SqlQuery};
use super::write::NEW_CUSTOMER_ID;
use crate::fields::{Column, Table};
use crate::import_rows::{writable_columns, Columns, TextColumn};

/// The tables an import writes, in the order their rows must be inserted.
const ADDRESS: &str = "address";
const CONTACT: &str = "appuser";
const RELATIONSHIP: &str = "customer_relationship";

/// `n` new ids of a table's identity column.
pub fn allocate_ids(table: Table, n: usize) -> SqlQuery {
    let name = match table {
        Table::Address => ADDRESS,
        Table::Appuser => CONTACT,
        Table::Relationship => RELATIONSHIP,
    };
    // The sequence is looked up once: called per row, pg_get_serial_sequence
    // (a scan of pg_depend) was 4% of an import's time.
    SqlQuery {
        text: format!(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('{name}', 'id')::regclass AS seq) \
             SELECT nextval(s.seq) FROM s, generate_series(1, $1)"
        ),
        args: vec![Arg::Int8(n as i64)],
    }
}

/// Up to `n` new customer ids, made as a single create makes them, without
/// those a contact already has (probed in the same statement: one index
/// probe per candidate, cheaper than a second statement over an array).
pub fn new_customer_ids(n: usize) -> SqlQuery {
    SqlQuery {
        text: format!(
            "SELECT c FROM (SELECT {NEW_CUSTOMER_ID} FROM generate_series(1, $1)) g(c) \
             WHERE NOT EXISTS (SELECT 1 FROM appuser u WHERE u.customer_id = g.c)"
        ),
        args: vec![Arg::Int8(n as i64)],
    }
}

/// The addresses among `ids` that exist, locked against deletion until the
/// import commits (as the foreign key's own check would lock them).
pub fn existing_addresses(ids: Vec<i64>) -> SqlQuery {
    SqlQuery { text: "SELECT id FROM address WHERE id = ANY($1) FOR KEY SHARE".into(), args: vec![Arg::Int8Array(ids)] }
}

/// The inserts of one batch, in order: addresses (when the batch creates
/// any), then contacts with their relationships in one statement. One
/// statement, because the projection's trigger on `appuser` then finds each
/// contact's relationship and writes its row complete, once; with two, the
/// relationships' trigger would rewrite every row (all its indexes again).
pub fn inserts(columns: Columns) -> Vec<SqlQuery> {
    let mut out = Vec::new();
    if !columns.address[0].is_empty() {
        let mut placeholders = 0;
        let text = insert(ADDRESS, &[("id", "bigint")], &writable_columns(Table::Address), &[], &mut placeholders);
        out.push(bound(text, columns.address, placeholders));
    }
    let mut placeholders = 0;
    let contacts = insert(
        CONTACT,
        &[("id", "bigint"), ("customer_id", "text")],
        &writable_columns(Table::Appuser),
        &[],
        &mut placeholders,
    );
    let relationships = insert(
        RELATIONSHIP,
        &[("appuser_id", "bigint")],
        &writable_columns(Table::Relationship),
        &[("created", "now()")],
        &mut placeholders,
    );
    let text = format!("WITH contacts AS ({contacts}) {relationships}");
    let values = columns.contact.into_iter().chain(columns.relationship).collect();
    out.push(bound(text, values, placeholders));
    out
}

fn bound(text: String, values: Vec<TextColumn>, placeholders: usize) -> SqlQuery {
    assert_eq!(placeholders, values.len(), "one array per placeholder");
    SqlQuery { text, args: values.into_iter().map(Arg::NullableTextArray).collect() }
}

/// `INSERT INTO table (keys…, columns…, fixed…) SELECT … FROM unnest($n, …)`:
/// `keys` and `columns` are bound arrays (text, cast to the column's type),
/// `fixed` are SQL expressions the same for every row. `placeholders` counts the
/// placeholders of the statement so far, and counts this one's.
fn insert(
    table: &str,
    keys: &[(&str, &str)],
    columns: &[Column],
    fixed: &[(&str, &str)],
    placeholders: &mut usize,
) -> String {
    let typed: Vec<(&str, &str)> =
        keys.iter().copied().chain(columns.iter().map(|c| (c.name, c.ty.sql_type()))).collect();
    let names: Vec<&str> = typed.iter().map(|(n, _)| *n).chain(fixed.iter().map(|(n, _)| *n)).collect();
    let selected: Vec<String> = typed
        .iter()
        .map(|(name, ty)| format!("r.{name}::{ty}"))
        .chain(fixed.iter().map(|(_, expression)| expression.to_string()))
        .collect();
    let arrays: Vec<String> = typed
        .iter()
        .map(|_| {
            *placeholders += 1;
            format!("${placeholders}::text[]")
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS r({})",
        names.join(", "),
        selected.join(", "),
        arrays.join(", "),
        typed.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_rows::{validate, Allocated, SourceRow};

    #[test]
    fn a_batch_is_one_insert_per_table_with_an_array_per_column() {
        let rows: Vec<_> = [
            r#"{"first_name": "A", "last_name": "B'); DROP TABLE appuser; --"}"#,
            r#"{"first_name": "C", "last_name": "D", "street": "S", "street_number": "1",
                "city_code": "0150", "city": "Oslo", "country": "Norway"}"#,
        ]
        .iter()
        .map(|body| validate(SourceRow { line: 1, body: body.to_string() }).ok().unwrap())
        .collect();
        let customers = ["CUST-A".to_string(), "CUST-B".into()];
        let columns =
            Columns::build(&rows, &Allocated { contact_ids: &[1, 2], address_ids: &[5], customer_ids: &customers });
        let q = inserts(columns);
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[0].text,
            "INSERT INTO address (id, street, street_number, city_code, city, country) \
             SELECT r.id::bigint, r.street::text, r.street_number::text, r.city_code::text, r.city::text, r.country::text \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
             AS r(id, street, street_number, city_code, city, country)"
        );
        let contacts = &q[1];
        assert!(contacts.text.starts_with("WITH contacts AS (INSERT INTO appuser (id, customer_id, first_name, "));
        assert!(!contacts.text.contains("DROP"), "values are bound, never in the text");
        let n = 2 + writable_columns(Table::Appuser).len() + 1 + writable_columns(Table::Relationship).len();
        assert_eq!(contacts.args.len(), n);
        assert!(
            contacts.text.ends_with(
                ") INSERT INTO customer_relationship (appuser_id, points, last_activity, created) \
                 SELECT r.appuser_id::bigint, r.points::integer, r.last_activity::timestamptz, now() \
                 FROM unnest($9::text[], $10::text[], $11::text[]) AS r(appuser_id, points, last_activity)"
            ),
            "the relationship's placeholders follow the contact's: {}",
            contacts.text
        );
    }

    #[test]
    fn a_batch_without_new_addresses_inserts_none() {
        let rows = vec![validate(SourceRow { line: 1, body: r#"{"first_name": "A", "last_name": "B"}"#.into() })
            .ok()
            .unwrap()];
        let customers = ["CUST-A".to_string()];
        let columns =
            Columns::build(&rows, &Allocated { contact_ids: &[1], address_ids: &[], customer_ids: &customers });
        let q = inserts(columns);
        assert_eq!(q.len(), 1);
        assert!(q[0].text.starts_with("WITH contacts AS (INSERT INTO appuser"));
    }
}
