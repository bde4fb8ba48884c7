//! Postings: for every text column that patterns match (`icontains`,
//! `name`, `search`), which contacts each piece of text occurs in, as
//! compressed bitmaps of contact ids (roaring). A pattern's matches become
//! unions and intersections of a few bitmaps, counted exactly without
//! reading a row, however many contacts match, and however short the
//! pattern is (trigram indexes cannot serve patterns under 3 characters).
//!
//! Two kinds of keys:
//! - **grams**: every 1- and 2-character piece of a value, lower-cased by
//!   PostgreSQL's `lower()` (the case folding of ILIKE); also 3-character
//!   pieces on columns with many values. A pattern of up to that length
//!   matches exactly the contacts of its gram; a longer pattern's contacts
//!   are among those of all its trigrams (candidates, then rechecked).
//! - **values**: on columns with few values (`fields::Column::few_values`),
//!   the contacts of each distinct value; a longer pattern is resolved to
//!   the values containing it (the dictionary's trigram index), and its
//!   matches are the union of their postings. Exact, no recheck.
//!
//! Postings are a snapshot. Contacts written since (`DIRTY`, kept by the
//! projection's triggers) are left out of every posting and matched with
//! SQL instead; `crm.refresh_postings()` takes a new snapshot.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::fields::{self, Column, Lookup};

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

/// Longest gram kept: patterns of 1 or 2 characters are answered exactly
/// by one posting; longer ones by values, or by their grams' intersection
/// and a recheck.
pub const MAX_GRAM: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gram,
    Value,
}

