//! Postings: for every text column that patterns match (`icontains`,
//! `name`, `search`), which contacts each piece of text occurs in, as
//! compressed bitmaps of contact ids (roaring). A pattern's matches become
//! unions and intersections of a few bitmaps, counted exactly without
//! reading a row, however many contacts match, and however short the
//! pattern is (trigram indexes cannot serve patterns under 3 characters).
//!
//! Kinds of keys (`Kind`):
//! - **grams**: every 1-, 2- and 3-character piece of a value, lower-cased
//!   by PostgreSQL's `lower()` (the case folding of ILIKE). A pattern of up
//!   to 3 characters matches exactly the contacts of its gram; a longer
//!   pattern's contacts are among those of all its 3-character pieces
//!   (candidates, then rechecked). On columns without values the pieces
//!   skip the prefix every value starts with (`ColumnPostings::with_prefix`).
//! - **values**: on columns with few values (`fields::Column::few_values`),
//!   the contacts of each distinct value; a longer pattern is resolved to
//!   the values containing it (the dictionary's trigram index), and its
//!   matches are the union of their postings. Exact, no recheck.
//! - **buckets** of range columns and **spans** of orderable text columns
//!   with many values: consecutive values of at most `MAX_BUCKET_SIZE`
//!   contacts, for ranges and for finding pages (`grouped`); the contacts
//!   **without a value** of the columns that are grouped or nullable; and
//!   **every contact**.
//!
//! Postings are a snapshot. Contacts written since (`DIRTY`, kept by the
//! projection's triggers) are left out of every posting and matched with
//! SQL instead; `crm.refresh_postings()` takes a new snapshot.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::fields::{self, Column, Lookup, ValueType};
use crate::params::{Filter, Value};
use crate::values::IntegerLiteral;

/// A set of contact ids. Postings hold ids up to 2^32 (`refresh` builds
/// none for a projection with larger ids; text is matched in SQL then).
pub type Bitmap = RoaringBitmap;

/// An id as a bitmap member, if it fits.
pub fn member(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

/// Ids as a bitmap; `None` when one does not fit.
pub fn bitmap_of(ids: impl IntoIterator<Item = i64>) -> Option<Bitmap> {
    let mut bitmap = Bitmap::new();
    for id in ids {
        bitmap.insert(member(id)?);
    }
    Some(bitmap)
}

pub use crate::objects::{DIRTY, POSTING};

/// Longest gram kept: patterns of 1 to 3 characters are answered exactly
/// by one posting; longer ones by values (columns with few values), or by
/// their 3-character pieces' intersection and a recheck (customer id,
/// phone: nearly one value per contact).
///
/// Measured at 3M: with pairs only, `T-e` on customer ids had 187,000
/// candidates to recheck (0.9 s), and a 3-character search term on streets
/// or cities matched up to 7,000 dictionary values whose postings took
/// 100–130 ms to union. The triples cost 28 s more of build (141 s in all)
/// and 277 MB more of postings (1,081 MB).
pub const MAX_GRAM: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gram,
    Value,
    /// A range of values of a column with range lookups: the key is the
    /// range's lower bound (`sort_key`), the range ends at the next bucket's.
    Bucket,
    /// The prefix every value of the column starts with (lower-cased), as
    /// the key; no contacts (`ColumnPostings::common_prefix`).
    Prefix,
    /// The contacts without a value (key ''), for columns divided into
    /// groups (`group_kind`) and every nullable column.
    Null,
    /// Every contact (field and key ''): a range over most buckets is every
    /// contact but the buckets outside it.
    All,
    /// A range of a text column's values in their order (`span_columns`):
    /// the key is its first value, it ends before the next span's.
    Span,
}

impl Kind {
    pub const fn code(self) -> &'static str {
        match self {
            Kind::Gram => "g",
            Kind::Value => "v",
            Kind::Bucket => "b",
            Kind::Prefix => "p",
            Kind::Null => "z",
            Kind::All => "a",
            Kind::Span => "t",
        }
    }
}

/// Buckets per range column on small tables: a range condition is the
/// union of the buckets inside it and the part of at most two buckets at
/// its ends, read by SQL.
pub const BUCKETS: usize = 128;

/// Contacts per bucket at most: on large tables there are more buckets, so
/// that what SQL reads of a bucket (a range's ends, a page's part of it,
/// `grouped`) stays the same however large the table grows.
pub const MAX_BUCKET_SIZE: usize = 8_192;

