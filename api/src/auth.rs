//! Bearer-token authentication for the contacts endpoints.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{detail_body, json_response};

/// The accepted tokens; empty means authentication is off.
#[derive(Clone, Default)]
pub struct Tokens(pub std::sync::Arc<Vec<String>>);

/// Compares in time independent of where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized(message: &str) -> Response {
    let mut response = json_response(StatusCode::UNAUTHORIZED, detail_body(message));
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `Authorization: Bearer <token>` with one of the configured tokens, as
/// DRF's token authentication words its refusals.
pub async fn require_token(State(tokens): State<Tokens>, request: Request, next: Next) -> Response {
    if tokens.0.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        None => unauthorized("Authentication credentials were not provided."),
        Some(token) if tokens.0.iter().any(|t| same(t.as_bytes(), token.as_bytes())) => {
            next.run(request).await.into_response()
        }
        Some(_) => unauthorized("Invalid token."),
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn compares_whole_tokens() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secrets"));
        assert!(!same(b"", b"x"));
    }
}
