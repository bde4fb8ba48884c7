//! The load: preparing the tables, generating rows alongside the COPY, and
//! finishing (constraints, the index variant, ANALYZE).
//!
//! Transactions, and why:
//! - `--truncate` runs everything up to the COMMIT in one transaction:
//!   TRUNCATE, dropping indexes and constraints, every COPY, rebuilding the
//!   constraints. An interrupt or a killed process anywhere before COMMIT
//!   leaves the tables exactly as they were. It is also the fast path: with
//!   `wal_level = minimal` rows copied into a table truncated in the same
//!   transaction skip the WAL, `COPY … FREEZE` writes them frozen and
//!   all-visible, and indexes are built once over all rows.
//! - Appending commits each batch (its contacts with their relationships) in
//!   its own transaction: the tables stay readable and writable meanwhile, and
//!   an interrupt keeps the whole batches already committed. Contacts without
//!   relationships, partial batches and duplicates are never visible; ids
//!   are reserved in the sequences up front, so a later run never reuses them.
//! - The index variant's (extension-managed) indexes are rebuilt after the
//!   commit over several connections, which one transaction cannot use.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use chrono::{DateTime, Utc};
use futures_util::{stream, Stream, StreamExt};
use indicatif::ProgressBar;
use tokio_postgres::Client;

use crate::copy::copy_rows;
use crate::db::Database;
use crate::generate::Generator;
use crate::ids::{IdBlock, MAX_CONTACT_ID};
use crate::indexes;
use crate::progress::Progress;
use crate::schema::{self, Constraints, TABLES};
use crate::summary::{LoadSummary, TableSummary, Timings};

/// What to load, and where.
#[derive(Clone)]
pub struct LoadConfig {
    /// A libpq-style URL or key=value connection string.
    pub database_url: String,
    /// Contacts to add (each with one relationship); addresses are a tenth.
    pub count: u64,
    /// Rows per COPY and per progress step (per transaction when appending).
    pub batch_size: u64,
    pub seed: u64,
    /// The reference instant "now" of every generated date. The same seed
    /// and the same `now` give the same rows.
    pub now: DateTime<Utc>,
    /// Replace the tables' rows (ids restart at 1) instead of appending.
    pub truncate: bool,
    pub show_progress: bool,
    /// Connections building indexes and running ANALYZE at the end.
    pub index_jobs: usize,
}

impl LoadConfig {
    pub const DEFAULT_COUNT: u64 = 3_000_000;
    pub const DEFAULT_BATCH_SIZE: u64 = 10_000;
    pub const DEFAULT_SEED: u64 = 42;

    /// The defaults of the command line, without progress bars.
    pub fn new(database_url: impl Into<String>) -> Self {
        LoadConfig {
            database_url: database_url.into(),
            count: Self::DEFAULT_COUNT,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            seed: Self::DEFAULT_SEED,
            now: start_of_day(Utc::now()),
            truncate: false,
            show_progress: false,
            index_jobs: default_jobs(),
        }
    }

    /// Addresses to add: one per ten contacts, at least one so that every
    /// contact has an address.
    pub fn addresses(&self) -> u64 {
        self.count.div_ceil(10)
    }

    fn validate(&self) -> Result<()> {
        ensure!(self.count >= 1, "--count must be at least 1");
        ensure!(self.count <= MAX_CONTACT_ID as u64, "--count must be at most {MAX_CONTACT_ID}");
        ensure!(self.batch_size >= 1, "--batch-size must be at least 1");
        ensure!(self.index_jobs >= 1, "--index-jobs must be at least 1");
        Ok(())
    }
}

/// Midnight UTC of the day of `t`: the default `now`, so that runs on the
/// same day give the same rows.
pub fn start_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// One connection per core: more only queue up for the CPU.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The load was stopped; the message says what the database holds.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);

/// Loads with `config`, until done or failed.
pub async fn load(config: &LoadConfig) -> Result<LoadSummary> {
    load_until(config, std::future::pending()).await
}

/// Loads with `config`, stopping early (with [`Interrupted`]) when `stop`
/// completes. The server-side work is cancelled before returning.
pub async fn load_until(config: &LoadConfig, stop: impl Future<Output = ()>) -> Result<LoadSummary> {
    config.validate()?;
    let db = Database::new(&config.database_url)?;
    let checkpoint = Checkpoint::default();
    let outcome = tokio::select! {
        biased;
        () = stop => Err(Interrupted(checkpoint.describe()).into()),
        result = run(config, &db, &checkpoint) => result,
    };
    if outcome.is_err() {
        db.cancel_all().await;
    }
    outcome
}

/// How far the load got, to tell what an interrupt leaves behind.
#[derive(Default)]
struct Checkpoint(Mutex<Reached>);