/// Text columns with exact lookups only (gender): value postings, no grams.
pub fn value_columns() -> Vec<Column> {
    let pattern = pattern_columns();
    fields::FIELDS
        .iter()
        .filter(|f| f.value_type() == ValueType::Text && f.lookups.contains(&Lookup::Exact))
        .map(|f| f.column())
        .filter(|c| !pattern.contains(c))
        .collect()
}

/// Columns with range lookups: bucket postings.
pub fn bucket_columns() -> Vec<Column> {
    fields::FIELDS.iter().filter(|f| f.lookups.contains(&Lookup::Gte)).map(|f| f.column()).collect()
}

/// How the postings divide a column's contacts into groups in the
/// column's order (`grouped`): by value (gender, the columns with few
/// values) or by bucket (range columns); `None` for the others.
pub fn group_kind(column: &Column) -> Option<Kind> {
    if bucket_columns().contains(column) {
        Some(Kind::Bucket)
    } else if column.few_values || value_columns().contains(column) {
        Some(Kind::Value)
    } else {
        None
    }
}

/// Every column with postings; a write that changes one makes the contact dirty.
pub fn posting_columns() -> Vec<Column> {
    let mut all = pattern_columns();
    all.extend(value_columns());
    all.extend(bucket_columns());
    all
}

/// A range column's value as the integer the buckets are cut on:
/// microseconds or days since 2000-01-01 (as `params::Value` holds them),
/// or the integer itself. SQL over the projection's column `key`.
pub fn sort_key_sql(column: &Column) -> String {
    let key = column.output_key();
    match column.ty {
        ValueType::Timestamp => format!("(extract(epoch FROM {key}) * 1000000)::int8 - 946684800000000"),
        ValueType::Date => format!("({key} - date '2000-01-01')::int8"),
        ValueType::BigInt | ValueType::Int | ValueType::Text => format!("{key}::int8"),
    }
}

/// The value of a sort key, typed as filters hold them.
pub fn value_of_sort_key(column: &Column, key: i64) -> Value {
    match column.ty {
        ValueType::Timestamp => Value::Timestamp(key),
        ValueType::Date => Value::Date(key.clamp(i32::MIN as i64, i32::MAX as i64) as i32),
        _ => Value::Integer(IntegerLiteral::InRange(key)),
    }
}

/// The sort key of a filter value, when it has one.
pub fn sort_key_of(value: &Value) -> Option<i64> {
    match value {
        Value::Timestamp(t) => Some(*t),
        Value::Date(d) => Some(*d as i64),
        Value::Integer(IntegerLiteral::InRange(v)) => Some(*v),
        _ => None,
    }
}

/// Whether the postings answer a filter: patterns, exact values, and ranges
/// of range columns, whenever the value is one a column can hold (an
/// integer beyond bigint is left to SQL, which decides it without a row).
pub fn answers(filter: &Filter) -> bool {
    match (filter.lookup, &filter.value) {
        (Lookup::Icontains, Value::Text(_)) => true,
        (Lookup::Icontains, _) => false,
        (Lookup::Exact, Value::Integer(literal)) => matches!(literal, IntegerLiteral::InRange(_)),
        (Lookup::Exact, _) => true,
        (_, value) => sort_key_of(value).is_some() && bucket_columns().contains(&filter.field.column()),
    }
}

/// Cuts `(sort key, id)` pairs into buckets of equal size (`BUCKETS` of
/// them, or more of `MAX_BUCKET_SIZE`), never splitting one value over two:
/// `(lower bound, ids)` ascending.
pub fn buckets_of(mut pairs: Vec<(i64, u32)>) -> Vec<(i64, Bitmap)> {
    pairs.sort_unstable();
    let total = pairs.len();
    cut_sorted(pairs, total)
}

/// Cuts `(key, id)` pairs sorted by key (`total` of them) into buckets of
/// equal size, never splitting one key over two: a bucket takes whole keys
/// while it holds fewer than its size. `(first key, ids)` ascending.
/// (Keys are cheap to copy: borrowed text or integers.)
pub fn cut_sorted<K: PartialEq + Copy>(pairs: impl IntoIterator<Item = (K, u32)>, total: usize) -> Vec<(K, Bitmap)> {
    let size = total.div_ceil(BUCKETS).clamp(1, MAX_BUCKET_SIZE);
    let mut buckets: Vec<(K, Vec<u32>)> = Vec::new();
    let mut last: Option<K> = None;
    for (key, id) in pairs {
        let same_key = last == Some(key);
        last = Some(key);
        match buckets.last_mut() {
            Some((_, ids)) if same_key || ids.len() < size => ids.push(id),
            _ => buckets.push((key, vec![id])),
        }
    }
    buckets
        .into_iter()
        .map(|(lo, mut ids)| {
            ids.sort_unstable();
            let mut bitmap = Bitmap::from_sorted_iter(ids).expect("sorted ids");
            bitmap.optimize();
            (lo, bitmap)
        })
        .collect()
}

