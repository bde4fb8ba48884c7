//! The query language as the workload generator knows it: the filter
//! parameters with their lookups, the ordering fields and the search
//! fields. It mirrors the extension's field table (`extension/src/fields.rs`);
//! [`drift`] compares it with the OpenAPI document the extension generates
//! from that table (`crm.openapi()`), and `tests/workload_fields.rs` fails
//! when they differ, so a field added to the API cannot be missed here.

use std::collections::BTreeSet;

use serde_json::Value as Json;

/// A field of the list endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The URL name: `first_name`, `address__city`, `relationship__points`.
    pub name: &'static str,
    /// Lookups: `exact` is the bare `field=`, the others `field__lookup=`.
    pub lookups: &'static [&'static str],
    pub orderable: bool,
    pub searchable: bool,
}

const EXACT: &[&str] = &["exact"];
const ICONTAINS: &[&str] = &["icontains"];
const TEXT: &[&str] = &["exact", "icontains"];
const RANGE: &[&str] = &["exact", "gte", "lte", "gt", "lt"];
const DATE_RANGE: &[&str] = &["exact", "gte", "lte"];

const fn field(name: &'static str, lookups: &'static [&'static str], orderable: bool, searchable: bool) -> Field {
    Field { name, lookups, orderable, searchable }
}

/// Every field, in the extension's table order.
pub const FIELDS: &[Field] = &[
    field("id", EXACT, true, false),
    field("first_name", ICONTAINS, true, true),
    field("last_name", ICONTAINS, true, true),
    field("gender", EXACT, true, false),
    field("customer_id", ICONTAINS, true, true),
    field("phone_number", TEXT, true, true),
    field("created", RANGE, true, false),
    field("birthday", DATE_RANGE, true, false),
    field("last_updated", RANGE, true, false),
    field("address__id", EXACT, false, false),
    field("address__street", TEXT, false, true),
    field("address__city", TEXT, true, true),
    field("address__city_code", TEXT, true, false),
    field("address__country", TEXT, true, true),
    field("relationship__points", RANGE, true, false),
    field("relationship__created", RANGE, true, false),
    field("relationship__last_activity", RANGE, true, false),
    // name=x: first_name or last_name contains x (no lookup suffix).
    field("name", ICONTAINS, false, false),
];

/// The multi-column field, which takes no lookup suffix.
pub const NAME: &str = "name";

/// The exact-match filters of the `exact` class.
pub const EXACT_FIELDS: [&str; 8] = [
    "gender",
    "phone_number",
    "address__city",
    "address__country",
    "address__city_code",
    "address__street",
    "id",
    "address__id",
];

/// Range lookups besides exact.
pub const RANGE_LOOKUPS: [&str; 4] = ["gte", "lte", "gt", "lt"];

/// List parameters that are not filters (`count` chooses how the page's
/// count is computed, on servers that have it).
pub const CONTROL_PARAMETERS: [&str; 7] = ["page", "page_size", "ordering", "search", "cursor", "format", "count"];

pub fn by_name(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// `field` for exact (and for `name`), `field__lookup` otherwise.
pub fn parameter(field: &str, lookup: &str) -> String {
    if lookup == "exact" || field == NAME {
        field.to_string()
    } else {
        format!("{field}__{lookup}")
    }
}

/// Every filter parameter name.
pub fn filter_parameters() -> Vec<String> {
    FIELDS.iter().flat_map(|f| f.lookups.iter().map(|l| parameter(f.name, l))).collect()
}

pub fn ordering_fields() -> Vec<&'static str> {
    FIELDS.iter().filter(|f| f.orderable).map(|f| f.name).collect()
}

pub fn search_fields() -> Vec<&'static str> {
    FIELDS.iter().filter(|f| f.searchable).map(|f| f.name).collect()
}

/// The single-column fields with an `icontains` lookup.
pub fn icontains_fields() -> Vec<&'static str> {
    FIELDS.iter().filter(|f| f.name != NAME && f.lookups.contains(&"icontains")).map(|f| f.name).collect()
}

/// The fields with range lookups, each with the range lookups it allows.
pub fn range_fields() -> Vec<(&'static str, Vec<&'static str>)> {
    FIELDS
        .iter()
        .map(|f| (f.name, f.lookups.iter().copied().filter(|l| RANGE_LOOKUPS.contains(l)).collect::<Vec<_>>()))
        .filter(|(_, lookups)| !lookups.is_empty())
        .collect()
}

