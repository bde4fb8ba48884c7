//! What each SQL entry point does: parse → validate → build SQL → run →
//! render. Errors stay values until `lib.rs` raises them.

use std::collections::BTreeSet;

use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiError};
use serde_json::{json, Value as Json};

use crate::contact::{Cell, ContactRow};
use crate::cursor::{self, Direction, Position};
use crate::error::QueryError;
use crate::fields::{self, Table};
use crate::group_source::PostingGroups;
use crate::grouped::{self, Slice};
use crate::page::CountField;
use crate::params::{self, complete_ordering, Filter, ListRequest, OrderTerm, PageRequest, RawParams, Value};
use crate::plan::{self, Counting, Facts, Plan, Reading, TextMatching};
use crate::postings::{self, Bitmap};
use crate::sql::{self, seek, Context, Matched, Source, Strategy, Window};
use crate::variants::{self, Variant};
use crate::{db, matching, objects, page, postings_store, projection};

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("SPI failure: {0}")]
    Spi(#[from] SpiError),
    #[error("table {0} not found in search_path")]
    MissingTable(&'static str),
    /// The tables a write function found are not its owner's.
    #[error("the appuser table found through search_path does not belong to the owner of the write functions")]
    ForeignTables,
}

/// A validated list request with the raw parameters it came from (for links).
fn list_request(params: &Json) -> Result<(RawParams, ListRequest), QueryError> {
    let raw = params::normalize(params)?;
    let request = params::parse_list_request(&raw)?;
    Ok((raw, request))
}

/// The request's patterns resolved against the projection's dictionary
/// (for text conditions matched in SQL).
fn resolutions(client: &SpiClient<'_>, request: &ListRequest) -> Result<sql::Resolutions, Failure> {
    // One dictionary lookup per distinct text, for all its columns.
    let mut by_text: Vec<(String, Vec<&'static str>)> = Vec::new();
    for (key, text) in sql::patterns_to_resolve(request) {
        match by_text.iter_mut().find(|(t, _)| *t == text) {
            Some((_, keys)) => keys.push(key),
            None => by_text.push((text, vec![key])),
        }
    }
    let mut resolutions = sql::Resolutions::new();
    for (text, keys) in by_text {
        for (key, resolution) in db::resolve(client, &keys, &text)? {
            resolutions.insert((key, text.clone()), resolution);
        }
    }
    Ok(resolutions)
}

/// What the planner needs, and what the plan's execution reads: the SQL
/// context and the postings' matches.
struct Gathered {
    facts: Facts,
    context: Context,
    text_matches: Option<Bitmap>,
}

fn gather(client: &SpiClient<'_>, request: &ListRequest) -> Result<Gathered, Failure> {
    let conditions = sql::has_conditions(request);
    if !db::projection_present(client)? {
        let facts = Facts { conditions, ..Facts::default() };
        return Ok(Gathered { facts, context: Context::tables(), text_matches: None });
    }
    let total = db::count(client, &sql::total_query())?;
    let postings = postings_store::present(client)?;
    let text_matches = if postings { matching::matches(client, request)? } else { None };
    let mut context = Context::projection();
    if text_matches.is_none() {
        context.resolutions = resolutions(client, request)?;
    }
    let other_conditions = match text_matches {
        Some(_) => sql::has_conditions(&matching::residual(request)),
        None => conditions,
    };
    let facts = Facts {
        projection: true,
        total: Some(total),
        text_matches: text_matches.as_ref().map(|m| m.len()),
        other_conditions,
        conditions,
        grouped_order: postings && grouped_first_term(request),
        deep_offset: deep_offset(client, request)?,
    };
    Ok(Gathered { facts, context, text_matches })
}

/// Whether the postings divide the ordering's first term into groups (or
/// it is the id, which a bitmap orders itself), or split it into its NULLs
/// and the rest.
fn grouped_first_term(request: &ListRequest) -> bool {
    let first = complete_ordering(request)[0];
    let column = first.field.column();
    first.field.name == "id"
        || postings::group_kind(&column).is_some()
        || column.nullable
        || postings::span_columns().contains(&column)
}

/// The offset from which a page of every contact is deep (see `Facts`).
fn deep_offset(client: &SpiClient<'_>, request: &ListRequest) -> Result<u64, Failure> {
    let PageRequest::Number(number) = request.page else { return Ok(seek::MIN_OFFSET) };
    // Pages near the start are never deep: no setting to read for them.
    if (number - 1).saturating_mul(request.page_size) < 100 {
        return Ok(seek::MIN_OFFSET);
    }
    Ok(db::text_value(client, "SELECT current_setting('crm.seek_min_offset', true)", &[])?
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(seek::MIN_OFFSET))
}

/// Runs `f` with the plan's text matches bound into the SQL context (or,
/// read through groups, given to it).
fn with_text_matches<T>(gathered: &mut Gathered, plan: &Plan, f: impl FnOnce(&Context, Option<Bitmap>) -> T) -> T {
    let matches = gathered.text_matches.take().unwrap_or_default();
    match plan.text {
        TextMatching::PostingsIds => {
            gathered.context.matched = Some(Matched::Ids(matching::ids(&matches)));
            f(&gathered.context, None)
        }
        TextMatching::PostingsMember => {
            gathered.context.matched = Some(Matched::Member);
            matching::with_members(matches, || f(&gathered.context, None))
        }
        TextMatching::PostingsGroups => f(&gathered.context, Some(matches)),
        TextMatching::None | TextMatching::Sql => f(&gathered.context, None),
    }
}

/// A page read from the database, before rendering.
enum Page {
    Numbered { count: CountField, window: page::PageWindow, rows: Vec<ContactRow> },
    Keyset { rows: Vec<ContactRow>, next: Option<Position>, previous: Option<Position> },
}

impl Page {
    fn into_rows(self) -> Vec<ContactRow> {
        match self {
            Page::Numbered { rows, .. } | Page::Keyset { rows, .. } => rows,
        }
    }
}

/// The planner's estimate of the number of matches.
fn estimate(client: &SpiClient<'_>, request: &ListRequest, context: &Context) -> Result<u64, Failure> {
    Ok(db::estimate(client, &sql::match_set_query(request, context))?)
}

/// The count as the plan says: `(count, exact)`, `None` for no count.
/// `Collected` may return the page too.
fn count_as_planned(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    plan: &Plan,
    facts: &Facts,
) -> Result<(Option<u64>, Option<Vec<ContactRow>>), Failure> {
    Ok(match plan.count {
        Counting::Counter => (facts.total, None),
        Counting::Postings => (facts.text_matches, None),
        Counting::Collected { cap } => {
            let PageRequest::Number(number) = request.page else {
                return Ok((Some(db::count(client, &sql::count_query(request, context))?), None));
            };
            let offset = (number - 1).saturating_mul(request.page_size);
            let (matched, rows) = db::probe(client, &sql::probe_query(request, context, cap, offset))?;
            if matched <= cap {
                (Some(matched), Some(rows))
            } else {
                (Some(db::count(client, &sql::count_query(request, context))?), None)
            }
        }
        Counting::Query => (Some(db::count(client, &sql::count_query(request, context))?), None),
        Counting::UpTo { threshold } => {
            let counted = db::count(client, &sql::count_up_to_query(request, context, threshold + 1))?;
            if counted <= threshold {
                (Some(counted), None)
            } else {
                (Some(estimate(client, request, context)?.max(threshold + 1)), None)
            }
        }
        Counting::Planned => (Some(estimate(client, request, context)?), None),
        Counting::Omitted => (None, None),
    })
}

fn numbered_page(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    plan: &Plan,
    facts: &Facts,
    set: Option<Bitmap>,
) -> Result<Page, Failure> {
    let (count, collected) = count_as_planned(client, request, context, plan, facts)?;
    let exact = plan.exact_count()
        || matches!(plan.count, Counting::UpTo { threshold } if count.is_some_and(|c| c <= threshold));
    let count_field = count.map_or(CountField::Null, CountField::Value);
    if exact {
        let count = count.unwrap_or(0);
        let window = page::resolve(&request.page, count, request.page_size)?;
        if let Some(rows) = collected {
            return Ok(Page::Numbered { count: count_field, window, rows });
        }
        let rows = read_rows(client, request, context, plan, facts, set, window.offset, Some(count), true)?;
        return Ok(Page::Numbered { count: count_field, window, rows });
    }
    // Without an exact count, one row past the page tells whether there is a next.
    let PageRequest::Number(number) = request.page else { return Err(QueryError::InvalidPage.into()) };
    let offset = (number - 1).saturating_mul(request.page_size);
    let mut rows = read_rows(client, request, context, plan, facts, set, offset, count, false)?;
    if rows.is_empty() && number > 1 {
        return Err(QueryError::InvalidPage.into());
    }
    let more = rows.len() as u64 > request.page_size;
    rows.truncate(request.page_size as usize);
    let window = page::PageWindow { number, num_pages: number + u64::from(more), offset };
    Ok(Page::Numbered { count: count_field, window, rows })
}

/// The page's rows from `offset`, read as the plan says. With an `exact`
/// count, from the end of the ordering when that is nearer; without, one
/// row more (it tells whether a next page exists).
#[allow(clippy::too_many_arguments)]
fn read_rows(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    plan: &Plan,
    facts: &Facts,
    set: Option<Bitmap>,
    offset: u64,
    count: Option<u64>,
    exact: bool,
) -> Result<Vec<ContactRow>, Failure> {
    let wanted = offset + request.page_size;
    let on_page = request.page_size + u64::from(!exact);
    if plan.read == Reading::Groups {
        let set = set.map_or(grouped::Set::All, grouped::Set::Some);
        return grouped_rows(client, request, facts, set, offset, on_page);
    }
    let strategy = match plan.read {
        _ if context.source == Source::Tables => Strategy::Ordered,
        Reading::Walk | Reading::Groups => Strategy::Ordered,
        Reading::Collect => Strategy::Materialize,
        Reading::ByCount => {
            let matches = match count {
                Some(count) => count,
                None => estimate(client, request, context)?,
            };
            match plan::reading_for_filtered(matches, facts.total.unwrap_or(0), wanted) {
                Reading::Collect => Strategy::Materialize,
                _ => Strategy::Ordered,
            }
        }
    };
    let backward = exact && strategy == Strategy::Ordered && count.is_some_and(|c| offset > c / 2);
    let read = if backward {
        let count = count.unwrap_or(0);
        let on_page = request.page_size.min(count.saturating_sub(offset));
        Window::FromEnd { offset: count - offset - on_page, limit: on_page }
    } else {
        Window::Offset { offset, limit: on_page }
    };
    let mut rows = Vec::with_capacity(on_page as usize);
    // Seeking works on the unfiltered projection, or on the postings'
    // matches alone (their membership test reads index entries only).
    let member = matches!(context.matched, Some(Matched::Member)) && !facts.other_conditions;
    let seek = context.source == Source::Projection && strategy == Strategy::Ordered && (!facts.conditions || member);
    let condition = member.then_some("crm._member(f.id)");
    let min_offset = if condition.is_some() { 0 } else { facts.deep_offset };
    match read {
        Window::Offset { offset, limit } if seek => {
            rows = seek_rows(client, &complete_ordering(request), condition, min_offset, offset, limit)?
        }
        Window::FromEnd { offset, limit } if seek => {
            let mut terms = complete_ordering(request);
            terms.iter_mut().for_each(|t| t.descending = !t.descending);
            rows = seek_rows(client, &terms, condition, min_offset, offset, limit)?;
        }
        _ => {}
    }
    if rows.is_empty() {
        for query in &sql::page_queries(request, context, read, strategy) {
            rows.extend(db::contacts(client, query)?);
        }
    }
    if backward {
        rows.reverse();
    }
    Ok(rows)
}

/// A deep page of the unfiltered projection by seeking on the first
/// term's index (`sql::seek`); empty when seeking does not pay (the caller
/// then reads it with OFFSET).
/// With a membership `condition`, seeking pays from the first page: the
/// matches may lie anywhere in the ordering, and it finds them among index
/// entries.
fn seek_rows(
    client: &SpiClient<'_>,
    terms: &[OrderTerm],
    condition: Option<&str>,
    min_offset: u64,
    offset: u64,
    limit: u64,
) -> Result<Vec<ContactRow>, Failure> {
    if !seek::worth_it(terms, offset, min_offset) {
        return Ok(Vec::new());
    }
    let first = &terms[0];
    // A few values before the page too: where the page's first value
    // begins among them tells the rows before it, without counting them.
    let lead = offset.min(seek::LEAD);
    let boundary = seek::boundary_query(first, condition, offset - lead, lead + limit);
    let values = db::cells(client, &boundary, first.field.value_type())?;
    let (Some(from), Some(to)) = (values.get(lead as usize), values.last()) else { return Ok(Vec::new()) };
    let before = match values.iter().position(|v| v == from) {
        Some(at) if at > 0 || lead == offset => offset - lead + at as u64,
        _ => db::count(client, &seek::before_query(first, condition, from))?,
    };
    let page = seek::group_page_query(terms, condition, from, to, offset.saturating_sub(before), limit);
    Ok(db::contacts(client, &page)?)
}

/// A page read through the postings' groups of the ordering (`grouped`):
/// each slice of it by SQL within its group.
fn grouped_rows(
    client: &SpiClient<'_>,
    request: &ListRequest,
    facts: &Facts,
    set: grouped::Set,
    offset: u64,
    limit: u64,
) -> Result<Vec<ContactRow>, Failure> {
    let terms = complete_ordering(request);
    let mut source = PostingGroups::new(client, facts.total.unwrap_or(0))?;
    let slices = grouped::slices(&mut source, set, &terms, offset, limit)?;
    let mut rows = Vec::new();
    for slice in slices {
        rows.extend(slice_rows(client, &terms, slice, facts, None)?);
    }
    Ok(rows)
}

/// The SQL context of a slice: the projection, within the slice's range
/// of its first term (both ends open: every row with a value).
fn slice_context(first: &OrderTerm, range: Option<grouped::Range>) -> Context {
    let mut context = Context::projection();
    let column = first.field.column();
    let bound = |lookup, value| Filter { field: first.field, lookup, value };
    match range {
        None => {}
        Some(grouped::Range::Present)
        | Some(grouped::Range::Keys(None, None))
        | Some(grouped::Range::Texts(None, None)) => context.present.push(column),
        Some(grouped::Range::Keys(lo, hi)) => {
            let key = |key| postings::value_of_sort_key(&column, key);
            context.bounds.extend(lo.map(|lo| bound(fields::Lookup::Gte, key(lo))));
            context.bounds.extend(hi.map(|hi| bound(fields::Lookup::Lte, key(hi))));
        }
        Some(grouped::Range::Texts(from, until)) => {
            context.bounds.extend(from.map(|from| bound(fields::Lookup::Gte, Value::Text(from))));
            context.bounds.extend(until.map(|until| bound(fields::Lookup::Lt, Value::Text(until))));
        }
    }
    context
}

/// The request of a slice: its terms, `limit` rows.
fn slice_request(terms: &[OrderTerm], limit: u64) -> ListRequest {
    ListRequest {
        filters: Vec::new(),
        search_terms: Vec::new(),
        ordering: terms.to_vec(),
        page: PageRequest::Number(1),
        page_size: limit,
        count: params::CountMode::Exact,
    }
}

/// One slice of a page read through groups; `position`: the keyset page's
/// (for `Slice::After`).
fn slice_rows(
    client: &SpiClient<'_>,
    terms: &[OrderTerm],
    slice: Slice,
    facts: &Facts,
    position: Option<&[Cell]>,
) -> Result<Vec<ContactRow>, Failure> {
    match slice {
        Slice::Ids(ids) if ids.is_empty() => Ok(Vec::new()),
        // In id order: sorting them by the whole ordering keeps it.
        Slice::Ids(ids) => {
            let len = ids.len() as u64;
            let set = grouped::Set::Some(ids.into_iter().collect());
            group_rows(client, terms, set, None, facts, len, 0, len)
        }
        Slice::Rows { set, depth, range, offset, limit, len } => {
            group_rows(client, &terms[depth..], set, range, facts, len, offset, limit)
        }
        Slice::After { set, depth, range, limit } => {
            let position = Position {
                values: position.map(|p| p[depth..].to_vec()).unwrap_or_default(),
                direction: Direction::Forward,
            };
            rows_after(client, &terms[depth..], set, range, &position, limit)
        }
    }
}

/// `limit` rows of a group after skipping `offset`, in the order of
/// `terms` (the group's terms before them are equal); `len`: its rows.
#[allow(clippy::too_many_arguments)]
fn group_rows(
    client: &SpiClient<'_>,
    terms: &[OrderTerm],
    set: grouped::Set,
    range: Option<grouped::Range>,
    facts: &Facts,
    len: u64,
    offset: u64,
    limit: u64,
) -> Result<Vec<ContactRow>, Failure> {
    let first = terms[0];
    // Seeking on the first term's index works for every row, or every row
    // with a value; not within a bucket's or a span's bounds.
    let mut context = slice_context(&first, range);
    let seekable = context.bounds.is_empty();
    let request = slice_request(terms, limit);
    let window = Window::Offset { offset, limit };
    let present = context.present.first().map(|c| format!("{} IS NOT NULL", Source::Projection.expr(c)));
    match set {
        grouped::Set::All => {
            if seekable {
                // Seek from the nearer end.
                let condition = present.as_deref();
                let rows = if offset > len / 2 {
                    let reversed: Vec<OrderTerm> =
                        terms.iter().map(|t| OrderTerm { descending: !t.descending, ..*t }).collect();
                    let limit = limit.min(len.saturating_sub(offset));
                    let mut rows =
                        seek_rows(client, &reversed, condition, facts.deep_offset, len - offset - limit, limit)?;
                    rows.reverse();
                    rows
                } else {
                    seek_rows(client, terms, condition, facts.deep_offset, offset, limit)?
                };
                if !rows.is_empty() {
                    return Ok(rows);
                }
            }
            Ok(db::contacts(client, &sql::page_queries(&request, &context, window, Strategy::Ordered)[0])?)
        }
        grouped::Set::Some(ids) if ids.len() <= grouped::SMALL_SET || ids.len() <= limit => {
            context.matched = Some(Matched::Ids(matching::ids(&ids)));
            Ok(db::contacts(client, &sql::page_queries(&request, &context, window, Strategy::Materialize)[0])?)
        }
        grouped::Set::Some(ids) => matching::with_members(ids, || -> Result<_, Failure> {
            if seekable {
                let member = match &present {
                    Some(present) => format!("crm._member(f.id) AND {present}"),
                    None => "crm._member(f.id)".to_string(),
                };
                let rows = seek_rows(client, terms, Some(&member), 0, offset, limit)?;
                if !rows.is_empty() {
                    return Ok(rows);
                }
            }
            context.matched = Some(Matched::Member);
            Ok(db::contacts(client, &sql::page_queries(&request, &context, window, Strategy::Ordered)[0])?)
        }),
    }
}

/// Up to `limit` rows of a group strictly after `position` (its values of
/// `terms`), in their order: the keyset query within the group.
fn rows_after(
    client: &SpiClient<'_>,
    terms: &[OrderTerm],
    set: grouped::Set,
    range: Option<grouped::Range>,
    position: &Position,
    limit: u64,
) -> Result<Vec<ContactRow>, Failure> {
    let mut context = slice_context(&terms[0], range);
    let request = slice_request(terms, limit);
    let read = |context: &Context, strategy| -> Result<Vec<ContactRow>, Failure> {
        let mut rows = Vec::new();
        for query in sql::page_queries(&request, context, Window::Keyset { position: Some(position) }, strategy) {
            if rows.len() as u64 >= limit {
                break;
            }
            rows.extend(db::contacts(client, &query)?);
        }
        rows.truncate(limit as usize);
        Ok(rows)
    };
    match set {
        grouped::Set::All => read(&context, Strategy::Ordered),
        grouped::Set::Some(ids) if ids.len() <= grouped::SMALL_SET => {
            context.matched = Some(Matched::Ids(matching::ids(&ids)));
            read(&context, Strategy::Materialize)
        }
        grouped::Set::Some(ids) => matching::with_members(ids, || {
            context.matched = Some(Matched::Member);
            read(&context, Strategy::Ordered)
        }),
    }
}

/// A keyset page read through the postings' groups: `limit` rows after
/// the position (before it, backward: after it in the reversed ordering,
/// nearest first). `None` when the groups cannot place the position.
fn grouped_keyset_rows(
    client: &SpiClient<'_>,
    request: &ListRequest,
    facts: &Facts,
    set: grouped::Set,
    position: Option<&Position>,
    limit: u64,
) -> Result<Option<Vec<ContactRow>>, Failure> {
    let mut terms = complete_ordering(request);
    if position.is_some_and(|p| p.direction == Direction::Backward) {
        terms.iter_mut().for_each(|t| t.descending = !t.descending);
    }
    let mut source = PostingGroups::new(client, facts.total.unwrap_or(0))?;
    let slices = match position {
        None => grouped::slices(&mut source, set, &terms, 0, limit)?,
        Some(p) => match grouped::slices_after(&mut source, set, &terms, &p.values, limit)? {
            Some(slices) => slices,
            None => return Ok(None),
        },
    };
    let mut rows = Vec::new();
    for slice in slices {
        if rows.len() as u64 >= limit {
            break;
        }
        rows.extend(slice_rows(client, &terms, slice, facts, position.map(|p| p.values.as_slice()))?);
    }
    rows.truncate(limit as usize);
    Ok(Some(rows))
}

/// For keyset pages, which have no count: the matches are counted only up
/// to the size where collecting stops paying.
fn keyset_strategy(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    plan: &Plan,
    facts: &Facts,
) -> Result<Strategy, Failure> {
    Ok(match plan.read {
        _ if context.source == Source::Tables => Strategy::Ordered,
        Reading::Walk | Reading::Groups => Strategy::Ordered,
        Reading::Collect => Strategy::Materialize,
        Reading::ByCount => {
            let total = facts.total.unwrap_or(0);
            let limit = plan::materialize_limit(total, request.page_size + 1).max(plan::COLLECT_FILTERED_FLOOR);
            let count = db::count(client, &sql::count_up_to_query(request, context, limit + 1))?;
            match plan::reading_for_filtered(count, total, request.page_size + 1) {
                Reading::Collect => Strategy::Materialize,
                _ => Strategy::Ordered,
            }
        }
    })
}

/// A row's position in an ordering: its values of the ordering's columns.
fn position_of(row: &[Cell], terms: &[OrderTerm], direction: Direction) -> Position {
    let values = terms
        .iter()
        .map(|t| {
            let index =
                fields::CONTACT.iter().position(|o| o.column == t.field.column()).expect("ordered columns are output");
            row[index].clone()
        })
        .collect();
    Position { values, direction }
}

/// A keyset page's rows in reading order, `page_size + 1` of them when
/// there are more: through the groups when the plan says so and they can
/// place the position, else by SQL.
#[allow(clippy::too_many_arguments)]
fn keyset_rows(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    plan: &Plan,
    facts: &Facts,
    set: Option<Bitmap>,
    position: Option<&Position>,
) -> Result<Vec<ContactRow>, Failure> {
    let wanted = request.page_size + 1;
    if plan.read == Reading::Groups {
        let grouped_set = set.clone().map_or(grouped::Set::All, grouped::Set::Some);
        if let Some(rows) = grouped_keyset_rows(client, request, facts, grouped_set, position, wanted)? {
            return Ok(rows);
        }
    }
    let strategy = keyset_strategy(client, request, context, plan, facts)?;
    let read = |context: &Context| -> Result<Vec<ContactRow>, Failure> {
        let mut rows = Vec::with_capacity(wanted as usize);
        for query in sql::page_queries(request, context, Window::Keyset { position }, strategy) {
            if rows.len() as u64 >= wanted {
                break;
            }
            rows.extend(db::contacts(client, &query)?);
        }
        Ok(rows)
    };
    match set {
        // Matches meant for the groups: tested per row instead.
        Some(matches) => matching::with_members(matches, || {
            let mut context = context.clone();
            context.matched = Some(Matched::Member);
            read(&context)
        }),
        None => read(context),
    }
}

#[allow(clippy::too_many_arguments)]
fn keyset_page(
    client: &SpiClient<'_>,
    request: &ListRequest,
    context: &Context,
    plan: &Plan,
    facts: &Facts,
    set: Option<Bitmap>,
    token: Option<&str>,
) -> Result<Page, Failure> {
    let terms = complete_ordering(request);
    let position = match token {
        None => None,
        Some(token) => Some(cursor::decode(token, &terms).ok_or(QueryError::InvalidCursor)?),
    };
    let size = request.page_size as usize;
    let mut rows = keyset_rows(client, request, context, plan, facts, set, position.as_ref())?;
    let has_more = rows.len() > size;
    rows.truncate(size);
    let backward = position.as_ref().is_some_and(|p| p.direction == Direction::Backward);
    if backward {
        rows.reverse();
    }
    // With no rows (the position's neighbours are gone), links restart from
    // the position itself.
    let at = |row: Option<&ContactRow>, direction| match (row, &position) {
        (Some(row), _) => Some(position_of(row, &terms, direction)),
        (None, Some(p)) => Some(Position { values: p.values.clone(), direction }),
        (None, None) => None,
    };
    let (next, previous) = if backward {
        (at(rows.last(), Direction::Forward), if has_more { at(rows.first(), Direction::Backward) } else { None })
    } else {
        (
            if has_more { at(rows.last(), Direction::Forward) } else { None },
            if position.is_some() { at(rows.first(), Direction::Backward) } else { None },
        )
    };
    Ok(Page::Keyset { rows, next, previous })
}

/// Gathers the facts, plans, and reads the page as planned.
fn fetch_page(request: &ListRequest) -> Result<(Plan, Page), Failure> {
    Spi::connect(|client| {
        let mut gathered = gather(client, request)?;
        let plan = match request.page {
            PageRequest::Cursor(_) => plan::keyset(request, &gathered.facts),
            _ => plan::numbered(request, &gathered.facts),
        };
        let facts = gathered.facts.clone();
        let page = with_text_matches(&mut gathered, &plan, |context, set| match &request.page {
            PageRequest::Cursor(token) => keyset_page(client, request, context, &plan, &facts, set, token.as_deref()),
            _ => numbered_page(client, request, context, &plan, &facts, set),
        })?;
        Ok((plan, page))
    })
}

/// The DRF page as JSON text, with the plan that read it.
fn page_with_plan(params: &Json, url: Option<&str>) -> Result<(Plan, String), Failure> {
    let (raw, request) = list_request(params)?;
    let (plan, page) = fetch_page(&request)?;
    let json = match page {
        Page::Numbered { count, window, rows } => {
            let (next, previous) = page::links(&window, url, &raw);
            page::page_json(count, &next, &previous, &rows)
        }
        Page::Keyset { rows, next, previous } => {
            let terms = complete_ordering(&request);
            let link = |p: Option<Position>| p.map(|p| page::cursor_link(url, &raw, &cursor::encode(&terms, &p)));
            page::page_json(CountField::Absent, &link(next), &link(previous), &rows)
        }
    };
    Ok((plan, json))
}

/// `crm.contacts_page`: the DRF page as JSON text.
pub fn contacts_page(params: &Json, url: Option<&str>) -> Result<String, Failure> {
    Ok(page_with_plan(params, url)?.1)
}

/// `crm.explain`: what `crm.contacts_page` does for these parameters: every
/// statement it runs with its `EXPLAIN (ANALYZE, BUFFERS)` plan.
pub fn explain(params: &Json) -> Result<String, Failure> {
    let (answer, statements) = db::explaining(|| page_with_plan(params, None));
    let (plan, page) = answer?;
    Ok(json!({ "plan": plan, "response_bytes": page.len(), "statements": statements }).to_string())
}

/// A validated list request that an export walks page by page.
pub type ExportRequest = ListRequest;

/// The request of an export: the list's parameters, pages of `page_rows`.
pub fn export_request(params: &Json, page_rows: u64) -> Result<ExportRequest, QueryError> {
    let (_, mut request) = list_request(params)?;
    request.page_size = page_rows;
    Ok(request)
}

/// One keyset page of an export: its rows and the cursor of the next one.
pub fn export_page(request: &ExportRequest, page: PageRequest) -> Result<(Vec<ContactRow>, Option<String>), Failure> {
    let mut request = request.clone();
    request.page = page;
    match fetch_page(&request)?.1 {
        Page::Keyset { rows, next, .. } => {
            let terms = complete_ordering(&request);
            Ok((rows, next.map(|p| cursor::encode(&terms, &p))))
        }
        Page::Numbered { .. } => unreachable!("a cursor request reads a keyset page"),
    }
}

/// `crm.contacts`: the same page as rows.
pub fn contacts_rows(params: &Json) -> Result<Vec<ContactRow>, Failure> {
    let (_, request) = list_request(params)?;
    Ok(fetch_page(&request)?.1.into_rows())
}

/// `crm.refresh_postings`: a new snapshot of the postings.
pub fn refresh_postings() -> Result<String, Failure> {
    let report = Spi::connect_mut(|client| -> Result<_, Failure> {
        if !db::projection_present(client)? {
            return Err(
                QueryError::parameter("variant", "The active variant has no projection (use trgm or full).").into()
            );
        }
        let schema = objects::quote_ident(&table_schema(client, Table::Appuser)?);
        // One refresh at a time (writers and readers go on: see `refresh`);
        // the second waits for the first.
        db::execute(client, "SELECT pg_advisory_xact_lock(hashtext('crm.refresh_postings'))")?;
        Ok(postings_store::refresh(client, &schema)?)
    })?;
    Ok(serde_json::to_string(&report).expect("reports serialize"))
}

/// `crm.refresh_stale_postings(min_dirty)`: a new snapshot of the
/// postings when at least `min_dirty` contacts were written since the last
/// one and no other refresh is running; `None` otherwise. For a caller
/// that may only read (the API's role, which calls it now and then): it
/// runs as the tables' owner (SECURITY DEFINER, search_path pinned).
pub fn refresh_stale_postings(min_dirty: i64) -> Result<Option<String>, Failure> {
    crate::writes::in_tables_schema(|client| {
        if !db::projection_present(client)? || !postings_store::present(client)? {
            return Ok(None);
        }
        let count = format!("SELECT count(*)::text FROM {}", objects::DIRTY);
        let dirty: i64 = db::text_value(client, &count, &[])?.and_then(|n| n.parse().ok()).unwrap_or(0);
        let free =
            db::text_value(client, "SELECT pg_try_advisory_xact_lock(hashtext('crm.refresh_postings'))::text", &[])?;
        if dirty < min_dirty.max(1) || free.as_deref() != Some("true") {
            return Ok(None);
        }
        let schema = objects::quote_ident(&table_schema(client, Table::Appuser)?);
        let report = postings_store::refresh(client, &schema)?;
        let mut report = serde_json::to_value(&report).expect("reports serialize");
        report["dirty_before"] = dirty.into();
        Ok(Some(report.to_string()))
    })
}

/// `crm.contact`: one contact as JSON, `None` when the id does not exist.
pub fn contact(id: i64) -> Result<Option<String>, Failure> {
    let rows = Spi::connect(|client| -> Result<_, Failure> {
        let source = if db::projection_present(client)? { Source::Projection } else { Source::Tables };
        Ok(db::contacts(client, &sql::detail_query(id, source))?)
    })?;
    Ok(rows.first().map(|row| {
        let mut out = String::new();
        crate::contact::write_json(&mut out, row);
        out
    }))
}

/// `crm.stats`: from the projection's counters when present, otherwise
/// counted in the tables.
pub fn stats() -> Result<String, Failure> {
    let counts = Spi::connect(|client| -> Result<_, Failure> {
        let sql = if db::projection_present(client)? {
            sql::stats_from_counter_query()
        } else {
            // One-to-one and cascading: every relationship belongs to one contact.
            "SELECT (SELECT count(*) FROM appuser), (SELECT count(address_id) FROM appuser), \
                    (SELECT count(*) FROM customer_relationship)"
                .to_string()
        };
        Ok(db::counts(client, &sql, 3)?)
    })?;
    Ok(json!({
        "total_contacts": counts[0],
        "contacts_with_address": counts[1],
        "contacts_with_relationship": counts[2],
    })
    .to_string())
}

/// An index on one of the application's or the projection's tables.
struct PresentIndex {
    name: String,
    table: String,
    definition: String,
    /// Created and dropped by the extension: named `crm_…` and not a
    /// table's primary key.
    managed: bool,
    /// See `IndexDef::identity`.
    identity: String,
}

fn managed_identities(indexes: &[PresentIndex]) -> BTreeSet<String> {
    indexes.iter().filter(|i| i.managed).map(|i| i.identity.clone()).collect()
}

/// The schema each application table resolves to through search_path.
fn table_schema(client: &SpiClient<'_>, table: Table) -> Result<String, Failure> {
    let sql = "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.oid = to_regclass($1)";
    db::text_value(client, sql, &[sql::Arg::Text(table.name().into())])?.ok_or(Failure::MissingTable(table.name()))
}

fn present_indexes(client: &SpiClient<'_>) -> Result<Vec<PresentIndex>, Failure> {
    let tables: Vec<String> = Table::ALL
        .iter()
        .map(|t| t.name())
        .chain(objects::TABLES)
        .map(|name| format!("to_regclass('{name}')"))
        .collect();
    // Key and included columns by position (indnkeyatts splits them).
    let columns = |which: &str| {
        format!(
            "coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.n) \
             FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE k.n {which} i.indnkeyatts), '')"
        )
    };
    let sql = format!(
        "SELECT ic.relname::text, tc.relname::text, pg_get_indexdef(i.indexrelid), \
                (ic.relname LIKE 'crm\\_%' AND NOT i.indisprimary)::text, am.amname::text, {}, {} \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid \
         JOIN pg_am am ON am.oid = ic.relam \
         WHERE i.indrelid IN ({}) ORDER BY tc.relname, ic.relname",
        columns("<="),
        columns(">"),
        tables.join(", ")
    );
    let rows = db::text_rows(client, &sql, 7)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let field = |i: usize| row[i].clone().unwrap_or_default();
            PresentIndex {
                identity: variants::index_identity(&field(0), &field(4), &field(5), &field(6)),
                name: field(0),
                table: field(1),
                definition: field(2),
                managed: field(3) == "true",
            }
        })
        .collect())
}

