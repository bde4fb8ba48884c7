//! The postings' groups as a `grouped::GroupSource` over SPI, current: the
//! snapshot's groups without the contacts written since (`DIRTY`), and
//! those contacts placed by their value now.

use std::collections::HashMap;

use pgrx::spi::{SpiClient, SpiResult};

use crate::contact::Cell;
use crate::fields::{self, Column};
use crate::grouped::{Group, GroupKey, GroupSource};
use crate::postings::{self, Bitmap, Kind};
use crate::postings_store as store;

use postings::MAX_GROUPS;

/// What is read of one column, once per request.
struct ColumnGroups {
    kind: Kind,
    /// The snapshot's keys in order (values, or buckets' lower bounds).
    keys: Vec<String>,
    groups: Vec<Group>,
    /// The dirty contacts' current values (text, or sort key as text).
    dirty_values: Vec<(u32, Option<String>)>,
}

pub struct PostingGroups<'c, 'conn> {
    client: &'c SpiClient<'conn>,
    total: u64,
    dirty: Bitmap,
    columns: HashMap<&'static str, Option<ColumnGroups>>,
    members: HashMap<(&'static str, String), Bitmap>,
}

impl<'c, 'conn> PostingGroups<'c, 'conn> {
    /// `total`: the contacts now (the projection's counter).
    pub fn new(client: &'c SpiClient<'conn>, total: u64) -> SpiResult<Self> {
        let dirty = store::dirty(client)?.unwrap_or_default();
        Ok(PostingGroups { client, total, dirty, columns: HashMap::new(), members: HashMap::new() })
    }

    fn dirty_ids(&self) -> Vec<i64> {
        self.dirty.iter().map(i64::from).collect()
    }

    fn load(&self, column: &Column) -> SpiResult<Option<ColumnGroups>> {
        let kind = postings::group_kind(column);
        let sizes = match kind {
            Some(kind) => store::group_sizes(self.client, column, kind, self.dirty_ids(), MAX_GROUPS as i64 + 1)?,
            None => Vec::new(),
        };
        let spans = if sizes.is_empty() { store::span_sizes(self.client, column)? } else { Vec::new() };
        let (kind, groups, keys) = if !sizes.is_empty() {
            let kind = kind.expect("sizes are read for grouped columns");
            (kind, groups_of(kind, &sizes), sizes.into_iter().map(|(k, _)| k).collect())
        } else if !spans.is_empty() {
            (Kind::Span, groups_of(Kind::Span, &spans), spans.into_iter().map(|(k, _)| k).collect())
        } else {
            // Undivided: a nullable column's NULLs and the rest, when the
            // build counted its NULLs.
            let Some(nulls) = column.nullable.then(|| store::null_count(self.client, column)).transpose()?.flatten()
            else {
                return Ok(None);
            };
            let present = Group { key: GroupKey::Present, len: self.total.saturating_sub(nulls) };
            (kind.unwrap_or(Kind::Value), vec![present], Vec::new())
        };
        let dirty_values = if self.dirty.is_empty() {
            Vec::new()
        } else {
            store::current_values(self.client, column, kind, self.dirty_ids())?
        };
        Ok(Some(ColumnGroups { kind, keys, groups, dirty_values }))
    }

    fn column(&mut self, column: &Column) -> SpiResult<Option<&ColumnGroups>> {
        let name = column.output_key();
        if !self.columns.contains_key(name) {
            let loaded = self.load(column)?;
            self.columns.insert(name, loaded);
        }
        Ok(self.columns[name].as_ref())
    }

    /// The groups' members now, without caching: one query for them all.
    fn read_members(&mut self, column: &Column, keys: &[GroupKey]) -> SpiResult<Vec<Bitmap>> {
        self.column(column)?;
        let (client, dirty) = (self.client, &self.dirty);
        let Some(groups) = self.columns[column.output_key()].as_ref() else {
            return Ok(vec![Bitmap::new(); keys.len()]);
        };
        // A bucket is stored under its lower bound; the first one's bound
        // is open here, stored as the snapshot's first key.
        let stored = |key: &GroupKey| match key {
            GroupKey::Value(value) => Some(value.clone()),
            GroupKey::Bucket { lo: None, .. } => Some(groups.keys[0].clone()),
            GroupKey::Bucket { lo: Some(lo), .. } => Some(lo.to_string()),
            GroupKey::Span { from: None, .. } => Some(groups.keys[0].clone()),
            GroupKey::Span { from: Some(from), .. } => Some(from.clone()),
            GroupKey::Present | GroupKey::Null => None,
        };
        let wanted: Vec<String> = keys.iter().filter_map(stored).collect();
        let mut found = store::group_bitmaps(client, column, groups.kind, wanted)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let snapshot = match stored(key) {
                Some(stored) => Some(found.remove(&stored).unwrap_or_default()),
                None => match (snapshot_nulls(client, column)?, key) {
                    (Some(nulls), GroupKey::Present) => store::everyone(client)?.map(|all| all - &nulls),
                    (nulls, _) => nulls,
                },
            };
            let mut members = match snapshot {
                Some(members) => members,
                // Built by a version without them: read by SQL (current).
                None => {
                    let test = if *key == GroupKey::Null { "IS NULL" } else { "IS NOT NULL" };
                    let sql = format!(
                        "SELECT array_agg(id) FROM {} WHERE {} {test}",
                        crate::objects::FLAT,
                        column.output_key()
                    );
                    out.push(store::id_set(client, &sql, &[])?.unwrap_or_default());
                    continue;
                }
            };
            if !dirty.is_empty() {
                members -= dirty;
                for (id, value) in &groups.dirty_values {
                    let now = match value.as_deref() {
                        None => *key == GroupKey::Null,
                        Some(v) => belongs(key, v),
                    };
                    if now {
                        members.insert(*id);
                    }
                }
            }
            out.push(members);
        }
        Ok(out)
    }
}

