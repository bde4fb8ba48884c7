//! Pages found through the postings' groups of the ordering's leading terms
//! (`plan::Reading::Groups`). The postings hold, for the ordering's first
//! term, the contacts of each of its values (gender, names, cities, …) or of
//! each bucket of its range (dates, points): in the term's order, the
//! groups' sizes among the matches say exactly where the page lies. A group
//! of one value is then divided by the next term the same way; the page's
//! part in a bucket, or in a group the next term cannot divide, is read by
//! SQL within that group alone (`Slice::Rows`). A page deep in the ordering
//! costs a few bitmap intersections instead of a walk past every row before
//! it, and matches that cluster at one end of the ordering (a date range
//! under an ordering by that date) cost nothing extra.
//!
//! Plain Rust over a `GroupSource`: `paging` gives it the postings through
//! SPI, the tests an in-memory table.

use crate::fields::Column;
use crate::params::OrderTerm;
use crate::postings::Bitmap;

/// Up to this many matches, a set is read by SQL as a whole (collected and
/// sorted) rather than divided further.
pub const SMALL_SET: u64 = 2_000;

/// What a group of one column's contacts is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupKey {
    /// Every contact with this value.
    Value(String),
    /// Every contact whose sort key lies in `lo..=hi` (`None`: unbounded
    /// on that side, so that values written since the snapshot belong to
    /// the first or last bucket). Never NULL.
    Bucket { lo: Option<i64>, hi: Option<i64> },
    /// Every contact without a value.
    Null,
}

/// A group of a column with its number of contacts now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub key: GroupKey,
    pub len: u64,
}

/// The contacts a page is taken from.
#[derive(Clone, Debug, PartialEq)]
pub enum Set {
    /// Every contact (no condition).
    All,
    Some(Bitmap),
}

/// The groups the postings hold, current (writes since the snapshot
/// included).
pub trait GroupSource {
    type Error;
    /// Every contact now.
    fn total(&self) -> u64;
    /// The column's groups in ascending order, NULL excluded; `None` when
    /// the postings do not group the column (or it has too many values).
    fn groups(&mut self, column: &Column) -> Result<Option<Vec<Group>>, Self::Error>;
    /// The contacts of each of these groups now, in their order.
    fn members(&mut self, column: &Column, keys: &[GroupKey]) -> Result<Vec<Bitmap>, Self::Error>;
    /// Every contact now.
    fn everyone(&mut self) -> Result<Bitmap, Self::Error>;
}

/// A part of the page, in page order.
#[derive(Clone, Debug, PartialEq)]
pub enum Slice {
    /// These contacts, in this order (the rest of the ordering is the id).
    Ids(Vec<u32>),
    /// `limit` rows after skipping `offset` of `set`, ordered by the terms
    /// from `depth` on (the terms before it are equal within the set); all
    /// of them within `range` of the sort keys of term `depth` when given.
    Rows { set: Set, depth: usize, range: Option<(Option<i64>, Option<i64>)>, offset: u64, limit: u64 },
}

/// The slices of the page `offset .. offset + limit` of `set` under the
/// complete ordering `terms` (ending with the id).
pub fn slices<S: GroupSource>(
    source: &mut S,
    set: Set,
    terms: &[OrderTerm],
    offset: u64,
    limit: u64,
) -> Result<Vec<Slice>, S::Error> {
    let mut out = Vec::new();
    descend(source, set, terms, 0, offset, limit, &mut out)?;
    Ok(merge_small(out))
}

