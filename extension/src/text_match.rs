//! The text conditions of a request (`icontains` filters, `name`, search
//! terms) answered from the postings: the exact set of contacts that match
//! all of them now, as a bitmap. The rest of the request (other filters,
//! ordering, page) is then SQL over the projection restricted to that set.

use std::cell::RefCell;

use pgrx::spi::{SpiClient, SpiResult};

use crate::fields::{self, Column, Lookup};
use crate::params::{Filter, ListRequest, Value};
use crate::postings::{self, Bitmap, Lookup3};
use crate::postings_store as store;
use crate::sql::{self, Context};

/// Up to this many candidates of a long pattern on a column with many
/// values are rechecked by id; more are matched through its trigram index.
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

/// The request without its text conditions (what SQL still has to check).
pub fn without_text(request: &ListRequest) -> ListRequest {
    let mut rest = request.clone();
    rest.filters.retain(|f: &Filter| f.lookup != Lookup::Icontains);
    rest.search_terms.clear();
    rest
}

/// The request's text conditions alone.
fn text_only(request: &ListRequest) -> ListRequest {
    let mut only = request.clone();
    only.filters.retain(|f: &Filter| f.lookup == Lookup::Icontains);
    only
}

/// The contacts matching every text condition, `None` when there is none.
pub fn matches(client: &SpiClient<'_>, request: &ListRequest) -> SpiResult<Option<Bitmap>> {
    let conditions = conditions(request);
    if conditions.is_empty() {
        return Ok(None);
    }
    let lowered = store::lowered(client, conditions.iter().map(|c| c.text.clone()).collect())?;
    let mut result: Option<Bitmap> = None;
    for (condition, lowered) in conditions.iter().zip(&lowered) {
        let mut any = Bitmap::new();
        for column in &condition.columns {
            any |= column_matches(client, column, lowered, &condition.text)?;
        }
        let next = match result {
            None => any,
            Some(r) => r & any,
        };
        let empty = next.is_empty();
        result = Some(next);
        if empty {
            break;
        }
    }
    let mut base = result.unwrap_or_default();
    // Contacts written since the snapshot: their postings may be stale, so
    // they are left out and matched again by SQL. (Ids beyond what postings
    // hold: the whole request is matched in SQL.)
    let Some(dirty) = store::dirty(client)? else { return Ok(None) };
    if !dirty.is_empty() {
        base -= &dirty;
        let query = sql::ids_among_query(&text_only(request), &Context::projection(), ids(&dirty));
        let Some(current) = store::id_set(client, &query.text, &crate::db::datums(&query))? else { return Ok(None) };
        base |= current;
    }
    Ok(Some(base))
}

/// The snapshot's contacts whose `column` contains the (lower-cased) text.
fn column_matches(client: &SpiClient<'_>, column: &Column, lowered: &str, text: &str) -> SpiResult<Bitmap> {
    match postings::lookup(column, lowered) {
        Lookup3::Gram(gram) => {
            Ok(store::gram_bitmaps(client, column, vec![postings::gram_key(gram)])?.pop().unwrap_or_default())
        }
        Lookup3::Values => store::values_bitmap(client, column, &sql::contains_pattern(text)),
        Lookup3::Candidates(trigrams) => {
            let wanted = trigrams.len();
            let mut found =
                store::gram_bitmaps(client, column, trigrams.into_iter().map(postings::gram_key).collect())?;
            if found.len() < wanted {
                return Ok(Bitmap::new());
            }
            found.sort_by_key(|b| b.len());
            let mut candidates = found.remove(0);
            for bitmap in &found {
                candidates &= bitmap;
            }
            recheck(client, column, text, candidates)
        }
    }
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
pub fn with_members<T>(set: Bitmap, f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MEMBERS.with(|m| m.borrow_mut().take());
        }
    }
    MEMBERS.with(|m| *m.borrow_mut() = Some(set));
    let _reset = Reset;
    f()
}

/// Whether `id` is in the installed set (false when none is installed).
pub fn is_member(id: i64) -> bool {
    let Some(id) = postings::member(id) else { return false };
    MEMBERS.with(|m| m.borrow().as_ref().is_some_and(|set| set.contains(id)))
}
