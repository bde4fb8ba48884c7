//! The OpenAPI description of the HTTP API, generated from the query
//! language's tables: the API serves it as is at /api/schema/, so the
//! documented parameters are always the accepted ones.

use serde_json::{json, Map, Value as Json};

use crate::fields::{self, Lookup, ValueType, Write};
use crate::params::{CountMode, DEFAULT_PAGE_SIZE, ESTIMATED_COUNT_THRESHOLD, MAX_PAGE_SIZE};

fn value_schema(ty: ValueType) -> Json {
    match ty {
        ValueType::BigInt => json!({"type": "integer", "format": "int64"}),
        ValueType::Int => json!({"type": "integer", "format": "int32"}),
        ValueType::Text => json!({"type": "string"}),
        ValueType::Timestamp => json!({"type": "string", "format": "date-time"}),
        ValueType::Date => json!({"type": "string", "format": "date"}),
    }
}

fn lookup_description(field: &fields::Field, lookup: Lookup) -> String {
    let target = if field.is_multi_column() {
        field.columns.iter().map(|c| c.output_key()).collect::<Vec<_>>().join(" or ")
    } else {
        field.name.to_string()
    };
    match lookup {
        Lookup::Exact => format!("{target} equals the value"),
        Lookup::Icontains => format!("{target} contains the value, case-insensitively (% _ \\ are literal)"),
        Lookup::Gte => format!("{target} ≥ the value"),
        Lookup::Lte => format!("{target} ≤ the value"),
        Lookup::Gt => format!("{target} > the value"),
        Lookup::Lt => format!("{target} < the value"),
    }
}

/// Every filter parameter, from `fields::FIELDS`.
fn filter_parameters() -> Vec<Json> {
    let mut parameters = Vec::new();
    for field in fields::FIELDS {
        for (lookup, name) in field.lookups.iter().zip(field.parameter_names()) {
            let schema =
                if *lookup == Lookup::Icontains { json!({"type": "string"}) } else { value_schema(field.value_type()) };
            parameters.push(json!({
                "name": name,
                "in": "query",
                "required": false,
                "schema": schema,
                "description": lookup_description(field, *lookup),
            }));
        }
    }
    parameters
}

fn control_parameters() -> Vec<Json> {
    let ordering: Vec<&str> = fields::ordering_fields().map(|f| f.name).collect();
    let searched: Vec<&str> = fields::FIELDS.iter().filter(|f| f.searchable).map(|f| f.name).collect();
    vec![
        json!({"name": "page", "in": "query", "schema": {"type": "string"},
               "description": "Page number from 1, or `last`. Past the end: 404."}),
        json!({"name": "page_size", "in": "query",
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}}),
        json!({"name": "ordering", "in": "query", "schema": {"type": "string"},
               "description": format!("Comma-separated fields, `-` for descending (default `-created`). Fields: {}.",
                                      ordering.join(", "))}),
        json!({"name": "search", "in": "query", "schema": {"type": "string"},
               "description": format!("Terms separated by spaces or commas; each must be contained in one of: {}.",
                                      searched.join(", "))}),
        json!({"name": "cursor", "in": "query", "schema": {"type": "string"},
               "description": "Keyset pagination: empty to start, then the token of a `next`/`previous` link."}),
        json!({"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json"]}}),
        json!({"name": "count", "in": "query",
               "schema": {"type": "string", "enum": CountMode::names(), "default": CountMode::Exact.name()},
               "description": format!(
                   "How `count` is computed: `exact` (every match counted), `planned` (the planner's estimate), \
                    `estimated` (exact up to {ESTIMATED_COUNT_THRESHOLD}, the estimate above), `none` (`null`). \
                    Without a filter or search the count is exact in every mode. `page=last` counts exactly. \
                    The API also takes `Prefer: count=…` (the parameter wins).")}),
        json!({"name": "Prefer", "in": "header", "required": false, "schema": {"type": "string"},
               "description": "`count=exact|planned|estimated|none`, as the `count` parameter; \
                               the response's `Preference-Applied` says which mode was used."}),
    ]
}