fn variant_report(indexes: &[PresentIndex], projection: ProjectionState, postings: bool) -> String {
    let identified = match projection {
        ProjectionState::Stale => None,
        state => variants::identify(&managed_identities(indexes), state == ProjectionState::Current),
    };
    let variant = identified.map_or("custom", |v| v.name());
    let listed: Vec<Json> = indexes
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "table": i.table,
                "managed": i.managed,
                "definition": i.definition,
            })
        })
        .collect();
    json!({
        "variant": variant,
        "projection": match projection {
            ProjectionState::Absent => "absent",
            ProjectionState::Current => "present",
            ProjectionState::Stale => "stale (rebuilt by crm.use_variant)",
        },
        "postings": match (projection, postings) {
            (ProjectionState::Absent, _) => "absent",
            (_, true) => "built",
            (_, false) => "not built (crm.refresh_postings() builds them; meanwhile text is matched in SQL)",
        },
        "available": Variant::names(),
        "indexes": listed,
    })
    .to_string()
}

/// `crm.variant`: the active variant (derived from what is present) and
/// every index on the application's and the projection's tables.
pub fn variant() -> Result<String, Failure> {
    let (indexes, projection, postings) = Spi::connect(|client| -> Result<_, Failure> {
        Ok((present_indexes(client)?, projection_state(client)?, postings_store::present(client)?))
    })?;
    Ok(variant_report(&indexes, projection, postings))
}

