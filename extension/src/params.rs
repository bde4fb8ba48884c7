//! The URL language: raw query parameters in, a validated `ListRequest` out.
//!
//! This module owns the grammar (`field__lookup=value`, `ordering=a,-b`,
//! `search=terms`, `page`, `page_size`) and its error messages. Which fields
//! and lookups exist comes from `fields`.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::error::{ParameterErrors, QueryError};
use crate::fields::{self, Field, Lookup, ValueType};
use crate::values::{self, IntegerLiteral};

/// Page size when none is given (the original's PAGE_SIZE).
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Longest text a filter or search takes (Django's CharField message).
/// Longer than any column, so a longer value could match nothing anyway.
pub const MAX_TEXT_LENGTH: usize = 1000;
/// Most search terms in one request: each is a union of index scans.
pub const MAX_SEARCH_TERMS: usize = 20;

fn check_length(value: &str) -> Result<(), String> {
    let length = value.chars().count();
    if length > MAX_TEXT_LENGTH {
        return Err(format!("Ensure this value has at most {MAX_TEXT_LENGTH} characters (it has {length})."));
    }
    Ok(())
}

/// Query parameters as strings, keyed and sorted by name.
pub type RawParams = BTreeMap<String, String>;

/// A typed filter value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Integer(IntegerLiteral),
    Text(String),
    /// PostgreSQL microseconds since 2000-01-01 UTC.
    Timestamp(i64),
    /// PostgreSQL days since 2000-01-01.
    Date(i32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub field: &'static Field,
    pub lookup: Lookup,
    pub value: Value,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderTerm {
    pub field: &'static Field,
    pub descending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRequest {
    Number(u64),
    Last,
    /// `page=0` or not a number: a 404, reported after parameter errors.
    Invalid,
    /// Keyset pagination from a cursor token (`None`: the first page).
    Cursor(Option<String>),
}

/// How the `count` of a numbered page is computed (PostgREST's
/// `Prefer: count=…`). Whatever the mode, a count that costs nothing (no
/// condition: the projection's counter) is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountMode {
    /// Every match counted (DRF's behaviour, the default).
    Exact,
    /// The planner's estimate of the matches: no counting work.
    Planned,
    /// Exact up to `ESTIMATED_COUNT_THRESHOLD` matches, the planner's
    /// estimate above (never below the threshold then).
    Estimated,
    /// `"count": null`; `next` is known from one row read past the page.
    None,
}

/// Up to this many matches, `count=estimated` counts exactly.
pub const ESTIMATED_COUNT_THRESHOLD: u64 = 10_000;

impl CountMode {
    pub const ALL: [CountMode; 4] = [CountMode::Exact, CountMode::Planned, CountMode::Estimated, CountMode::None];

    pub const fn name(self) -> &'static str {
        match self {
            CountMode::Exact => "exact",
            CountMode::Planned => "planned",
            CountMode::Estimated => "estimated",
            CountMode::None => "none",
        }
    }

    pub fn names() -> Vec<&'static str> {
        CountMode::ALL.iter().map(|m| m.name()).collect()
    }

    fn parse(value: &str) -> Result<CountMode, String> {
        match value.trim() {
            "" => Ok(CountMode::Exact),
            v => CountMode::ALL.into_iter().find(|m| m.name() == v).ok_or_else(|| {
                format!(
                    "Select a valid choice. {v} is not one of the available choices. Choices: {}.",
                    CountMode::names().join(", ")
                )
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListRequest {
    pub filters: Vec<Filter>,
    /// DRF SearchFilter terms: every term must match some search field.
    pub search_terms: Vec<String>,
    /// As requested; empty means the default ordering.
    pub ordering: Vec<OrderTerm>,
    pub page: PageRequest,
    pub page_size: u64,
    pub count: CountMode,
}

/// The complete ordering of a request: the requested terms (default
/// `-created`, newest first), completed by the contact id so that it is
/// total and consecutive pages can neither overlap nor skip a row. The id
/// follows the direction of the last term, so one index on (field, id) can
/// be read in either direction.
/// Whether the index of a complete ordering's first term (which holds the
/// id) gives the whole ordering: the id first, or one term and the id.
pub fn first_index_orders(terms: &[OrderTerm]) -> bool {
    terms.first().is_none_or(|t| t.field.name == "id")
        || terms.len() == 1
        || (terms.len() == 2 && terms[1].field.name == "id")
}

pub fn complete_ordering(request: &ListRequest) -> Vec<OrderTerm> {
    let mut terms = request.ordering.clone();
    if terms.is_empty() {
        let default = &fields::DEFAULT_ORDERING;
        let field = fields::field_by_name(default.field).expect("the default ordering is a field");
        terms.push(OrderTerm { field, descending: default.descending });
    }
    let id = fields::field_by_name("id").expect("id is a field");
    if !terms.iter().any(|t| t.field == id) {
        let descending = terms.last().is_some_and(|t| t.descending);
        terms.push(OrderTerm { field: id, descending });
    }
    terms
}

/// Turns the jsonb object of query parameters into strings. Numbers and
/// booleans are accepted for convenience from psql; a parameter given more
/// than once (a JSON array of several values) is an error rather than a
/// silent choice of one of them.
pub fn normalize(params: &Json) -> Result<RawParams, QueryError> {
    let object = match params {
        Json::Null => return Ok(RawParams::new()),
        Json::Object(object) => object,
        _ => return Err(QueryError::parameter("params", "Expected a JSON object of query parameters.")),
    };
    let mut errors = ParameterErrors::default();
    let mut raw = RawParams::new();
    for (key, value) in object {
        let text = match value {
            Json::Array(items) if items.len() == 1 => scalar_text(&items[0]),
            Json::Array(items) if items.is_empty() => Some(String::new()),
            Json::Array(_) => {
                errors.add(key, "Specify this parameter only once.");
                continue;
            }
            other => scalar_text(other),
        };
        match text {
            Some(text) if text.contains('\0') || key.contains('\0') => {
                errors.add(key.replace('\0', ""), values::MSG_NULL_CHARACTER)
            }
            Some(text) => {
                raw.insert(key.clone(), text);
            }
            None => errors.add(key, "Enter a single value."),
        }
    }
    errors.into_result(raw)
}

fn scalar_text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Null => Some(String::new()),
        Json::Array(_) | Json::Object(_) => None,
    }
}

/// Validates every parameter, collecting all errors before reporting them.
pub fn parse_list_request(raw: &RawParams) -> Result<ListRequest, QueryError> {
    let mut errors = ParameterErrors::default();
    let mut request = ListRequest {
        filters: Vec::new(),
        search_terms: Vec::new(),
        ordering: Vec::new(),
        page: PageRequest::Number(1),
        page_size: DEFAULT_PAGE_SIZE,
        count: CountMode::Exact,
    };
    for (key, value) in raw {
        match key.as_str() {
            fields::PAGE if raw.contains_key(fields::CURSOR) => errors.add(key, "Use either page or cursor, not both."),
            fields::PAGE => request.page = parse_page(value),
            fields::PAGE_SIZE => match parse_page_size(value) {
                Ok(size) => request.page_size = size,
                Err(message) => errors.add(key, message),
            },
            fields::ORDERING => match parse_ordering(value) {
                Ok(ordering) => request.ordering = ordering,
                Err(message) => errors.add(key, message),
            },
            fields::SEARCH => match check_length(value).map(|()| split_search_terms(value)) {
                Ok(terms) if terms.len() > MAX_SEARCH_TERMS => {
                    errors.add(key, format!("Use at most {MAX_SEARCH_TERMS} search terms."))
                }
                Ok(terms) => request.search_terms = terms,
                Err(message) => errors.add(key, message),
            },
            fields::CURSOR => {
                let token = value.trim();
                request.page = PageRequest::Cursor((!token.is_empty()).then(|| token.to_string()));
            }
            fields::FORMAT => {}
            fields::COUNT => match CountMode::parse(value) {
                Ok(mode) => request.count = mode,
                Err(message) => errors.add(key, message),
            },
            _ => match parse_filter(key, value) {
                Ok(Some(filter)) => request.filters.push(filter),
                Ok(None) => {}
                Err(message) => errors.add(key, message),
            },
        }
    }
    errors.into_result(request)
}

pub(crate) fn parse_page(value: &str) -> PageRequest {
    match value.trim() {
        "" => PageRequest::Number(1),
        "last" => PageRequest::Last,
        s => values::parse_positive(s).map_or(PageRequest::Invalid, PageRequest::Number),
    }
}

pub(crate) fn parse_page_size(value: &str) -> Result<u64, String> {
    if value.trim().is_empty() {
        return Ok(DEFAULT_PAGE_SIZE);
    }
    match values::parse_integer(value) {
        Ok(IntegerLiteral::InRange(n)) if n < 1 => Err("Ensure this value is greater than or equal to 1.".into()),
        Ok(IntegerLiteral::InRange(n)) if (n as u64) <= MAX_PAGE_SIZE => Ok(n as u64),
        Ok(IntegerLiteral::BelowMin) => Err("Ensure this value is greater than or equal to 1.".into()),
        Ok(_) => Err(format!("Ensure this value is less than or equal to {MAX_PAGE_SIZE}.")),
        Err(_) => Err("Enter a whole number.".into()),
    }
}

/// `ordering=a,-b`: comma-separated fields, `-` for descending. Blank items
/// are skipped; a field named twice keeps its first position.
fn parse_ordering(value: &str) -> Result<Vec<OrderTerm>, String> {
    let mut terms: Vec<OrderTerm> = Vec::new();
    let mut unknown = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (descending, name) = match item.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, item),
        };
        match fields::field_by_name(name).filter(|f| f.orderable) {
            Some(field) if terms.iter().any(|t| t.field.name == field.name) => {}
            Some(field) => terms.push(OrderTerm { field, descending }),
            None => unknown.push(item),
        }
    }
    if unknown.is_empty() {
        Ok(terms)
    } else {
        let choices: Vec<_> = fields::ordering_fields().map(|f| f.name).collect();
        Err(format!(
            "Unknown ordering field{} {}. Choices: {} (prefix '-' for descending).",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", "),
            choices.join(", ")
        ))
    }
}

