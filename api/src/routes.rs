//! The HTTP surface: the contacts' list, detail and stats, their writes
//! (`writes.rs`), import and export, the addresses (`addresses.rs`), Django's trailing-slash redirects, and JSON for everything else.

use axum::extract::rejection::PathRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use deadpool_postgres::Pool;

use crate::auth::{self, Tokens};
use crate::error::{detail_body, json_response, ApiError};
use crate::{addresses, db, export, import, observe, options, prefer, query, writes};

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    /// Origin for `next`/`previous` links; the request's Host when `None`.
    pub public_base_url: Option<String>,
    /// Bearer tokens accepted on /api/contacts/…; none: no authentication.
    pub tokens: Tokens,
}

impl AppState {
    pub fn new(pool: Pool, config: &crate::Config) -> Self {
        AppState {
            pool,
            public_base_url: config.public_base_url.clone(),
            tokens: Tokens(std::sync::Arc::new(config.tokens.clone())),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let contacts = Router::new()
        .route("/api/contacts/", get(list).post(writes::create).options(options::options))
        .route("/api/contacts/stats/", get(stats))
        // Gzip when the client accepts it (the export is large and textual),
        // at the fastest level: at 3M the default level took 2.7 times as long.
        .route(
            "/api/contacts/export/",
            get(export::export).layer(
                tower_http::compression::CompressionLayer::new()
                    .gzip(true)
                    .quality(tower_http::CompressionLevel::Fastest),
            ),
        )
        .route("/api/contacts/import/", post(import::import))
        .route(
            "/api/contacts/{id}/",
            get(detail).put(writes::replace).patch(writes::update).delete(writes::delete).options(options::options),
        )
        .route("/api/addresses/", get(addresses::list).post(addresses::create).options(options::options))
        .route(
            "/api/addresses/{id}/",
            get(addresses::detail)
                .put(addresses::replace)
                .patch(addresses::update)
                .delete(addresses::delete)
                .options(options::options),
        )
        // Django's APPEND_SLASH: the slash-less paths redirect.
        .route("/api/addresses", get(append_slash))
        .route("/api/addresses/{id}", get(append_slash))
        .route("/api/contacts", get(append_slash))
        .route("/api/contacts/stats", get(append_slash))
        .route("/api/contacts/{id}", get(append_slash))
        .route_layer(middleware::from_fn_with_state(state.tokens.clone(), auth::require_token))
        .layer(DefaultBodyLimit::max(writes::MAX_BODY_BYTES));
    Router::new()
        .merge(contacts)
        .route("/api/schema/", get(schema))
        .route("/health", get(observe::health))
        .route("/ready", get(observe::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(observe::log_request))
        .with_state(state)
}

fn json_ok(body: String) -> Response {
    json_response(StatusCode::OK, body)
}

/// The request's absolute URL without query, as DRF's
/// `request.build_absolute_uri()` would start it.
pub fn absolute_url(state: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let origin = state.public_base_url.clone().unwrap_or_else(|| {
        let scheme =
            headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).filter(|s| *s == "https").unwrap_or("http");
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
        format!("{scheme}://{host}")
    });
    format!("{origin}{}", uri.path())
}

async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, ApiError> {
    let mut params = query::to_json(uri.query())?;
    let applied = prefer::apply(&headers, &mut params);
    let url = absolute_url(&state, &headers, &uri);
    let mut response = json_ok(db::contacts_page(&state.pool, &params, &url).await?);
    if let Some(applied) = applied.and_then(|a| header::HeaderValue::from_str(&a).ok()) {
        response.headers_mut().insert("preference-applied", applied);
    }
    Ok(response)
}

const NO_SUCH_CONTACT: &str = "No AppUser matches the given query.";

async fn detail(State(state): State<AppState>, id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    // DRF answers a malformed id (not a number, not even UTF-8) as a plain 404.
    let id = writes::contact_id(id)?;
    match db::contact_with_tag(&state.pool, id).await? {
        Some((contact, tag)) => Ok(writes::with_tag(StatusCode::OK, contact, &tag)),
        None => Err(ApiError::NotFound(NO_SUCH_CONTACT)),
    }
}

async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_ok(db::stats(&state.pool).await?))
}

/// The OpenAPI description (generated by the extension from its fields).
async fn schema(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_ok(db::openapi(&state.pool).await?))
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

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let body = detail_body(&format!("Method \"{method}\" not allowed."));
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, allowed_methods(uri.path()))],
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The `Allow` header of a path, as its routes above answer.
pub fn allowed_methods(path: &str) -> &'static str {
    if path == "/api/contacts/" || path == "/api/addresses/" {
        return "GET, POST, HEAD";
    }
    if let Some(id) = path.strip_prefix("/api/addresses/").and_then(|rest| rest.strip_suffix('/')) {
        if !id.is_empty() && !id.contains('/') {
            return "GET, PUT, PATCH, DELETE, HEAD";
        }
    }
    match path.strip_prefix("/api/contacts/").and_then(|rest| rest.strip_suffix('/')) {
        Some("import") => "POST",
        Some(id) if !id.is_empty() && !id.contains('/') && id != "stats" && id != "export" => {
            "GET, PUT, PATCH, DELETE, HEAD"
        }
        _ => "GET, HEAD",
    }
}
