//! Requests straight through the SQL functions the API calls, on one
//! session: what is left of a request without HTTP.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::Value as Json;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client as PgClient, Statement};

use super::{error_text, Client, Reply, TIMEOUT};
use crate::db;
use crate::scenarios::Request;

pub struct SqlClient {
    client: PgClient,
    target: String,
    list: Statement,
    detail: Statement,
    stats: Statement,
}

impl SqlClient {
    /// A session with `statement_timeout` (ms; the API's default is 30 s).
    pub async fn connect(url: &str, statement_timeout_ms: u64) -> Result<SqlClient> {
        let client = db::connect(url, statement_timeout_ms, "crm-bench (measure)").await?;
        let list = client.prepare("SELECT crm.contacts_page($1::text::jsonb)::text").await?;
        let detail = client.prepare("SELECT crm.contact($1)::text").await?;
        let stats = client.prepare("SELECT crm.stats()::text").await.context("crm.stats() is not callable")?;
        Ok(SqlClient { client, target: format!("crm.contacts_page on {}", db::redacted(url)), list, detail, stats })
    }
}

/// The API's mapping of the extension's errors to statuses.
fn status_of(error: &tokio_postgres::Error) -> (u16, Option<Json>, String) {
    let Some(db_error) = error.as_db_error() else {
        return (0, None, error.to_string());
    };
    let body = db_error.detail().and_then(|d| serde_json::from_str::<Json>(d).ok());
    let status = match db_error.code() {
        c if *c == SqlState::QUERY_CANCELED => return (504, None, TIMEOUT.to_string()),
        c if *c == SqlState::INVALID_PARAMETER_VALUE => 400,
        c if *c == SqlState::NO_DATA_FOUND => 404,
        _ => 500,
    };
    let text = match &body {
        Some(_) => error_text(status, body.as_ref(), b""),
        None => format!("HTTP {status}: SQLSTATE {}: {}", db_error.code().code(), db_error.message()),
    };
    (status, body, text)
}

impl Client for SqlClient {
    fn via(&self) -> &'static str {
        "sql"
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    async fn send(&self, request: &Request) -> Reply {
        let started = Instant::now();
        let outcome = match request {
            Request::List(params) => {
                let params = params.to_json().to_string();
                self.client.query_one(&self.list, &[&params]).await
            }
            Request::Detail(id) => self.client.query_one(&self.detail, &[id]).await,
            Request::Stats => self.client.query_one(&self.stats, &[]).await,
        }
        .and_then(|row| row.try_get::<_, Option<String>>(0));
        let elapsed = started.elapsed();
        match outcome {
            Ok(Some(text)) => {
                let body: Option<Json> = serde_json::from_str(&text).ok();
                let error = body.is_none().then(|| "the answer is not JSON".to_string());
                Reply { status: 200, elapsed, bytes: text.len(), body, error }
            }
            // crm.contact(id) is NULL for an unknown id: the API's 404.
            Ok(None) => {
                let body = serde_json::json!({"detail": "No AppUser matches the given query."});
                let error = Some(error_text(404, Some(&body), b""));
                Reply { status: 404, elapsed, bytes: 0, body: Some(body), error }
            }
            Err(e) => {
                let (status, body, text) = status_of(&e);
                Reply { status, elapsed, bytes: 0, body, error: Some(text) }
            }
        }
    }
}