impl Kind {
    pub const fn code(self) -> &'static str {
        match self {
            Kind::Gram => "g",
            Kind::Value => "v",
        }
    }
}

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
    let chars: Vec<char> = lowered.chars().collect();
    for n in 1..=max.min(chars.len()) {
        for window in chars.windows(n) {
            out.push(pack(window));
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// How the postings answer one lower-cased pattern on one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup3 {
    /// The pattern is a gram: its posting is the answer.
    Gram(u64),
    /// Longer than the column's grams, on a column with values: the union
    /// of the postings of the values containing it.
    Values,
    /// Longer than the column's grams, without values: the intersection of
    /// these grams' postings holds every match (and maybe more).
    Candidates(Vec<u64>),
}

pub fn lookup(column: &Column, lowered: &str) -> Lookup3 {
    let chars: Vec<char> = lowered.chars().collect();
    if chars.len() <= MAX_GRAM {
        return Lookup3::Gram(pack(&chars));
    }
    if column.few_values {
        return Lookup3::Values;
    }
    let mut grams: Vec<u64> = chars.windows(MAX_GRAM).map(pack).collect();
    grams.sort_unstable();
    grams.dedup();
    Lookup3::Candidates(grams)
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

pub fn from_bytes(bytes: &[u8]) -> Option<Bitmap> {
    Bitmap::deserialize_from(bytes).ok()
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

/// The postings of one column under construction: ids appended per key
/// (contacts come in ascending id order), made bitmaps at the end.
#[derive(Default)]
pub struct ColumnPostings {
    grams: FastMap<u64, Vec<u32>>,
    /// Value postings (columns with few values only), by value.
    values: HashMap<String, Vec<u32>>,
    /// The grams of values seen before (columns with few values repeat them).
    memo: HashMap<String, Vec<u64>>,
    scratch: Vec<u64>,
}

impl ColumnPostings {
    /// Adds a contact's value (`lowered` by PostgreSQL's lower()).
    pub fn add(&mut self, id: u32, value: &str, lowered: &str, keep_value: bool) {
        if keep_value {
            match self.values.get_mut(value) {
                Some(ids) => ids.push(id),
                None => {
                    self.values.insert(value.to_string(), vec![id]);
                }
            }
        }
        let grams = match self.memo.get(lowered) {
            Some(grams) => grams,
            None => {
                grams_of(lowered, MAX_GRAM, &mut self.scratch);
                if keep_value {
                    self.memo.insert(lowered.to_string(), self.scratch.clone());
                    &self.memo[lowered]
                } else {
                    &self.scratch
                }
            }
        };
        for gram in grams {
            self.grams.entry(*gram).or_default().push(id);
        }
    }

    /// The value postings, then the gram postings (as text keys).
    pub fn finish(self) -> (Vec<Keyed>, Vec<Keyed>) {
        let bitmap = |ids: Vec<u32>| {
            let mut bitmap = Bitmap::from_sorted_iter(ids).expect("ids are appended in ascending order");
            bitmap.optimize();
            bitmap
        };
        let values = self.values.into_iter().map(|(v, ids)| (v, bitmap(ids))).collect();
        let grams = self.grams.into_iter().map(|(g, ids)| (gram_key(g), bitmap(ids))).collect();
        (values, grams)
    }
}

/// Names of the postings' objects, qualified by `schema` (already quoted).
pub fn create_tables_sql(schema: &str) -> Vec<String> {
    vec![
        // bits are roaring bitmaps, already compressed: stored out of line
        // without a second compression.
        format!(
            "CREATE TABLE {schema}.{POSTING} (field text NOT NULL, kind text NOT NULL, key text NOT NULL, \
             bits bytea NOT NULL, PRIMARY KEY (field, kind, key))"
        ),
        format!("ALTER TABLE {schema}.{POSTING} ALTER COLUMN bits SET STORAGE EXTERNAL"),
        format!("CREATE TABLE {schema}.{DIRTY} (id bigint PRIMARY KEY)"),
    ]
}

/// Trigger statements on the projection: the contacts whose matched text
/// may have changed become dirty. `rows` is a transition table.
pub fn mark_dirty_sql(schema: &str, rows: &str) -> String {
    format!("INSERT INTO {schema}.{DIRTY} (id) SELECT DISTINCT id FROM {rows} ON CONFLICT DO NOTHING")
}

/// An update marks only contacts whose matched text changed (a points
/// update, the most common write, leaves the postings right).
pub fn mark_changed_dirty_sql(schema: &str) -> String {
    let columns: Vec<&str> = pattern_columns().iter().map(|c| c.output_key()).collect();
    let old: Vec<String> = columns.iter().map(|c| format!("o.{c}")).collect();
    let new: Vec<String> = columns.iter().map(|c| format!("n.{c}")).collect();
    format!(
        "INSERT INTO {schema}.{DIRTY} (id) SELECT DISTINCT n.id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id \
         WHERE o.id IS NULL OR ({}) IS DISTINCT FROM ({}) ON CONFLICT DO NOTHING",
        old.join(", "),
        new.join(", ")
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
        assert_eq!(lookup(&fields::U_CUSTOMER_ID, "8a"), Lookup3::Gram(pack(&['8', 'a'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "p"), Lookup3::Gram(pack(&['p'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "pau"), Lookup3::Values);
        let Lookup3::Candidates(grams) = lookup(&fields::U_PHONE_NUMBER, "5556") else { panic!() };
        assert_eq!(grams, [pack(&['5', '5']), pack(&['5', '6'])]);
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
        let (values, grams) = column.finish();
        let gram = |g: &str| grams.iter().find(|(k, _)| k == g).map(|(_, b)| b.iter().collect::<Vec<_>>());
        assert_eq!(gram("b"), Some(vec![1, 2, 3]));
        assert_eq!(gram("ab"), Some(vec![1, 3]));
        assert_eq!(values.iter().find(|(v, _)| v == "Ab").map(|(_, b)| b.len()), Some(2));
        let mut many = ColumnPostings::default();
        many.add(9, "X1", "x1", false);
        let (values, grams) = many.finish();
        assert!(values.is_empty());
        assert_eq!(grams.len(), 3);
    }

    #[test]
    fn ids_beyond_32_bits_are_not_members() {
        assert_eq!(member(7), Some(7));
        assert_eq!(member(1 << 40), None);
        assert_eq!(bitmap_of([1, 2]).map(|b| b.len()), Some(2));
        assert_eq!(bitmap_of([1, 1 << 40]), None);
    }
}
