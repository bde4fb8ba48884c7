//! The write group (`--scenarios writes`, or `writes:single`,
//! `writes:import`, `writes:export`): what writing costs on each variant,
//! through the HTTP API, next to the read scenarios. Not part of `all`.
//!
//! Per variant, after its reads: N single creates, PATCHes and DELETEs
//! (each timed), one import of M rows (rows/s), then the cleanup (every
//! contact and address the bench made deleted by marker, VACUUM), then one
//! export of the table as CSV (rows/s, MB/s) on the data as it was.
//!
//! - [`plan`]: parts, sizes, the marker; [`generate`]: the contacts sent;
//! - [`send`], [`single`], [`import`], [`export`]: the requests;
//! - [`cleanup`]: undoing the writes; [`results`], [`report`]: what is
//!   written (JSON, CSV, REPORT.md, console).

pub mod cleanup;
pub mod export;
pub mod generate;
pub mod import;
pub mod plan;
pub mod report;
pub mod results;
pub mod send;
pub mod single;

use anyhow::{bail, Result};

use crate::client::http::HttpClient;
use crate::db::Admin;
use crate::progress::Progress;
pub use plan::{WriteParts, WritePlan};
pub use results::{Cleanup, WriteResult};

/// What the write group has produced so far in a run.
#[derive(Debug, Default)]
pub struct Written {
    pub results: Vec<WriteResult>,
    /// Contacts or addresses carrying the marker may exist: the run must
    /// clean up before it ends (also when it is stopped).
    pub pending: bool,
}

/// Requests of one variant, for the progress bar.
fn planned(plan: &WritePlan) -> u64 {
    let p = plan.parts;
    3 * plan.single_writes * u64::from(p.single) + u64::from(p.import) + u64::from(p.export)
}

/// The write group on `variant` (already active). Returns the cleanup
/// done (when something was written) and whether the run may go on.
pub async fn measure(
    http: &HttpClient,
    admin: &Admin,
    plan: &WritePlan,
    variant: &str,
    progress: &Progress,
    written: &mut Written,
) -> (Option<Cleanup>, Result<()>) {
    progress.stage(variant, planned(plan));
    let first = written.results.len();
    let mut outcome = Ok(());
    if plan.parts.writes_data() {
        written.pending = true;
        outcome = write(http, admin, plan, variant, progress, &mut written.results).await;
    }
    for result in &written.results[first..] {
        progress.line(report::line(result));
    }
    let cleanup = if written.pending { Some(clean(admin, plan, progress, written).await) } else { None };
    if written.pending {
        // Not undone: measuring on would only pile more rows onto the data.
        let why = cleanup.as_ref().and_then(|c| c.error.clone()).unwrap_or_default();
        return (cleanup, Err(anyhow::anyhow!("the cleanup failed: {why}")));
    }
    if outcome.is_ok() && plan.parts.export {
        // The import and the cleanup left many contacts dirty: the refresh
        // the API would start within its period is run here, before the
        // export is timed, not during it.
        quiet(admin, progress).await;
        match admin.refresh_stale_postings(REFRESH_DUE).await {
            Ok(Some(seconds)) => progress.line(format!("  postings refreshed after the writes in {seconds:.1} s")),
            Ok(None) => {}
            Err(e) => progress.line(format!("  postings not refreshed: {e:#}")),
        }
        match export::run(http, plan, variant, progress).await {
            Ok(result) => {
                progress.line(report::line(&result));
                written.results.push(result);
            }
            Err(e) => outcome = Err(e),
        }
    }
    (cleanup, outcome)
}

async fn write(
    http: &HttpClient,
    admin: &Admin,
    plan: &WritePlan,
    variant: &str,
    progress: &Progress,
    out: &mut Vec<WriteResult>,
) -> Result<()> {
    if plan.parts.single {
        quiet(admin, progress).await;
        single::run(http, plan, variant, progress, out).await?;
    }
    if plan.parts.import {
        quiet(admin, progress).await;
        out.push(import::run(http, plan, variant, progress).await?);
    }
    Ok(())
}

/// Each timed part starts with the database idle: a postings refresh that
/// earlier writes set off (or an autovacuum) is waited for, up to
/// `QUIET_LIMIT`, so that a part measures itself, not what came before.
async fn quiet(admin: &Admin, progress: &Progress) {
    progress.message("waiting for background work (postings refresh, autovacuum) to finish");
    match admin.wait_until_quiet(QUIET_LIMIT).await {
        Ok(waited) if waited >= 1.0 => progress.line(format!("  waited {waited:.0} s for background work to finish")),
        Ok(_) => {}
        Err(e) => progress.line(format!("  could not watch background work: {e:#}")),
    }
}

/// Dirty contacts from which the API's background task refreshes the
/// postings (its `POSTINGS_REFRESH_AFTER` default).
const REFRESH_DUE: i64 = 10_000;

const QUIET_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Deletes what carries the marker and checks that nothing is left;
/// `written.pending` is cleared only then. A failure is in the result's
/// `error`.
pub async fn clean(admin: &Admin, plan: &WritePlan, progress: &Progress, written: &mut Written) -> Cleanup {
    progress.message(if plan.vacuum {
        "deleting what the bench wrote, then VACUUM"
    } else {
        "deleting what the bench wrote"
    });
    let outcome = async {
        let done = cleanup::run(admin, &plan.marker, plan.vacuum).await?;
        let (contacts, addresses) = cleanup::remaining(admin, &plan.marker).await?;
        if contacts + addresses > 0 {
            bail!("{contacts} contacts and {addresses} addresses still carry the marker {}", plan.marker);
        }
        Ok(done)
    }
    .await;
    let cleanup = match outcome {
        Ok(done) => {
            written.pending = false;
            done
        }
        Err(e) => Cleanup {
            error: Some(format!(
                "{e:#}: delete them with DELETE FROM appuser WHERE last_name LIKE '{0} %'; \
                 DELETE FROM address WHERE street LIKE '{0} %'",
                plan.marker
            )),
            ..Default::default()
        },
    };
    progress.line(report::cleanup_line(&cleanup));
    cleanup
}