/// Consecutive bucket slices of few matches become one (a page of sparse
/// matches spans many buckets: one statement instead of one per bucket).
/// They are consecutive in the ordering at the same depth, so their
/// union's rows from the first one's offset are the page's.
fn merge_small(slices: Vec<Slice>) -> Vec<Slice> {
    let mut out: Vec<Slice> = Vec::with_capacity(slices.len());
    for slice in slices {
        if let (
            Some(Slice::Rows { set: Set::Some(a), depth: d, range: Some(ra), limit: la, .. }),
            Slice::Rows { set: Set::Some(b), depth, range: Some(rb), limit: lb, .. },
        ) = (out.last_mut(), &slice)
        {
            if *d == *depth && a.len() + b.len() <= SMALL_SET {
                *a |= b;
                let lo = if ra.0.is_none() || rb.0.is_none() { None } else { ra.0.min(rb.0) };
                let hi = if ra.1.is_none() || rb.1.is_none() { None } else { ra.1.max(rb.1) };
                *ra = (lo, hi);
                *la += lb;
                continue;
            }
        }
        out.push(slice);
    }
    out
}

fn len_of<S: GroupSource>(source: &S, set: &Set) -> u64 {
    match set {
        Set::All => source.total(),
        Set::Some(bitmap) => bitmap.len(),
    }
}

