//! A bulk import as plain values: each source row validated exactly as a
//! single create (`write_body`, `Mode::Create`), the report of the rows
//! refused, and the valid rows turned into one column of text per table
//! column (the arrays a set-based `INSERT … SELECT FROM unnest(…)` binds,
//! `sql/import.rs`). No SQL runs here (`imports.rs` runs it).

use serde_json::{json, Map, Value as Json};

use crate::error::QueryError;
use crate::fields::{self, Column, Table, ValueType, Write};
use crate::values;
use crate::write_body::{self, ContactWrite, Mode, WriteValue};

/// What an import does with rows that fail validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Nothing is written when any row is refused (the default).
    Abort,
    /// The valid rows are written; the others are reported.
    Skip,
}

impl OnError {
    /// The names `parse` takes, as documented (OpenAPI).
    pub const NAMES: [&'static str; 2] = ["abort", "skip"];

    pub fn parse(name: &str) -> Result<OnError, QueryError> {
        match name {
            n if n == Self::NAMES[0] => Ok(OnError::Abort),
            n if n == Self::NAMES[1] => Ok(OnError::Skip),
            other => Err(QueryError::parameter(
                "on_error",
                format!("Select a valid choice. {other} is not one of the available choices."),
            )),
        }
    }
}

/// The most refused rows a report lists; `failed` counts them all.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// One source row: its line (as the source numbers it) and its body.
pub struct SourceRow {
    pub line: i64,
    pub body: String,
}

/// A row that passed validation.
pub struct ValidRow {
    pub line: i64,
    pub write: ContactWrite,
}

/// Validates one row's body (JSON text) as a single create would.
pub fn validate(row: SourceRow) -> Result<ValidRow, (i64, Json)> {
    let body: Json = serde_json::from_str(&row.body)
        .map_err(|e| (row.line, json!({"non_field_errors": [format!("JSON parse error - {e}")]})))?;
    match write_body::parse(&body, Mode::Create) {
        Ok(write) => Ok(ValidRow { line: row.line, write }),
        Err(e) => Err((row.line, rejection(&e))),
    }
}

/// The field → messages object of a refused row.
pub fn rejection(error: &QueryError) -> Json {
    serde_json::from_str(&error.body()).expect("error bodies are JSON")
}

/// What an import did: the rows written, and the rows refused with their
/// messages (the first `MAX_REPORTED_ERRORS`, in line order).
#[derive(Debug, Default)]
pub struct Report {
    pub created: u64,
    pub failed: u64,
    errors: Vec<(i64, Json)>,
}

impl Report {
    pub fn refuse(&mut self, line: i64, errors: Json) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push((line, errors));
        }
    }

    pub fn to_json(&self) -> Json {
        let mut errors = self.errors.clone();
        errors.sort_by_key(|(line, _)| *line);
        let errors: Vec<Json> = errors.into_iter().map(|(line, e)| json!({"line": line, "errors": e})).collect();
        let mut out = Map::new();
        out.insert("created".into(), self.created.into());
        out.insert("failed".into(), self.failed.into());
        out.insert("errors_truncated".into(), (self.failed as usize > self.errors.len()).into());
        out.insert("errors".into(), errors.into());
        Json::Object(out)
    }
}

/// The writable columns of one table, in the field table's order.
pub fn writable_columns(table: Table) -> Vec<Column> {
    fields::CONTACT.iter().filter(|f| f.write != Write::ReadOnly && f.column.table == table).map(|f| f.column).collect()
}

/// Values of one column for every row, as text (NULL as `None`): the
/// canonical input form of the column's type, cast back in SQL.
pub type TextColumn = Vec<Option<String>>;

/// The valid rows of a batch as columns, given the ids allocated for them.
#[derive(Debug, Default, PartialEq)]
pub struct Columns {
    /// `address`: id, then `writable_columns(Address)`; rows with a new address only.
    pub address: Vec<TextColumn>,
    /// `appuser`: id, customer_id, then `writable_columns(Appuser)`.
    pub contact: Vec<TextColumn>,
    /// `customer_relationship`: appuser_id, then `writable_columns(Relationship)`.
    pub relationship: Vec<TextColumn>,
}

/// Ids and customer ids for the rows of a batch, in row order.
pub struct Allocated<'a> {
    pub contact_ids: &'a [i64],
    /// One per row that creates an address, in row order.
    pub address_ids: &'a [i64],
    pub customer_ids: &'a [String],
}

impl Columns {
    pub fn build(rows: &[ValidRow], ids: &Allocated<'_>) -> Columns {
        let contact_columns = writable_columns(Table::Appuser);
        let address_columns = writable_columns(Table::Address);
        let relationship_columns = writable_columns(Table::Relationship);
        let mut out = Columns {
            address: vec![Vec::new(); 1 + address_columns.len()],
            contact: vec![Vec::new(); 2 + contact_columns.len()],
            relationship: vec![Vec::new(); 1 + relationship_columns.len()],
        };
        let mut new_addresses = ids.address_ids.iter();
        for (i, row) in rows.iter().enumerate() {
            let contact_id = ids.contact_ids[i].to_string();
            let mut address_id = None;
            if let Some(address) = &row.write.new_address {
                let id = new_addresses.next().expect("an address id per new address").to_string();
                out.address[0].push(Some(id.clone()));
                push_row(&mut out.address[1..], &address_columns, address);
                address_id = Some(id);
            }
            out.contact[0].push(Some(contact_id.clone()));
            out.contact[1].push(Some(ids.customer_ids[i].clone()));
            push_row(&mut out.contact[2..], &contact_columns, &row.write.contact);
            if let Some(id) = address_id {
                let at = 2 + contact_columns.iter().position(|c| *c == fields::U_ADDRESS_ID).expect("address_id");
                *out.contact[at].last_mut().expect("just pushed") = Some(id);
            }
            out.relationship[0].push(Some(contact_id));
            push_row(&mut out.relationship[1..], &relationship_columns, &row.write.relationship);
        }
        out
    }
}

