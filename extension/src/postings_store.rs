//! The postings on disk (see `postings`): built from the projection by
//! `refresh`, read back as bitmaps by the request path. Runs through SPI;
//! decides nothing about requests. A build reads and writes here, on the
//! backend's thread, while `postings_build` makes the postings on another.

use std::sync::mpsc;

use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiResult};

use crate::db;
use crate::fields::Column;
use crate::objects::{DICTIONARY, FLAT};
use crate::postings::{self, Bitmap, Kind, DIRTY, POSTING};
use crate::postings_build::{Batch, Builder, Layout, Output};

/// Rows written per INSERT while building.
const WRITE_BATCH: usize = 2000;
/// Rows read per fetch while building.
const READ_BATCH: i64 = 20_000;

/// What a build wrote.
#[derive(Debug, Default, serde::Serialize)]
pub struct BuildReport {
    pub postings: u64,
    pub ids: u64,
    pub bytes: u64,
    /// Milliseconds reading the projection, and in all.
    pub read_ms: u64,
    pub total_ms: u64,
    /// Why nothing was built.
    pub skipped: Option<&'static str>,
}

/// Writes posting rows, `WRITE_BATCH` per INSERT.
fn write(client: &mut SpiClient<'_>, schema: &str, output: Output, report: &mut BuildReport) -> SpiResult<()> {
    let sql = format!(
        "INSERT INTO {schema}.{POSTING} (field, kind, key, bits, n) \
         SELECT $1, $2, unnest($3::text[]), unnest($4::bytea[]), unnest($5::int8[])"
    );
    let mut rows = output.rows.into_iter().peekable();
    while rows.peek().is_some() {
        let (mut keys, mut bits, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        for (key, bytes, n) in rows.by_ref().take(WRITE_BATCH) {
            report.postings += 1;
            report.ids += n as u64;
            report.bytes += bytes.len() as u64;
            keys.push(key);
            bits.push(bytes);
            sizes.push(n);
        }
        let args: [DatumWithOid<'static>; 5] =
            [output.field.into(), output.kind.code().into(), keys.into(), bits.into(), sizes.into()];
        client.update(sql.as_str(), None, &args)?;
    }
    Ok(())
}

/// Frees the rows of the last fetch. SPI keeps every result until the
/// function returns; a build reads millions of rows, so each batch is
/// freed once read.
fn free_last_result() {
    // SAFETY: called only after the batch's `SpiTupleTable` was consumed
    // (nothing refers to its rows any more); SPI_freetuptable ignores NULL.
    unsafe { pgrx::pg_sys::SPI_freetuptable(pgrx::pg_sys::SPI_tuptable) }
}

/// Replaces every posting with a snapshot of the projection, and forgets
/// the dirty contacts the snapshot has. One pass over the projection in id
/// order, every pattern column at once: this thread reads batches of rows
/// and hands them to the builder's thread, then writes what it makes,
/// column by column, as it makes it.
///
/// Writers go on meanwhile, and readers use the postings before (MVCC: the
/// old rows are deleted, not truncated, so no lock keeps readers waiting).
/// What makes that safe: the dirty entries are read first, with their
/// versions (a write re-marks a dirty contact by updating its entry); the
/// build reads the projection after that; at the end only the entries
/// still at the version read are forgotten. A contact written after the
/// first read has a new entry or a new version, so it stays dirty and is
/// matched by SQL, whatever the build saw of it.
pub fn refresh(client: &mut SpiClient<'_>, schema: &str) -> SpiResult<BuildReport> {
    let started = std::time::Instant::now();
    let seen = dirty_versions(client, schema)?;
    client.update(format!("DELETE FROM {schema}.{POSTING}").as_str(), None, &[])?;
    let max_id = client.select(format!("SELECT max(id) FROM {schema}.{FLAT}").as_str(), Some(1), &[])?.first();
    if max_id.get_one::<i64>()?.is_some_and(|id| postings::member(id).is_none()) {
        // Left unbuilt: text conditions are matched in SQL.
        return Ok(BuildReport { skipped: Some("contact ids beyond 2^32"), ..BuildReport::default() });
    }
    let columns = postings::pattern_columns();
    let mut skipped = Vec::new();
    for column in &columns {
        skipped.push(skipped_prefix(client, schema, column)?);
    }
    let layout = Layout {
        columns,
        value_columns: postings::value_columns(),
        bucket_columns: postings::bucket_columns(),
        skipped,
        spans: spans_are_ordered(client)?,
    };
    let mut report = BuildReport::default();
    let (select, shape) = (layout.select_sql(schema), layout.row_shape());
    std::thread::scope(|scope| -> SpiResult<()> {
        // Two batches in flight at most: memory stays bounded.
        let (batches, inbox) = mpsc::sync_channel::<Option<Batch>>(2);
        let (outbox, outputs) = mpsc::sync_channel::<Output>(4);
        let builder = spawn_without_signals(scope, move || {
            let mut builder = Builder::new(layout);
            // `None` ends the rows; a closed channel means the reader
            // failed, and nothing more is built.
            while let Ok(batch) = inbox.recv() {
                match batch {
                    Some(batch) => builder.add(&batch),
                    None => return builder.finish(|output| outbox.send(output).is_ok()),
                }
            }
        });
        read_all(client, &select, shape, &mut |batch| {
            // The builder only stops early by panicking (seen at join).
            let _ = batches.send(Some(batch));
        })?;
        let _ = batches.send(None);
        report.read_ms = started.elapsed().as_millis() as u64;
        for output in outputs.iter() {
            write(client, schema, output, &mut report)?;
        }
        if let Err(panic) = builder.join() {
            std::panic::resume_unwind(panic);
        }
        Ok(())
    })?;
    // Only a finished build serves requests (see `present`).
    client.update(
        format!("INSERT INTO {schema}.{POSTING} (field, kind, key, bits, n) VALUES {BUILT_MARKER}").as_str(),
        None,
        &[],
    )?;
    forget_dirty(client, schema, seen)?;
    client.update(format!("ANALYZE {schema}.{POSTING}").as_str(), None, &[])?;
    report.total_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The dirty contacts and the versions of their entries (`xmin`: each
/// write that marks a contact writes its entry anew).
fn dirty_versions(client: &SpiClient<'_>, schema: &str) -> SpiResult<(Vec<i64>, Vec<String>)> {
    let sql = format!("SELECT array_agg(id), array_agg(xmin::text) FROM {schema}.{DIRTY}");
    let row = client.select(sql.as_str(), Some(1), &[])?.first();
    Ok((row.get::<Vec<i64>>(1)?.unwrap_or_default(), row.get::<Vec<String>>(2)?.unwrap_or_default()))
}

/// Forgets the dirty entries still at the version `dirty_versions` read.
fn forget_dirty(client: &mut SpiClient<'_>, schema: &str, (ids, versions): (Vec<i64>, Vec<String>)) -> SpiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "DELETE FROM {schema}.{DIRTY} d USING unnest($1::bigint[], $2::text[]) AS seen(id, version) \
         WHERE d.id = seen.id AND d.xmin::text = seen.version"
    );
    client.update(sql.as_str(), None, &[ids.into(), versions.into()])?;
    Ok(())
}

/// The prefix every value of a column without value postings starts with
/// (lower-cased; the common prefix of the least and the greatest in byte
/// order), when there is one: its grams skip it (`ColumnPostings::with_prefix`).
fn skipped_prefix(client: &SpiClient<'_>, schema: &str, column: &Column) -> SpiResult<Option<String>> {
    if column.few_values || !postings::pattern_columns().contains(column) {
        return Ok(None);
    }
    let key = column.output_key();
    let sql = format!("SELECT min(lower({key}) COLLATE \"C\"), max(lower({key}) COLLATE \"C\") FROM {schema}.{FLAT}");
    let row = db::select(client, &sql, Some(1), &[])?.first();
    let (Some(least), Some(greatest)) = (row.get::<String>(1)?, row.get::<String>(2)?) else {
        return Ok(None);
    };
    Ok(Some(postings::shared_prefix(&least, &greatest).to_string()).filter(|p| !p.is_empty()))
}

/// Whether the database sorts text in byte order, as the spans are cut
/// (`postings::SPAN_COLLATIONS`); otherwise no spans are built.
fn spans_are_ordered(client: &SpiClient<'_>) -> SpiResult<bool> {
    let sql = "SELECT datcollate::text FROM pg_database WHERE datname = current_database()";
    let collation = db::select(client, sql, Some(1), &[])?.first().get_one::<String>()?;
    Ok(collation.is_some_and(|c| postings::SPAN_COLLATIONS.contains(&c.as_str())))
}

/// The sizes of a text column's spans in order, `(first value, n)`; empty
/// when it has none.
pub fn span_sizes(client: &SpiClient<'_>, column: &Column) -> SpiResult<Vec<(String, u64)>> {
    let sql = format!("SELECT key, n FROM {POSTING} WHERE field = $1 AND kind = 't' ORDER BY key");
    let mut out = Vec::new();
    for row in db::select(client, &sql, None, &[column.output_key().into()])? {
        if let (Some(key), Some(n)) = (row.get::<String>(1)?, row.get::<i64>(2)?) {
            out.push((key, n.max(0) as u64));
        }
    }
    Ok(out)
}

/// The row a finished build leaves: until it exists (the table was just
/// created, truncated, or a build failed), text conditions are matched in
/// SQL instead, never by missing postings.
/// Its key is the postings' format: a build of another format (another
/// version's grams) is not read, and `crm.refresh_postings()` replaces it.
const BUILT_MARKER: &str = "('', 'built', 'grams3-spans-prefix', '', 0)";

/// Runs `work` on a thread of its own that no signal reaches: PostgreSQL
/// handles its signals (cancel, latch wake-ups) on the backend's thread.
fn spawn_without_signals<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    work: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    // SAFETY: plain libc calls on sigset_t values owned here; the thread
    // inherits the blocked mask, and the backend's own is restored at once.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
        let handle = scope.spawn(work);
        libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
        handle
    }
}

/// Reads the rows of `Layout::select_sql` in batches, copied out of the
/// backend's memory, and hands each to `send`. `(texts, keys)`: the row's
/// columns after the id (`Layout::row_shape`).
fn read_all(
    client: &SpiClient<'_>,
    sql: &str,
    (texts_n, keys_n): (usize, usize),
    send: &mut dyn FnMut(Batch),
) -> SpiResult<()> {
    let mut cursor = client.open_cursor(sql, &[]);
    loop {
        let table = cursor.fetch(READ_BATCH)?;
        if table.is_empty() {
            break;
        }
        let mut batch = Batch::default();
        let mut texts: Vec<Option<&str>> = Vec::new();
        let mut keys: Vec<Option<i64>> = Vec::new();
        for row in table {
            let Some(id) = row.get::<i64>(1)?.and_then(postings::member) else { continue };
            texts.clear();
            keys.clear();
            for at in 2..2 + texts_n {
                texts.push(row.get::<&str>(at)?);
            }
            for at in 2 + texts_n..2 + texts_n + keys_n {
                keys.push(row.get::<i64>(at)?);
            }
            batch.push(id, texts.iter().copied(), &keys);
        }
        send(batch);
        free_last_result();
        // A build reads the whole projection: let a cancel through.
        pgrx::check_for_interrupts!();
    }
    Ok(())
}

/// Whether finished postings exist where search_path finds the projection.
pub fn present(client: &SpiClient<'_>) -> SpiResult<bool> {
    let exists = format!("SELECT to_regclass('{POSTING}') IS NOT NULL");
    if !db::select(client, exists.as_str(), Some(1), &[])?.first().get_one::<bool>()?.unwrap_or(false) {
        return Ok(false);
    }
    let built = format!("SELECT EXISTS (SELECT 1 FROM {POSTING} WHERE (field, kind, key, bits, n) = {BUILT_MARKER})");
    Ok(db::select(client, built.as_str(), Some(1), &[])?.first().get_one::<bool>()?.unwrap_or(false))
}

fn bitmaps(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid<'static>]) -> SpiResult<Vec<Bitmap>> {
    let mut out = Vec::new();
    for row in db::select(client, sql, None, args)? {
        if let Some(bitmap) = row.get::<Vec<u8>>(1)?.and_then(|b| postings::from_bytes(&b)) {
            out.push(bitmap);
        }
    }
    Ok(out)
}

/// The postings of `grams` (lower-cased text keys) of a column, in the
/// order found; a gram without a posting occurs nowhere.
pub fn gram_bitmaps(client: &SpiClient<'_>, column: &Column, grams: Vec<String>) -> SpiResult<Vec<Bitmap>> {
    let sql = format!("SELECT bits FROM {POSTING} WHERE field = $1 AND kind = 'g' AND key = ANY($2)");
    bitmaps(client, &sql, &[column.output_key().into(), grams.into()])
}

/// The posting of one value of a column (empty when no contact has it).
pub fn value_bitmap(client: &SpiClient<'_>, column: &Column, value: &str) -> SpiResult<Bitmap> {
    let sql = format!("SELECT bits FROM {POSTING} WHERE field = $1 AND kind = 'v' AND key = $2");
    Ok(bitmaps(client, &sql, &[column.output_key().into(), value.to_string().into()])?.pop().unwrap_or_default())
}

/// Every contact of the snapshot (`None`: built by a version without it).
pub fn everyone(client: &SpiClient<'_>) -> SpiResult<Option<Bitmap>> {
    let sql = format!("SELECT bits FROM {POSTING} WHERE field = '' AND kind = 'a' AND key = ''");
    // Stored as runs (a few bytes); as plain containers, taking other
    // bitmaps away from it costs a fraction (measured at 3M: 300 ms for a
    // range over most buckets with runs, against a few ms without).
    Ok(bitmaps(client, &sql, &[])?.pop().map(|mut all| {
        all.remove_run_compression();
        all
    }))
}

/// The union of the postings of a column's values that contain `pattern`
/// (an ILIKE pattern), found through the dictionary's trigram index. (The
/// field is compared as an expression so that the primary key cannot
/// serve it: the planner sometimes chose to filter every street through
/// it, 65 ms at 3M against 6 ms through the trigrams.)
pub fn values_bitmap(client: &SpiClient<'_>, column: &Column, pattern: &str) -> SpiResult<Bitmap> {
    let sql = format!(
        "SELECT p.bits FROM {DICTIONARY} d JOIN {POSTING} p ON p.field = d.field AND p.kind = 'v' AND p.key = d.value \
         WHERE d.field || '' = $1 AND d.value ILIKE $2"
    );
    let mut union = Bitmap::new();
    for bitmap in bitmaps(client, &sql, &[column.output_key().into(), pattern.into()])? {
        union |= bitmap;
    }
    Ok(union)
}

/// Ids returned by a query's first column (int8[] aggregated), as a
/// bitmap; `None` when one is beyond what postings hold.
pub fn id_set(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid<'static>]) -> SpiResult<Option<Bitmap>> {
    let ids = db::select(client, sql, Some(1), args)?.first().get_one::<Vec<i64>>()?.unwrap_or_default();
    Ok(postings::bitmap_of(ids))
}

/// The contacts written since the postings were built (`None`: one has
/// an id beyond what postings hold).
pub fn dirty(client: &SpiClient<'_>) -> SpiResult<Option<Bitmap>> {
    id_set(client, &format!("SELECT array_agg(id) FROM {DIRTY}"), &[])
}

/// PostgreSQL's `lower()` of each text (ILIKE folds case with it).
pub fn lowered(client: &SpiClient<'_>, texts: Vec<String>) -> SpiResult<Vec<String>> {
    let sql = "SELECT array(SELECT lower(t) FROM unnest($1::text[]) WITH ORDINALITY u(t, n) ORDER BY n)";
    Ok(db::select(client, sql, Some(1), &[texts.into()])?.first().get_one::<Vec<String>>()?.unwrap_or_default())
}

/// A column's groups with their sizes in the snapshot, ascending: its
/// values (with the values of `extra` contacts, size 0 when new), or its
/// buckets' lower bounds. None when there are `limit` values or more.
pub fn group_sizes(
    client: &SpiClient<'_>,
    column: &Column,
    kind: Kind,
    extra: Vec<i64>,
    limit: i64,
) -> SpiResult<Vec<(String, u64)>> {
    let key = column.output_key();
    if kind == Kind::Value {
        // More values than the limit: known from the index alone, without
        // reading them all.
        let sql =
            format!("SELECT key FROM {POSTING} WHERE field = $1 AND kind = 'v' ORDER BY key OFFSET $2 - 1 LIMIT 1");
        if !db::select(client, &sql, Some(1), &[key.into(), limit.into()])?.is_empty() {
            return Ok(Vec::new());
        }
    }
    let (sql, args): (String, Vec<DatumWithOid<'static>>) = match kind {
        Kind::Bucket => (
            format!("SELECT key, n FROM {POSTING} WHERE field = $1 AND kind = 'b' ORDER BY key::int8 LIMIT $2"),
            vec![key.into(), limit.into()],
        ),
        _ => (
            format!(
                "SELECT k, sum(n)::int8 FROM (SELECT key AS k, n FROM {POSTING} WHERE field = $1 AND kind = 'v' \
                 UNION ALL SELECT f.{key}, 0 FROM {FLAT} f WHERE f.id = ANY($2) AND f.{key} IS NOT NULL) s \
                 GROUP BY k ORDER BY k LIMIT $3"
            ),
            vec![key.into(), extra.into(), limit.into()],
        ),
    };
    let mut out = Vec::new();
    for row in db::select(client, &sql, None, &args)? {
        if let (Some(key), Some(n)) = (row.get::<String>(1)?, row.get::<i64>(2)?) {
            out.push((key, n as u64));
        }
    }
    Ok(out)
}

/// The snapshot's bitmaps of some groups of a column, by stored key.
pub fn group_bitmaps(
    client: &SpiClient<'_>,
    column: &Column,
    kind: Kind,
    keys: Vec<String>,
) -> SpiResult<std::collections::HashMap<String, Bitmap>> {
    let sql = format!("SELECT key, bits FROM {POSTING} WHERE field = $1 AND kind = $2 AND key = ANY($3)");
    let args = [column.output_key().into(), kind.code().into(), keys.into()];
    let mut out = std::collections::HashMap::new();
    for row in db::select(client, &sql, None, &args)? {
        if let (Some(key), Some(bits)) = (row.get::<String>(1)?, row.get::<Vec<u8>>(2)?) {
            out.insert(key, postings::from_bytes(&bits).unwrap_or_default());
        }
    }
    Ok(out)
}

/// The current value of `column` of each of `ids` that exists: as text,
/// or as its sort key for range columns (`postings::sort_key_sql`).
pub fn current_values(
    client: &SpiClient<'_>,
    column: &Column,
    kind: Kind,
    ids: Vec<i64>,
) -> SpiResult<Vec<(u32, Option<String>)>> {
    let value = match kind {
        Kind::Bucket => format!("({})::text", postings::sort_key_sql(column)),
        _ => format!("{}::text", column.output_key()),
    };
    let sql = format!("SELECT id, {value} FROM {FLAT} WHERE id = ANY($1)");
    let mut out = Vec::new();
    for row in db::select(client, &sql, None, &[ids.into()])? {
        if let Some(id) = row.get::<i64>(1)?.and_then(postings::member) {
            out.push((id, row.get::<String>(2)?));
        }
    }
    Ok(out)
}

/// The number of contacts without a value of `column` in the snapshot,
/// when the build counted them.
pub fn null_count(client: &SpiClient<'_>, column: &Column) -> SpiResult<Option<u64>> {
    let sql = format!("SELECT n FROM {POSTING} WHERE field = $1 AND kind = 'z' AND key = ''");
    let found = db::select(client, &sql, Some(1), &[column.output_key().into()])?;
    if found.is_empty() {
        return Ok(None);
    }
    Ok(found.first().get_one::<i64>()?.map(|n| n.max(0) as u64))
}

/// The prefix every value of a column starts with (lower-cased), if any.
pub fn common_prefix(client: &SpiClient<'_>, column: &Column) -> SpiResult<Option<String>> {
    let sql = format!("SELECT key FROM {POSTING} WHERE field = $1 AND kind = 'p'");
    let found = db::select(client, &sql, Some(1), &[column.output_key().into()])?;
    if found.is_empty() {
        return Ok(None);
    }
    found.first().get_one::<String>()
}