/// The longest prefix of `a` that `b` starts with too (whole characters).
pub fn shared_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let end = a.char_indices().nth(common).map_or(a.len(), |(i, _)| i);
    &a[..end]
}

/// A column with more values than this is not divided by them: reading
/// their sizes would cost more than the SQL it saves. An orderable text
/// column with more is cut into spans (`Kind::Span`).
pub const MAX_GROUPS: usize = 5_000;

/// Orderable text columns: cut into spans of values when they have more
/// than `MAX_GROUPS` values (customer ids, phone numbers, cities), so that
/// a deep page under their ordering is found through the spans' sizes.
pub fn span_columns() -> Vec<Column> {
    fields::ordering_fields().filter(|f| f.value_type() == ValueType::Text).map(|f| f.column()).collect()
}

/// The spans' cut needs the values in the order PostgreSQL sorts them,
/// which Rust's byte order is under the C collation only.
pub const SPAN_COLLATIONS: [&str; 3] = ["C", "POSIX", "C.UTF-8"];

/// The text columns patterns match, from the field table: searchable or
/// with an icontains lookup (`name` reads first and last name).
pub fn pattern_columns() -> Vec<Column> {
    let mut columns: Vec<Column> = Vec::new();
    for field in fields::FIELDS {
        if field.searchable || field.lookups.contains(&Lookup::Icontains) {
            for column in field.columns {
                if !columns.contains(column) {
                    columns.push(*column);
                }
            }
        }
    }
    columns
}

/// A gram of up to three characters as a number: characters are below
/// 2^21 and never NUL, so grams of different lengths never collide.
pub fn pack(gram: &[char]) -> u64 {
    gram.iter().fold(0u64, |acc, c| (acc << 21) | *c as u64)
}

pub fn unpack(mut packed: u64) -> String {
    let mut chars = Vec::new();
    while packed != 0 {
        chars.push(char::from_u32((packed & 0x1F_FFFF) as u32).unwrap_or('\u{FFFD}'));
        packed >>= 21;
    }
    chars.iter().rev().collect()
}

