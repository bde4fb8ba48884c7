//! A contact write body (JSON) → a validated `ContactWrite`, the plan of
//! the write, before any SQL exists (`sql/write.rs` builds it). Every rule
//! comes from the contact's keys in `fields::CONTACT` (`Write`); the
//! messages are Django REST Framework's, all errors of a body at once.

use serde_json::Value as Json;

use crate::error::{ParameterErrors, QueryError};
use crate::fields::{self, Column, OutputField, Table, ValueType, Write};
use crate::values;

/// What the write does with the keys it is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new contact: required keys must be given, the rest take defaults.
    Create,
    /// PATCH: only the given keys change.
    Update,
    /// PUT: required keys must be given; the others are reset (NULL, or the
    /// relationship's defaults), so the contact is what the body says.
    Replace,
}

/// A value to write, typed as its column.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteValue {
    Null,
    Text(String),
    Int(i64),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since 2000-01-01 UTC.
    Timestamp(i64),
    /// The time of the write (`now()`).
    Now,
}

/// The columns a write sets, per table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContactWrite {
    /// appuser's columns, `address_id` included.
    pub contact: Vec<(Column, WriteValue)>,
    /// The fields of an address to create and link (all of them).
    pub new_address: Option<Vec<(Column, WriteValue)>>,
    /// customer_relationship's columns.
    pub relationship: Vec<(Column, WriteValue)>,
}

impl ContactWrite {
    /// The existing address the write links, whose existence the database checks.
    pub fn linked_address(&self) -> Option<i64> {
        self.contact.iter().find_map(|(c, v)| match v {
            WriteValue::Int(id) if *c == fields::U_ADDRESS_ID => Some(*id),
            _ => None,
        })
    }
}

const REQUIRED: &str = "This field is required.";
const NOT_NULL: &str = "This field may not be null.";
const BLANK: &str = "This field may not be blank.";
const READ_ONLY: &str = "This field is read-only.";
const UNKNOWN: &str = "Unknown field.";

/// Validates `body` for `mode`; `Err` holds every message per key.
pub fn parse(body: &Json, mode: Mode) -> Result<ContactWrite, QueryError> {
    let Some(object) = body.as_object() else { return Err(not_an_object(body)) };
    let mut errors = ParameterErrors::default();
    for key in object.keys() {
        match fields::CONTACT.iter().find(|f| f.key == key) {
            None => errors.add(key.as_str(), UNKNOWN),
            Some(f) if f.write == Write::ReadOnly => errors.add(key.as_str(), READ_ONLY),
            Some(_) => {}
        }
    }
    let address_given = address_keys().any(|f| object.contains_key(f.key));
    if address_given && object.contains_key("address_id") {
        errors.add("address_id", "Give either address_id or the fields of a new address, not both.");
    }
    let mut write = ContactWrite::default();
    let mut new_address = Vec::new();
    for field in fields::CONTACT.iter().filter(|f| f.write != Write::ReadOnly) {
        let value = match object.get(field.key) {
            Some(given) => match check(field, given) {
                Ok(value) => value,
                Err(message) => {
                    errors.add(field.key, message);
                    continue;
                }
            },
            None => match missing(field, mode, address_given) {
                Missing::Skip => continue,
                Missing::Error => {
                    errors.add(field.key, REQUIRED);
                    continue;
                }
                Missing::Set(value) => value,
            },
        };
        match field.column.table {
            Table::Appuser => write.contact.push((field.column, value)),
            Table::Address => new_address.push((field.column, value)),
            Table::Relationship => write.relationship.push((field.column, value)),
        }
    }
    if address_given {
        write.new_address = Some(new_address);
    }
    errors.into_result(write)
}

/// DRF's answer to a body that is not a JSON object.
fn not_an_object(body: &Json) -> QueryError {
    QueryError::parameter(
        "non_field_errors",
        format!("Invalid data. Expected a dictionary, but got {}.", python_type(body)),
    )
}

