//! The connection pool and the calls into the extension. Each returns
//! the JSON text PostgreSQL produced; the API never re-serializes it.

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
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
    if database.get_application_name().is_none() {
        database.application_name("crm-api");
    }
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

/// A pooled session while its query runs. If dropped before `finish` (the
/// client went away and hyper dropped the request's future), the query is
/// cancelled and the session leaves the pool for good, so that a late
/// cancel can never hit the next request on the same connection.
pub struct RunningQuery {
    session: Option<Object>,
}

impl RunningQuery {
    pub fn new(session: Object) -> RunningQuery {
        RunningQuery { session: Some(session) }
    }

    /// The session, for several statements (an import's transaction).
    pub fn session(&mut self) -> &mut Object {
        self.session.as_mut().expect("set until finished")
    }

    pub fn finish(mut self) {
        // Back to the pool: the query is over, whatever its result.
        self.session.take();
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            tracing::info!("client went away: cancelling its query");
            let token = session.cancel_token();
            let detached = Object::take(session);
            tokio::spawn(async move {
                if let Err(error) = token.cancel_query(NoTls).await {
                    tracing::warn!(%error, "could not cancel the query");
                }
                drop(detached);
            });
        }
    }
}

/// Runs one statement returning one row.
async fn call_row(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<tokio_postgres::Row, ApiError> {
    let running = RunningQuery::new(pool.get().await?);
    let session = running.session.as_ref().expect("set above");
    let result = async {
        let statement = session.prepare_cached(sql).await?;
        session.query_one(&statement, params).await
    }
    .await;
    running.finish();
    Ok(result?)
}

/// Runs one statement returning one text value (or NULL).
async fn call(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<String>, ApiError> {
    Ok(call_row(pool, sql, params).await?.get(0))
}

/// An object's JSON (a contact, an address) and its version tag
/// (`crm.etag`), from a statement whose one column `c` is the object.
async fn object_and_tag(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<(String, String)>, ApiError> {
    let row = call_row(pool, sql, params).await?;
    Ok(row.get::<_, Option<String>>(0).zip(row.get::<_, Option<String>>(1)))
}

/// Which change a write to an existing object makes.
#[derive(Clone, Copy, Debug)]
pub enum Change {
    /// PATCH: the given keys.
    Update,
    /// PUT: the whole object.
    Replace,
}

/// What the extension reads and writes one at a time, with a version:
/// `crm.<name>(id)`, `crm.create_<name>(body)`, `crm.update_<name>`,
/// `crm.replace_<name>`, `crm.delete_<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Contact,
    Address,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Contact => "contact",
            Resource::Address => "address",
        }
    }
}

/// `crm.<resource>(id)` with its tag; `None` when there is no such object.
pub async fn object_with_tag(pool: &Pool, resource: Resource, id: i64) -> Result<Option<(String, String)>, ApiError> {
    let sql = format!("SELECT c::text, crm.etag(c) FROM crm.{}($1::bigint) c", resource.name());
    object_and_tag(pool, &sql, &[&id]).await
}

/// `crm.create_<resource>(body)`: the object and its tag.
pub async fn create(pool: &Pool, resource: Resource, body: &Value) -> Result<(String, String), ApiError> {
    let sql = format!("SELECT c::text, crm.etag(c) FROM crm.create_{}($1::jsonb) c", resource.name());
    Ok(object_and_tag(pool, &sql, &[body]).await?.expect("a created object is returned"))
}

/// `crm.update_<resource>` or `crm.replace_<resource>`: the object and its tag.
pub async fn change(
    pool: &Pool,
    resource: Resource,
    id: i64,
    body: &Value,
    if_match: Option<String>,
    how: Change,
) -> Result<(String, String), ApiError> {
    let verb = match how {
        Change::Update => "update",
        Change::Replace => "replace",
    };
    let sql =
        format!("SELECT c::text, crm.etag(c) FROM crm.{verb}_{}($1::bigint, $2::jsonb, $3::text) c", resource.name());
    Ok(object_and_tag(pool, &sql, &[&id, body, &if_match]).await?.expect("a changed object is returned"))
}

/// `crm.delete_<resource>(id, if_match)`.
pub async fn delete(pool: &Pool, resource: Resource, id: i64, if_match: Option<String>) -> Result<(), ApiError> {
    let sql = format!("SELECT NULL::text FROM crm.delete_{}($1::bigint, $2::text)", resource.name());
    call(pool, &sql, &[&id, &if_match]).await.map(|_| ())
}

/// `crm.addresses_page(params, url)`.
pub async fn addresses_page(pool: &Pool, params: &Value, url: &str) -> Result<String, ApiError> {
    let page = call(pool, "SELECT crm.addresses_page($1::jsonb, $2::text)::text", &[params, &url]).await?;
    Ok(page.unwrap_or_default())
}

/// A round trip to the database through the pool.
pub async fn ping(pool: &Pool) -> Result<(), ApiError> {
    call(pool, "SELECT NULL::text", &[]).await.map(|_| ())
}

/// `crm.openapi()`: the OpenAPI description, generated by the extension
/// from its field table.
pub async fn openapi(pool: &Pool) -> Result<String, ApiError> {
    Ok(call(pool, "SELECT crm.openapi()::text", &[]).await?.unwrap_or_default())
}

/// `crm.contacts_page(params, url)`.
pub async fn contacts_page(pool: &Pool, params: &Value, url: &str) -> Result<String, ApiError> {
    let page = call(pool, "SELECT crm.contacts_page($1::jsonb, $2::text)::text", &[params, &url]).await?;
    Ok(page.unwrap_or_default())
}

/// `crm.stats()`.
pub async fn stats(pool: &Pool) -> Result<String, ApiError> {
    Ok(call(pool, "SELECT crm.stats()::text", &[]).await?.unwrap_or_default())
}