/// Every distinct gram of 1..=`max` characters of an already lower-cased text.
pub fn grams_of(lowered: &str, max: usize, out: &mut Vec<u64>) {
    out.clear();
    // The last `max` characters, packed one by one: each position ends one
    // gram of every length up to `max` (no buffer of characters per text).
    let mut window = [0u64; MAX_GRAM];
    let max = max.min(MAX_GRAM);
    for (at, c) in lowered.chars().enumerate() {
        window.rotate_right(1);
        window[0] = c as u64;
        let mut packed = 0u64;
        for (n, c) in window.iter().enumerate().take(max.min(at + 1)) {
            packed |= c << (21 * n);
            out.push(packed);
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// How the postings answer one lower-cased pattern on one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternLookup {
    /// The pattern is a gram: its posting is the answer.
    Gram(u64),
    /// Longer than the column's grams, on a column with values: the union
    /// of the postings of the values containing it.
    Values,
    /// Longer than the column's grams, without values: the intersection of
    /// these grams' postings holds every match (and maybe more).
    Candidates(Vec<u64>),
}

pub fn lookup(column: &Column, lowered: &str) -> PatternLookup {
    let chars: Vec<char> = lowered.chars().collect();
    let longest = MAX_GRAM;
    if chars.len() <= longest {
        return PatternLookup::Gram(pack(&chars));
    }
    if column.few_values {
        return PatternLookup::Values;
    }
    let mut grams: Vec<u64> = chars.windows(longest).map(pack).collect();
    grams.sort_unstable();
    grams.dedup();
    PatternLookup::Candidates(grams)
}

/// The grams of a posting key (lower-cased) for storage: as text.
pub fn gram_key(packed: u64) -> String {
    unpack(packed)
}

pub fn to_bytes(bitmap: &Bitmap) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(bitmap.serialized_size());
    bitmap.serialize_into(&mut bytes).expect("writing to a Vec cannot fail");
    bytes
}

/// A bitmap from its bytes. They were written by `to_bytes` (the postings
/// are only written by `refresh`): read without re-validating every
/// container, which took a fifth of a range request's time at 3M.
pub fn from_bytes(bytes: &[u8]) -> Option<Bitmap> {
    Bitmap::deserialize_unchecked_from(bytes).ok()
}

/// A multiplicative hasher for the build's integer keys: SipHash costs
/// more than the rest of an insertion.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ *b as u64).wrapping_mul(0x517C_C1B7_2722_0A95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A posting's key with its bitmap.
pub type Keyed = (String, Bitmap);

/// The postings of one column under construction. Contacts come in
/// ascending id order, so every posting is appended to (`Appender`) and
/// never sorted. A column with values (`keep_value`) keeps each
/// contact's value as a number; the postings of values and grams are made
/// from them at the end (`finish`).
#[derive(Default)]
pub struct ColumnPostings {
    /// Columns without values: each gram's contacts.
    grams: FastMap<u64, Appender>,
    /// Columns with values: each distinct value's number, its text, its
    /// lower-cased form (empty when the column has no grams: gender), and
    /// `(id, value number)` of every contact.
    value_numbers: HashMap<String, u32>,
    values: Vec<String>,
    lowered: Vec<String>,
    contacts: Vec<(u32, u32)>,
    scratch: Vec<u64>,
    marked: String,
    /// The prefix every value (lower-cased) starts with (`CUST-` of every
    /// customer id): a pattern inside it matches every value.
    common_prefix: Option<String>,
    /// A prefix known before the pass to begin every value: the grams
    /// skip it (`with_prefix`).
    skipped: Option<String>,
}

/// What `ColumnPostings::finish` makes: value postings, gram postings (as
/// text keys), and, when asked for and the column has more than
/// `MAX_GROUPS` values, its spans (`Kind::Span`).
pub struct Finished {
    pub values: Vec<Keyed>,
    pub grams: Vec<Keyed>,
    pub spans: Option<Vec<Keyed>>,
}

/// A bitmap built from ids in ascending order: appended in blocks, since
/// a bitmap checks its greatest id (a scan of a dense container) on every
/// single append.
#[derive(Default, Clone)]
pub struct Appender {
    bitmap: Bitmap,
    pending: Vec<u32>,
}

impl Appender {
    const BLOCK: usize = 1024;

    /// Adds an id larger than every id added before.
    pub fn push(&mut self, id: u32) {
        self.pending.push(id);
        if self.pending.len() >= Self::BLOCK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.bitmap.append(self.pending.drain(..)).expect("contacts come in ascending id order, each once");
    }

    /// The bitmap, in its most compact form.
    pub fn finish(mut self) -> Bitmap {
        self.flush();
        self.bitmap.optimize();
        self.bitmap
    }
}

/// Stands for a column's common prefix in the grams of its values
/// (`ColumnPostings::with_prefix`).
pub const PREFIX_MARK: char = '\u{1}';

/// What a pattern (lower-cased) is looked up as in the grams of a column
/// whose values all start with `prefix` and whose grams skip it: `None`
/// when the prefix contains it (every value matches); otherwise the pattern
/// itself (within the rest of a value) and, for each way it can begin
/// inside the prefix and end after it, its part after the prefix behind
/// the mark. A value matches exactly when one of them is in its grams' text.
pub fn prefixed_parts(prefix: &str, lowered: &str) -> Option<Vec<String>> {
    if prefix.contains(lowered) {
        return None;
    }
    let mut parts = vec![lowered.to_string()];
    for (at, _) in lowered.char_indices().skip(1) {
        if prefix.ends_with(&lowered[..at]) {
            parts.push(format!("{PREFIX_MARK}{}", &lowered[at..]));
        }
    }
    Some(parts)
}

impl ColumnPostings {
    /// Postings of a column whose values (lower-cased) all start with
    /// `prefix` (`CUST-`): a value's grams are those of `PREFIX_MARK`
    /// followed by the rest of it. The prefix's own pieces, in every value,
    /// are not kept; a pattern across its end becomes a pattern at the mark
    /// (`prefixed_parts`): `ust-c` on customer ids is the pair `<mark>c`,
    /// where its pieces (`ust`, `st-`, `t-c`) left 187,000 candidates to
    /// recheck at 3M (1.2–1.5 s).
    pub fn with_prefix(prefix: String) -> Self {
        ColumnPostings { skipped: Some(prefix), ..ColumnPostings::default() }
    }

    /// Adds a contact's value (`lowered` by PostgreSQL's lower()).
    pub fn add(&mut self, id: u32, value: &str, lowered: &str, keep_value: bool) {
        match &mut self.common_prefix {
            None => self.common_prefix = Some(lowered.to_string()),
            Some(prefix) if !lowered.starts_with(prefix.as_str()) => {
                let end = shared_prefix(prefix, lowered).len();
                prefix.truncate(end);
            }
            Some(_) => {}
        }
        if keep_value {
            // The grams come from the values at the end (`finish`).
            let number = self.number_of(value, Some(lowered));
            self.contacts.push((id, number));
            return;
        }
        let text = match self.skipped.as_deref().and_then(|p| lowered.strip_prefix(p)) {
            Some(rest) => {
                self.marked.clear();
                self.marked.push(PREFIX_MARK);
                self.marked.push_str(rest);
                self.marked.as_str()
            }
            None => lowered,
        };
        grams_of(text, MAX_GRAM, &mut self.scratch);
        for gram in &self.scratch {
            self.grams.entry(*gram).or_default().push(id);
        }
    }

    /// Adds a contact's value of a column without grams (gender).
    pub fn add_value(&mut self, id: u32, value: &str) {
        let number = self.number_of(value, None);
        self.contacts.push((id, number));
    }

    fn number_of(&mut self, value: &str, lowered: Option<&str>) -> u32 {
        if let Some(number) = self.value_numbers.get(value) {
            return *number;
        }
        let number = self.values.len() as u32;
        self.value_numbers.insert(value.to_string(), number);
        self.values.push(value.to_string());
        if let Some(lowered) = lowered {
            self.lowered.push(lowered.to_string());
        }
        number
    }

    /// The prefix all values added share (lower-cased; may be empty).
    pub fn common_prefix(&self) -> Option<&str> {
        self.common_prefix.as_deref()
    }

    /// The postings. On a column with values, a contact's grams are those
    /// of its value, found once per value (names repeat a value for a
    /// thousand contacts). `spans`: cut the values into spans too.
    pub fn finish(self, spans: bool) -> Finished {
        let mut of_value = vec![Appender::default(); self.values.len()];
        for &(id, number) in &self.contacts {
            of_value[number as usize].push(id);
        }
        let of_value: Vec<Bitmap> = of_value.into_iter().map(Appender::finish).collect();
        let mut grams: Vec<(u64, Bitmap)> = self.grams.into_iter().map(|(g, ids)| (g, ids.finish())).collect();
        if !self.lowered.is_empty() {
            // Each value's grams as numbers, then every contact's id
            // appended to the grams of its value.
            let mut gram_numbers: FastMap<u64, u32> = FastMap::default();
            let mut value_grams: Vec<Vec<u32>> = Vec::with_capacity(self.lowered.len());
            let mut scratch = self.scratch;
            for lowered in &self.lowered {
                grams_of(lowered, MAX_GRAM, &mut scratch);
                let numbers = scratch.iter().map(|g| {
                    let next = gram_numbers.len() as u32;
                    *gram_numbers.entry(*g).or_insert(next)
                });
                value_grams.push(numbers.collect());
            }
            let mut of_gram = vec![Appender::default(); gram_numbers.len()];
            for &(id, number) in &self.contacts {
                for gram in &value_grams[number as usize] {
                    of_gram[*gram as usize].push(id);
                }
            }
            let mut by_number: Vec<(u32, u64)> = gram_numbers.into_iter().map(|(g, n)| (n, g)).collect();
            by_number.sort_unstable();
            grams.extend(by_number.into_iter().map(|(_, g)| g).zip(of_gram.into_iter().map(Appender::finish)));
        }
        let spans = (spans && self.values.len() > MAX_GROUPS).then(|| {
            let mut order: Vec<usize> = (0..self.values.len()).collect();
            order.sort_unstable_by(|a, b| self.values[*a].cmp(&self.values[*b]));
            let pairs = order.iter().flat_map(|v| of_value[*v].iter().map(move |id| (*v, id)));
            let cut = cut_sorted(pairs, self.contacts.len());
            cut.into_iter().map(|(v, ids)| (self.values[v].clone(), ids)).collect()
        });
        Finished {
            values: self.values.into_iter().zip(of_value).collect(),
            grams: grams.into_iter().map(|(g, ids)| (gram_key(g), ids)).collect(),
            spans,
        }
    }
}

/// `(text, id)` pairs, sorted by text in byte order, for the spans of a
/// column without values (a text per contact: customer ids, phones). The
/// texts share one buffer, and sorting compares a 16-byte key first.
#[derive(Default)]
pub struct TextPairs {
    bytes: Vec<u8>,
    /// (first 16 bytes big-endian, start, end, id)
    entries: Vec<(u128, u32, u32, u32)>,
}

impl TextPairs {
    pub fn push(&mut self, text: &str, id: u32) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(text.as_bytes());
        let mut head = [0u8; 16];
        let n = text.len().min(16);
        head[..n].copy_from_slice(&text.as_bytes()[..n]);
        self.entries.push((u128::from_be_bytes(head), start, self.bytes.len() as u32, id));
    }

    /// The spans of the texts (`cut_sorted`): `(first text, ids)`.
    pub fn spans(mut self) -> Vec<Keyed> {
        let bytes = &self.bytes;
        let text = |start: u32, end: u32| &bytes[start as usize..end as usize];
        // A shorter text that is a prefix of a longer one sorts first, as
        // its key padded with zeros does (texts hold no NUL).
        self.entries.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| text(a.1, a.2).cmp(text(b.1, b.2))).then(a.3.cmp(&b.3))
        });
        let total = self.entries.len();
        let pairs = self.entries.iter().map(|e| (text(e.1, e.2), e.3));
        let cut = cut_sorted(pairs, total);
        cut.into_iter().map(|(t, ids)| (String::from_utf8_lossy(t).into_owned(), ids)).collect()
    }
}