/// Validates an address body (`/api/addresses/`, `crm.create_address` …):
/// the contact's address keys with their rules, every error at once; the
/// columns to write.
pub fn parse_address(body: &Json, mode: Mode) -> Result<Vec<(Column, WriteValue)>, QueryError> {
    let Some(object) = body.as_object() else { return Err(not_an_object(body)) };
    let mut errors = ParameterErrors::default();
    for key in object.keys() {
        match fields::ADDRESS.iter().find(|a| a.key == key) {
            None => errors.add(key.as_str(), UNKNOWN),
            Some(a) if fields::address_write_rule(a) == Write::ReadOnly => errors.add(key.as_str(), READ_ONLY),
            Some(_) => {}
        }
    }
    let mut columns = Vec::new();
    for field in address_keys() {
        let Write::Writable { required, .. } = field.write else { continue };
        match object.get(field.key) {
            Some(given) => match check(field, given) {
                Ok(value) => columns.push((field.column, value)),
                Err(message) => errors.add(field.key, message),
            },
            None if mode == Mode::Update => {}
            None if required => errors.add(field.key, REQUIRED),
            None if mode == Mode::Replace => columns.push((field.column, WriteValue::Null)),
            None => {}
        }
    }
    errors.into_result(columns)
}

fn address_keys() -> impl Iterator<Item = &'static OutputField> {
    fields::CONTACT.iter().filter(|f| f.column.table == Table::Address && f.write != Write::ReadOnly)
}

enum Missing {
    Skip,
    Error,
    Set(WriteValue),
}

/// What an absent key means. `address_given`: the body has fields of a
/// new address.
fn missing(field: &OutputField, mode: Mode, address_given: bool) -> Missing {
    let Write::Writable { required, .. } = field.write else { return Missing::Skip };
    if field.column.table == Table::Address {
        // A new address needs all of its fields, whatever the mode; with
        // none of them there is no new address to require anything of.
        return if address_given && required { Missing::Error } else { Missing::Skip };
    }
    if field.column == fields::U_ADDRESS_ID && address_given {
        // The new address sets it: a replace does not reset it.
        return Missing::Skip;
    }
    match mode {
        Mode::Update => Missing::Skip,
        _ if required => Missing::Error,
        Mode::Create | Mode::Replace => match field.column.table {
            Table::Relationship => Missing::Set(relationship_default(field.column)),
            // Create: the column's default (NULL); replace: reset to it.
            _ if mode == Mode::Replace => Missing::Set(WriteValue::Null),
            _ => Missing::Skip,
        },
    }
}

/// The relationship's defaults: no points, active now.
fn relationship_default(column: Column) -> WriteValue {
    match column.ty {
        ValueType::Int | ValueType::BigInt => WriteValue::Int(0),
        _ => WriteValue::Now,
    }
}

/// One given value, checked against its key's rules.
fn check(field: &OutputField, given: &Json) -> Result<WriteValue, String> {
    let Write::Writable { nullable, max_length, choices, .. } = field.write else {
        return Err(READ_ONLY.into());
    };
    if given.is_null() {
        return if nullable { Ok(WriteValue::Null) } else { Err(NOT_NULL.into()) };
    }
    match field.column.ty {
        ValueType::Text => text(given, nullable, max_length, choices),
        ValueType::Int => integer(given, i32::MIN as i64, i32::MAX as i64),
        ValueType::BigInt => primary_key(given),
        ValueType::Date => {
            let s =
                given.as_str().ok_or_else(|| format!("Expected a date string, received {}.", python_type(given)))?;
            values::parse_date(s)
                .map(WriteValue::Date)
                .map_err(|_| "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.".into())
        }
        ValueType::Timestamp => {
            let wrong = "Datetime has wrong format. Use one of these formats instead: \
                         YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";
            let s = given.as_str().ok_or_else(|| wrong.to_string())?;
            values::parse_timestamp(s).map(WriteValue::Timestamp).map_err(|_| wrong.into())
        }
    }
}

