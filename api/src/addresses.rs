//! `/api/addresses/`: the list (filters street, city_code, city, country,
//! search, ordering, pages), one address, and its writes, with the
//! contacts' conventions (`writes.rs`): 201 + Location, ETag and If-Match,
//! 204 on delete. An address is shared: a change reaches all its contacts,
//! a delete leaves them without an address.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::db::{self, Change};
use crate::error::{json_response, ApiError};
use crate::query;
use crate::routes::{absolute_url, AppState};
use crate::writes::{contact_id as path_id, created, if_match, json_body, with_tag};

const NO_SUCH_ADDRESS: &str = "No Address matches the given query.";

pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, ApiError> {
    let params = query::to_json(uri.query())?;
    let url = absolute_url(&state, &headers, &uri);
    Ok(json_response(StatusCode::OK, db::addresses_page(&state.pool, &params, &url).await?))
}

pub async fn detail(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    match db::address_with_tag(&state.pool, id).await? {
        Some((address, tag)) => Ok(with_tag(StatusCode::OK, address, &tag)),
        None => Err(ApiError::NotFound(NO_SUCH_ADDRESS)),
    }
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, body)?;
    let (address, tag) = db::create_address(&state.pool, &body).await?;
    Ok(created(address, &tag, "/api/addresses/"))
}

pub async fn update(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    change(state, id, headers, body, Change::Update).await
}

pub async fn replace(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    change(state, id, headers, body, Change::Replace).await
}

async fn change(
    state: AppState,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    how: Change,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let body = json_body(&headers, body)?;
    let (address, tag) = db::change_address(&state.pool, id, &body, if_match(&headers)?, how).await?;
    Ok(with_tag(StatusCode::OK, address, &tag))
}

pub async fn delete(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    db::delete_address(&state.pool, id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
