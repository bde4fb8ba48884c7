//! The postings on disk (see `postings`): built from the projection by
//! `refresh`, read back as bitmaps by the request path. Runs through SPI;
//! decides nothing about requests.

use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiResult};

use crate::db;
use crate::fields::Column;
use crate::objects::{DICTIONARY, FLAT};
use crate::postings::{self, Bitmap, ColumnPostings, Kind, DIRTY, POSTING};

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

/// Posting rows waiting to be written.
struct Writer<'a> {
    schema: &'a str,
    field: &'static str,
    kind: Kind,
    keys: Vec<String>,
    bits: Vec<Vec<u8>>,
    sizes: Vec<i64>,
    report: &'a mut BuildReport,
}

impl<'a> Writer<'a> {
    fn new(schema: &'a str, field: &'static str, kind: Kind, report: &'a mut BuildReport) -> Self {
        Writer { schema, field, kind, keys: Vec::new(), bits: Vec::new(), sizes: Vec::new(), report }
    }

    /// Writes one posting at once.
    fn write_one(mut self, client: &mut SpiClient<'_>, key: String, bitmap: &Bitmap) -> SpiResult<()> {
        self.push(client, key, bitmap)?;
        self.flush(client)
    }

    fn push(&mut self, client: &mut SpiClient<'_>, key: String, bitmap: &Bitmap) -> SpiResult<()> {
        let bytes = postings::to_bytes(bitmap);
        self.report.postings += 1;
        self.report.ids += bitmap.len();
        self.report.bytes += bytes.len() as u64;
        self.keys.push(key);
        self.bits.push(bytes);
        self.sizes.push(bitmap.len() as i64);
        if self.keys.len() >= WRITE_BATCH {
            self.flush(client)?;
        }
        Ok(())
    }

    fn flush(&mut self, client: &mut SpiClient<'_>) -> SpiResult<()> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {}.{POSTING} (field, kind, key, bits, n) \
             SELECT $1, $2, unnest($3::text[]), unnest($4::bytea[]), unnest($5::int8[])",
            self.schema
        );
        let args: [DatumWithOid<'static>; 5] = [
            self.field.into(),
            self.kind.code().into(),
            std::mem::take(&mut self.keys).into(),
            std::mem::take(&mut self.bits).into(),
            std::mem::take(&mut self.sizes).into(),
        ];
        client.update(sql.as_str(), None, &args)?;
        Ok(())
    }
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
/// the dirty contacts (the snapshot has them). One pass over the
/// projection in id order, every pattern column at once. The caller holds a
/// lock that keeps writers out of the projection meanwhile.
pub fn refresh(client: &mut SpiClient<'_>, schema: &str) -> SpiResult<BuildReport> {
    let started = std::time::Instant::now();
    client.update(format!("TRUNCATE {schema}.{POSTING}, {schema}.{DIRTY}").as_str(), None, &[])?;
    let max_id = client.select(format!("SELECT max(id) FROM {schema}.{FLAT}").as_str(), Some(1), &[])?.first();
    if max_id.get_one::<i64>()?.is_some_and(|id| postings::member(id).is_none()) {
        // Left unbuilt: text conditions are matched in SQL.
        return Ok(BuildReport { skipped: Some("contact ids beyond 2^32"), ..BuildReport::default() });
    }
    let columns = postings::pattern_columns();
    let value_columns = postings::value_columns();
    let bucket_columns = postings::bucket_columns();
    let mut built: Vec<ColumnPostings> = Vec::new();
    for column in columns.iter().chain(&value_columns) {
        built.push(match skipped_prefix(client, schema, column)? {
            Some(prefix) => ColumnPostings::with_prefix(prefix),
            None => ColumnPostings::default(),
        });
    }
    let mut keyed: Vec<Vec<(i64, u32)>> = bucket_columns.iter().map(|_| Vec::new()).collect();
    let all: Vec<&Column> = columns.iter().chain(&value_columns).chain(&bucket_columns).collect();
    let mut nulls: Vec<Vec<u32>> = all.iter().map(|_| Vec::new()).collect();
    let mut everyone = Bitmap::new();
    // Spans of pattern columns without value postings: from their (value,
    // id) pairs; of those with many values: from the value postings.
    let spans = spans_are_ordered(client)?;
    let span_columns = postings::span_columns();
    let mut pairs: Vec<Option<Vec<(String, u32)>>> =
        columns.iter().map(|c| (spans && !c.few_values && span_columns.contains(c)).then(Vec::new)).collect();
    read_all(
        client,
        schema,
        &Read { columns: &columns, value_columns: &value_columns, bucket_columns: &bucket_columns },
        &mut Pass {
            built: &mut built,
            keyed: &mut keyed,
            pairs: &mut pairs,
            nulls: &mut nulls,
            everyone: &mut everyone,
        },
    )?;
    everyone.optimize();
    let mut report = BuildReport { read_ms: started.elapsed().as_millis() as u64, ..BuildReport::default() };
    for (i, (column, postings)) in columns.iter().chain(&value_columns).zip(built).enumerate() {
        let field = column.output_key();
        let prefix = postings.common_prefix().filter(|p| !p.is_empty()).map(str::to_string);
        if let Some(prefix) = prefix {
            Writer::new(schema, field, Kind::Prefix, &mut report).write_one(client, prefix, &Bitmap::new())?;
        }
        let cut = match pairs.get_mut(i).and_then(Option::take) {
            Some(mut pairs) => {
                pairs.sort_unstable();
                Some(postings::group_sorted(pairs))
            }
            None if spans && span_columns.contains(column) => postings.many_values(),
            None => None,
        };
        if let Some(groups) = cut {
            let total = groups.iter().map(|(_, ids)| ids.len()).sum();
            let mut writer = Writer::new(schema, field, Kind::Span, &mut report);
            for (first, bitmap) in postings::cut_buckets(groups, total) {
                writer.push(client, first, &bitmap)?;
            }
            writer.flush(client)?;
        }
        let (values, grams) = postings.finish();
        for (kind, keyed) in [(Kind::Value, values), (Kind::Gram, grams)] {
            let mut writer = Writer::new(schema, field, kind, &mut report);
            for (key, bitmap) in keyed {
                writer.push(client, key, &bitmap)?;
            }
            writer.flush(client)?;
        }
    }
    for (column, pairs) in bucket_columns.iter().zip(keyed) {
        let field = column.output_key();
        let mut writer = Writer::new(schema, field, Kind::Bucket, &mut report);
        for (lo, bitmap) in postings::buckets_of(pairs) {
            writer.push(client, lo.to_string(), &bitmap)?;
        }
        writer.flush(client)?;
    }
    // Every contact: the ids the pass read.
    Writer::new(schema, "", Kind::All, &mut report).write_one(client, String::new(), &everyone)?;
    // The contacts without a value of each column the groups divide or split.
    // (The groups also split an undivided nullable column in two: its NULLs
    // and the rest, `grouped::GroupKey::Present`.)
    for (column, ids) in all.iter().zip(nulls) {
        if !column.nullable && postings::group_kind(column).is_none() {
            continue;
        }
        let field = column.output_key();
        let bitmap = Bitmap::from_sorted_iter(ids).expect("ids are read in ascending order");
        Writer::new(schema, field, Kind::Null, &mut report).write_one(client, String::new(), &bitmap)?;
    }
    // Only a finished build serves requests (see `present`).
    client.update(
        format!("INSERT INTO {schema}.{POSTING} (field, kind, key, bits, n) VALUES {BUILT_MARKER}").as_str(),
        None,
        &[],
    )?;
    client.update(format!("ANALYZE {schema}.{POSTING}").as_str(), None, &[])?;
    report.total_ms = started.elapsed().as_millis() as u64;
    Ok(report)
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

/// The columns one pass reads.
struct Read<'a> {
    columns: &'a [Column],
    value_columns: &'a [Column],
    bucket_columns: &'a [Column],
}