#[derive(Default)]
struct Reached {
    stage: Stage,
    committed_contacts: u64,
    /// The variant whose indexes were dropped, until they are rebuilt.
    variant_to_restore: Option<String>,
}

#[derive(Clone, Copy, Default)]
enum Stage {
    #[default]
    Preparing,
    OneTransaction,
    Committing,
    PerBatch,
    Indexing,
    Analyzing,
}

impl Checkpoint {
    fn update(&self, f: impl FnOnce(&mut Reached)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn stage(&self, stage: Stage) {
        self.update(|r| r.stage = stage);
    }

    fn describe(&self) -> String {
        let r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut parts = vec![match r.stage {
            Stage::Preparing => "no rows were written".to_string(),
            Stage::OneTransaction => {
                "the load ran in one transaction, which is rolled back: the tables are as they were".into()
            }
            Stage::Committing => {
                "the load was committing its one transaction: either all rows are there or none".into()
            }
            Stage::PerBatch => format!(
                "{} contacts were committed in whole batches, each contact with its relationship \
                 (the batch being committed may have made it too); nothing else was written",
                r.committed_contacts
            ),
            Stage::Indexing | Stage::Analyzing => "all rows were committed".into(),
        }];
        if let Some(variant) = &r.variant_to_restore {
            parts.push(match variant.as_str() {
                "custom" => "some crm_ indexes dropped for the load are not rebuilt (see crm.variant())".into(),
                v => format!("the indexes of variant {v} are not all rebuilt: run SELECT crm.use_variant('{v}')"),
            });
        }
        if let Stage::Analyzing = r.stage {
            parts.push("statistics may be out of date: run ANALYZE".into());
        }
        parts.join("; ")
    }
}

/// The ids each table gets.
struct Blocks {
    addresses: IdBlock,
    contacts: IdBlock,
    relationships: IdBlock,
}

async fn reserve(client: &Client, config: &LoadConfig) -> Result<Blocks> {
    Ok(Blocks {
        addresses: schema::reserve_ids(client, "address", config.addresses(), i64::MAX).await?,
        contacts: schema::reserve_ids(client, "appuser", config.count, MAX_CONTACT_ID).await?,
        relationships: schema::reserve_ids(client, "customer_relationship", config.count, i64::MAX).await?,
    })
}

async fn run(config: &LoadConfig, db: &Database, checkpoint: &Checkpoint) -> Result<LoadSummary> {
    let started = Instant::now();
    let generator = Arc::new(Generator::new(config.seed, config.now)?);
    let client = db.connect().await?;
    schema::check(&client).await?;
    let noted = indexes::variant(&client).await?;
    // Batch commits need not wait for the disk: a server crash could lose
    // the last batches, never split one.
    client.batch_execute("SET synchronous_commit = off").await.context("cannot configure the session")?;

    let existing_contacts = if config.truncate { 0 } else { schema::count_contacts(&client).await? };
    // Rebuilding the variant's indexes once beats maintaining them row by
    // row, unless the load is small next to what is already there.
    let rebuild = noted.has_managed_indexes() && config.count >= existing_contacts;
    let drop_variant = rebuild.then_some(noted.variant.as_str());

    let progress = Progress::new(config.show_progress);
    let copier = Copier {
        client: &client,
        generator,
        batch_size: config.batch_size,
        depth: default_jobs().max(2),
        one_transaction: config.truncate,
        checkpoint,
    };
    let mut timings = Timings::default();
    let (blocks, copied) = if config.truncate {
        replace(&copier, config, &progress, drop_variant, &mut timings).await?
    } else {
        append(&copier, config, &progress, drop_variant, &mut timings).await?
    };

    // Relative sizes, to start the longest statements first.
    let contacts_after = existing_contacts + config.count;
    let rows = |table: &str| if table == "address" { copied.addresses_total } else { contacts_after };
    if rebuild {
        checkpoint.stage(Stage::Indexing);
        let building = Instant::now();
        let projection = noted.has_projection().then_some(noted.variant.as_str());
        let jobs = noted.rebuild_jobs(rows);
        let bar = progress.steps("indexes", jobs.len() as u64 + u64::from(projection.is_some()));
        // The tables' indexes are built while the projection fills: its
        // phase includes them, and the index phase is what follows.
        timings.projection = indexes::run_parallel(db, projection, jobs, config.index_jobs, &bar).await?;
        checkpoint.update(|r| r.variant_to_restore = None);
        timings.indexes = building.elapsed() - timings.projection;
    }
    checkpoint.stage(Stage::Analyzing);
    let analyzing = Instant::now();
    let mut jobs = indexes::analyze_jobs(&TABLES, rows);
    if noted.has_projection() {
        jobs.extend(indexes::vacuum_projection_jobs(contacts_after));
    }
    let bar = progress.steps("analyze", jobs.len() as u64);
    indexes::run_parallel(db, None, jobs, config.index_jobs, &bar).await?;
    timings.analyze = analyzing.elapsed();

    let after = indexes::variant(&client).await?;
    if after.variant != noted.variant {
        bail!("the index variant was {} before the load but is {} after it", noted.variant, after.variant);
    }
    let (database_bytes, sizes) = schema::sizes(&client).await?;
    let bytes = |table: &str| sizes.iter().find(|(t, _)| *t == table).map_or(0, |(_, b)| *b);
    let table = |table: &'static str, ids: IdBlock, copy_time: Duration| TableSummary {
        table,
        ids,
        copy_time,
        bytes: bytes(table),
    };
    timings.total = started.elapsed();
    Ok(LoadSummary {
        tables: vec![
            table("address", blocks.addresses, copied.addresses),
            table("appuser", blocks.contacts, copied.contacts),
            table("customer_relationship", blocks.relationships, copied.relationships),
        ],
        seed: config.seed,
        now: config.now,
        truncated: config.truncate,
        variant: after.variant,
        timings,
        database_bytes,
    })
}

