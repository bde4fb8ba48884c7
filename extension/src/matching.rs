//! A request's filters and search answered from the postings: the exact
//! set of contacts that match all of them now, as a bitmap. Patterns
//! (`icontains`, `name`, search terms) come from gram and value postings,
//! exact values from value postings (or a lookup by index), ranges from
//! bucket postings and at most two partial buckets read by index. What is
//! left (ordering, page, any filter the postings do not answer) is SQL over
//! the projection restricted to that set.

use std::cell::RefCell;

use pgrx::spi::{SpiClient, SpiResult};

use crate::fields::{self, Column, Lookup};
use crate::params::{CountMode, Filter, ListRequest, PageRequest, Value};
use crate::postings::{self, Bitmap, Kind, PatternLookup};
use crate::postings_store as store;
use crate::sql::{self, Context};

/// Up to this many candidates of a long pattern on a column with many
/// values are rechecked by id; more are matched with ILIKE on the column.
const RECHECK_BY_ID_LIMIT: u64 = 100_000;

/// One text condition: `text` is contained in at least one of `columns`.
#[derive(Clone, Debug, PartialEq)]
pub struct TextCondition {
    pub columns: Vec<Column>,
    pub text: String,
}

/// The request's text conditions, in request order.
pub fn conditions(request: &ListRequest) -> Vec<TextCondition> {
    let mut out: Vec<TextCondition> = request
        .filters
        .iter()
        .filter(|f| f.lookup == Lookup::Icontains)
        .filter_map(|f| match &f.value {
            Value::Text(text) => Some(TextCondition { columns: f.field.columns.to_vec(), text: text.clone() }),
            _ => None,
        })
        .collect();
    let searched: Vec<Column> = fields::search_columns().collect();
    out.extend(request.search_terms.iter().map(|t| TextCondition { columns: searched.clone(), text: t.clone() }));
    out
}

/// The request without what the postings answer (what SQL still checks).
pub fn residual(request: &ListRequest) -> ListRequest {
    let mut rest = request.clone();
    rest.filters.retain(|f| !postings::answers(f));
    rest.search_terms.clear();
    rest
}

/// The request's conditions the postings answer, alone.
fn answered(request: &ListRequest) -> ListRequest {
    let mut only = request.clone();
    only.filters.retain(postings::answers);
    only
}

/// A request of one filter (for the lookups by index).
fn single(filters: Vec<Filter>) -> ListRequest {
    ListRequest {
        filters,
        search_terms: Vec::new(),
        ordering: Vec::new(),
        page: PageRequest::Number(1),
        page_size: 1,
        count: CountMode::Exact,
    }
}

/// The contacts matching every condition the postings answer, `None` when
/// they answer none of the request's.
pub fn matches(client: &SpiClient<'_>, request: &ListRequest) -> SpiResult<Option<Bitmap>> {
    let texts = conditions(request);
    let filters: Vec<&Filter> =
        request.filters.iter().filter(|f| f.lookup != Lookup::Icontains && postings::answers(f)).collect();
    if texts.is_empty() && filters.is_empty() {
        return Ok(None);
    }
    let mut result: Option<Bitmap> = None;
    let mut empty = false;
    for filter in &filters {
        let Some(bitmap) = filter_matches(client, filter)? else { return Ok(None) };
        if narrow(&mut result, bitmap) {
            empty = true;
            break;
        }
    }
    if !empty && !texts.is_empty() {
        let lowered = store::lowered(client, texts.iter().map(|c| c.text.clone()).collect())?;
        // Conditions that need a recheck come last: their candidates are
        // then rechecked among what the others matched only.
        let mut order: Vec<(&TextCondition, &String)> = texts.iter().zip(&lowered).collect();
        order.sort_by_key(|(c, l)| c.columns.iter().any(|col| needs_recheck(col, l)));
        for (condition, lowered) in order {
            let mut any = Bitmap::new();
            for column in &condition.columns {
                any |= column_matches(client, column, lowered, &condition.text, result.as_ref())?;
            }
            if narrow(&mut result, any) {
                break;
            }
        }
    }
    let mut base = result.unwrap_or_default();
    // Contacts written since the snapshot: their postings may be stale, so
    // they are left out and matched again by SQL. (Ids beyond what postings
    // hold: the whole request is matched in SQL.)
    let Some(dirty) = store::dirty(client)? else { return Ok(None) };
    if !dirty.is_empty() {
        base -= &dirty;
        let query = sql::ids_among_query(&answered(request), &Context::projection(), ids(&dirty));
        let Some(current) = store::id_set(client, &query.text, &crate::db::datums(&query))? else { return Ok(None) };
        base |= current;
    }
    Ok(Some(base))
}