/// What one pass collects, per column of `Read`.
struct Pass<'a> {
    built: &'a mut [ColumnPostings],
    keyed: &'a mut [Vec<(i64, u32)>],
    /// `(value, id)` of the columns cut into spans from them.
    pairs: &'a mut [Option<Vec<(String, u32)>>],
    nulls: &'a mut [Vec<u32>],
    everyone: &'a mut Bitmap,
}

/// Every contact's posting columns in id order: pattern columns as stored
/// and lower-cased, value columns as stored, range columns as sort keys.
fn read_all(client: &SpiClient<'_>, schema: &str, read: &Read<'_>, pass: &mut Pass<'_>) -> SpiResult<()> {
    let mut select: Vec<String> = read.columns.iter().map(|c| format!("{0}, lower({0})", c.output_key())).collect();
    select.extend(read.value_columns.iter().map(|c| c.output_key().to_string()));
    select.extend(read.bucket_columns.iter().map(postings::sort_key_sql));
    let sql = format!("SELECT id, {} FROM {schema}.{FLAT} ORDER BY id", select.join(", "));
    let Pass { built, keyed, pairs, nulls, everyone } = pass;
    let mut cursor = client.open_cursor(sql.as_str(), &[]);
    let values_at = 2 + 2 * read.columns.len();
    let keys_at = values_at + read.value_columns.len();
    loop {
        let table = cursor.fetch(READ_BATCH)?;
        if table.is_empty() {
            break;
        }
        for row in table {
            let Some(id) = row.get::<i64>(1)?.and_then(postings::member) else { continue };
            everyone.insert(id);
            for (i, column) in read.columns.iter().enumerate() {
                let value = row.get::<&str>(2 + 2 * i)?;
                let lowered = row.get::<&str>(3 + 2 * i)?;
                if let (Some(value), Some(lowered)) = (value, lowered) {
                    if let Some(pairs) = &mut pairs[i] {
                        pairs.push((value.to_string(), id));
                    }
                    built[i].add(id, value, lowered, column.few_values);
                } else {
                    nulls[i].push(id);
                }
            }
            for i in 0..read.value_columns.len() {
                if let Some(value) = row.get::<&str>(values_at + i)? {
                    built[read.columns.len() + i].add_value(id, value);
                } else {
                    nulls[read.columns.len() + i].push(id);
                }
            }
            for (i, pairs) in keyed.iter_mut().enumerate() {
                if let Some(key) = row.get::<i64>(keys_at + i)? {
                    pairs.push((key, id));
                } else {
                    nulls[read.columns.len() + read.value_columns.len() + i].push(id);
                }
            }
        }
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