fn contact_schema() -> Json {
    let mut properties = Map::new();
    for output in fields::CONTACT.iter() {
        let mut schema = value_schema(output.column.ty);
        if output.column.nullable {
            schema["nullable"] = json!(true);
        }
        properties.insert(output.key.to_string(), schema);
    }
    let required: Vec<&str> = fields::CONTACT.iter().map(|o| o.key).collect();
    json!({"type": "object", "properties": properties, "required": required})
}

/// The body of a contact write (`crm.create_contact`, …), from the
/// contact's keys that are `Write::Writable`.
fn contact_write_schema() -> Json {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut address = Vec::new();
    for output in fields::CONTACT.iter() {
        let Write::Writable { required: needed, nullable, max_length, choices } = output.write else { continue };
        let mut schema = value_schema(output.column.ty);
        if nullable {
            schema["nullable"] = json!(true);
        }
        if let Some(max) = max_length {
            schema["maxLength"] = json!(max);
        }
        if !choices.is_empty() {
            schema["enum"] = json!(choices);
        }
        match (output.column.table, needed) {
            (fields::Table::Address, _) => address.push(output.key),
            (_, true) => required.push(output.key),
            _ => {}
        }
        properties.insert(output.key.to_string(), schema);
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required,
        "x-new-address": address,
        "description": format!(
            "The contact's writable keys. `address_id` links an existing address; the keys {} \
             together create a new one (all of them, and not with address_id). `points` default \
             to 0 and `last_activity` to the time of the write. A create needs `required`; a \
             PATCH sets only the keys it gives; a PUT resets the keys it leaves out.",
            address.join(", ")
        ),
    })
}

/// A resource with writes: its schema names and what a delete does.
struct Resource {
    /// `Contact`: the object's schema, and the operations' suffix.
    name: &'static str,
    deleted: &'static str,
}

const CONTACT_RESOURCE: Resource = Resource { name: "Contact", deleted: "Deleted, with its relationship" };
const ADDRESS_RESOURCE: Resource =
    Resource { name: "Address", deleted: "Deleted; its contacts remain, without an address" };

/// POST, PUT, PATCH and DELETE of a resource, keyed by method.
fn write_operations(security: &Json, resource: &Resource) -> Json {
    let name = resource.name;
    let noun = name.to_lowercase();
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}});
    let if_match = json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
                          "description": "The version (ETag) the write was made from, or `*`; stale: 412"});
    let body = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}Write")}}}});
    let written = |status: &str, description: &str| {
        let mut responses = errors();
        responses.insert(
            status.into(),
            json!({"description": description,
            "headers": {"ETag": {"schema": {"type": "string"}, "description": format!("The {noun}'s new version")}},
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}}),
        );
        responses.insert("400".into(), response("Invalid body, messages by key", "ParameterErrors"));
        responses.insert("403".into(), response("A read token", "Detail"));
        responses.insert("413".into(), response("A body over 64 KiB", "Detail"));
        responses.insert("415".into(), response("A body that is not JSON", "Detail"));
        responses
    };
    let mut created = written("201", &format!("The created {noun} (`Location`: its path)"));
    created["201"]["headers"]["Location"] = json!({"schema": {"type": "string"}});
    let mut changed = written("200", &format!("The {noun} after the write"));
    changed.insert("404".into(), response(&format!("No such {noun}"), "Detail"));
    changed.insert("412".into(), response(&format!("If-Match is not the {noun}'s version"), "Detail"));
    let mut deleted = errors();
    deleted.insert("204".into(), json!({"description": resource.deleted}));
    for status in ["403", "404", "412"] {
        deleted.insert(status.into(), changed[status].clone());
    }
    json!({
        "post": {"operationId": format!("create{name}"), "requestBody": body, "responses": created, "security": security},
        "put": {"operationId": format!("replace{name}"), "parameters": [id, if_match], "requestBody": body,
                "responses": changed, "security": security},
        "patch": {"operationId": format!("update{name}"), "parameters": [id, if_match], "requestBody": body,
                  "responses": changed, "security": security},
        "delete": {"operationId": format!("delete{name}"), "parameters": [id, if_match], "responses": deleted, "security": security},
    })
}

