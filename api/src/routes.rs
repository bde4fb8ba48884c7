//! The HTTP surface: three GET endpoints under /api/contacts/, Django's
//! trailing-slash redirects, and JSON for everything else.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use deadpool_postgres::Pool;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{detail_body, json_response, ApiError};
use crate::{db, query};

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    /// Origin for `next`/`previous` links; the request's Host when `None`.
    pub public_base_url: Option<String>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/contacts/", get(list))
        .route("/api/contacts/stats/", get(stats))
        .route("/api/contacts/{id}/", get(detail))
        // Django's APPEND_SLASH: the slash-less paths redirect.
        .route("/api/contacts", get(append_slash))
        .route("/api/contacts/stats", get(append_slash))
        .route("/api/contacts/{id}", get(append_slash))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

fn json_ok(body: String) -> Response {
    json_response(StatusCode::OK, body)
}

/// The request's absolute URL without query, as DRF's
/// `request.build_absolute_uri()` would start it.
fn absolute_url(state: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let origin = state.public_base_url.clone().unwrap_or_else(|| {
        let scheme =
            headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).filter(|s| *s == "https").unwrap_or("http");
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
        format!("{scheme}://{host}")
    });
    format!("{origin}{}", uri.path())
}

async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, ApiError> {
    let params = query::to_json(uri.query())?;
    let url = absolute_url(&state, &headers, &uri);
    Ok(json_ok(db::contacts_page(&state.pool, &params, &url).await?))
}

const NO_SUCH_CONTACT: &str = "No AppUser matches the given query.";

async fn detail(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    // DRF answers a malformed id as a plain 404.
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("Not found."))?;
    match db::contact(&state.pool, id).await? {
        Some(contact) => Ok(json_ok(contact)),
        None => Err(ApiError::NotFound(NO_SUCH_CONTACT)),
    }
}

async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_ok(db::stats(&state.pool).await?))
}

/// 301 to the same path with a slash, query kept (Django's CommonMiddleware).
async fn append_slash(uri: Uri) -> Response {
    let target = match uri.query() {
        Some(q) => format!("{}/?{q}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, target)]).into_response()
}

async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, detail_body("Not found."))
}

async fn method_not_allowed(method: Method) -> Response {
    let body = detail_body(&format!("Method \"{method}\" not allowed."));
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, HEAD, OPTIONS")],
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
