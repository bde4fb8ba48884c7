//! Configuration from the environment (and `.env`), named like the original
//! Django settings where it had them.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where PostgreSQL is; without the statement timeout (see `db::pool`).
    pub database: tokio_postgres::Config,
    /// `DB_STATEMENT_TIMEOUT` in milliseconds (default 30000, as the original).
    pub statement_timeout: Duration,
    /// `API_BIND` (default 127.0.0.1:8000).
    pub bind: SocketAddr,
    /// `DB_POOL_SIZE` (default 16).
    pub pool_size: usize,
    /// `DB_POOL_TIMEOUT` in milliseconds: how long a request waits for a
    /// connection before it is answered 503 (default 5000).
    pub pool_timeout: Duration,
    /// `PUBLIC_BASE_URL`, e.g. `https://crm.example.com`: the origin used in
    /// `next`/`previous` links instead of the request's Host header.
    pub public_base_url: Option<String>,
    /// `API_TOKENS`: comma-separated bearer tokens, each `read:<secret>`,
    /// `write:<secret>` or a bare secret (reads and writes). Empty: no
    /// authentication, and then the server only listens on loopback.
    pub tokens: Vec<crate::auth::Token>,
    /// `LOG_FORMAT`: `text` (default) or `json` (one JSON object per line).
    pub log_format: LogFormat,
    /// `POSTINGS_REFRESH_AFTER`: the postings are refreshed in the
    /// background once this many contacts were written since (default
    /// 10000; 0: never, refresh them yourself).
    pub postings_refresh_after: i64,
    /// `POSTINGS_REFRESH_EVERY` in seconds: how often that is checked (default 30).
    pub postings_refresh_every: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("'{other}' is not one of text, json")),
        }
    }
}

impl Config {
    /// Where to listen: `bind`, unless no token is configured and `bind`
    /// is not loopback, in which case the loopback address of the same
    /// port. The second value says why the address changed.
    pub fn listen_address(&self) -> (SocketAddr, Option<String>) {
        if !self.tokens.is_empty() || self.bind.ip().is_loopback() {
            return (self.bind, None);
        }
        let loopback = SocketAddr::from(([127, 0, 0, 1], self.bind.port()));
        let why =
            format!("API_TOKENS is not set: serving without authentication on {loopback} only, not on {}", self.bind);
        (loopback, Some(why))
    }
}

