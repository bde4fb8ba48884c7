//! Bearer-token authentication for the contacts endpoints, with a scope
//! per token: `read` tokens may only read, `write` tokens may also write.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{detail_body, json_response};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// GET and HEAD only.
    Read,
    /// Reads and writes.
    Write,
}

/// One configured token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub secret: String,
    pub scope: Scope,
}

impl Token {
    /// One entry of `API_TOKENS`: `read:<secret>`, `write:<secret>`, or a
    /// bare `<secret>`, which reads and writes (the form before scopes).
    pub fn parse(entry: &str) -> Token {
        let (scope, secret) = match entry.split_once(':') {
            Some(("read", secret)) => (Scope::Read, secret),
            Some(("write", secret)) => (Scope::Write, secret),
            _ => (Scope::Write, entry),
        };
        Token { secret: secret.to_string(), scope }
    }
}

/// The accepted tokens; empty means authentication is off.
#[derive(Clone, Default)]
pub struct Tokens(pub std::sync::Arc<Vec<Token>>);

/// Whether a method only reads.
fn reads_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

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
    let Some(presented) = presented else {
        return unauthorized("Authentication credentials were not provided.");
    };
    let Some(token) = tokens.0.iter().find(|t| same(t.secret.as_bytes(), presented.as_bytes())) else {
        return unauthorized("Invalid token.");
    };
    if token.scope == Scope::Read && !reads_only(request.method()) {
        // DRF's wording for a permission refused to an authenticated client.
        return json_response(StatusCode::FORBIDDEN, detail_body("You do not have permission to perform this action."));
    }
    next.run(request).await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_their_scope_and_bare_tokens_write() {
        assert_eq!(Token::parse("read:abc"), Token { secret: "abc".into(), scope: Scope::Read });
        assert_eq!(Token::parse("write:a:b"), Token { secret: "a:b".into(), scope: Scope::Write });
        assert_eq!(Token::parse("plain"), Token { secret: "plain".into(), scope: Scope::Write });
        assert_eq!(Token::parse("other:x"), Token { secret: "other:x".into(), scope: Scope::Write });
        assert!(reads_only(&Method::GET) && !reads_only(&Method::PATCH) && !reads_only(&Method::DELETE));
    }

    #[test]
    fn compares_whole_tokens() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secrets"));
        assert!(!same(b"", b"x"));
    }
}