/// The address object and its write body, from `fields::ADDRESS`.
fn address_schemas() -> (Json, Json) {
    let mut properties = Map::new();
    let mut writable = Map::new();
    let mut required = Vec::new();
    for key in fields::ADDRESS.iter() {
        let schema = value_schema(key.column.ty);
        properties.insert(key.key.to_string(), schema.clone());
        let Write::Writable { required: needed, max_length, .. } = fields::address_write_rule(key) else { continue };
        let mut schema = schema;
        if let Some(max) = max_length {
            schema["maxLength"] = json!(max);
        }
        if needed {
            required.push(key.key);
        }
        writable.insert(key.key.to_string(), schema);
    }
    let object = json!({"type": "object", "properties": properties});
    let write = json!({"type": "object", "additionalProperties": false, "properties": writable, "required": required,
                       "description": "A create or PUT needs every key; a PATCH sets the keys it gives."});
    (object, write)
}

/// `GET /api/addresses/`'s parameters, from `fields::ADDRESS`.
fn address_list_parameters() -> Vec<Json> {
    let text = json!({"type": "string"});
    let mut out = vec![
        json!({"name": "page", "in": "query", "schema": {"type": "integer"}}),
        json!({"name": "page_size", "in": "query", "schema": {"type": "integer", "maximum": crate::params::MAX_PAGE_SIZE}}),
    ];
    let searched: Vec<&str> = fields::ADDRESS.iter().filter(|a| a.search).map(|a| a.key).collect();
    out.push(json!({"name": "search", "in": "query", "schema": text,
                    "description": format!("Terms (blanks, commas), each contained in one of {}", searched.join(", "))}));
    let ordered: Vec<&str> = fields::ADDRESS.iter().filter(|a| a.orderable).map(|a| a.key).collect();
    out.push(json!({"name": "ordering", "in": "query", "schema": text,
                    "description": format!("Comma-separated, `-` for descending: {}", ordered.join(", "))}));
    for key in fields::ADDRESS.iter().filter(|a| a.filter) {
        out.push(json!({"name": key.key, "in": "query", "schema": text, "description": "Exactly"}));
        out.push(json!({"name": format!("{}__icontains", key.key), "in": "query", "schema": text,
                        "description": "Contains, case-insensitively"}));
    }
    out
}

/// The address paths: list and create, and one address.
fn address_paths(security: &Json) -> (Json, Json) {
    let writes = write_operations(security, &ADDRESS_RESOURCE);
    let mut listed = errors();
    listed.insert("200".into(), json!({"description": "A page of addresses", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"count": {"type": "integer"}, "next": {"type": "string", "nullable": true},
                   "previous": {"type": "string", "nullable": true},
                   "results": {"type": "array", "items": {"$ref": "#/components/schemas/Address"}}}}}}}));
    listed.insert("400".into(), response("Invalid parameters, by parameter", "ParameterErrors"));
    let mut one = errors();
    one.insert("200".into(), response("The address (`ETag`: its version)", "Address"));
    one.insert("404".into(), response("No such address", "Detail"));
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}});
    let list = json!({"get": {"operationId": "listAddresses", "parameters": address_list_parameters(),
                              "responses": listed, "security": security},
                      "post": writes["post"]});
    let detail = json!({"get": {"operationId": "getAddress", "parameters": [id], "responses": one, "security": security},
                        "put": writes["put"], "patch": writes["patch"], "delete": writes["delete"]});
    (list, detail)
}

