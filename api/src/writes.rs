//! One contact or address over HTTP, DRF's conventions: GET → 200 with
//! its version in `ETag`; POST → 201 with Location, PUT/PATCH → 200,
//! DELETE → 204; `If-Match` forwarded to the extension (412 when stale).
//! The handlers are the same for both resources (`Kind`). The body is
//! checked only for being JSON here; what it says is the extension's to judge.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::db::{self, Change, Resource};
use crate::error::{detail_body, json_response, ApiError};
use crate::routes::AppState;

/// The largest body a write accepts (bytes): a contact is well under 4 KB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A resource served by these handlers.
pub trait Kind {
    const RESOURCE: Resource;
    /// Its collection's path (`Location` of a created object).
    const COLLECTION: &'static str;
    /// DRF's 404 of a missing object (its model's name).
    const NOT_FOUND: &'static str;
}

pub struct Contacts;
pub struct Addresses;

impl Kind for Contacts {
    const RESOURCE: Resource = Resource::Contact;
    const COLLECTION: &'static str = "/api/contacts/";
    const NOT_FOUND: &'static str = "No AppUser matches the given query.";
}

impl Kind for Addresses {
    const RESOURCE: Resource = Resource::Address;
    const COLLECTION: &'static str = "/api/addresses/";
    const NOT_FOUND: &'static str = "No Address matches the given query.";
}

/// `GET <collection>{id}/`.
pub async fn detail<K: Kind>(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    // DRF answers a malformed id (not a number, not even UTF-8) as a plain 404.
    let id = path_id(id)?;
    match db::object_with_tag(&state.pool, K::RESOURCE, id).await? {
        Some((object, tag)) => Ok(with_tag(StatusCode::OK, object, &tag)),
        None => Err(ApiError::NotFound(K::NOT_FOUND)),
    }
}

/// `POST <collection>`.
pub async fn create<K: Kind>(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, body)?;
    let (object, tag) = db::create(&state.pool, K::RESOURCE, &body).await?;
    Ok(created(object, &tag, K::COLLECTION))
}

/// 201 with the object, its `ETag`, and `Location`: `collection` + its id.
fn created(object: String, tag: &str, collection: &str) -> Response {
    let location = created_id(&object).map(|id| format!("{collection}{id}/"));
    let mut response = with_tag(StatusCode::CREATED, object, tag);
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `PATCH <collection>{id}/`.
pub async fn update<K: Kind>(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    change::<K>(state, id, headers, body, Change::Update).await
}

/// `PUT <collection>{id}/`.
pub async fn replace<K: Kind>(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    change::<K>(state, id, headers, body, Change::Replace).await
}

async fn change<K: Kind>(
    state: AppState,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    how: Change,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let body = json_body(&headers, body)?;
    let (object, tag) = db::change(&state.pool, K::RESOURCE, id, &body, if_match(&headers)?, how).await?;
    Ok(with_tag(StatusCode::OK, object, &tag))
}

/// `DELETE <collection>{id}/`.
pub async fn delete<K: Kind>(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    db::delete(&state.pool, K::RESOURCE, id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An id from the path (a contact's, an address's); anything else is
/// DRF's plain 404.
fn path_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    id.ok().and_then(|Path(id)| id.parse().ok()).ok_or(ApiError::NotFound("Not found."))
}

/// The body as JSON: 415 unless it says it is JSON, 413 over
/// `MAX_BODY_BYTES`, 400 when it does not parse (DRF's wordings).
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let (media_type, essence) = media_type(headers);
    if essence != "application/json" && !essence.ends_with("+json") {
        let message = format!("Unsupported media type \"{media_type}\" in request.");
        return Err(ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail_body(&message)));
    }
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("The request body is larger than {MAX_BODY_BYTES} bytes.")
        } else {
            "The request body could not be read.".to_string()
        };
        ApiError::Status(status, detail_body(&message))
    })?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(detail_body(&format!("JSON parse error - {e}"))))?;
    refuse_nul_characters(&body)?;
    Ok(body)
}

/// The request's Content-Type as sent, and its essence (`type/subtype`,
/// lower-cased, without parameters).
pub fn media_type(headers: &HeaderMap) -> (&str, String) {
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    (media_type, media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Whether a JSON value holds U+0000 in a string or a key.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// PostgreSQL's text (and jsonb) cannot hold U+0000: a body with one is
/// refused here, by key as Django's validator words it when it is in a
/// field's value, as a parse error otherwise.
fn refuse_nul_characters(body: &Value) -> Result<(), ApiError> {
    if !holds_nul(body) {
        return Ok(());
    }
    let by_key = body.as_object().filter(|map| map.keys().all(|k| !k.contains('\0')));
    let message = match by_key {
        Some(map) => {
            let fields: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(_, v)| holds_nul(v))
                .map(|(k, _)| (k.clone(), serde_json::json!(["Null characters are not allowed."])))
                .collect();
            Value::Object(fields).to_string()
        }
        None => detail_body("JSON parse error - strings may not contain the NUL character (\\u0000)."),
    };
    Err(ApiError::BadRequest(message))
}

/// `If-Match`, passed on as it is; a value that is not visible ASCII is a 400.
fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.to_string()))
            .map_err(|_| ApiError::BadRequest(detail_body("The If-Match header is not a list of entity tags."))),
    }
}

/// The id of a created object's JSON.
fn created_id(object: &str) -> Option<i64> {
    serde_json::from_str::<Value>(object).ok()?.get("id")?.as_i64()
}

/// An object's JSON with its version in `ETag`.
pub fn with_tag(status: StatusCode, contact: String, tag: &str) -> Response {
    let mut response = json_response(status, contact);
    if let Ok(tag) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}
