//! `OPTIONS` on the collections and the objects, as DRF's metadata answers
//! it: the methods (`Allow`), and for those that take a body, its fields
//! and their rules (`actions`). The rules are the extension's: they come
//! from the write bodies of its OpenAPI document (`crm.openapi()`), which
//! it generates from its field table; this module only reshapes them.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::db;
use crate::error::{json_response, ApiError};
use crate::routes::{allowed_methods, AppState};

/// The resource a path names: its name (DRF's view name) and the schema
/// of its write body.
fn resource(path: &str) -> (&'static str, &'static str, bool) {
    let collection = path == "/api/contacts/" || path == "/api/addresses/";
    let name = match (path.starts_with("/api/addresses/"), collection) {
        (true, true) => "Address List",
        (true, false) => "Address Instance",
        (false, true) => "Contact List",
        (false, false) => "Contact Instance",
    };
    let schema = if path.starts_with("/api/addresses/") { "AddressWrite" } else { "ContactWrite" };
    (name, schema, collection)
}

pub async fn options(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let path = uri.path();
    let (name, schema_name, collection) = resource(path);
    let document: Value = serde_json::from_str(&db::openapi(&state.pool).await?).unwrap_or(Value::Null);
    let fields = metadata_fields(&document["components"]["schemas"][schema_name]);
    let method = if collection { "POST" } else { "PUT" };
    let body = json!({
        "name": name,
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json"],
        "actions": {method: fields},
    });
    let mut response = json_response(StatusCode::OK, body.to_string());
    let allow = format!("{}, OPTIONS", allowed_methods(path));
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(response)
}

/// DRF's field metadata from a JSON schema object: type, required,
/// read_only, max_length, choices.
pub fn metadata_fields(schema: &Value) -> Value {
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut out = Map::new();
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        let kind = match (property["type"].as_str(), property["format"].as_str()) {
            (_, Some("date")) => "date",
            (_, Some("date-time")) => "datetime",
            (_, _) if !property["enum"].is_null() => "choice",
            (Some("integer"), _) => "integer",
            _ => "string",
        };
        let mut field = json!({"type": kind, "required": required.contains(&key.as_str()), "read_only": false});
        if let Some(max) = property["maxLength"].as_u64() {
            field["max_length"] = max.into();
        }
        if let Some(choices) = property["enum"].as_array() {
            let choices: Vec<Value> = choices.iter().map(|c| json!({"value": c, "display_name": c})).collect();
            field["choices"] = choices.into();
        }
        out.insert(key.clone(), field);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_properties_become_drf_field_metadata() {
        let schema = json!({"required": ["first_name"], "properties": {
            "first_name": {"type": "string", "maxLength": 100},
            "gender": {"type": "string", "nullable": true, "enum": ["M", "F", "O"]},
            "birthday": {"type": "string", "format": "date"},
            "points": {"type": "integer"}}});
        let fields = metadata_fields(&schema);
        assert_eq!(
            fields["first_name"],
            json!({"type": "string", "required": true, "read_only": false, "max_length": 100})
        );
        assert_eq!(fields["gender"]["type"], "choice");
        assert_eq!(fields["gender"]["choices"][1], json!({"value": "F", "display_name": "F"}));
        assert_eq!(fields["birthday"]["type"], "date");
        assert_eq!(fields["points"], json!({"type": "integer", "required": false, "read_only": false}));
    }

    #[test]
    fn paths_name_their_resource() {
        assert_eq!(resource("/api/contacts/"), ("Contact List", "ContactWrite", true));
        assert_eq!(resource("/api/addresses/7/"), ("Address Instance", "AddressWrite", false));
    }
}
