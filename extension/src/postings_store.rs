//! The postings on disk (see `postings`): built from the projection by
//! `refresh`, read back as bitmaps by the request path. Runs through SPI;
//! decides nothing about requests.

use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiResult};

use crate::fields::Column;
use crate::objects::{DICTIONARY, FLAT};
use crate::postings::{self, Bitmap, GramIndex, Kind, DIRTY, POSTING};

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
}

/// Posting rows waiting to be written.
struct Writer<'a> {
    schema: &'a str,
    field: &'static str,
    kind: Kind,
    keys: Vec<String>,
    bits: Vec<Vec<u8>>,
    report: &'a mut BuildReport,
}

impl Writer<'_> {
    fn push(&mut self, client: &mut SpiClient<'_>, key: String, bitmap: &Bitmap) -> SpiResult<()> {
        let bytes = postings::to_bytes(bitmap);
        self.report.postings += 1;
        self.report.ids += bitmap.len();
        self.report.bytes += bytes.len() as u64;
        self.keys.push(key);
        self.bits.push(bytes);
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
            "INSERT INTO {}.{POSTING} (field, kind, key, bits) SELECT $1, $2, unnest($3::text[]), unnest($4::bytea[])",
            self.schema
        );
        let args: [DatumWithOid<'static>; 4] = [
            self.field.into(),
            self.kind.code().into(),
            std::mem::take(&mut self.keys).into(),
            std::mem::take(&mut self.bits).into(),
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
/// the dirty contacts (the snapshot has them). The caller holds a lock that
/// keeps writers out of the projection meanwhile.
pub fn refresh(client: &mut SpiClient<'_>, schema: &str) -> SpiResult<BuildReport> {
    client.update(format!("TRUNCATE {schema}.{POSTING}, {schema}.{DIRTY}").as_str(), None, &[])?;
    let mut report = BuildReport::default();
    for column in postings::pattern_columns() {
        if column.few_values {
            build_values(client, schema, &column, &mut report)?;
        }
        let mut grams = GramIndex::default();
        read_grams(client, schema, &column, &mut grams)?;
        let mut writer = Writer {
            schema,
            field: column.output_key(),
            kind: Kind::Gram,
            keys: Vec::new(),
            bits: Vec::new(),
            report: &mut report,
        };
        for (gram, mut bitmap) in grams.postings {
            bitmap.optimize();
            writer.push(client, postings::gram_key(gram), &bitmap)?;
        }
        writer.flush(client)?;
    }
    client.update(format!("ANALYZE {schema}.{POSTING}").as_str(), None, &[])?;
    Ok(report)
}

/// Value postings of a column with few values.
fn build_values(client: &mut SpiClient<'_>, schema: &str, column: &Column, report: &mut BuildReport) -> SpiResult<()> {
    let key = column.output_key();
    let sql = format!("SELECT {key}, array_agg(id) FROM {schema}.{FLAT} WHERE {key} IS NOT NULL GROUP BY {key}");
    let mut cursor = client.open_cursor(sql.as_str(), &[]);
    let mut writer = Writer { schema, field: key, kind: Kind::Value, keys: Vec::new(), bits: Vec::new(), report };
    loop {
        let mut rows = Vec::new();
        for row in cursor.fetch(READ_BATCH)? {
            let (Some(value), Some(ids)) = (row.get::<String>(1)?, row.get::<Vec<i64>>(2)?) else { continue };
            rows.push((value, ids));
        }
        free_last_result();
        if rows.is_empty() {
            break;
        }
        for (value, ids) in rows {
            let bitmap: Bitmap = ids.into_iter().map(|id| id as u64).collect();
            writer.push(client, value, &bitmap)?;
        }
    }
    writer.flush(client)
}

/// Gram postings of a column, from every contact's value in id order.
fn read_grams(client: &SpiClient<'_>, schema: &str, column: &Column, grams: &mut GramIndex) -> SpiResult<()> {
    let key = column.output_key();
    let sql = format!("SELECT id, lower({key}) FROM {schema}.{FLAT} WHERE {key} IS NOT NULL ORDER BY id");
    let mut cursor = client.open_cursor(sql.as_str(), &[]);
    loop {
        let table = cursor.fetch(READ_BATCH)?;
        if table.is_empty() {
            break;
        }
        for row in table {
            let (Some(id), Some(lowered)) = (row.get::<i64>(1)?, row.get::<String>(2)?) else { continue };
            grams.add(id as u64, &lowered, postings::max_gram(column));
        }
        free_last_result();
    }
    Ok(())
}

/// Whether the postings exist where search_path finds the projection.
pub fn present(client: &SpiClient<'_>) -> SpiResult<bool> {
    let sql = format!("SELECT to_regclass('{POSTING}') IS NOT NULL");
    Ok(client.select(sql.as_str(), Some(1), &[])?.first().get_one::<bool>()?.unwrap_or(false))
}

fn bitmaps(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid<'_>]) -> SpiResult<Vec<Bitmap>> {
    let mut out = Vec::new();
    for row in client.select(sql, None, args)? {
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

/// The union of the postings of a column's values that contain `pattern`
/// (an ILIKE pattern), found through the dictionary's trigram index.
pub fn values_bitmap(client: &SpiClient<'_>, column: &Column, pattern: &str) -> SpiResult<Bitmap> {
    let sql = format!(
        "SELECT p.bits FROM {DICTIONARY} d JOIN {POSTING} p ON p.field = d.field AND p.kind = 'v' AND p.key = d.value \
         WHERE d.field = $1 AND d.value ILIKE $2"
    );
    let mut union = Bitmap::new();
    for bitmap in bitmaps(client, &sql, &[column.output_key().into(), pattern.into()])? {
        union |= bitmap;
    }
    Ok(union)
}

/// Ids returned by a query's first column (int8[] aggregated), as a bitmap.
pub fn id_set(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid<'_>]) -> SpiResult<Bitmap> {
    let ids = client.select(sql, Some(1), args)?.first().get_one::<Vec<i64>>()?.unwrap_or_default();
    Ok(ids.into_iter().map(|id| id as u64).collect())
}

/// The contacts written since the postings were built.
pub fn dirty(client: &SpiClient<'_>) -> SpiResult<Bitmap> {
    id_set(client, &format!("SELECT array_agg(id) FROM {DIRTY}"), &[])
}

/// PostgreSQL's `lower()` of each text (ILIKE folds case with it).
pub fn lowered(client: &SpiClient<'_>, texts: Vec<String>) -> SpiResult<Vec<String>> {
    let sql = "SELECT array(SELECT lower(t) FROM unnest($1::text[]) WITH ORDINALITY u(t, n) ORDER BY n)";
    Ok(client.select(sql, Some(1), &[texts.into()])?.first().get_one::<Vec<String>>()?.unwrap_or_default())
}
