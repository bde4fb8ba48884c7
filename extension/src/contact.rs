//! The `<contact>` object: values read from a row, rendered as DRF does.

use crate::fields;
use crate::values;

/// One value of a contact row, as read from PostgreSQL.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    /// Microseconds since 2000-01-01 UTC.
    Timestamp(i64),
    /// Days since 2000-01-01.
    Date(i32),
}

/// A contact's cells, in the order of `fields::CONTACT`.
pub type ContactRow = Vec<Cell>;

/// A JSON string literal; text without quotes, backslashes or control
/// characters (nearly all of it) is copied as is.
pub fn push_json_string(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("strings serialize"));
    }
}

/// Appends `{"id": …, …, "last_activity": …}` with the original's keys in order (docs/compatibility.md, "HTTP API").
pub fn write_json(out: &mut String, row: &[Cell]) {
    debug_assert_eq!(row.len(), fields::CONTACT.len());
    out.push('{');
    for (i, (field, cell)) in fields::CONTACT.iter().zip(row).enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, field.key);
        out.push(':');
        match cell {
            Cell::Null => out.push_str("null"),
            Cell::Int(v) => out.push_str(itoa::Buffer::new().format(*v)),
            Cell::Text(s) => push_json_string(out, s),
            Cell::Timestamp(t) => {
                out.push('"');
                values::write_timestamp(out, *t);
                out.push('"');
            }
            Cell::Date(d) => {
                out.push('"');
                values::write_date(out, *d);
                out.push('"');
            }
        }
    }
    out.push('}');
}

/// `[{…}, {…}]`.
pub fn write_json_array(out: &mut String, rows: &[ContactRow]) {
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json(out, row);
    }
    out.push(']');
}

/// `CREATE TYPE contact AS (…)`: the row type of `crm.contacts()`, generated
/// from the same table as the JSON object.
pub fn create_type_sql(type_name: &str) -> String {
    let attributes: Vec<String> =
        fields::CONTACT.iter().map(|o| format!("{} {}", o.key, o.column.ty.sql_type())).collect();
    format!("CREATE TYPE {type_name} AS ({})", attributes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_row() -> ContactRow {
        let mut row = vec![Cell::Null; fields::CONTACT.len()];
        row[0] = Cell::Int(7);
        row[1] = Cell::Text("Zoë \"Q\"".into());
        row[6] = Cell::Timestamp(1);
        row[7] = Cell::Date(0);
        row
    }

    #[test]
    fn renders_every_key_in_order() {
        let mut out = String::new();
        write_json(&mut out, &sample_row());
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<_> = parsed.as_object().unwrap().keys().cloned().collect();
        let expected: Vec<_> = fields::CONTACT.iter().map(|o| o.key.to_string()).collect();
        assert_eq!(keys, expected);
        assert!(out.starts_with(r#"{"id":7,"first_name":"Zoë \"Q\"","last_name":null"#), "{out}");
        assert!(out.contains(r#""created":"2000-01-01T00:00:00.000001Z","birthday":"2000-01-01""#), "{out}");
    }

    #[test]
    fn strings_are_escaped_when_needed() {
        let mut out = String::new();
        for s in ["plain", "quo\"te", "back\\slash", "tab\there", "Zoë"] {
            push_json_string(&mut out, s);
            out.push(' ');
        }
        assert_eq!(out, r#""plain" "quo\"te" "back\\slash" "tab\there" "Zoë" "#);
    }

    #[test]
    fn arrays() {
        let mut out = String::new();
        write_json_array(&mut out, &[]);
        assert_eq!(out, "[]");
        write_json_array(&mut out, &[sample_row(), sample_row()]);
        assert!(out.ends_with("}]") && out.contains("},{"));
    }

    #[test]
    fn row_type_follows_the_output_table() {
        let sql = create_type_sql("contact");
        assert!(sql.starts_with("CREATE TYPE contact AS (id bigint, first_name text,"), "{sql}");
        assert!(sql.contains("points integer, relationship_created timestamptz"), "{sql}");
        assert!(sql.contains("birthday date"), "{sql}");
    }
}