/// DRF's CharField: strings, and numbers taken as their text.
fn text(given: &Json, nullable: bool, max_length: Option<usize>, choices: &[&str]) -> Result<WriteValue, String> {
    let s = match given {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => return Err("Not a valid string.".into()),
    };
    if !choices.is_empty() {
        return if choices.contains(&s.as_str()) {
            Ok(WriteValue::Text(s))
        } else {
            Err(format!("{} is not a valid choice.", Json::String(s)))
        };
    }
    // A varchar holds no NUL: PostgreSQL would refuse it.
    if s.contains('\0') {
        return Err("Null characters are not allowed.".into());
    }
    let trimmed = s.trim();
    if trimmed.is_empty() {
        // Django stores "" for a blank optional text; this schema has NULL.
        return if nullable { Ok(WriteValue::Null) } else { Err(BLANK.into()) };
    }
    if let Some(max) = max_length {
        if trimmed.chars().count() > max {
            return Err(format!("Ensure this field has no more than {max} characters."));
        }
    }
    // DRF's CharField trims whitespace by default.
    Ok(WriteValue::Text(trimmed.to_string()))
}

/// DRF's IntegerField: integers, and strings holding one.
fn integer(given: &Json, min: i64, max: i64) -> Result<WriteValue, String> {
    const INVALID: &str = "A valid integer is required.";
    let n = match given {
        Json::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18).map(|f| f as i64))
        }
        Json::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or(INVALID)?;
    if n > max {
        return Err(format!("Ensure this value is less than or equal to {max}."));
    }
    if n < min {
        return Err(format!("Ensure this value is greater than or equal to {min}."));
    }
    Ok(WriteValue::Int(n))
}

/// DRF's PrimaryKeyRelatedField: a positive id (its existence is checked
/// by the database).
fn primary_key(given: &Json) -> Result<WriteValue, String> {
    match given {
        Json::Number(n) => match n.as_i64() {
            Some(id) => Ok(WriteValue::Int(id)),
            None => Err(format!("Invalid pk \"{n}\" - object does not exist.")),
        },
        other => Err(format!("Incorrect type. Expected pk value, received {}.", python_type(other))),
    }
}

/// The message of an `address_id` that names no address.
pub fn no_such_address(id: i64) -> String {
    format!("Invalid pk \"{id}\" - object does not exist.")
}

