//! The postings' refresh in the background. Contacts written since the
//! postings' snapshot are matched by SQL on every request, which gets
//! slower as they add up (at 3M, the median request went from 3.7 ms to
//! 56 ms after 100,000 writes). Every `POSTINGS_REFRESH_EVERY` seconds
//! the API asks the extension for a new snapshot, which it makes only when
//! at least `POSTINGS_REFRESH_AFTER` contacts are dirty and no other
//! refresh runs (`crm.refresh_stale_postings`). Readers and writers go on
//! meanwhile.

use std::time::Duration;

use deadpool_postgres::Pool;

use crate::error::ApiError;

/// Runs for ever: one check per `every`.
pub async fn run(pool: Pool, every: Duration, min_dirty: i64) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match refresh_once(&pool, min_dirty).await {
            Ok(Some(report)) => tracing::info!(%report, "postings refreshed"),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "postings refresh failed"),
        }
    }
}

/// One check; the report when it refreshed. A refresh takes longer than a
/// request may (40 s at 3M): its transaction has no statement timeout.
pub async fn refresh_once(pool: &Pool, min_dirty: i64) -> Result<Option<String>, ApiError> {
    let mut session = pool.get().await?;
    let transaction = session.transaction().await?;
    transaction.batch_execute("SET LOCAL statement_timeout = 0").await?;
    let row = transaction.query_one("SELECT crm.refresh_stale_postings($1::bigint)::text", &[&min_dirty]).await?;
    transaction.commit().await?;
    Ok(row.get(0))
}