fn parse<T: FromStr>(name: &'static str, value: Option<String>, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() }),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests need not touch the environment.
    /// `API_DATABASE_URL` (the API's own, least-privileged role) wins, then
    /// `DATABASE_URL`; otherwise `DB_NAME`, `DB_USER`, `DB_PASSWORD`,
    /// `DB_HOST`, `DB_PORT` as in the original's settings.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = get("API_DATABASE_URL").filter(|v| !v.is_empty()).or_else(|| get("DATABASE_URL"));
        let database = match url.filter(|v| !v.is_empty()) {
            Some(url) => url
                .parse::<tokio_postgres::Config>()
                .map_err(|e| ConfigError::Invalid { name: "DATABASE_URL", reason: e.to_string() })?,
            None => {
                let mut c = tokio_postgres::Config::new();
                c.dbname(get("DB_NAME").unwrap_or_else(|| "crm".into()));
                c.user(get("DB_USER").unwrap_or_else(|| "crm_owner".into()));
                if let Some(password) = get("DB_PASSWORD") {
                    c.password(password);
                }
                c.host(get("DB_HOST").unwrap_or_else(|| "127.0.0.1".into()));
                c.port(parse("DB_PORT", get("DB_PORT"), 5433u16)?);
                c
            }
        };
        Ok(Config {
            database,
            statement_timeout: Duration::from_millis(parse(
                "DB_STATEMENT_TIMEOUT",
                get("DB_STATEMENT_TIMEOUT"),
                30_000u64,
            )?),
            bind: parse("API_BIND", get("API_BIND"), SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            pool_size: parse("DB_POOL_SIZE", get("DB_POOL_SIZE"), 16usize)?,
            pool_timeout: Duration::from_millis(parse("DB_POOL_TIMEOUT", get("DB_POOL_TIMEOUT"), 5_000u64)?),
            public_base_url: get("PUBLIC_BASE_URL")
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().trim_end_matches('/').to_string()),
            tokens: get("API_TOKENS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(crate::auth::Token::parse)
                .collect(),
            log_format: parse("LOG_FORMAT", get("LOG_FORMAT"), LogFormat::Text)?,
            postings_refresh_after: parse("POSTINGS_REFRESH_AFTER", get("POSTINGS_REFRESH_AFTER"), 10_000i64)?,
            postings_refresh_every: Duration::from_secs(
                parse("POSTINGS_REFRESH_EVERY", get("POSTINGS_REFRESH_EVERY"), 30u64)?.max(1),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.statement_timeout, Duration::from_secs(30));
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.pool_size, 16);
        assert_eq!(c.database.get_dbname(), Some("crm"));
        assert_eq!(c.database.get_ports(), [5433]);
    }

    #[test]
    fn database_url_wins_over_parts() {
        let c = config(&[("DATABASE_URL", "postgres://u:p@db:6000/x"), ("DB_NAME", "ignored")]).unwrap();
        assert_eq!(c.database.get_dbname(), Some("x"));
        assert_eq!(c.database.get_user(), Some("u"));
        assert_eq!(c.database.get_ports(), [6000]);
    }

    #[test]
    fn parts_like_the_original() {
        let c = config(&[("DB_NAME", "n"), ("DB_USER", "u"), ("DB_PASSWORD", "p"), ("DB_HOST", "h"), ("DB_PORT", "7")])
            .unwrap();
        assert_eq!(c.database.get_dbname(), Some("n"));
        assert_eq!(c.database.get_password(), Some(&b"p"[..]));
        assert_eq!(c.database.get_ports(), [7]);
    }

    #[test]
    fn the_apis_own_url_wins() {
        let c =
            config(&[("API_DATABASE_URL", "postgres://api@h/x"), ("DATABASE_URL", "postgres://owner@h/x")]).unwrap();
        assert_eq!(c.database.get_user(), Some("api"));
    }

    #[test]
    fn without_tokens_only_loopback() {
        let c = config(&[("API_BIND", "0.0.0.0:9000")]).unwrap();
        let (addr, why) = c.listen_address();
        assert_eq!(addr.to_string(), "127.0.0.1:9000");
        assert!(why.unwrap().contains("API_TOKENS is not set"));
        let c = config(&[("API_BIND", "0.0.0.0:9000"), ("API_TOKENS", " a, ,b ")]).unwrap();
        let secrets: Vec<&str> = c.tokens.iter().map(|t| t.secret.as_str()).collect();
        assert_eq!(secrets, ["a", "b"]);
        assert_eq!(c.listen_address(), ("0.0.0.0:9000".parse().unwrap(), None));
        let c = config(&[("API_BIND", "127.0.0.1:9000")]).unwrap();
        assert_eq!(c.listen_address().1, None);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = config(&[("DB_STATEMENT_TIMEOUT", "soon")]).unwrap_err();
        assert!(e.to_string().starts_with("DB_STATEMENT_TIMEOUT is invalid"), "{e}");
        assert!(config(&[("API_BIND", "nowhere")]).is_err());
        assert!(config(&[("LOG_FORMAT", "xml")]).unwrap_err().to_string().starts_with("LOG_FORMAT is invalid"));
        let c = config(&[("DB_STATEMENT_TIMEOUT", "250"), ("PUBLIC_BASE_URL", "https://x.test/")]).unwrap();
        assert_eq!(c.statement_timeout, Duration::from_millis(250));
        assert_eq!(c.public_base_url.as_deref(), Some("https://x.test"));
    }
}
