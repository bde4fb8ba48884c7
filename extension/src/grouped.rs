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

use crate::contact::Cell;
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
    /// Every contact whose value lies from `from` (inclusive) until
    /// `until` (exclusive), in the column's (byte) order: a span of a text
    /// column with many values (`postings::Kind::Span`), open at the ends
    /// like buckets. Never NULL.
    Span { from: Option<String>, until: Option<String> },
    /// Every contact with a value, undivided: the one group of a nullable
    /// column the postings do not divide (phone numbers, or cities when
    /// they have too many values), whose NULLs are a group of their own.
    Present,
    /// Every contact without a value.
    Null,
}

impl GroupKey {
    /// Whether a row whose value of the column is `cell` belongs here
    /// (range columns compare by sort key, see `postings::sort_key_sql`).
    pub fn holds(&self, cell: &Cell) -> bool {
        let sort_key = match cell {
            Cell::Timestamp(t) => Some(*t),
            Cell::Date(d) => Some(i64::from(*d)),
            Cell::Int(v) => Some(*v),
            Cell::Text(_) | Cell::Null => None,
        };
        match (self, cell) {
            (GroupKey::Null, Cell::Null) => true,
            (GroupKey::Null, _) | (_, Cell::Null) => false,
            (GroupKey::Present, _) => true,
            (GroupKey::Value(v), Cell::Text(t)) => v == t,
            (GroupKey::Value(_), _) => false,
            (GroupKey::Span { from, until }, Cell::Text(t)) => {
                from.as_ref().is_none_or(|f| t >= f) && until.as_ref().is_none_or(|u| t < u)
            }
            (GroupKey::Span { .. }, _) => false,
            (GroupKey::Bucket { lo, hi }, _) => {
                sort_key.is_some_and(|k| lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k <= hi))
            }
        }
    }

    /// The range of a group read by SQL: a bucket's or a span's bounds, or
    /// for `Present` every value.
    fn range(&self) -> Option<Range> {
        match self {
            GroupKey::Bucket { lo, hi } => Some(Range::Keys(*lo, *hi)),
            GroupKey::Span { from, until } => Some(Range::Texts(from.clone(), until.clone())),
            GroupKey::Present => Some(Range::Present),
            GroupKey::Value(_) | GroupKey::Null => None,
        }
    }
}

/// Where a group's rows lie in its column, for SQL to read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Range {
    /// Sort keys `lo..=hi` (`None`: unbounded on that side; never NULL).
    Keys(Option<i64>, Option<i64>),
    /// Text values from the first (inclusive) until the second (exclusive).
    Texts(Option<String>, Option<String>),
    /// Every value (not NULL).
    Present,
}