/// The snapshot's contacts without a value of the column, when built.
fn snapshot_nulls(client: &SpiClient<'_>, column: &Column) -> SpiResult<Option<Bitmap>> {
    Ok(store::group_bitmaps(client, column, Kind::Null, vec![String::new()])?.remove(""))
}

/// Whether a current value (text, or a sort key as text) lies in a group.
fn belongs(key: &GroupKey, value: &str) -> bool {
    let cell = match key {
        GroupKey::Bucket { .. } => value.parse().map_or(Cell::Null, Cell::Int),
        _ => Cell::Text(value.to_string()),
    };
    key.holds(&cell)
}

/// The snapshot's groups from their stored keys and sizes.
fn groups_of(kind: Kind, sizes: &[(String, u64)]) -> Vec<Group> {
    let lows: Vec<Option<i64>> = sizes.iter().map(|(k, _)| k.parse().ok()).collect();
    sizes
        .iter()
        .enumerate()
        .map(|(i, (key, n))| {
            let key = match kind {
                // The first and last buckets are open: values written
                // since the snapshot may lie beyond them.
                Kind::Bucket => GroupKey::Bucket {
                    lo: if i == 0 { None } else { lows[i] },
                    hi: lows.get(i + 1).and_then(|lo| lo.map(|lo| lo - 1)),
                },
                Kind::Span => GroupKey::Span {
                    from: if i == 0 { None } else { Some(key.clone()) },
                    until: sizes.get(i + 1).map(|(next, _)| next.clone()),
                },
                _ => GroupKey::Value(key.clone()),
            };
            Group { key, len: *n }
        })
        .collect()
}

fn key_text(key: &GroupKey) -> String {
    match key {
        GroupKey::Value(v) => format!("v{v}"),
        GroupKey::Bucket { lo, hi } => format!("b{lo:?}..{hi:?}"),
        GroupKey::Span { from, until } => format!("s{from:?}..{until:?}"),
        GroupKey::Present => "present".into(),
        GroupKey::Null => "null".into(),
    }
}

impl GroupSource for PostingGroups<'_, '_> {
    type Error = pgrx::spi::SpiError;

    fn total(&self) -> u64 {
        self.total
    }

    fn groups(&mut self, column: &Column) -> SpiResult<Option<Vec<Group>>> {
        let dirty = !self.dirty.is_empty();
        let Some(groups) = self.column(column)?.map(|g| g.groups.clone()) else { return Ok(None) };
        if !dirty {
            return Ok(Some(groups));
        }
        // The snapshot's sizes are off by the writes since: count the
        // members now.
        let keys: Vec<GroupKey> = groups.into_iter().map(|g| g.key).collect();
        let members = self.members(column, &keys)?;
        Ok(Some(keys.into_iter().zip(members).map(|(key, m)| Group { key, len: m.len() }).collect()))
    }

    fn members(&mut self, column: &Column, keys: &[GroupKey]) -> SpiResult<Vec<Bitmap>> {
        // Without writes since the snapshot, each group is read once (by
        // `grouped`): no cache. With them, the sizes read every group first.
        if self.dirty.is_empty() {
            return self.read_members(column, keys);
        }
        let name = column.output_key();
        let missing: Vec<GroupKey> =
            keys.iter().filter(|k| !self.members.contains_key(&(name, key_text(k)))).cloned().collect();
        if !missing.is_empty() {
            let read = self.read_members(column, &missing)?;
            for (key, members) in missing.iter().zip(read) {
                self.members.insert((name, key_text(key)), members);
            }
        }
        Ok(keys.iter().map(|k| self.members[&(name, key_text(k))].clone()).collect())
    }

    /// The snapshot's every contact, current: without the dirty ones, with
    /// those of them that exist now. (Built by a version without it: the
    /// union of the buckets of a column every contact has a value of.)
    fn everyone(&mut self) -> SpiResult<Bitmap> {
        let column = fields::U_CREATED;
        if let Some(mut all) = store::everyone(self.client)? {
            if !self.dirty.is_empty() {
                all -= &self.dirty;
                for (id, _) in store::current_values(self.client, &column, Kind::Bucket, self.dirty_ids())? {
                    all.insert(id);
                }
            }
            return Ok(all);
        }
        let mut all = Bitmap::new();
        if let Some(groups) = self.groups(&column)? {
            let keys: Vec<GroupKey> = groups.into_iter().map(|g| g.key).collect();
            for members in self.members(&column, &keys)? {
                all |= members;
            }
        }
        Ok(all)
    }
}