/// The ids at `offset .. offset + limit` of a bitmap in ascending or
/// descending id order.
pub fn select_ids(bitmap: &Bitmap, offset: u64, limit: u64, descending: bool) -> Vec<u32> {
    let len = bitmap.len();
    if offset >= len {
        return Vec::new();
    }
    let take = limit.min(len - offset) as usize;
    if descending {
        let last = len - 1 - offset;
        // Ids below `last`'s, largest first.
        let Some(from) = bitmap.select(last as u32) else { return Vec::new() };
        bitmap.iter().rev().skip_while(|id| *id > from).take(take).collect()
    } else {
        let Some(from) = bitmap.select(offset as u32) else { return Vec::new() };
        bitmap.range(from..).take(take).collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn descend<S: GroupSource>(
    source: &mut S,
    set: Set,
    terms: &[OrderTerm],
    depth: usize,
    offset: u64,
    limit: u64,
    out: &mut Vec<Slice>,
) -> Result<(), S::Error> {
    if limit == 0 || offset >= len_of(source, &set) {
        return Ok(());
    }
    let term = &terms[depth];
    if term.field.name == "id" {
        let ids = match set {
            Set::Some(bitmap) => bitmap,
            Set::All => source.everyone()?,
        };
        out.push(Slice::Ids(select_ids(&ids, offset, limit, term.descending)));
        return Ok(());
    }
    let rows = |set| Slice::Rows { set, depth, range: None, offset, limit };
    if matches!(&set, Set::Some(b) if b.len() <= SMALL_SET) {
        out.push(rows(set));
        return Ok(());
    }
    let column = term.field.column();
    let Some(mut groups) = source.groups(&column)? else {
        out.push(rows(set));
        return Ok(());
    };
    if term.descending {
        groups.reverse();
    }
    // Reading order: NULLs last ascending, first descending (PostgreSQL's).
    let mut slots: Vec<Option<usize>> = (0..groups.len()).map(Some).collect();
    if column.nullable {
        if term.descending {
            slots.insert(0, None);
        } else {
            slots.push(None);
        }
    }
    let total = len_of(source, &set);
    let mut among = Among { keys: groups.iter().map(|g| g.key.clone()).collect(), found: Vec::new(), nulls: None };
    let end = offset + limit;
    let mut position = 0u64;
    for slot in slots {
        if position >= end {
            break;
        }
        let key = slot.map_or(GroupKey::Null, |i| groups[i].key.clone());
        let len = match (slot, &set) {
            (Some(i), Set::All) => groups[i].len,
            (None, Set::All) => total.saturating_sub(groups.iter().map(|g| g.len).sum()),
            (Some(i), Set::Some(bitmap)) => among.get(source, &column, bitmap, i)?.len(),
            (None, Set::Some(bitmap)) => among.nulls(source, &column, bitmap)?.len(),
        };
        if position + len <= offset {
            position += len;
            continue;
        }
        let local = offset.saturating_sub(position);
        let take = end.min(position + len) - (position + local);
        position += len;
        // The group's members among the set.
        let members = match (slot, &set) {
            (Some(i), Set::Some(bitmap)) => among.get(source, &column, bitmap, i)?.clone(),
            (None, Set::Some(bitmap)) => among.nulls(source, &column, bitmap)?.clone(),
            (_, Set::All) if matches!(key, GroupKey::Bucket { .. }) => Bitmap::new(),
            (_, Set::All) => source.members(&column, std::slice::from_ref(&key))?.pop().unwrap_or_default(),
        };
        match key {
            GroupKey::Bucket { lo, hi } => {
                // The bucket's part of the page, read by SQL: its members,
                // or for every contact the bucket's range.
                let set = match &set {
                    Set::All => Set::All,
                    Set::Some(_) => Set::Some(members),
                };
                out.push(Slice::Rows { set, depth, range: Some((lo, hi)), offset: local, limit: take });
            }
            GroupKey::Value(_) | GroupKey::Null => {
                descend(source, Set::Some(members), terms, depth + 1, local, take, out)?;
            }
        }
    }
    Ok(())
}

/// The members of a column's groups among a set, read in reading order as
/// the page needs them: in batches that double, so that a first page reads
/// one or two groups and a deep one a few queries.
struct Among {
    keys: Vec<GroupKey>,
    found: Vec<Bitmap>,
    nulls: Option<Bitmap>,
}

impl Among {
    fn get<S: GroupSource>(
        &mut self,
        source: &mut S,
        column: &Column,
        set: &Bitmap,
        i: usize,
    ) -> Result<&Bitmap, S::Error> {
        while self.found.len() <= i {
            let from = self.found.len();
            let n = from.max(2).min(self.keys.len() - from);
            let batch = source.members(column, &self.keys[from..from + n])?;
            self.found.extend(batch.into_iter().map(|m| m & set));
        }
        Ok(&self.found[i])
    }

    /// The set's contacts without a value.
    fn nulls<S: GroupSource>(&mut self, source: &mut S, column: &Column, set: &Bitmap) -> Result<&Bitmap, S::Error> {
        if self.nulls.is_none() {
            let nulls = source.members(column, &[GroupKey::Null])?.pop().unwrap_or_default() & set;
            self.nulls = Some(nulls);
        }
        Ok(self.nulls.as_ref().expect("just set"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::params::{complete_ordering, parse_list_request, RawParams};

    /// A table of contacts: id → (gender, created sort key, birthday).
    struct Table {
        rows: BTreeMap<u32, (Option<String>, i64, Option<i64>)>,
        /// Bucket width of `created` and `birthday`.
        width: i64,
        reads: usize,
    }

    impl Table {
        fn new(n: u32) -> Table {
            let gender = |i: u32| match i % 7 {
                0 => None,
                1..=3 => Some("F".to_string()),
                4 => Some("O".to_string()),
                _ => Some("M".to_string()),
            };
            let rows = (1..=n)
                .map(|i| (i, (gender(i), ((i * 37) % 101) as i64, (i % 5 != 0).then_some(((i * 13) % 17) as i64))))
                .collect();
            Table { rows, width: 10, reads: 0 }
        }

        fn value(&self, id: u32, column: &Column) -> Option<Value> {
            let (gender, created, birthday) = &self.rows[&id];
            match column.output_key() {
                "gender" => gender.clone().map(Value::Text),
                "created" => Some(Value::Key(*created)),
                "birthday" => birthday.map(Value::Key),
                _ => panic!("no column {}", column.output_key()),
            }
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Value {
        Text(String),
        Key(i64),
    }

    impl GroupSource for Table {
        type Error = ();
        fn total(&self) -> u64 {
            self.rows.len() as u64
        }
        fn groups(&mut self, column: &Column) -> Result<Option<Vec<Group>>, ()> {
            let mut keys: Vec<GroupKey> = Vec::new();
            match column.output_key() {
                "gender" => {
                    let values: std::collections::BTreeSet<String> =
                        self.rows.values().filter_map(|r| r.0.clone()).collect();
                    keys.extend(values.into_iter().map(GroupKey::Value));
                }
                "created" | "birthday" => {
                    let cuts: Vec<i64> = (0..=110).step_by(self.width as usize).collect();
                    for (i, lo) in cuts.iter().enumerate() {
                        let lo_bound = if i == 0 { None } else { Some(*lo) };
                        let hi = cuts.get(i + 1).map(|n| n - 1);
                        keys.push(GroupKey::Bucket { lo: lo_bound, hi });
                    }
                }
                _ => return Ok(None),
            }
            let mut groups = Vec::new();
            for key in keys {
                let len = self.members_of(column, &key)?.len();
                groups.push(Group { key, len });
            }
            Ok(Some(groups))
        }
        fn members(&mut self, column: &Column, keys: &[GroupKey]) -> Result<Vec<Bitmap>, ()> {
            self.reads += 1;
            keys.iter().map(|key| self.members_of(column, key)).collect()
        }
        fn everyone(&mut self) -> Result<Bitmap, ()> {
            Ok(self.rows.keys().copied().collect())
        }
    }

    impl Table {
        fn members_of(&self, column: &Column, key: &GroupKey) -> Result<Bitmap, ()> {
            let ids = self.rows.keys().copied().collect::<Vec<_>>();
            Ok(ids
                .into_iter()
                .filter(|id| match (key, self.value(*id, column)) {
                    (GroupKey::Value(v), Some(Value::Text(t))) => *v == t,
                    (GroupKey::Bucket { lo, hi }, Some(Value::Key(k))) => {
                        lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k <= hi)
                    }
                    (GroupKey::Null, None) => true,
                    _ => false,
                })
                .collect())
        }
    }

    fn terms(ordering: &str) -> Vec<OrderTerm> {
        let raw: RawParams = [("ordering".to_string(), ordering.to_string())].into_iter().collect();
        complete_ordering(&parse_list_request(&raw).unwrap())
    }

    /// PostgreSQL's order of values: NULLs last ascending, first descending.
    fn compare(table: &Table, terms: &[OrderTerm], a: u32, b: u32) -> std::cmp::Ordering {
        for term in terms {
            let (x, y) = if term.field.name == "id" {
                (Some(Value::Key(a as i64)), Some(Value::Key(b as i64)))
            } else {
                let column = term.field.column();
                (table.value(a, &column), table.value(b, &column))
            };
            let ascending = match (x, y) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.cmp(&y),
            };
            let ordering = if term.descending { ascending.reverse() } else { ascending };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    }

    /// What SQL would answer for a slice.
    fn read(table: &mut Table, terms: &[OrderTerm], slice: Slice) -> Vec<u32> {
        match slice {
            Slice::Ids(ids) => ids,
            Slice::Rows { set, depth, range, offset, limit } => {
                let all = table.everyone().unwrap();
                let set = match set {
                    Set::All => all,
                    Set::Some(b) => b,
                };
                let column = terms[depth].field.column();
                let mut ids: Vec<u32> = set
                    .iter()
                    .filter(|id| match (range, table.value(*id, &column)) {
                        (None, _) => true,
                        (Some((lo, hi)), Some(Value::Key(k))) => {
                            lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k <= hi)
                        }
                        _ => false,
                    })
                    .collect();
                ids.sort_by(|a, b| compare(table, &terms[depth..], *a, *b));
                ids.into_iter().skip(offset as usize).take(limit as usize).collect()
            }
        }
    }

    fn page(table: &mut Table, set: Set, terms: &[OrderTerm], offset: u64, limit: u64) -> Vec<u32> {
        let slices = slices(table, set, terms, offset, limit).unwrap();
        slices.into_iter().flat_map(|s| read(table, terms, s)).collect()
    }

    fn expected(table: &Table, set: &Set, terms: &[OrderTerm], offset: u64, limit: u64) -> Vec<u32> {
        let mut ids: Vec<u32> = match set {
            Set::All => table.rows.keys().copied().collect(),
            Set::Some(b) => b.iter().collect(),
        };
        ids.sort_by(|a, b| compare(table, terms, *a, *b));
        ids.into_iter().skip(offset as usize).take(limit as usize).collect()
    }

    #[test]
    fn every_page_equals_the_sorted_table() {
        let mut table = Table::new(5_000);
        let matches: Bitmap = (1..=5_000u32).filter(|i| i % 3 != 0).collect();
        for ordering in [
            "gender",
            "-gender",
            "created",
            "-created",
            "gender,-created",
            "-gender,birthday",
            "-birthday,gender",
            "id",
            "-id",
            "gender,id",
        ] {
            let terms = terms(ordering);
            for set in [Set::All, Set::Some(matches.clone())] {
                for (offset, limit) in
                    [(0, 50), (49, 50), (733, 100), (2_500, 1000), (3_320, 50), (4_990, 50), (6_000, 10)]
                {
                    let got = page(&mut table, set.clone(), &terms, offset, limit);
                    assert_eq!(got, expected(&table, &set, &terms, offset, limit), "{ordering} {offset} {limit}");
                }
            }
        }
    }

    #[test]
    fn a_small_set_is_read_whole_and_id_orders_select_directly() {
        let mut table = Table::new(100);
        let few: Bitmap = [3u32, 9, 40].into_iter().collect();
        let s = slices(&mut table, Set::Some(few.clone()), &terms("gender"), 0, 50).unwrap();
        assert_eq!(s, [Slice::Rows { set: Set::Some(few), depth: 0, range: None, offset: 0, limit: 50 }]);
        assert_eq!(table.reads, 0);
        let s = slices(&mut table, Set::All, &terms("-id"), 10, 3).unwrap();
        assert_eq!(s, [Slice::Ids(vec![90, 89, 88])]);
    }

    #[test]
    fn a_page_inside_one_bucket_of_every_contact_is_one_range() {
        let mut table = Table::new(5_000);
        let s = slices(&mut table, Set::All, &terms("created"), 0, 10).unwrap();
        assert_eq!(s, [Slice::Rows { set: Set::All, depth: 0, range: Some((None, Some(9))), offset: 0, limit: 10 }]);
        // A value group is divided by the next term.
        let s = slices(&mut table, Set::All, &terms("gender,-created"), 0, 10).unwrap();
        let [Slice::Rows { set: Set::Some(_), depth: 1, range: Some((Some(100), Some(109))), offset: 0, limit: 10 }] =
            s.as_slice()
        else {
            panic!("{s:?}")
        };
    }

    #[test]
    fn a_first_page_reads_the_first_groups_only() {
        let mut table = Table::new(5_000);
        let matches: Bitmap = (1..=5_000u32).filter(|i| i % 2 == 0).collect();
        let s = slices(&mut table, Set::Some(matches.clone()), &terms("created"), 0, 50).unwrap();
        assert_eq!(table.reads, 1, "{s:?}");
        // Past every group: all read, in a few doubling batches.
        table.reads = 0;
        slices(&mut table, Set::Some(matches), &terms("created"), 2_400, 50).unwrap();
        assert!(table.reads <= 4, "{}", table.reads);
    }

    #[test]
    fn sparse_matches_over_many_buckets_are_read_in_one_slice() {
        let mut table = Table::new(5_000);
        let sparse: Bitmap = (1..=5_000u32).filter(|i| i % 2 == 0).collect();
        for ordering in ["created", "-created"] {
            let s = slices(&mut table, Set::Some(sparse.clone()), &terms(ordering), 100, 600).unwrap();
            assert_eq!(s.len(), 1, "{ordering}: {s:?}");
            assert_eq!(page(&mut table, Set::Some(sparse.clone()), &terms(ordering), 100, 600).len(), 600);
        }
    }

    #[test]
    fn ids_are_selected_in_either_direction() {
        let b: Bitmap = [2u32, 4, 6, 8, 10].into_iter().collect();
        assert_eq!(select_ids(&b, 1, 2, false), [4, 6]);
        assert_eq!(select_ids(&b, 1, 2, true), [8, 6]);
        assert_eq!(select_ids(&b, 4, 9, true), [2]);
        assert!(select_ids(&b, 5, 1, false).is_empty());
    }
}
