//! Observability: one structured log line per request, and the liveness and
//! readiness probes.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::db;
use crate::error::json_response;
use crate::routes::AppState;

/// Logs `method path status latency_ms` once the response is ready. The
/// query string is left out: it carries names and phone numbers.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(%method, %path, status, latency_ms = format!("{latency_ms:.3}"), "request");
    response
}

/// `/health`: the process is alive and serving.
pub async fn health() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

/// `/ready`: the database answers through the pool.
pub async fn ready(State(state): State<AppState>) -> Response {
    match db::ping(&state.pool).await {
        Ok(()) => json_response(StatusCode::OK, json!({"status": "ready"}).to_string()),
        Err(error) => {
            let (_, body) = error.status_and_body();
            let detail: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unavailable", "detail": detail["detail"]}).to_string(),
            )
        }
    }
}