/// Intersects the result so far with `next`; whether it became empty.
fn narrow(result: &mut Option<Bitmap>, next: Bitmap) -> bool {
    let narrowed = match result.take() {
        None => next,
        Some(r) => r & next,
    };
    let empty = narrowed.is_empty();
    *result = Some(narrowed);
    empty
}

/// The snapshot's contacts matching one exact or range filter (`None`:
/// an id beyond what postings hold).
fn filter_matches(client: &SpiClient<'_>, filter: &Filter) -> SpiResult<Option<Bitmap>> {
    let column = filter.field.column();
    match (filter.lookup, &filter.value) {
        (Lookup::Exact, Value::Text(value)) if column.few_values || postings::value_columns().contains(&column) => {
            Ok(Some(store::value_bitmap(client, &column, value)?))
        }
        (Lookup::Exact, _) => by_index(client, vec![filter.clone()]),
        (lookup, value) => {
            let Some(key) = postings::sort_key_of(value) else { return Ok(None) };
            // The range as inclusive sort keys: they are integers.
            let (from, to) = match lookup {
                Lookup::Gte => (key, i64::MAX),
                Lookup::Gt => (key.saturating_add(1), i64::MAX),
                Lookup::Lte => (i64::MIN, key),
                _ => (i64::MIN, key.saturating_sub(1)),
            };
            range_matches(client, filter, from, to)
        }
    }
}

/// Contacts whose sort key of `filter`'s column lies in `from..=to`: whole
/// buckets inside the range, and the part of the buckets at its ends by
/// index. A range over most buckets is every contact with a value but the
/// buckets outside it: fewer bitmaps to read.
fn range_matches(client: &SpiClient<'_>, filter: &Filter, from: i64, to: i64) -> SpiResult<Option<Bitmap>> {
    let column = filter.field.column();
    let sizes = store::group_sizes(client, &column, Kind::Bucket, Vec::new(), i64::MAX)?;
    let lows: Vec<i64> = sizes.iter().filter_map(|(key, _)| key.parse().ok()).collect();
    let (mut inside, mut rest) = (Vec::new(), Vec::new());
    let mut parts = Bitmap::new();
    for (i, lo) in lows.iter().enumerate() {
        let hi = lows.get(i + 1).map_or(i64::MAX, |next| next - 1);
        if from <= *lo && hi <= to {
            inside.push(lo.to_string());
            continue;
        }
        rest.push(lo.to_string());
        if hi < from || *lo > to {
            continue;
        }
        let bound =
            |lookup, key| Filter { field: filter.field, lookup, value: postings::value_of_sort_key(&column, key) };
        let part = vec![bound(Lookup::Gte, from.max(*lo)), bound(Lookup::Lte, to.min(hi))];
        let Some(part) = by_index(client, part)? else { return Ok(None) };
        parts |= part;
    }
    if inside.len() > rest.len() {
        let nulls = store::group_bitmaps(client, &column, Kind::Null, vec![String::new()])?.remove("");
        if let (Some(everyone), Some(nulls)) = (store::everyone(client)?, nulls) {
            let mut result = everyone - nulls;
            for bucket in store::group_bitmaps(client, &column, Kind::Bucket, rest)?.values() {
                result -= bucket;
            }
            return Ok(Some(result | parts));
        }
    }
    let mut result = parts;
    for bucket in store::group_bitmaps(client, &column, Kind::Bucket, inside)?.values() {
        result |= bucket;
    }
    Ok(Some(result))
}

/// Contacts matching `filters`, read by SQL (an index lookup).
fn by_index(client: &SpiClient<'_>, filters: Vec<Filter>) -> SpiResult<Option<Bitmap>> {
    let query = sql::ids_query(&single(filters), &Context::projection());
    store::id_set(client, &query.text, &crate::db::datums(&query))
}

/// Whether a pattern on a column is matched by candidates and a recheck.
fn needs_recheck(column: &Column, lowered: &str) -> bool {
    matches!(postings::lookup(column, lowered), PatternLookup::Candidates(_))
}