/// `--truncate`: everything up to the COMMIT in one transaction. `drop_variant`
/// names the variant whose indexes are dropped for the load.
async fn replace(
    copier: &Copier<'_>,
    config: &LoadConfig,
    progress: &Progress,
    drop_variant: Option<&str>,
    timings: &mut Timings,
) -> Result<(Blocks, Copied)> {
    let (client, checkpoint) = (copier.client, copier.checkpoint);
    let copying = Instant::now();
    client
        .batch_execute("BEGIN; TRUNCATE address, appuser, customer_relationship RESTART IDENTITY")
        .await
        .context("cannot truncate the tables")?;
    checkpoint.stage(Stage::OneTransaction);
    if drop_variant.is_some() {
        indexes::use_baseline(client).await?;
    }
    let constraints = Constraints::capture(client).await?;
    constraints.drop(client).await?;
    let blocks = reserve(client, config).await?;
    let copied = copier.copy(&blocks, progress).await?;
    timings.copy = copying.elapsed();

    let finishing = Instant::now();
    let bar = progress.steps("constraints", constraints.count() as u64 + 1);
    constraints.restore(client, &bar).await?;
    checkpoint.update(|r| {
        r.stage = Stage::Committing;
        r.variant_to_restore = drop_variant.map(str::to_string);
    });
    // With wal_level = minimal, COMMIT writes the new files to disk.
    bar.set_message("COMMIT");
    client.batch_execute("COMMIT").await.context("cannot commit the load")?;
    bar.inc(1);
    bar.finish_with_message("done");
    timings.constraints = finishing.elapsed();
    Ok((blocks, copied))
}

/// Appending: ids reserved up front, then one transaction per batch.
async fn append(
    copier: &Copier<'_>,
    config: &LoadConfig,
    progress: &Progress,
    drop_variant: Option<&str>,
    timings: &mut Timings,
) -> Result<(Blocks, Copied)> {
    let (client, checkpoint) = (copier.client, copier.checkpoint);
    let copying = Instant::now();
    if let Some(variant) = drop_variant {
        indexes::use_baseline(client).await?;
        checkpoint.update(|r| r.variant_to_restore = Some(variant.to_string()));
    }
    // The lock makes the reservation atomic against another loader; it
    // lets readers through and lasts only for the reservation.
    client
        .batch_execute("BEGIN; LOCK TABLE address, appuser, customer_relationship IN SHARE ROW EXCLUSIVE MODE")
        .await
        .context("cannot lock the tables to reserve ids")?;
    let blocks = reserve(client, config).await?;
    client.batch_execute("COMMIT").await.context("cannot reserve ids")?;
    checkpoint.stage(Stage::PerBatch);
    let copied = copier.copy(&blocks, progress).await?;
    timings.copy = copying.elapsed();
    Ok((blocks, copied))
}

/// Time spent in each table's COPY statements, and the addresses in the table
/// after the copy.
struct Copied {
    addresses: Duration,
    contacts: Duration,
    relationships: Duration,
    addresses_total: u64,
}

/// Generates batches on the blocking pool, `depth` ahead of the writer, and
/// yields them in order (so that equal seeds give equal physical tables).
fn generated<T, F>(chunks: impl Iterator<Item = IdBlock>, depth: usize, make: F) -> impl Stream<Item = Result<T>>
where
    T: Send + 'static,
    F: Fn(IdBlock) -> T + Send + Sync + 'static,
{
    let make = Arc::new(make);
    stream::iter(chunks)
        .map(move |chunk| {
            let make = Arc::clone(&make);
            async move { tokio::task::spawn_blocking(move || make(chunk)).await.context("row generation failed") }
        })
        .buffered(depth)
}