/// The projection: absent, built by this version, or stale (built by
/// another version of the extension, to be rebuilt).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProjectionState {
    Absent,
    Current,
    Stale,
}

fn projection_state(client: &SpiClient<'_>) -> Result<ProjectionState, Failure> {
    Ok(match (db::projection_present(client)?, db::projection_current(client)?) {
        (false, _) => ProjectionState::Absent,
        (true, true) => ProjectionState::Current,
        (true, false) => ProjectionState::Stale,
    })
}

/// `crm.use_variant`: creates and drops the extension's objects until
/// exactly the variant's are present, then reports as `crm.variant()`.
/// Writes to the application tables wait while the projection is built, so
/// it never misses one.
pub fn use_variant(name: &str, build_indexes: bool) -> Result<String, Failure> {
    let target = Variant::from_name(name).ok_or_else(|| {
        QueryError::parameter("variant", format!("Unknown variant. Choices: {}.", Variant::names().join(", ")))
    })?;
    Spi::connect_mut(|client| -> Result<(), Failure> {
        let schema = table_schema(client, Table::Appuser)?;
        // Switches of the same tables take turns: the lock on the tables
        // (SHARE, see `projection::lock_sql`) does not exclude another switch.
        db::advisory_xact_lock(client, &format!("crm_contacts.use_variant {schema}"))?;
        let mut present = managed_identities(&present_indexes(client)?);
        let state = projection_state(client)?;
        if state == ProjectionState::Stale {
            // Rebuilt from scratch, with its indexes.
            for statement in projection::drop_sql(&table_schema(client, Table::Appuser)?) {
                db::execute(client, &statement)?;
            }
            present = managed_identities(&present_indexes(client)?);
        }
        let plan = variants::plan_switch(target, &present, state == ProjectionState::Current);
        let trgm_schema = db::text_value(
            client,
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_trgm'",
            &[],
        )?
        .unwrap_or_else(|| "public".into());
        if plan.drop_projection {
            for statement in projection::drop_sql(&schema) {
                db::execute(client, &statement)?;
            }
        }
        for name in &plan.drop_indexes {
            db::execute(client, &variants::drop_index_sql(&schema, name))?;
        }
        if plan.create_projection {
            db::execute(client, &projection::lock_sql(&schema))?;
            for statement in projection::create_sql(&schema) {
                db::execute(client, &statement)?;
            }
            // Built now, or by the caller with the indexes (the loader).
            if build_indexes {
                postings_store::refresh(client, &objects::quote_ident(&schema))?;
            }
            db::execute(client, &projection::mark_sql(&schema))?;
        }
        for index in plan.create_indexes.iter().filter(|_| build_indexes) {
            db::execute(client, &index.create_sql(&schema, &trgm_schema))?;
        }
        if plan.create_projection {
            db::execute(client, &projection::analyze_sql(&schema))?;
        }
        Ok(())
    })?;
    variant()
}