/// Names of the postings' objects, qualified by `schema` (already quoted).
pub fn create_tables_sql(schema: &str) -> Vec<String> {
    vec![
        // bits are roaring bitmaps, already compressed: stored out of line
        // without a second compression. n is their cardinality: a page
        // read through groups (`grouped`) needs the sizes of many and the
        // bits of few.
        format!(
            "CREATE TABLE {schema}.{POSTING} (field text NOT NULL, kind text NOT NULL, key text NOT NULL, \
             bits bytea NOT NULL, n int8 NOT NULL, PRIMARY KEY (field, kind, key))"
        ),
        format!("ALTER TABLE {schema}.{POSTING} ALTER COLUMN bits SET STORAGE EXTERNAL"),
        format!("CREATE TABLE {schema}.{DIRTY} (id bigint PRIMARY KEY)"),
    ]
}

/// A contact already dirty gets its entry written anew: a refresh running
/// meanwhile then sees a new version and keeps it dirty (`postings_store::refresh`).
const REMARK: &str = "ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id";

/// Trigger statements on the projection: the contacts whose matched text
/// may have changed become dirty. `rows` is a transition table.
pub fn mark_dirty_sql(schema: &str, rows: &str) -> String {
    format!("INSERT INTO {schema}.{DIRTY} (id) SELECT DISTINCT id FROM {rows} {REMARK}")
}