/// `GET /api/contacts/export/` and `POST /api/contacts/import/`.
fn bulk_operations(list_parameters: &[Json], security: &Json) -> (Json, Json) {
    let mut export_parameters = list_parameters.to_vec();
    export_parameters.retain(|p| !crate::export::PAGING.contains(&p["name"].as_str().unwrap_or_default()));
    export_parameters
        .push(json!({"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "ndjson"]},
        "description": "csv (a header row of the contact's keys) or ndjson; else from Accept; CSV by default"}));
    let mut exported = errors();
    exported.insert("200".into(), json!({"description": "Every matching contact, in the list's order, streamed (gzip when accepted)",
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}}));
    exported.insert("400".into(), response("Invalid parameters, by parameter", "ParameterErrors"));
    let export = json!({"get": {"operationId": "exportContacts", "parameters": export_parameters,
                                "responses": exported, "security": security}});
    let rows = "One contact per row, each validated as a single create (ContactWrite): NDJSON, an object per line; \
                CSV, a header row of keys, an empty cell a key not given";
    let mut imported = errors();
    imported.insert("200".into(), response("The import's report (on_error=skip: the rows refused)", "ImportReport"));
    imported.insert(
        "400".into(),
        response("Rows refused (nothing written: the report), or a malformed body (detail)", "ImportReport"),
    );
    imported.insert("403".into(), response("A read token", "Detail"));
    imported.insert("413".into(), response("A body over 1 GiB", "Detail"));
    imported.insert("415".into(), response("Neither CSV nor NDJSON", "Detail"));
    let import = json!({"post": {"operationId": "importContacts",
        "parameters": [{"name": "on_error", "in": "query", "schema": {"type": "string", "enum": crate::import_rows::OnError::NAMES, "default": "abort"},
                        "description": "abort: any invalid row and nothing is written; skip: the valid rows are written"}],
        "requestBody": {"required": true, "description": rows, "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/ContactWrite"}}}},
        "responses": imported, "security": security}});
    (export, import)
}