/// The comma-separated list that follows `marker` in `text`, up to the
/// final period: the OpenAPI descriptions of `ordering` and `search` list
/// their fields so.
fn listed_after(text: &str, marker: &str) -> Option<BTreeSet<String>> {
    let (_, rest) = text.split_once(marker)?;
    let list = rest.trim().trim_end_matches('.');
    Some(list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

fn differences(what: &str, ours: BTreeSet<String>, theirs: BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    if !missing.is_empty() {
        out.push(format!("{what} the server has but the bench lacks: {missing:?}"));
    }
    let extra: Vec<&String> = ours.difference(&theirs).collect();
    if !extra.is_empty() {
        out.push(format!("{what} the bench has but the server lacks: {extra:?}"));
    }
    out
}

/// What differs between this list and the OpenAPI document of the list
/// endpoint (`crm.openapi()`, also served at `/api/schema/`); empty when
/// they agree.
pub fn drift(openapi: &Json) -> Vec<String> {
    let Some(parameters) = openapi.pointer("/paths/~1api~1contacts~1/get/parameters").and_then(Json::as_array) else {
        return vec!["the OpenAPI document has no parameters for GET /api/contacts/".to_string()];
    };
    let name = |p: &Json| p.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
    let description = |wanted: &str| {
        parameters
            .iter()
            .find(|p| name(p) == wanted)
            .and_then(|p| p.get("description"))
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // Headers (`Prefer`) are documented as parameters too.
    let in_query = |p: &&Json| p.get("in").and_then(Json::as_str).is_none_or(|at| at == "query");
    let theirs: BTreeSet<String> =
        parameters.iter().filter(in_query).map(name).filter(|n| !CONTROL_PARAMETERS.contains(&n.as_str())).collect();
    let mut out = differences("filter parameters", filter_parameters().into_iter().collect(), theirs);
    let ours = |list: Vec<&str>| list.into_iter().map(str::to_string).collect::<BTreeSet<_>>();
    match listed_after(&description("ordering"), "Fields:") {
        Some(theirs) => out.extend(differences("ordering fields", ours(ordering_fields()), theirs)),
        None => out.push("the ordering parameter does not list its fields".to_string()),
    }
    match listed_after(&description("search"), "one of:") {
        Some(theirs) => out.extend(differences("search fields", ours(search_fields()), theirs)),
        None => out.push("the search parameter does not list its fields".to_string()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The list parameters as `crm.openapi()` documents them (abridged).
    pub(crate) fn openapi(filters: &[String], ordering: &[&str], search: &[&str]) -> Json {
        let mut parameters = vec![
            json!({"name": "page"}),
            json!({"name": "page_size"}),
            json!({"name": "ordering", "description": format!(
                "Comma-separated fields, `-` for descending (default `-created`). Fields: {}.", ordering.join(", "))}),
            json!({"name": "search", "description": format!(
                "Terms separated by spaces or commas; each must be contained in one of: {}.", search.join(", "))}),
            json!({"name": "cursor"}),
            json!({"name": "format"}),
            json!({"name": "count", "in": "query"}),
            json!({"name": "Prefer", "in": "header"}),
        ];
        parameters.extend(filters.iter().map(|f| json!({"name": f, "in": "query"})));
        json!({"paths": {"/api/contacts/": {"get": {"parameters": parameters}}}})
    }

    #[test]
    fn the_lists_of_the_query_language() {
        let params = filter_parameters();
        assert_eq!(params.len(), 45);
        for p in ["id", "first_name__icontains", "phone_number", "birthday__lte", "relationship__points__gt", "name"] {
            assert!(params.contains(&p.to_string()), "{p}");
        }
        assert!(!params.contains(&"birthday__gt".to_string()) && !params.contains(&"first_name".to_string()));
        assert_eq!(ordering_fields().len(), 15);
        assert_eq!(
            search_fields(),
            [
                "first_name",
                "last_name",
                "customer_id",
                "phone_number",
                "address__street",
                "address__city",
                "address__country"
            ]
        );
        assert_eq!(icontains_fields().len(), 8);
        let ranges = range_fields();
        assert_eq!(ranges.len(), 6);
        assert_eq!(ranges.iter().find(|(f, _)| *f == "birthday").unwrap().1, ["gte", "lte"]);
        for f in EXACT_FIELDS {
            assert!(by_name(f).unwrap().lookups.contains(&"exact"), "{f}");
        }
    }

    #[test]
    fn drift_against_the_openapi_document() {
        let doc = openapi(&filter_parameters(), &ordering_fields(), &search_fields());
        assert_eq!(drift(&doc), Vec::<String>::new());
        let mut filters = filter_parameters();
        filters.retain(|f| f != "gender");
        filters.push("email__icontains".into());
        let doc = openapi(&filters, &ordering_fields()[1..], &search_fields());
        let found = drift(&doc);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("email__icontains") && found[1].contains("gender") && found[2].contains("\"id\""));
        assert_eq!(drift(&json!({})).len(), 1);
    }
}
