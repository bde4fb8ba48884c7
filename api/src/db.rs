//! The connection pool and the three calls into the extension. Each returns
//! the JSON text PostgreSQL produced; the API never re-serializes it.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::Value;
use tokio_postgres::NoTls;

use crate::config::Config;
use crate::error::ApiError;

/// A pool whose sessions carry the statement timeout.
pub fn pool(config: &Config) -> anyhow::Result<Pool> {
    let mut database = config.database.clone();
    let timeout = format!("-c statement_timeout={}", config.statement_timeout.as_millis());
    let options = match database.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {timeout}"),
        _ => timeout,
    };
    database.options(&options);
    database.application_name("crm-api");
    database.connect_timeout(config.pool_timeout);
    let manager = Manager::from_config(database, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Ok(Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.pool_timeout))
        .create_timeout(Some(config.pool_timeout))
        .recycle_timeout(Some(config.pool_timeout))
        .build()?)
}

/// Runs one statement returning one text value (or NULL).
async fn call(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<String>, ApiError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(sql).await?;
    let row = client.query_one(&statement, params).await?;
    Ok(row.get(0))
}

/// `crm.contacts_page(params, url)`.
pub async fn contacts_page(pool: &Pool, params: &Value, url: &str) -> Result<String, ApiError> {
    let page = call(pool, "SELECT crm.contacts_page($1::jsonb, $2::text)::text", &[params, &url]).await?;
    Ok(page.unwrap_or_default())
}

/// `crm.contact(id)`; `None` when there is no such contact.
pub async fn contact(pool: &Pool, id: i64) -> Result<Option<String>, ApiError> {
    call(pool, "SELECT crm.contact($1::bigint)::text", &[&id]).await
}

/// `crm.stats()`.
pub async fn stats(pool: &Pool) -> Result<String, ApiError> {
    Ok(call(pool, "SELECT crm.stats()::text", &[]).await?.unwrap_or_default())
}