/// DRF SearchFilter: terms separated by whitespace or commas.
pub(crate) fn split_search_terms(value: &str) -> Vec<String> {
    value.split(|c: char| c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// Finds the field and lookup a filter parameter names: `field` is the exact
/// lookup (or `name`'s any-column match), `field__lookup` any other lookup.
fn resolve_filter(key: &str) -> Result<(&'static Field, Lookup), String> {
    let filterable = |name: &str| fields::field_by_name(name).filter(|f| !f.lookups.is_empty());
    // The whole key first: `address__city` is a field, not `address` + `city`.
    if let Some(field) = filterable(key) {
        return match field.lookups {
            _ if field.is_multi_column() => Ok((field, field.lookups[0])),
            lookups if lookups.contains(&Lookup::Exact) => Ok((field, Lookup::Exact)),
            _ => Err(unsupported_lookup(field, Lookup::Exact.name())),
        };
    }
    let Some((name, lookup_name)) = key.rsplit_once("__") else { return Err(unknown_parameter()) };
    let Some(field) = filterable(name) else { return Err(unknown_parameter()) };
    match Lookup::from_name(lookup_name) {
        // Exact is spelled without a suffix, as django-filter names it.
        Some(lookup) if lookup != Lookup::Exact && !field.is_multi_column() && field.lookups.contains(&lookup) => {
            Ok((field, lookup))
        }
        _ => Err(unsupported_lookup(field, lookup_name)),
    }
}

fn unsupported_lookup(field: &Field, lookup: &str) -> String {
    format!(
        "Unsupported lookup '{lookup}' for field '{}'. Choices: {}.",
        field.name,
        field.parameter_names().join(", ")
    )
}

fn unknown_parameter() -> String {
    let mut choices = fields::filter_parameter_names();
    choices.extend(fields::CONTROL_PARAMETERS.map(String::from));
    format!("Unknown query parameter. Choices: {}.", choices.join(", "))
}

/// A filter, or `None` when the value is empty: django-filter skips empty
/// values instead of matching the empty string.
fn parse_filter(key: &str, value: &str) -> Result<Option<Filter>, String> {
    let (field, lookup) = resolve_filter(key)?;
    if value.is_empty() {
        return Ok(None);
    }
    check_length(value)?;
    let value = match (lookup, field.value_type()) {
        (Lookup::Icontains, _) | (_, ValueType::Text) => Value::Text(value.to_owned()),
        (_, ValueType::BigInt | ValueType::Int) => Value::Integer(values::parse_integer(value)?),
        (_, ValueType::Timestamp) => Value::Timestamp(values::parse_timestamp(value)?),
        (_, ValueType::Date) => Value::Date(values::parse_date(value)?),
    };
    Ok(Some(Filter { field, lookup, value }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ListRequest, QueryError> {
        parse_list_request(&raw(pairs))
    }

    fn error_body(pairs: &[(&str, &str)]) -> String {
        parse(pairs).unwrap_err().body()
    }

    #[test]
    fn normalize_accepts_scalars_and_rejects_repeats() {
        let n = normalize(&json!({"page": 2, "gender": "M", "x": null, "y": ["a"], "b": true})).unwrap();
        assert_eq!(n, raw(&[("page", "2"), ("gender", "M"), ("x", ""), ("y", "a"), ("b", "true")]));
        let e = normalize(&json!({"gender": ["M", "F"]})).unwrap_err();
        assert_eq!(e.body(), r#"{"gender":["Specify this parameter only once."]}"#);
        let e = normalize(&json!({"gender": {"a": 1}})).unwrap_err();
        assert_eq!(e.body(), r#"{"gender":["Enter a single value."]}"#);
        assert!(normalize(&json!([1])).is_err());
        assert_eq!(normalize(&Json::Null).unwrap(), RawParams::new());
    }

    #[test]
    fn defaults() {
        let r = parse(&[]).unwrap();
        assert_eq!(r.page, PageRequest::Number(1));
        assert_eq!(r.page_size, DEFAULT_PAGE_SIZE);
        assert!(r.filters.is_empty() && r.ordering.is_empty() && r.search_terms.is_empty());
    }

    #[test]
    fn pages() {
        assert_eq!(parse(&[("page", "3")]).unwrap().page, PageRequest::Number(3));
        assert_eq!(parse(&[("page", "last")]).unwrap().page, PageRequest::Last);
        assert_eq!(parse(&[("page", "0")]).unwrap().page, PageRequest::Invalid);
        assert_eq!(parse(&[("page", "two")]).unwrap().page, PageRequest::Invalid);
        assert_eq!(parse(&[("page_size", "1000")]).unwrap().page_size, 1000);
        assert_eq!(
            error_body(&[("page_size", "1001")]),
            r#"{"page_size":["Ensure this value is less than or equal to 1000."]}"#
        );
        assert_eq!(
            error_body(&[("page_size", "0")]),
            r#"{"page_size":["Ensure this value is greater than or equal to 1."]}"#
        );
        assert_eq!(error_body(&[("page_size", "ten")]), r#"{"page_size":["Enter a whole number."]}"#);
    }

    #[test]
    fn every_filter_parameter_parses() {
        for name in fields::filter_parameter_names() {
            let field = fields::FIELDS.iter().find(|f| name.starts_with(f.name)).unwrap();
            let sample = match (name.ends_with("__icontains"), field.value_type()) {
                (true, _) | (_, ValueType::Text) => "abc",
                (_, ValueType::BigInt | ValueType::Int) => "12",
                (_, ValueType::Timestamp) => "2024-01-02T03:04:05Z",
                (_, ValueType::Date) => "2024-01-02",
            };
            let r = parse(&[(name.as_str(), sample)]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.filters.len(), 1, "{name}");
        }
    }

    #[test]
    fn filters_resolve_field_and_lookup() {
        let r = parse(&[("address__city__icontains", "ber"), ("relationship__points__gte", "5000")]).unwrap();
        assert_eq!(r.filters[0].field.name, "address__city");
        assert_eq!(r.filters[0].lookup, Lookup::Icontains);
        assert_eq!(r.filters[1].field.name, "relationship__points");
        assert_eq!(r.filters[1].lookup, Lookup::Gte);
        assert_eq!(r.filters[1].value, Value::Integer(IntegerLiteral::InRange(5000)));
        let r = parse(&[("address__city", "Berlin")]).unwrap();
        assert_eq!((r.filters[0].field.name, r.filters[0].lookup), ("address__city", Lookup::Exact));
        let r = parse(&[("name", "pau")]).unwrap();
        assert_eq!((r.filters[0].field.name, r.filters[0].lookup), ("name", Lookup::Icontains));
    }

    #[test]
    fn empty_filter_values_are_ignored() {
        assert!(parse(&[("gender", ""), ("created__gte", "")]).unwrap().filters.is_empty());
    }

    #[test]
    fn bad_values_get_djangos_messages() {
        assert_eq!(
            error_body(&[("relationship__points__gte", "lots")]),
            r#"{"relationship__points__gte":["Enter a number."]}"#
        );
        assert_eq!(error_body(&[("created__gte", "soon")]), r#"{"created__gte":["Enter a valid date/time."]}"#);
        assert_eq!(error_body(&[("birthday", "2024-02-30")]), r#"{"birthday":["Enter a valid date."]}"#);
        // All errors at once.
        let body = error_body(&[("id", "x"), ("birthday", "y")]);
        assert_eq!(body, r#"{"birthday":["Enter a valid date."],"id":["Enter a number."]}"#);
    }

    #[test]
    fn unknown_and_unsupported_parameters_name_the_choices() {
        let body = error_body(&[("first_name", "Paul")]);
        assert!(
            body.contains("Unsupported lookup 'exact' for field 'first_name'. Choices: first_name__icontains."),
            "{body}"
        );
        let body = error_body(&[("birthday__gt", "2024-01-01")]);
        assert!(body.contains("Choices: birthday, birthday__gte, birthday__lte."), "{body}");
        let body = error_body(&[("created__regex", "x")]);
        assert!(body.contains("Unsupported lookup 'regex' for field 'created'"), "{body}");
        let body = error_body(&[("nickname", "x")]);
        assert!(
            body.starts_with(r#"{"nickname":["Unknown query parameter. Choices: id, first_name__icontains"#),
            "{body}"
        );
        let body = error_body(&[("name__icontains", "x")]);
        assert!(body.contains("Unsupported lookup 'icontains' for field 'name'. Choices: name."), "{body}");
        let body = error_body(&[("address", "x")]);
        assert!(body.contains("Unknown query parameter."), "{body}");
        let body = error_body(&[("gender__exact", "M")]);
        assert!(body.contains("Unsupported lookup 'exact' for field 'gender'. Choices: gender."), "{body}");
    }

    #[test]
    fn ordering() {
        let r = parse(&[("ordering", "-relationship__points, last_name,,first_name,last_name")]).unwrap();
        let got: Vec<_> = r.ordering.iter().map(|t| (t.field.name, t.descending)).collect();
        assert_eq!(got, [("relationship__points", true), ("last_name", false), ("first_name", false)]);
        let body = error_body(&[("ordering", "created,-bogus,address__street")]);
        assert!(
            body.starts_with(
                r#"{"ordering":["Unknown ordering fields '-bogus', 'address__street'. Choices: id, first_name"#
            ),
            "{body}"
        );
        assert!(parse(&[("ordering", "")]).unwrap().ordering.is_empty());
    }

    #[test]
    fn count_modes() {
        assert_eq!(parse(&[]).unwrap().count, CountMode::Exact);
        for mode in CountMode::ALL {
            assert_eq!(parse(&[("count", mode.name())]).unwrap().count, mode);
        }
        assert_eq!(parse(&[("count", "")]).unwrap().count, CountMode::Exact);
        assert_eq!(
            error_body(&[("count", "fast")]),
            r#"{"count":["Select a valid choice. fast is not one of the available choices. Choices: exact, planned, estimated, none."]}"#
        );
    }

    #[test]
    fn cursor_mode() {
        assert_eq!(parse(&[("cursor", "")]).unwrap().page, PageRequest::Cursor(None));
        assert_eq!(parse(&[("cursor", " abc ")]).unwrap().page, PageRequest::Cursor(Some("abc".into())));
        assert_eq!(
            error_body(&[("cursor", ""), ("page", "2")]),
            r#"{"page":["Use either page or cursor, not both."]}"#
        );
    }

    #[test]
    fn the_complete_ordering_ends_with_the_id() {
        let names = |pairs: &[(&str, &str)]| {
            complete_ordering(&parse(pairs).unwrap())
                .iter()
                .map(|t| format!("{}{}", if t.descending { "-" } else { "" }, t.field.name))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(names(&[]), "-created,-id");
        assert_eq!(names(&[("ordering", "address__city")]), "address__city,id");
        assert_eq!(names(&[("ordering", "-id,created")]), "-id,created");
    }

    #[test]
    fn text_and_search_are_bounded() {
        let long = "x".repeat(MAX_TEXT_LENGTH + 1);
        assert_eq!(
            error_body(&[("address__city", &long)]),
            r#"{"address__city":["Ensure this value has at most 1000 characters (it has 1001)."]}"#
        );
        assert!(parse(&[("search", &"x".repeat(MAX_TEXT_LENGTH))]).is_ok());
        let many = vec!["t"; MAX_SEARCH_TERMS + 1].join(" ");
        assert_eq!(error_body(&[("search", &many)]), r#"{"search":["Use at most 20 search terms."]}"#);
    }

    #[test]
    fn search_terms_split_on_whitespace_and_commas() {
        let r = parse(&[("search", " Paul,  Berlin\tx ,")]).unwrap();
        assert_eq!(r.search_terms, ["Paul", "Berlin", "x"]);
    }
}