/// The snapshot's contacts whose `column` contains the (lower-cased) text;
/// only those `among` a set are wanted, when given (a recheck reads no more).
fn column_matches(
    client: &SpiClient<'_>,
    column: &Column,
    lowered: &str,
    text: &str,
    among: Option<&Bitmap>,
) -> SpiResult<Bitmap> {
    if column.few_values {
        return match postings::lookup(column, lowered) {
            PatternLookup::Gram(gram) => gram_bitmap(client, column, gram),
            PatternLookup::Values => store::values_bitmap(client, column, &sql::contains_pattern(text)),
            PatternLookup::Candidates(_) => unreachable!("longer patterns on columns with values are resolved by them"),
        };
    }
    // Without values, the grams skip the prefix every value starts with.
    let parts = match store::common_prefix(client, column)? {
        Some(prefix) => match postings::prefixed_parts(&prefix, lowered) {
            // Inside the prefix: every value (each has the mark).
            None => return gram_bitmap(client, column, postings::pack(&[postings::PREFIX_MARK])),
            Some(parts) => parts,
        },
        None => vec![lowered.to_string()],
    };
    // A pattern with the mark in it may match the mark itself: rechecked.
    let marked = lowered.contains(postings::PREFIX_MARK);
    let (mut exact, mut candidates) = (Bitmap::new(), Bitmap::new());
    for part in parts {
        match postings::lookup(column, &part) {
            PatternLookup::Gram(gram) if !marked => exact |= gram_bitmap(client, column, gram)?,
            PatternLookup::Gram(gram) => candidates |= gram_bitmap(client, column, gram)?,
            PatternLookup::Candidates(grams) => candidates |= grams_candidates(client, column, grams)?,
            PatternLookup::Values => unreachable!("columns without values have no value lookups"),
        }
    }
    candidates -= &exact;
    if let Some(among) = among {
        candidates &= among;
    }
    Ok(exact | recheck(client, column, text, candidates)?)
}

fn gram_bitmap(client: &SpiClient<'_>, column: &Column, gram: u64) -> SpiResult<Bitmap> {
    Ok(store::gram_bitmaps(client, column, vec![postings::gram_key(gram)])?.pop().unwrap_or_default())
}

/// The contacts having every one of these grams: every match of a longer
/// pattern, and maybe more.
fn grams_candidates(client: &SpiClient<'_>, column: &Column, grams: Vec<u64>) -> SpiResult<Bitmap> {
    let wanted = grams.len();
    let mut found = store::gram_bitmaps(client, column, grams.into_iter().map(postings::gram_key).collect())?;
    if found.len() < wanted {
        return Ok(Bitmap::new());
    }
    found.sort_by_key(|b| b.len());
    let mut candidates = found.remove(0);
    for bitmap in &found {
        candidates &= bitmap;
    }
    Ok(candidates)
}

/// The candidates whose column really contains the text.
fn recheck(client: &SpiClient<'_>, column: &Column, text: &str, candidates: Bitmap) -> SpiResult<Bitmap> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let query = if candidates.len() <= RECHECK_BY_ID_LIMIT {
        sql::column_contains_query(column, text, Some(ids(&candidates)))
    } else {
        sql::column_contains_query(column, text, None)
    };
    // The candidates come from postings, so their ids fit.
    Ok(store::id_set(client, &query.text, &crate::db::datums(&query))?.unwrap_or_default())
}

pub fn ids(bitmap: &Bitmap) -> Vec<i64> {
    bitmap.iter().map(|id| id as i64).collect()
}

thread_local! {
    /// The set `crm._member(id)` tests, while a request that needs it runs.
    static MEMBERS: RefCell<Option<Bitmap>> = const { RefCell::new(None) };
}

/// Runs `f` with `set` installed for `crm._member`.
/// The set installed before is installed again afterwards.
pub fn with_members<T>(set: Bitmap, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Bitmap>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            MEMBERS.with(|m| *m.borrow_mut() = previous);
        }
    }
    let _restore = Restore(MEMBERS.with(|m| m.borrow_mut().replace(set)));
    f()
}

/// Whether `id` is in the installed set (false when none is installed).
pub fn is_member(id: i64) -> bool {
    let Some(id) = postings::member(id) else { return false };
    MEMBERS.with(|m| m.borrow().as_ref().is_some_and(|set| set.contains(id)))
}