impl Range {
    /// The union of two neighbouring ranges, in either direction (`None`
    /// when they are not neighbours).
    fn join(&self, other: &Range) -> Option<Range> {
        match (self, other) {
            (Range::Keys(a_lo, a_hi), Range::Keys(b_lo, b_hi)) => {
                let meets = |hi: &Option<i64>, lo: &Option<i64>| matches!((hi, lo), (Some(hi), Some(lo)) if hi.checked_add(1) == Some(*lo));
                if meets(a_hi, b_lo) {
                    Some(Range::Keys(*a_lo, *b_hi))
                } else if meets(b_hi, a_lo) {
                    Some(Range::Keys(*b_lo, *a_hi))
                } else {
                    None
                }
            }
            (Range::Texts(a_from, a_until), Range::Texts(b_from, b_until)) => {
                let meets = |until: &Option<String>, from: &Option<String>| until.is_some() && until == from;
                if meets(a_until, b_from) {
                    Some(Range::Texts(a_from.clone(), b_until.clone()))
                } else if meets(b_until, a_from) {
                    Some(Range::Texts(b_from.clone(), a_until.clone()))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
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
    /// the postings do not group the column (or it has too many values)
    /// and know nothing of its NULLs.
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
    /// of them within `range` of term `depth` when given. `len`: the rows
    /// of the set within the range.
    Rows { set: Set, depth: usize, range: Option<Range>, offset: u64, limit: u64, len: u64 },
    /// Up to `limit` rows of `set` (within `range`) strictly after the
    /// position, ordered by the terms from `depth` on: the rest of the
    /// position's group (a keyset page, `slices_after`).
    After { set: Set, depth: usize, range: Option<Range>, limit: u64 },
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

/// The slices of up to `limit` rows of `set` strictly after `position` (a
/// row's values of `terms`, the keyset page's cursor). Their rows, read in
/// order until `limit` of them are read, are the page: the rest of the
/// position's group first (`Slice::After`, which may hold fewer), then the
/// groups after it from their start. `None` when the position's value of a
/// term divided by values is in no group (the caller reads the page
/// otherwise).
pub fn slices_after<S: GroupSource>(
    source: &mut S,
    set: Set,
    terms: &[OrderTerm],
    position: &[Cell],
    limit: u64,
) -> Result<Option<Vec<Slice>>, S::Error> {
    let mut out = Vec::new();
    let found = descend_after(source, set, terms, 0, position, limit, &mut out)?;
    Ok(found.then(|| merge_small(out)))
}

/// Consecutive bucket slices of few matches become one (a page of sparse
/// matches spans many buckets: one statement instead of one per bucket).
/// Only neighbouring buckets of one group merge: their union's rows from the
/// first one's offset are the page's, which is not so for the last bucket
/// of one group and the first of the next (the terms before `depth` differ).
fn merge_small(slices: Vec<Slice>) -> Vec<Slice> {
    let mut out: Vec<Slice> = Vec::with_capacity(slices.len());
    for slice in slices {
        if let (
            Some(Slice::Rows { set: Set::Some(a), depth: d, range: Some(ra), limit: la, len: na, .. }),
            Slice::Rows { set: Set::Some(b), depth, range: Some(rb), limit: lb, len: nb, .. },
        ) = (out.last_mut(), &slice)
        {
            let joined = ra.join(rb);
            if let (true, Some(joined)) = (*d == *depth && a.len() + b.len() <= SMALL_SET, joined) {
                *a |= b;
                *ra = joined;
                *la += lb;
                *na += nb;
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

/// Up to `limit` ids of a bitmap strictly after `id`, in ascending or
/// descending id order.
pub fn ids_after(bitmap: &Bitmap, id: i64, limit: u64, descending: bool) -> Vec<u32> {
    let take = limit as usize;
    let clamped = id.clamp(-1, i64::from(u32::MAX) + 1);
    if descending {
        match u32::try_from(clamped) {
            Ok(id) => bitmap.range(..id).rev().take(take).collect(),
            Err(_) if clamped < 0 => Vec::new(),
            Err(_) => bitmap.iter().rev().take(take).collect(),
        }
    } else {
        match u32::try_from(clamped + 1) {
            Ok(from) => bitmap.range(from..).take(take).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A column's groups in reading order: each slot a group's index, `None`
/// for the NULLs (last ascending, first descending: PostgreSQL's).
fn reading_order(groups: &mut [Group], column: &Column, descending: bool) -> Vec<Option<usize>> {
    if descending {
        groups.reverse();
    }
    let mut slots: Vec<Option<usize>> = (0..groups.len()).map(Some).collect();
    if column.nullable {
        if descending {
            slots.insert(0, None);
        } else {
            slots.push(None);
        }
    }
    slots
}

/// One term's groups among a set, as `descend` and `descend_after` walk them.
struct Level<'a> {
    set: &'a Set,
    column: Column,
    groups: Vec<Group>,
    /// The groups in reading order (`reading_order`).
    slots: Vec<Option<usize>>,
    among: Among,
}

impl Level<'_> {
    fn key(&self, slot: Option<usize>) -> GroupKey {
        slot.map_or(GroupKey::Null, |i| self.groups[i].key.clone())
    }

    /// The number of the set's contacts in a slot's group.
    fn len<S: GroupSource>(&mut self, source: &mut S, slot: Option<usize>) -> Result<u64, S::Error> {
        let total = len_of(source, self.set);
        Ok(match (slot, self.set) {
            (Some(i), Set::All) => self.groups[i].len,
            (None, Set::All) => total.saturating_sub(self.groups.iter().map(|g| g.len).sum()),
            (Some(i), Set::Some(bitmap)) => self.among.get(source, &self.column, bitmap, i)?.len(),
            (None, Set::Some(bitmap)) => self.among.nulls(source, &self.column, bitmap)?.len(),
        })
    }

    /// The set's contacts in a slot's group, as the set to read it from:
    /// every contact stays every contact in a range (read by SQL).
    fn members<S: GroupSource>(&mut self, source: &mut S, slot: Option<usize>) -> Result<Set, S::Error> {
        let key = self.key(slot);
        Ok(match (slot, self.set) {
            (_, Set::All) if key.range().is_some() => Set::All,
            (_, Set::All) => {
                Set::Some(source.members(&self.column, std::slice::from_ref(&key))?.pop().unwrap_or_default())
            }
            (Some(i), Set::Some(bitmap)) => Set::Some(self.among.get(source, &self.column, bitmap, i)?.clone()),
            (None, Set::Some(bitmap)) => Set::Some(self.among.nulls(source, &self.column, bitmap)?.clone()),
        })
    }

    /// The page's `offset .. offset + limit` of these slots, in order.
    #[allow(clippy::too_many_arguments)]
    fn walk<S: GroupSource>(
        &mut self,
        source: &mut S,
        terms: &[OrderTerm],
        depth: usize,
        slots: &[Option<usize>],
        offset: u64,
        limit: u64,
        out: &mut Vec<Slice>,
    ) -> Result<(), S::Error> {
        let end = offset + limit;
        let mut position = 0u64;
        for &slot in slots {
            if position >= end {
                break;
            }
            let len = self.len(source, slot)?;
            if position + len <= offset {
                position += len;
                continue;
            }
            let local = offset.saturating_sub(position);
            let take = end.min(position + len) - (position + local);
            position += len;
            let members = self.members(source, slot)?;
            match self.key(slot).range() {
                // The group's part of the page, read by SQL: its members,
                // or for every contact the group's range.
                Some(range) => {
                    out.push(Slice::Rows { set: members, depth, range: Some(range), offset: local, limit: take, len })
                }
                None => descend(source, members, terms, depth + 1, local, take, out)?,
            }
        }
        Ok(())
    }
}

/// The term's groups among `set`, `None` when the term has none.
fn level<'a, S: GroupSource>(source: &mut S, set: &'a Set, term: &OrderTerm) -> Result<Option<Level<'a>>, S::Error> {
    let column = term.field.column();
    let Some(mut groups) = source.groups(&column)? else { return Ok(None) };
    let slots = reading_order(&mut groups, &column, term.descending);
    let among = Among { keys: groups.iter().map(|g| g.key.clone()).collect(), found: Vec::new(), nulls: None };
    Ok(Some(Level { set, column, groups, slots, among }))
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
    let len = len_of(source, &set);
    if limit == 0 || offset >= len {
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
    let small = matches!(&set, Set::Some(b) if b.len() <= SMALL_SET);
    let found = if small { None } else { level(source, &set, term)? };
    let Some(mut level) = found else {
        out.push(Slice::Rows { set: set.clone(), depth, range: None, offset, limit, len });
        return Ok(());
    };
    let slots = level.slots.clone();
    level.walk(source, terms, depth, &slots, offset, limit, out)
}

/// `slices_after` at one term: the rest of the position's group, then the
/// groups after it. `false` when the position's group is not found.
#[allow(clippy::too_many_arguments)]
fn descend_after<S: GroupSource>(
    source: &mut S,
    set: Set,
    terms: &[OrderTerm],
    depth: usize,
    position: &[Cell],
    limit: u64,
    out: &mut Vec<Slice>,
) -> Result<bool, S::Error> {
    if limit == 0 || len_of(source, &set) == 0 {
        return Ok(true);
    }
    let term = &terms[depth];
    if term.field.name == "id" {
        let Cell::Int(id) = position[depth] else { return Ok(false) };
        let ids = match set {
            Set::Some(bitmap) => bitmap,
            Set::All => source.everyone()?,
        };
        out.push(Slice::Ids(ids_after(&ids, id, limit, term.descending)));
        return Ok(true);
    }
    let small = matches!(&set, Set::Some(b) if b.len() <= SMALL_SET);
    let found = if small { None } else { level(source, &set, term)? };
    let Some(mut level) = found else {
        out.push(Slice::After { set: set.clone(), depth, range: None, limit });
        return Ok(true);
    };
    let slots = level.slots.clone();
    let cell = &position[depth];
    let Some(at) = slots.iter().position(|slot| level.key(*slot).holds(cell)) else { return Ok(false) };
    let members = level.members(source, slots[at])?;
    match level.key(slots[at]).range() {
        Some(range) => out.push(Slice::After { set: members, depth, range: Some(range), limit }),
        None => {
            if !descend_after(source, members, terms, depth + 1, position, limit, out)? {
                return Ok(false);
            }
        }
    }
    level.walk(source, terms, depth, &slots[at + 1..], 0, limit, out)?;
    Ok(true)
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

    /// A table of contacts: id → (gender, created sort key, birthday,
    /// phone number: nullable, never divided; customer id: cut in spans).
    type Row = (Option<String>, i64, Option<i64>, Option<String>, String);

    struct Table {
        rows: BTreeMap<u32, Row>,
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
                .map(|i| {
                    let birthday = (i % 5 != 0).then_some(((i * 13) % 17) as i64);
                    let phone = (i % 6 != 0).then(|| format!("{:03}", (i * 7) % 211));
                    let customer = format!("C{:05}", (i * 7_919) % 100_003);
                    (i, (gender(i), ((i * 37) % 101) as i64, birthday, phone, customer))
                })
                .collect();
            Table { rows, width: 10, reads: 0 }
        }

        fn value(&self, id: u32, column: &Column) -> Option<Value> {
            let (gender, created, birthday, phone, customer) = &self.rows[&id];
            match column.output_key() {
                "gender" => gender.clone().map(Value::Text),
                "phone_number" => phone.clone().map(Value::Text),
                "customer_id" => Some(Value::Text(customer.clone())),
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
                // Not divided: its NULLs and the rest.
                "phone_number" => keys.push(GroupKey::Present),
                // Spans of about 300 values each, open at both ends.
                "customer_id" => {
                    let mut values: Vec<String> = self.rows.values().map(|r| r.4.clone()).collect();
                    values.sort();
                    let firsts: Vec<String> = values.iter().step_by(300).cloned().collect();
                    for (i, first) in firsts.iter().enumerate() {
                        let from = if i == 0 { None } else { Some(first.clone()) };
                        keys.push(GroupKey::Span { from, until: firsts.get(i + 1).cloned() });
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
                    (GroupKey::Present, Some(_)) => true,
                    (key @ GroupKey::Span { .. }, Some(Value::Text(t))) => key.holds(&Cell::Text(t)),
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

    /// The position of a row: its values of the terms.
    fn position(table: &Table, terms: &[OrderTerm], id: u32) -> Vec<Cell> {
        terms
            .iter()
            .map(|t| match t.field.name {
                "id" => Cell::Int(id.into()),
                _ => match table.value(id, &t.field.column()) {
                    None => Cell::Null,
                    Some(Value::Text(s)) => Cell::Text(s),
                    Some(Value::Key(k)) => Cell::Int(k),
                },
            })
            .collect()
    }

    /// What SQL would answer for a slice; `after`: the keyset page's
    /// position (a row's id).
    fn read(table: &mut Table, terms: &[OrderTerm], slice: Slice, after: Option<u32>) -> Vec<u32> {
        let (set, depth, range, offset, limit, len) = match slice {
            Slice::Ids(ids) => return ids,
            Slice::Rows { set, depth, range, offset, limit, len } => (set, depth, range, offset, limit, Some(len)),
            Slice::After { set, depth, range, limit } => (set, depth, range, 0, limit, None),
        };
        // Only the rest of the position's group is read after it.
        let after = if len.is_none() { after } else { None };
        let all = table.everyone().unwrap();
        let set = match set {
            Set::All => all,
            Set::Some(b) => b,
        };
        let column = terms[depth].field.column();
        let mut ids: Vec<u32> = set
            .iter()
            .filter(|id| match (&range, table.value(*id, &column)) {
                (None, _) => true,
                (Some(Range::Present), value) => value.is_some(),
                (Some(Range::Keys(lo, hi)), Some(Value::Key(k))) => {
                    lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k <= hi)
                }
                (Some(Range::Texts(from, until)), Some(Value::Text(t))) => {
                    from.as_ref().is_none_or(|f| t >= *f) && until.as_ref().is_none_or(|u| t < *u)
                }
                _ => false,
            })
            .filter(|id| after.is_none_or(|p| compare(table, &terms[depth..], *id, p).is_gt()))
            .collect();
        ids.sort_by(|a, b| compare(table, &terms[depth..], *a, *b));
        if let Some(len) = len {
            assert_eq!(ids.len() as u64, len, "a slice's len is its rows");
        }
        ids.into_iter().skip(offset as usize).take(limit as usize).collect()
    }

    fn page(table: &mut Table, set: Set, terms: &[OrderTerm], offset: u64, limit: u64) -> Vec<u32> {
        let slices = slices(table, set, terms, offset, limit).unwrap();
        slices.into_iter().flat_map(|s| read(table, terms, s, None)).collect()
    }

    /// A keyset page after a row, read slice by slice until full.
    fn page_after(table: &mut Table, set: Set, terms: &[OrderTerm], after: u32, limit: u64) -> Vec<u32> {
        let position = position(table, terms, after);
        let slices = slices_after(table, set, terms, &position, limit).unwrap().expect("the position is placed");
        let mut got = Vec::new();
        for slice in slices {
            if got.len() as u64 >= limit {
                break;
            }
            got.extend(read(table, terms, slice, Some(after)));
        }
        got.truncate(limit as usize);
        got
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
            "phone_number",
            "-phone_number,gender",
            "gender,-phone_number,created",
            "customer_id",
            "-customer_id",
            "gender,-customer_id",
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
        assert_eq!(s, [Slice::Rows { set: Set::Some(few), depth: 0, range: None, offset: 0, limit: 50, len: 3 }]);
        assert_eq!(table.reads, 0);
        let s = slices(&mut table, Set::All, &terms("-id"), 10, 3).unwrap();
        assert_eq!(s, [Slice::Ids(vec![90, 89, 88])]);
    }

    #[test]
    fn a_page_inside_one_bucket_of_every_contact_is_one_range() {
        let mut table = Table::new(5_000);
        let s = slices(&mut table, Set::All, &terms("created"), 0, 10).unwrap();
        let [Slice::Rows {
            set: Set::All, depth: 0, range: Some(Range::Keys(None, Some(9))), offset: 0, limit: 10, ..
        }] = s.as_slice()
        else {
            panic!("{s:?}")
        };
        // A value group is divided by the next term.
        let s = slices(&mut table, Set::All, &terms("gender,-created"), 0, 10).unwrap();
        let [Slice::Rows {
            set: Set::Some(_),
            depth: 1,
            range: Some(Range::Keys(Some(100), Some(109))),
            offset: 0,
            limit: 10,
            ..
        }] = s.as_slice()
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

    #[test]
    fn keyset_pages_equal_the_sorted_table_from_any_position() {
        let mut table = Table::new(5_000);
        let matches: Bitmap = (1..=5_000u32).filter(|i| i % 3 != 0).collect();
        for ordering in [
            "gender,-created",
            "-gender,birthday",
            "-birthday,gender",
            "-phone_number,gender",
            "gender,-phone_number,created",
            "-id",
            "created",
        ] {
            let forward = terms(ordering);
            for set in [Set::All, Set::Some(matches.clone())] {
                let sorted = expected(&table, &set, &forward, 0, u64::MAX);
                for at in [0, 1, 49, 733, 2_000, 3_300, sorted.len() - 2, sorted.len() - 1] {
                    let after = sorted[at];
                    let want: Vec<u32> = sorted[at + 1..].iter().copied().take(120).collect();
                    assert_eq!(
                        page_after(&mut table, set.clone(), &forward, after, 120),
                        want,
                        "{ordering} after #{at}"
                    );
                    // Backward: after the row in the reversed ordering.
                    let reversed: Vec<OrderTerm> =
                        forward.iter().map(|t| OrderTerm { descending: !t.descending, ..*t }).collect();
                    let want: Vec<u32> = sorted[..at].iter().rev().copied().take(120).collect();
                    assert_eq!(
                        page_after(&mut table, set.clone(), &reversed, after, 120),
                        want,
                        "{ordering} before #{at}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_value_in_no_group_leaves_the_keyset_page_to_the_caller() {
        let mut table = Table::new(100);
        let position = [Cell::Text("X".into()), Cell::Int(3)];
        assert_eq!(slices_after(&mut table, Set::All, &terms("gender"), &position, 10).unwrap(), None);
    }

    #[test]
    fn buckets_of_different_groups_are_not_merged() {
        // Sparse matches over the buckets of each gender: the page across
        // the end of one gender's buckets and the start of the next's.
        let mut table = Table::new(30_000);
        let sparse: Bitmap = (1..=30_000u32).filter(|i| i % 3 == 0).collect();
        let terms = terms("gender,created");
        let f = expected(&table, &Set::Some(sparse.clone()), &terms, 0, u64::MAX)
            .iter()
            .take_while(|id| table.rows[id].0.as_deref() == Some("F"))
            .count() as u64;
        let set = Set::Some(sparse);
        let got = page(&mut table, set.clone(), &terms, f - 150, 300);
        assert_eq!(got, expected(&table, &set, &terms, f - 150, 300));
    }
}
