//! Every failure becomes a JSON response with the right status, here and
//! only here. Bodies never carry SQL or internals.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use deadpool_postgres::PoolError;
use serde_json::json;
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The extension rejected the request; the body is its DETAIL.
    #[error("rejected by the database: {status}")]
    Rejected { status: StatusCode, body: String },
    /// Bad input caught before reaching the database.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A status of the HTTP layer (415, 413, …) with its JSON body.
    #[error("{0}")]
    Status(StatusCode, String),
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] PoolError),
}

/// `{"detail": message}`, DRF's shape for errors without a field.
pub fn detail_body(message: &str) -> String {
    json!({ "detail": message }).to_string()
}

pub fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Status and body for a database error, by SQLSTATE.
fn database_response(error: &tokio_postgres::Error) -> (StatusCode, String) {
    let Some(db) = error.as_db_error() else {
        // No SQLSTATE: the connection broke or could not be made.
        return (StatusCode::SERVICE_UNAVAILABLE, detail_body("The database is unavailable."));
    };
    let code = db.code();
    let extension_body = || match db.detail() {
        Some(detail) if detail.trim_start().starts_with('{') => detail.to_string(),
        _ => detail_body(db.message()),
    };
    if *code == SqlState::INVALID_PARAMETER_VALUE {
        (StatusCode::BAD_REQUEST, extension_body())
    } else if *code == SqlState::NO_DATA_FOUND {
        (StatusCode::NOT_FOUND, extension_body())
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE {
        // A write's If-Match no longer names the contact's version.
        (StatusCode::PRECONDITION_FAILED, extension_body())
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        (StatusCode::FORBIDDEN, detail_body("The API's database role may not do this."))
    } else if *code == SqlState::QUERY_CANCELED {
        (
            StatusCode::GATEWAY_TIMEOUT,
            detail_body("The query took longer than the statement timeout and was cancelled."),
        )
    } else if code.code().starts_with("08") || code.code().starts_with("57P") || code.code().starts_with("53") {
        // Connection exceptions, shutdown, insufficient resources.
        (StatusCode::SERVICE_UNAVAILABLE, detail_body("The database is unavailable."))
    } else if *code == SqlState::UNDEFINED_FUNCTION || *code == SqlState::UNDEFINED_TABLE {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            detail_body("The database is not set up: the schema or the crm_contacts extension is missing."),
        )
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, detail_body("Internal server error."))
    }
}

impl ApiError {
    pub fn status_and_body(&self) -> (StatusCode, String) {
        match self {
            ApiError::Rejected { status, body } => (*status, body.clone()),
            ApiError::BadRequest(body) => (StatusCode::BAD_REQUEST, body.clone()),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, detail_body(message)),
            ApiError::Status(status, body) => (*status, body.clone()),
            ApiError::Database(e) => database_response(e),
            ApiError::Pool(PoolError::Backend(e)) => database_response(e),
            ApiError::Pool(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                detail_body("The database is unavailable: no connection became free in time."),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        }
        json_response(status, body)
    }
}