/// Appends one row's values to `columns` (one per `names`); a column the
/// row does not set is NULL (a create leaves it to NULL, its default).
fn push_row(columns: &mut [TextColumn], names: &[Column], values: &[(Column, WriteValue)]) {
    for (column, out) in names.iter().zip(columns.iter_mut()) {
        let value = values.iter().find(|(c, _)| c == column).map(|(_, v)| v);
        out.push(value.and_then(|v| as_text(column.ty, v)));
    }
}

/// A value in its type's canonical text input form.
fn as_text(ty: ValueType, value: &WriteValue) -> Option<String> {
    match value {
        WriteValue::Null => None,
        WriteValue::Text(s) => Some(s.clone()),
        WriteValue::Int(n) => Some(n.to_string()),
        WriteValue::Date(d) => Some(values::format_date(*d)),
        WriteValue::Timestamp(t) => {
            let mut out = String::new();
            values::write_timestamp(&mut out, *t);
            Some(out)
        }
        // PostgreSQL's input 'now' is the transaction's start, as now() is.
        WriteValue::Now => {
            debug_assert_eq!(ty, ValueType::Timestamp);
            Some("now".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: i64, body: &str) -> SourceRow {
        SourceRow { line, body: body.into() }
    }

    #[test]
    fn rows_are_validated_as_a_single_create_and_bad_json_is_a_row_error() {
        let (line, errors) = validate(row(4, r#"{"first_name": "A", "gender": "X"}"#)).err().unwrap();
        assert_eq!(line, 4);
        assert_eq!(
            errors,
            json!({"last_name": ["This field is required."], "gender": ["\"X\" is not a valid choice."]})
        );
        let (_, errors) = validate(row(5, "{not json")).err().unwrap();
        assert!(errors["non_field_errors"][0].as_str().unwrap().starts_with("JSON parse error - "), "{errors}");
        assert!(validate(row(6, r#"{"first_name": "A", "last_name": "B"}"#)).is_ok());
    }

    #[test]
    fn the_report_counts_every_refusal_and_lists_the_first_in_line_order() {
        let mut report = Report::default();
        for line in (0..MAX_REPORTED_ERRORS as i64 + 5).rev() {
            report.refuse(line, json!({}));
        }
        report.created = 3;
        let out = report.to_json();
        assert_eq!(out["failed"], MAX_REPORTED_ERRORS as u64 + 5);
        assert_eq!(out["created"], 3);
        assert_eq!(out["errors_truncated"], true);
        let lines: Vec<i64> = out["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines.len(), MAX_REPORTED_ERRORS);
        assert!(lines.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Report::default().to_json()["errors_truncated"], false);
    }

    #[test]
    fn valid_rows_become_columns_with_their_ids_and_new_addresses() {
        let rows: Vec<ValidRow> = [
            r#"{"first_name": "A", "last_name": "B", "birthday": "1990-02-03", "points": 7}"#,
            r#"{"first_name": "C", "last_name": "D", "street": "S", "street_number": "1",
                "city_code": "0150", "city": "Oslo", "country": "Norway",
                "last_activity": "2026-01-02T03:04:05Z"}"#,
            r#"{"first_name": "E", "last_name": "F", "address_id": 42}"#,
        ]
        .iter()
        .enumerate()
        .map(|(i, body)| validate(row(i as i64 + 1, body)).ok().unwrap())
        .collect();
        let customers = ["CUST-1".to_string(), "CUST-2".into(), "CUST-3".into()];
        let columns = Columns::build(
            &rows,
            &Allocated { contact_ids: &[10, 11, 12], address_ids: &[900], customer_ids: &customers },
        );
        let contact = writable_columns(Table::Appuser);
        let at = |name: &str| 2 + contact.iter().position(|c| c.name == name).unwrap();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(columns.contact[0], vec![s("10"), s("11"), s("12")]);
        assert_eq!(columns.contact[1], vec![s("CUST-1"), s("CUST-2"), s("CUST-3")]);
        assert_eq!(columns.contact[at("birthday")], vec![s("1990-02-03"), None, None]);
        assert_eq!(columns.contact[at("gender")], vec![None, None, None]);
        assert_eq!(columns.contact[at("address_id")], vec![None, s("900"), s("42")]);
        assert_eq!(columns.address[0], vec![s("900")]);
        assert_eq!(columns.address.iter().map(Vec::len).collect::<Vec<_>>(), vec![1; 6]);
        let relationship = writable_columns(Table::Relationship);
        let r = |name: &str| 1 + relationship.iter().position(|c| c.name == name).unwrap();
        assert_eq!(columns.relationship[0], vec![s("10"), s("11"), s("12")]);
        assert_eq!(columns.relationship[r("points")], vec![s("7"), s("0"), s("0")]);
        assert_eq!(columns.relationship[r("last_activity")], vec![s("now"), s("2026-01-02T03:04:05Z"), s("now")]);
    }

    #[test]
    fn on_error_takes_abort_or_skip() {
        assert_eq!(OnError::parse("skip").unwrap(), OnError::Skip);
        assert_eq!(OnError::parse("abort").unwrap(), OnError::Abort);
        let e = OnError::parse("ignore").unwrap_err();
        assert_eq!(e.body(), r#"{"on_error":["Select a valid choice. ignore is not one of the available choices."]}"#);
    }
}