/// Python's name of a JSON value's type, as DRF's messages print it.
fn python_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(body: Json, mode: Mode) -> Json {
        let e = parse(&body, mode).unwrap_err();
        serde_json::from_str(&e.body()).unwrap()
    }

    fn set<'a>(write: &'a ContactWrite, key: &str) -> Option<&'a WriteValue> {
        let column = fields::CONTACT.iter().find(|f| f.key == key).unwrap().column;
        write
            .contact
            .iter()
            .chain(write.relationship.iter())
            .chain(write.new_address.iter().flatten())
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v)
    }

    #[test]
    fn create_requires_the_names_and_reports_every_error_at_once() {
        let body = errors(json!({"gender": "X", "id": 3, "nickname": "x", "points": "many"}), Mode::Create);
        assert_eq!(
            body,
            json!({
                "first_name": [REQUIRED],
                "last_name": [REQUIRED],
                "gender": ["\"X\" is not a valid choice."],
                "id": [READ_ONLY],
                "nickname": [UNKNOWN],
                "points": ["A valid integer is required."],
            })
        );
    }

    #[test]
    fn text_rules_come_from_the_field_table() {
        let long = "x".repeat(101);
        let body = errors(json!({"first_name": long, "last_name": "  ", "phone_number": ["1"]}), Mode::Create);
        assert_eq!(
            body,
            json!({
                "first_name": ["Ensure this field has no more than 100 characters."],
                "last_name": [BLANK],
                "phone_number": ["Not a valid string."],
            })
        );
        assert_eq!(errors(json!({"first_name": null}), Mode::Update), json!({"first_name": [NOT_NULL]}));
        // Exactly the maximum is fine; unicode counts characters, not bytes.
        let ok = parse(&json!({"first_name": "é".repeat(100), "last_name": " Li "}), Mode::Create).unwrap();
        assert_eq!(set(&ok, "last_name"), Some(&WriteValue::Text("Li".into())));
    }

    #[test]
    fn dates_timestamps_integers_and_ids_are_parsed_as_the_read_side_does() {
        let body = errors(
            json!({"birthday": "1990-02-30", "last_activity": "yesterday", "points": 2147483648i64, "address_id": "7"}),
            Mode::Update,
        );
        assert_eq!(body["birthday"][0], "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
        assert!(body["last_activity"][0].as_str().unwrap().starts_with("Datetime has wrong format."));
        assert_eq!(body["points"][0], "Ensure this value is less than or equal to 2147483647.");
        assert_eq!(body["address_id"][0], "Incorrect type. Expected pk value, received str.");
        let ok = parse(&json!({"birthday": "1990-02-28", "points": "12", "address_id": 5}), Mode::Update).unwrap();
        assert!(matches!(set(&ok, "birthday"), Some(WriteValue::Date(_))));
        assert_eq!(set(&ok, "points"), Some(&WriteValue::Int(12)));
        assert_eq!(ok.linked_address(), Some(5));
    }

    #[test]
    fn a_new_address_needs_all_its_fields_and_excludes_address_id() {
        let body = errors(json!({"first_name": "A", "last_name": "B", "city": "Oslo", "address_id": 1}), Mode::Create);
        assert_eq!(body["street"], json!([REQUIRED]));
        assert_eq!(body["country"], json!([REQUIRED]));
        assert!(body["address_id"][0].as_str().unwrap().starts_with("Give either"));
        assert!(body.get("city").is_none());
        let full = json!({"first_name": "A", "last_name": "B", "street": "S", "street_number": "1",
                          "city_code": "0150", "city": "Oslo", "country": "Norway"});
        for mode in [Mode::Create, Mode::Replace, Mode::Update] {
            let ok = parse(&full, mode).unwrap();
            assert_eq!(ok.new_address.as_ref().map(Vec::len), Some(5));
            assert!(ok.contact.iter().all(|(c, _)| c.name != "address_id"), "{mode:?}: the new address sets it");
        }
    }

    #[test]
    fn modes_differ_in_what_absent_keys_mean() {
        let names = json!({"first_name": "A", "last_name": "B"});
        let patch = parse(&json!({"points": 3}), Mode::Update).unwrap();
        assert!(patch.contact.is_empty(), "a PATCH sets only what it is given");
        assert_eq!(patch.relationship.len(), 1);
        let create = parse(&names, Mode::Create).unwrap();
        assert_eq!(set(&create, "points"), Some(&WriteValue::Int(0)));
        assert_eq!(set(&create, "last_activity"), Some(&WriteValue::Now));
        assert_eq!(set(&create, "gender"), None, "left to the column's default");
        let replace = parse(&names, Mode::Replace).unwrap();
        assert_eq!(set(&replace, "gender"), Some(&WriteValue::Null));
        assert_eq!(set(&replace, "address_id"), Some(&WriteValue::Null));
        assert_eq!(errors(json!({}), Mode::Replace)["first_name"], json!([REQUIRED]));
        assert!(parse(&json!({}), Mode::Update).unwrap() == ContactWrite::default());
    }

    #[test]
    fn an_address_body_has_the_contact_address_rules() {
        let e = parse_address(&json!({"street": "x".repeat(256), "id": 4, "zip": "1"}), Mode::Create).unwrap_err();
        let body: Json = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(
            body,
            json!({"street": ["Ensure this field has no more than 255 characters."], "id": [READ_ONLY],
                   "zip": [UNKNOWN], "street_number": [REQUIRED], "city_code": [REQUIRED], "city": [REQUIRED],
                   "country": [REQUIRED]})
        );
        let patch = parse_address(&json!({"city": " Oslo "}), Mode::Update).unwrap();
        assert_eq!(patch, vec![(fields::A_CITY, WriteValue::Text("Oslo".into()))]);
        let e = parse_address(&json!({"city": ""}), Mode::Update).unwrap_err();
        assert_eq!(e.body(), r#"{"city":["This field may not be blank."]}"#);
    }

    #[test]
    fn a_body_must_be_an_object() {
        assert_eq!(
            errors(json!([1]), Mode::Create),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
        );
    }

    #[test]
    fn every_key_of_the_contact_is_either_read_only_or_writable_with_its_table() {
        let read_only: Vec<_> = fields::CONTACT.iter().filter(|f| f.write == Write::ReadOnly).map(|f| f.key).collect();
        assert_eq!(
            read_only,
            ["id", "customer_id", "created", "last_updated", "relationship_id", "relationship_created"]
        );
        assert_eq!(fields::CONTACT.iter().filter(|f| f.write != Write::ReadOnly).count(), 13);
    }
}
