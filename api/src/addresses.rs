//! `GET /api/addresses/`: the list (filters street, city_code, city,
//! country, search, ordering, pages) from `crm.addresses_page`. One address
//! and its writes are served as contacts are (`writes.rs`, `Addresses`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use crate::db;
use crate::error::{json_response, ApiError};
use crate::query;
use crate::routes::{absolute_url, AppState};

pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, ApiError> {
    let params = query::to_json(uri.query())?;
    let url = absolute_url(&state, &headers, &uri);
    Ok(json_response(StatusCode::OK, db::addresses_page(&state.pool, &params, &url).await?))
}