/// An update marks only contacts whose columns with postings changed: the
/// rows of `new_rows` not found, all columns equal, in `old_rows`. A set
/// difference, because the planner knows nothing of transition tables'
/// sizes: a join of the two, estimated at one row each, became a nested
/// loop that took 11 s for an import's 10,000 rows (100 million pairs).
/// EXCEPT compares NULLs as equal, as IS DISTINCT FROM does.
pub fn mark_changed_dirty_sql(schema: &str) -> String {
    let columns: Vec<&str> = posting_columns().iter().map(|c| c.output_key()).collect();
    let columns = columns.join(", ");
    format!(
        "INSERT INTO {schema}.{DIRTY} (id) SELECT id FROM \
         (SELECT id, {columns} FROM new_rows EXCEPT SELECT id, {columns} FROM old_rows) changed {REMARK}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_columns_come_from_the_field_table() {
        let keys: Vec<&str> = pattern_columns().iter().map(|c| c.output_key()).collect();
        assert_eq!(
            keys,
            ["first_name", "last_name", "customer_id", "phone_number", "street", "city", "city_code", "country"]
        );
    }

    #[test]
    fn grams_pack_without_collisions_and_unpack() {
        let a = pack(&['a']);
        let ab = pack(&['a', 'b']);
        let abc = pack(&['a', 'b', 'c']);
        assert!(a != ab && ab != abc && a != abc);
        assert_eq!(unpack(abc), "abc");
        assert_eq!(unpack(pack(&['ü', '\u{10FFFF}'])), "ü\u{10FFFF}");
    }

    #[test]
    fn grams_of_a_value_are_its_distinct_pieces() {
        let mut out = Vec::new();
        grams_of("anna", 2, &mut out);
        let mut got: Vec<String> = out.iter().map(|g| unpack(*g)).collect();
        got.sort();
        assert_eq!(got, ["a", "an", "n", "na", "nn"]);
        grams_of("zoë", 3, &mut out);
        assert_eq!(out.len(), 3 + 2 + 1);
        grams_of("", 3, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn lookups_by_pattern_length_and_column() {
        assert_eq!(lookup(&fields::U_CUSTOMER_ID, "8a"), PatternLookup::Gram(pack(&['8', 'a'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "p"), PatternLookup::Gram(pack(&['p'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "pau"), PatternLookup::Gram(pack(&['p', 'a', 'u'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "paul"), PatternLookup::Values);
        assert_eq!(lookup(&fields::U_PHONE_NUMBER, "555"), PatternLookup::Gram(pack(&['5', '5', '5'])));
        let PatternLookup::Candidates(grams) = lookup(&fields::U_PHONE_NUMBER, "5556") else { panic!() };
        assert_eq!(grams, [pack(&['5', '5', '5']), pack(&['5', '5', '6'])]);
    }

    #[test]
    fn patterns_across_a_skipped_prefix_become_parts_at_the_mark() {
        let m = PREFIX_MARK;
        assert_eq!(prefixed_parts("cust-", "ust"), None);
        assert_eq!(prefixed_parts("cust-", "cust-"), None);
        assert_eq!(prefixed_parts("cust-", "ust-c"), Some(vec!["ust-c".to_string(), format!("{m}c")]));
        assert_eq!(prefixed_parts("cust-", "-0a"), Some(vec!["-0a".to_string(), format!("{m}0a")]));
        assert_eq!(prefixed_parts("cust-", "0a"), Some(vec!["0a".to_string()]));
        // Every way the prefix can end inside the pattern.
        assert_eq!(prefixed_parts("aa", "aab"), Some(vec!["aab".to_string(), format!("{m}ab"), format!("{m}b")]));
    }

    #[test]
    fn bitmaps_survive_their_bytes() {
        let mut b = Bitmap::new();
        b.insert(3);
        b.insert(u32::MAX);
        assert_eq!(from_bytes(&to_bytes(&b)), Some(b));
        assert_eq!(from_bytes(b"junk"), None);
    }

    #[test]
    fn column_postings_collect_ids_per_gram_and_value() {
        let mut column = ColumnPostings::default();
        column.add(1, "Ab", "ab", true);
        column.add(2, "B", "b", true);
        column.add(3, "Ab", "ab", true);
        let Finished { values, grams, .. } = column.finish(false);
        let gram = |g: &str| grams.iter().find(|(k, _)| k == g).map(|(_, b)| b.iter().collect::<Vec<_>>());
        assert_eq!(gram("b"), Some(vec![1, 2, 3]));
        assert_eq!(gram("ab"), Some(vec![1, 3]));
        assert_eq!(values.iter().find(|(v, _)| v == "Ab").map(|(_, b)| b.len()), Some(2));
        let mut ids = ColumnPostings::default();
        for (i, v) in ["cust-0a", "cust-1b", "cust-0c"].into_iter().enumerate() {
            ids.add(i as u32, v, v, false);
        }
        assert_eq!(ids.common_prefix(), Some("cust-"));
        ids.add(9, "çu", "çu", false);
        assert_eq!(ids.common_prefix(), Some(""));
        let mut many = ColumnPostings::default();
        many.add(9, "X1", "x1", false);
        let Finished { values, grams, .. } = many.finish(false);
        assert!(values.is_empty());
        assert_eq!(grams.len(), 3);
    }

    #[test]
    fn buckets_are_even_and_never_split_a_value() {
        let pairs: Vec<(i64, u32)> = (0..1000u32).map(|i| ((i / 10) as i64, 999 - i)).collect();
        let buckets = buckets_of(pairs);
        assert!(buckets.len() <= BUCKETS && buckets.len() >= BUCKETS / 2, "{}", buckets.len());
        assert_eq!(buckets.iter().map(|(_, b)| b.len()).sum::<u64>(), 1000);
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0));
        // Each bucket holds whole values: its ids are those of keys lo..next lo.
        for (i, (lo, ids)) in buckets.iter().enumerate() {
            let hi = buckets.get(i + 1).map_or(i64::MAX, |(h, _)| *h);
            let want: Bitmap =
                (0..1000u32).filter(|j| (*j / 10) as i64 >= *lo && ((*j / 10) as i64) < hi).map(|j| 999 - j).collect();
            assert_eq!(ids, &want);
        }
        // Large tables get more buckets, none larger than the maximum.
        let many = buckets_of((0..2_000_000u32).map(|i| (i as i64, i)).collect());
        assert_eq!(many.len(), 2_000_000usize.div_ceil(MAX_BUCKET_SIZE));
        assert!(many.iter().all(|(_, b)| b.len() <= MAX_BUCKET_SIZE as u64));
        let same = buckets_of(vec![(5, 1), (5, 2), (5, 3)]);
        assert_eq!(same.len(), 1);
        assert!(buckets_of(Vec::new()).is_empty());
    }

    /// The plain definition the build's grams must agree with.
    fn reference_grams(text: &str) -> Vec<u64> {
        let chars: Vec<char> = text.chars().collect();
        let mut out: Vec<u64> = (1..=MAX_GRAM.min(chars.len())).flat_map(|n| chars.windows(n).map(pack)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn grams_are_every_piece_of_up_to_three_characters() {
        let mut out = Vec::new();
        for text in ["", "a", "ab", "abc", "abcd", "aaaa", "zoë-ü\u{10FFFF}x", "\u{1}0a1f"] {
            grams_of(text, MAX_GRAM, &mut out);
            assert_eq!(out, reference_grams(text), "{text:?}");
        }
    }

    #[test]
    fn a_key_is_never_split_over_two_buckets() {
        // 128 buckets of one pair for 128 keys; key 5 has 11 pairs.
        let mut pairs: Vec<(i64, u32)> = (0..128).map(|i| (i as i64, i)).collect();
        pairs.extend((200..210).map(|i| (5, i)));
        pairs.sort_unstable();
        let buckets = cut_sorted(pairs.iter().copied(), pairs.len());
        let holding = |id: u32| buckets.iter().filter(|(_, ids)| ids.contains(id)).map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(holding(5).len(), 1);
        assert_eq!(holding(200), holding(5));
        assert_eq!(holding(209), holding(5));
        assert_eq!(buckets.iter().map(|(_, ids)| ids.len()).sum::<u64>(), pairs.len() as u64);
    }

    #[test]
    fn text_pairs_sort_in_byte_order_beyond_their_key() {
        let texts = ["CUST-00000000000B", "CUST-00000000000A", "b", "CUST-0000000000", "CUST-00000000000A", "B", "é"];
        let mut pairs = TextPairs::default();
        for (id, t) in texts.iter().enumerate() {
            pairs.push(t, id as u32);
        }
        // One contact per span on so few contacts: the spans' first texts
        // are the texts in order, a repeated text in one span.
        let spans = pairs.spans();
        let firsts: Vec<&str> = spans.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(firsts, ["B", "CUST-0000000000", "CUST-00000000000A", "CUST-00000000000B", "b", "é"]);
        assert_eq!(spans[2].1.iter().collect::<Vec<_>>(), [1, 4]);
    }

    #[test]
    fn values_bring_their_grams_and_spans() {
        let distinct = MAX_GROUPS as u32 + 5;
        let names: Vec<String> = (0..distinct + 10).map(|i| format!("N{}", i % distinct)).collect();
        let mut column = ColumnPostings::default();
        for (id, name) in names.iter().enumerate() {
            column.add(id as u32, name, &name.to_lowercase(), true);
        }
        let finished = column.finish(true);
        assert_eq!(finished.values.len(), distinct as usize);
        for (gram, ids) in &finished.grams {
            let want: Bitmap =
                (0..names.len() as u32).filter(|i| names[*i as usize].to_lowercase().contains(gram.as_str())).collect();
            assert_eq!(ids, &want, "{gram}");
        }
        let spans = finished.spans.expect("more values than MAX_GROUPS");
        assert_eq!(spans.iter().map(|(_, ids)| ids.len()).sum::<u64>(), names.len() as u64);
        assert!(spans.windows(2).all(|w| w[0].0 < w[1].0));
        // Every contact lies in the span of the greatest first value not after its own.
        for (id, name) in names.iter().enumerate() {
            let span = spans.iter().rev().find(|(first, _)| first <= name).expect("a span");
            assert!(span.1.contains(id as u32), "{name}");
        }
        assert!(ColumnPostings::default().finish(true).spans.is_none());
    }

    #[test]
    fn the_other_posting_columns_come_from_the_field_table() {
        let keys = |cs: Vec<Column>| cs.iter().map(|c| c.output_key()).collect::<Vec<_>>();
        assert_eq!(keys(value_columns()), ["gender"]);
        assert_eq!(
            keys(bucket_columns()),
            ["created", "birthday", "last_updated", "points", "relationship_created", "last_activity"]
        );
        assert_eq!(sort_key_of(&value_of_sort_key(&fields::U_CREATED, 77)), Some(77));
        assert_eq!(sort_key_of(&value_of_sort_key(&fields::U_BIRTHDAY, -3)), Some(-3));
        assert_eq!(sort_key_of(&Value::Integer(IntegerLiteral::AboveMax)), None);
    }

    #[test]
    fn ids_beyond_32_bits_are_not_members() {
        assert_eq!(member(7), Some(7));
        assert_eq!(member(1 << 40), None);
        assert_eq!(bitmap_of([1, 2]).map(|b| b.len()), Some(2));
        assert_eq!(bitmap_of([1, 1 << 40]), None);
    }
}