fn response(description: &str, schema: &str) -> Json {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn errors() -> Map<String, Json> {
    let mut map = Map::new();
    map.insert("401".into(), response("Missing or invalid bearer token", "Detail"));
    map.insert("503".into(), response("Database unavailable", "Detail"));
    map.insert("504".into(), response("Statement timeout", "Detail"));
    map
}

/// The OpenAPI 3 document.
pub fn document() -> Json {
    let mut list_parameters = control_parameters();
    list_parameters.extend(filter_parameters());
    let mut list_responses = errors();
    list_responses.insert(
        "200".into(),
        json!({"description": "A page (page numbers) or a keyset page (`cursor`)",
               "content": {"application/json": {"schema": {"oneOf": [
                   {"$ref": "#/components/schemas/Page"}, {"$ref": "#/components/schemas/CursorPage"}]}}}}),
    );
    list_responses.insert("400".into(), response("Invalid parameters, by parameter", "ParameterErrors"));
    list_responses.insert("404".into(), response("Invalid page or cursor", "Detail"));
    let mut detail_responses = errors();
    detail_responses.insert("200".into(), response("The contact", "Contact"));
    detail_responses.insert("404".into(), response("No such contact", "Detail"));
    let mut stats_responses = errors();
    stats_responses.insert("200".into(), response("Counts", "Stats"));
    let security = json!([{"bearer": []}]);
    let writes = write_operations(&security, &CONTACT_RESOURCE);
    let (addresses, address) = address_paths(&security);
    let (address_schema, address_write_schema) = address_schemas();
    let (export, import) = bulk_operations(&list_parameters, &security);
    json!({
        "openapi": "3.0.3",
        "info": {"title": "crm-contacts", "version": env!("CARGO_PKG_VERSION"),
                 "description": "CRM contacts: filters, ordering, search and pagination served by PostgreSQL."},
        "paths": {
            "/api/contacts/": {"get": {"operationId": "listContacts", "parameters": list_parameters,
                                       "responses": list_responses, "security": security},
                               "post": writes["post"]},
            "/api/contacts/{id}/": {"get": {"operationId": "getContact",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}],
                "responses": detail_responses, "security": security},
                "put": writes["put"], "patch": writes["patch"], "delete": writes["delete"]},
            "/api/contacts/stats/": {"get": {"operationId": "contactStats", "responses": stats_responses, "security": security}},
            "/api/contacts/export/": export,
            "/api/contacts/import/": import,
            "/api/addresses/": addresses,
            "/api/addresses/{id}/": address,
            "/health": {"get": {"operationId": "health", "responses": {"200": {"description": "Alive"}}}},
            "/ready": {"get": {"operationId": "ready", "responses": {"200": {"description": "Database reachable"},
                                                                    "503": {"description": "Database unreachable"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Contact": contact_schema(),
                "ContactWrite": contact_write_schema(),
                "Address": address_schema,
                "AddressWrite": address_write_schema,
                "Page": {"type": "object", "required": ["count", "next", "previous", "results"], "properties": {
                    "count": {"type": "integer", "nullable": true, "description": "null with count=none"}, "next": {"type": "string", "nullable": true},
                    "previous": {"type": "string", "nullable": true},
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}}}},
                "CursorPage": {"type": "object", "required": ["next", "previous", "results"], "properties": {
                    "next": {"type": "string", "nullable": true}, "previous": {"type": "string", "nullable": true},
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}}}},
                "Stats": {"type": "object", "properties": {
                    "total_contacts": {"type": "integer"}, "contacts_with_address": {"type": "integer"},
                    "contacts_with_relationship": {"type": "integer"}}},
                "Detail": {"type": "object", "properties": {"detail": {"type": "string"}}},
                "ImportReport": {"type": "object", "properties": {
                    "created": {"type": "integer"}, "failed": {"type": "integer"},
                    "errors_truncated": {"type": "boolean", "description": "more rows failed than are listed (1,000)"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "line": {"type": "integer"},
                        "errors": {"$ref": "#/components/schemas/ParameterErrors"}}}},
                    "detail": {"type": "string", "description": "a malformed body"}}},
                "ParameterErrors": {"type": "object",
                                    "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_parameter_is_documented() {
        let doc = document();
        let documented: Vec<&str> = doc["paths"]["/api/contacts/"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in fields::filter_parameter_names() {
            assert!(documented.contains(&name.as_str()), "{name}");
        }
        for name in fields::CONTROL_PARAMETERS {
            assert!(documented.contains(&name), "{name}");
        }
    }

    #[test]
    fn the_writes_are_documented_with_their_body() {
        let doc = document();
        for (path, method) in
            [("/api/contacts/", "post"), ("/api/contacts/{id}/", "put"), ("/api/contacts/{id}/", "patch")]
        {
            let operation = &doc["paths"][path][method];
            assert_eq!(
                operation["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ContactWrite",
                "{method} {path}"
            );
        }
        assert!(doc["paths"]["/api/contacts/{id}/"]["delete"]["responses"]["204"].is_object());
        for method in ["post", "put", "patch"] {
            let path = if method == "post" { "/api/addresses/" } else { "/api/addresses/{id}/" };
            assert_eq!(
                doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/AddressWrite"
            );
        }
        let address_write = &doc["components"]["schemas"]["AddressWrite"];
        assert_eq!(address_write["required"], json!(["street", "street_number", "city_code", "city", "country"]));
        assert_eq!(address_write["properties"]["street"]["maxLength"], 255);
        let address_filters: Vec<&str> = doc["paths"]["/api/addresses/"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for key in fields::ADDRESS.iter().filter(|a| a.filter) {
            assert!(address_filters.contains(&key.key), "{}", key.key);
        }
        let import = &doc["paths"]["/api/contacts/import/"]["post"];
        assert_eq!(import["parameters"][0]["schema"]["enum"], json!(crate::import_rows::OnError::NAMES));
        let export: Vec<&str> = doc["paths"]["/api/contacts/export/"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(export.contains(&"search") && export.contains(&"format") && !export.contains(&"page"), "{export:?}");
        let write = &doc["components"]["schemas"]["ContactWrite"];
        let keys: Vec<&String> = write["properties"].as_object().unwrap().keys().collect();
        let writable: Vec<&str> =
            fields::CONTACT.iter().filter(|f| f.write != Write::ReadOnly).map(|f| f.key).collect();
        assert_eq!(keys, writable);
        assert_eq!(write["properties"]["gender"]["enum"], json!(["M", "F", "O"]));
        assert_eq!(write["properties"]["first_name"]["maxLength"], 100);
        assert_eq!(write["required"], json!(["first_name", "last_name"]));
    }

    #[test]
    fn the_contact_schema_follows_the_output_table() {
        let doc = document();
        let contact = &doc["components"]["schemas"]["Contact"];
        let keys: Vec<&String> = contact["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), fields::CONTACT.len());
        assert_eq!(contact["properties"]["created"]["format"], "date-time");
        assert_eq!(contact["properties"]["city"]["nullable"], true);
        assert!(contact["properties"]["first_name"].get("nullable").is_none());
    }
}