struct Copier<'a> {
    client: &'a Client,
    generator: Arc<Generator>,
    batch_size: u64,
    depth: usize,
    /// Inside the caller's transaction (and the tables truncated in it), or
    /// one transaction per batch.
    one_transaction: bool,
    checkpoint: &'a Checkpoint,
}

impl Copier<'_> {
    async fn copy(&self, blocks: &Blocks, progress: &Progress) -> Result<Copied> {
        let bars = [
            progress.rows("address", blocks.addresses.len),
            progress.rows("appuser", blocks.contacts.len),
            progress.rows("customer_relationship", blocks.relationships.len),
        ];
        let addresses = self.addresses(blocks.addresses, &bars[0]).await?;
        // Every address, old and new, in id order: contacts take them round-robin.
        let pool: Arc<[i64]> = self
            .client
            .query("SELECT id FROM address ORDER BY id", &[])
            .await
            .context("cannot read the address ids")?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let addresses_total = pool.len() as u64;
        let (contacts, relationships) = self.contacts(blocks, pool, &bars[1], &bars[2]).await?;
        Ok(Copied { addresses, contacts, relationships, addresses_total })
    }

    async fn begin(&self) -> Result<()> {
        if !self.one_transaction {
            self.client.batch_execute("BEGIN").await.context("cannot begin a batch")?;
        }
        Ok(())
    }

    async fn commit(&self) -> Result<()> {
        if !self.one_transaction {
            self.client.batch_execute("COMMIT").await.context("cannot commit a batch")?;
        }
        Ok(())
    }

    async fn addresses(&self, block: IdBlock, bar: &ProgressBar) -> Result<Duration> {
        let generator = Arc::clone(&self.generator);
        let mut batches = pin!(generated(block.chunks(self.batch_size), self.depth, move |c| generator.addresses(c)));
        let mut time = Duration::ZERO;
        while let Some(rows) = batches.next().await {
            let rows = rows?;
            self.begin().await?;
            let copying = Instant::now();
            copy_rows(self.client, &rows, self.one_transaction).await?;
            time += copying.elapsed();
            self.commit().await?;
            bar.inc(rows.len() as u64);
        }
        bar.finish();
        Ok(time)
    }

    async fn contacts(
        &self,
        blocks: &Blocks,
        pool: Arc<[i64]>,
        contact_bar: &ProgressBar,
        relationship_bar: &ProgressBar,
    ) -> Result<(Duration, Duration)> {
        let generator = Arc::clone(&self.generator);
        // Relationships are numbered in step with their contacts.
        let offset = blocks.relationships.first - blocks.contacts.first;
        let mut batches = pin!(generated(blocks.contacts.chunks(self.batch_size), self.depth, move |c| {
            generator.contacts(c, c.first + offset, &pool)
        }));
        let (mut contact_time, mut relationship_time) = (Duration::ZERO, Duration::ZERO);
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            self.begin().await?;
            let copying = Instant::now();
            copy_rows(self.client, &batch.contacts, self.one_transaction).await?;
            contact_time += copying.elapsed();
            let copying = Instant::now();
            copy_rows(self.client, &batch.relationships, self.one_transaction).await?;
            relationship_time += copying.elapsed();
            self.commit().await?;
            let n = batch.contacts.len() as u64;
            if !self.one_transaction {
                self.checkpoint.update(|r| r.committed_contacts += n);
            }
            contact_bar.inc(n);
            relationship_bar.inc(n);
        }
        contact_bar.finish();
        relationship_bar.finish();
        Ok((contact_time, relationship_time))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn defaults_and_validation() {
        let mut config = LoadConfig::new("postgres://localhost/crm");
        assert_eq!((config.count, config.batch_size, config.addresses()), (3_000_000, 10_000, 300_000));
        assert!(config.validate().is_ok());
        config.count = 15;
        assert_eq!(config.addresses(), 2);
        config.count = 0;
        assert!(config.validate().is_err());
        config.count = 1;
        config.batch_size = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_default_now_is_midnight_utc() {
        let t = Utc.with_ymd_and_hms(2025, 3, 4, 15, 16, 17).unwrap();
        assert_eq!(start_of_day(t), Utc.with_ymd_and_hms(2025, 3, 4, 0, 0, 0).unwrap());
    }

    #[test]
    fn interrupt_messages_say_what_is_left() {
        let checkpoint = Checkpoint::default();
        assert_eq!(checkpoint.describe(), "no rows were written");
        checkpoint.stage(Stage::OneTransaction);
        assert!(checkpoint.describe().contains("rolled back"));
        checkpoint.update(|r| {
            r.stage = Stage::PerBatch;
            r.committed_contacts = 20_000;
            r.variant_to_restore = Some("trgm".into());
        });
        let message = checkpoint.describe();
        assert!(message.starts_with("20000 contacts were committed"), "{message}");
        assert!(message.contains("SELECT crm.use_variant('trgm')"), "{message}");
    }
}
