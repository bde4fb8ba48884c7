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

use roaring::RoaringTreemap;

use crate::fields::{self, Column, Lookup};

/// A set of contact ids.
pub type Bitmap = RoaringTreemap;

pub use crate::objects::{DIRTY, POSTING};

/// Longest gram kept for every text column.
pub const SHORT_GRAM: usize = 2;
/// Longest gram kept for columns with many values (they have no value
/// postings, so patterns of 3 are served by grams too).
pub const LONG_GRAM: usize = 3;

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

/// The longest gram a column's postings hold.
pub fn max_gram(column: &Column) -> usize {
    if column.few_values {
        SHORT_GRAM
    } else {
        LONG_GRAM
    }
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
    /// these trigrams' postings holds every match (and maybe more).
    Candidates(Vec<u64>),
}

pub fn lookup(column: &Column, lowered: &str) -> Lookup3 {
    let chars: Vec<char> = lowered.chars().collect();
    if chars.len() <= max_gram(column) {
        return Lookup3::Gram(pack(&chars));
    }
    if column.few_values {
        return Lookup3::Values;
    }
    let mut trigrams: Vec<u64> = chars.windows(LONG_GRAM).map(pack).collect();
    trigrams.sort_unstable();
    trigrams.dedup();
    Lookup3::Candidates(trigrams)
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

/// Gram postings under construction, for one column. Fed contacts in
/// ascending id order, so every insertion appends to its bitmap.
#[derive(Default)]
pub struct GramIndex {
    pub postings: HashMap<u64, Bitmap>,
    /// The grams of values seen before (columns with few values repeat them).
    memo: HashMap<String, Vec<u64>>,
    scratch: Vec<u64>,
}

/// Values whose grams are remembered, at most (columns with many values
/// rarely repeat one).
const MEMO_LIMIT: usize = 500_000;

impl GramIndex {
    pub fn add(&mut self, id: u64, lowered: &str, max: usize) {
        let grams = match self.memo.get(lowered) {
            Some(grams) => grams,
            None => {
                grams_of(lowered, max, &mut self.scratch);
                if self.memo.len() < MEMO_LIMIT && max <= SHORT_GRAM {
                    self.memo.insert(lowered.to_string(), self.scratch.clone());
                    &self.memo[lowered]
                } else {
                    &self.scratch
                }
            }
        };
        for gram in grams {
            self.postings.entry(*gram).or_default().insert(id);
        }
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
        assert_eq!(lookup(&fields::U_CUSTOMER_ID, "8a6"), Lookup3::Gram(pack(&['8', 'a', '6'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "pa"), Lookup3::Gram(pack(&['p', 'a'])));
        assert_eq!(lookup(&fields::U_FIRST_NAME, "pau"), Lookup3::Values);
        let Lookup3::Candidates(trigrams) = lookup(&fields::U_PHONE_NUMBER, "5555") else { panic!() };
        assert_eq!(trigrams, [pack(&['5', '5', '5'])]);
    }

    #[test]
    fn bitmaps_survive_their_bytes() {
        let mut b = Bitmap::new();
        b.insert(3);
        b.insert(1 << 40);
        assert_eq!(from_bytes(&to_bytes(&b)), Some(b));
        assert_eq!(from_bytes(b"junk"), None);
    }

    #[test]
    fn gram_index_collects_ids_per_gram() {
        let mut index = GramIndex::default();
        index.add(1, "ab", 2);
        index.add(2, "b", 2);
        assert_eq!(index.postings[&pack(&['b'])].len(), 2);
        assert_eq!(index.postings[&pack(&['a', 'b'])].len(), 1);
        index.add(3, "ab", 2);
        assert_eq!(index.postings[&pack(&['b'])].len(), 3);
    }
}
