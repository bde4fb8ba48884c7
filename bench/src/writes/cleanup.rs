//! Undoing the write group: every contact whose last name starts with the
//! run's marker (their relationships go with them, ON DELETE CASCADE; the
//! projection follows through its triggers), then every address whose
//! street starts with it and that no contact uses any more; then VACUUM,
//! so that the next measurements do not read the dead rows. Through the
//! bench's own session, as the tables' owner; not timed as a result.
//!
//! Deleting by marker, not by ids collected on the way, also removes what
//! a run interrupted half-way (or an import whose answer was lost) left.

use std::time::Instant;

use anyhow::{Context, Result};

use super::plan::like_pattern;
use super::results::Cleanup;
use crate::db::{Admin, PROJECTION};

const DELETE_CONTACTS: &str = "DELETE FROM appuser WHERE last_name LIKE $1";
const DELETE_ADDRESSES: &str = "DELETE FROM address a WHERE a.street LIKE $1 \
     AND NOT EXISTS (SELECT 1 FROM appuser u WHERE u.address_id = a.id)";
const TABLES: &str = "address, appuser, customer_relationship";

/// Deletes what carries `marker`, then vacuums when `vacuum_after`
/// (`--no-vacuum`: not). A failed DELETE is an
/// error (the data set is not as it was: the caller says so); a failed
/// VACUUM is only noted.
pub async fn run(admin: &Admin, marker: &str, vacuum_after: bool) -> Result<Cleanup> {
    let pattern = like_pattern(marker);
    let session = admin.session();
    let started = Instant::now();
    let contacts_deleted = session.execute(DELETE_CONTACTS, &[&pattern]).await.context("deleting the contacts")?;
    let addresses_deleted = session.execute(DELETE_ADDRESSES, &[&pattern]).await.context("deleting the addresses")?;
    let delete_s = started.elapsed().as_secs_f64();
    let (mut vacuum_s, mut error) = (None, None);
    if vacuum_after {
        let started = Instant::now();
        error = vacuum(admin).await.err().map(|e| format!("{e:#}"));
        vacuum_s = Some(started.elapsed().as_secs_f64());
    }
    Ok(Cleanup { contacts_deleted, addresses_deleted, delete_s, vacuum_s, error })
}

async fn vacuum(admin: &Admin) -> Result<()> {
    let projection = admin.variant().await?.has_projection();
    let tables = if projection { format!("{TABLES}, {PROJECTION}") } else { TABLES.to_string() };
    admin.session().batch_execute(&format!("VACUUM ANALYZE {tables}")).await.with_context(|| format!("VACUUM {tables}"))
}

/// Contacts and addresses still carrying `marker` (0 and 0 after a cleanup).
pub async fn remaining(admin: &Admin, marker: &str) -> Result<(i64, i64)> {
    let row = admin
        .session()
        .query_one(
            "SELECT (SELECT count(*) FROM appuser WHERE last_name LIKE $1), \
                    (SELECT count(*) FROM address WHERE street LIKE $1)",
            &[&like_pattern(marker)],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
