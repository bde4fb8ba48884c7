//! SQL generation. Identifiers come only from the tables in `fields`; every
//! client value becomes a bound parameter (`$n`), never text in the query.
//!
//! Queries read one of two sources: the application's tables (joined as the
//! original did) or, when the active variant has it, the projection, where a
//! contact is one row and every filter, ordering and count can be served by
//! an index of a single table.

use std::collections::{BTreeSet, HashMap};

use crate::cursor::{Direction, Position};
use crate::fields::{self, Column, Lookup, Table};
use crate::objects;
use crate::params::{complete_ordering, Filter, ListRequest, OrderTerm, Value};
use crate::values::IntegerLiteral;

mod keyset;
pub mod seek;

/// A bound parameter, typed as PostgreSQL will receive it.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int8(i64),
    Int8Array(Vec<i64>),
    Text(String),
    TextArray(Vec<String>),
    /// Microseconds since 2000-01-01 UTC.
    Timestamptz(i64),
    /// Days since 2000-01-01.
    Date(i32),
}

/// SQL text with its arguments. The text depends only on the shape of the
/// request (which filters, which ordering), never on values.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlQuery {
    pub text: String,
    pub args: Vec<Arg>,
}

/// Where contacts are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `appuser u LEFT JOIN address a LEFT JOIN customer_relationship r`.
    Tables,
    /// `crm_contact_flat f`, one row per contact.
    Projection,
}

impl Source {
    pub fn expr(self, column: &Column) -> String {
        match self {
            Source::Tables => column.qualified(),
            Source::Projection => format!("f.{}", column.output_key()),
        }
    }

    fn table_expression(self, tables: &BTreeSet<Table>) -> String {
        match self {
            Source::Tables => {
                let mut sql = String::from("FROM appuser u");
                for join in tables.iter().filter_map(|t| t.join()) {
                    sql.push(' ');
                    sql.push_str(join);
                }
                sql
            }
            Source::Projection => format!("FROM {} f", objects::FLAT),
        }
    }

    fn select_list(self) -> String {
        match self {
            Source::Tables => contact_select_list(),
            Source::Projection => fields::CONTACT.iter().map(|o| format!("f.{}", o.key)).collect::<Vec<_>>().join(", "),
        }
    }
}

/// `u.id AS id, …, r.last_activity AS last_activity`: the contact's columns
/// of the joined tables, in output order.
pub fn contact_select_list() -> String {
    fields::CONTACT.iter().map(|o| format!("{} AS {}", o.column.qualified(), o.key)).collect::<Vec<_>>().join(", ")
}

/// The values of a column with few values that match a pattern, looked up
/// in the projection's dictionary.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    Values(Vec<String>),
    /// So many values match that equality would not help: match the column.
    TooMany,
}

/// Above this many matching values, a pattern is matched on the column.
pub const MAX_RESOLVED_VALUES: usize = 1000;

/// Resolutions by (projection column, client text).
pub type Resolutions = HashMap<(&'static str, String), Resolution>;

/// The contacts matching a request's text conditions, found by the
/// postings (`text_match`): the SQL checks membership instead of patterns.
#[derive(Clone, Debug, PartialEq)]
pub enum Matched {
    /// Few enough to bind: `f.id = ANY($n)`, read through the primary key.
    Ids(Vec<i64>),
    /// Too many to bind: `crm._member(f.id)` tests the set installed in
    /// this backend (`text_match::with_members`).
    Member,
}

/// How a request is turned into SQL: the source and, for the projection,
/// what the dictionary said about the request's patterns and which
/// contacts the postings found for its text conditions.
pub struct Context {
    pub source: Source,
    pub resolutions: Resolutions,
    pub matched: Option<Matched>,
}

impl Context {
    pub fn tables() -> Self {
        Context { source: Source::Tables, resolutions: Resolutions::new(), matched: None }
    }

    /// The projection, patterns matched with ILIKE.
    pub fn projection() -> Self {
        Context { source: Source::Projection, resolutions: Resolutions::new(), matched: None }
    }
}

/// The (column, text) pairs of a request that the dictionary should resolve:
/// icontains filters and search terms on columns with few values.
pub fn patterns_to_resolve(request: &ListRequest) -> Vec<(&'static str, String)> {
    let mut wanted = Vec::new();
    for filter in request.filters.iter().filter(|f| f.lookup == Lookup::Icontains) {
        if let Value::Text(text) = &filter.value {
            for column in filter.field.columns.iter().filter(|c| c.few_values) {
                wanted.push((column.output_key(), text.clone()));
            }
        }
    }
    for term in &request.search_terms {
        for column in fields::search_columns().filter(|c| c.few_values) {
            wanted.push((column.output_key(), term.clone()));
        }
    }
    wanted.sort();
    wanted.dedup();
    wanted
}

/// `%value%` with LIKE's wildcards and escape character taken literally.
pub fn contains_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 2);
    pattern.push('%');
    for c in value.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Accumulates arguments and hands out their placeholders.
#[derive(Default)]
pub struct Binder {
    args: Vec<Arg>,
}

impl Binder {
    pub fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
}

fn comparison_operator(lookup: Lookup) -> &'static str {
    match lookup {
        Lookup::Exact => "=",
        Lookup::Gte => ">=",
        Lookup::Lte => "<=",
        Lookup::Gt => ">",
        Lookup::Lt => "<",
        Lookup::Icontains => "ILIKE",
    }
}

fn or_all(alternatives: Vec<String>) -> String {
    match alternatives.len() {
        0 => "FALSE".to_string(),
        1 => alternatives.into_iter().next().unwrap_or_default(),
        _ => format!("({})", alternatives.join(" OR ")),
    }
}

/// One condition of the WHERE clause: the request's conditions are ANDed.
#[derive(Clone, Debug)]
enum Clause {
    Simple(String),
    /// Alternatives, any of which may match (a search term over its fields,
    /// `name` over two columns). On the projection each alternative can be
    /// its own index scan, and the matches their union.
    AnyOf(Vec<String>),
}

impl Clause {
    fn any_of(alternatives: Vec<String>) -> Clause {
        if alternatives.len() > 1 {
            Clause::AnyOf(alternatives)
        } else {
            Clause::Simple(or_all(alternatives))
        }
    }

    fn sql(&self) -> String {
        match self {
            Clause::Simple(s) => s.clone(),
            Clause::AnyOf(alternatives) => or_all(alternatives.clone()),
        }
    }
}

/// Builds the conditions of a request for a context.
struct WhereBuilder<'a> {
    context: &'a Context,
    binder: Binder,
    clauses: Vec<Clause>,
    tables: BTreeSet<Table>,
}

impl<'a> WhereBuilder<'a> {
    fn new(context: &'a Context) -> Self {
        WhereBuilder { context, binder: Binder::default(), clauses: Vec::new(), tables: BTreeSet::new() }
    }

    fn expr(&mut self, column: &Column) -> String {
        self.tables.insert(column.table);
        self.context.source.expr(column)
    }

    /// `column contains text`, for each column: equality with the
    /// dictionary's values where resolved, ILIKE otherwise (one argument).
    fn contains_any(&mut self, columns: &[Column], text: &str) -> Clause {
        let mut alternatives = Vec::new();
        let mut pattern: Option<String> = None;
        for column in columns {
            let resolution = (self.context.source == Source::Projection && column.few_values)
                .then(|| self.context.resolutions.get(&(column.output_key(), text.to_string())))
                .flatten();
            let expr = self.expr(column);
            match resolution {
                Some(Resolution::Values(values)) if values.is_empty() => {}
                Some(Resolution::Values(values)) => {
                    let placeholder = self.binder.bind(Arg::TextArray(values.clone()));
                    alternatives.push(format!("{expr} = ANY({placeholder})"));
                }
                // The dictionary holds every value of the column: matching
                // its values (trigram index, then equality on the column's
                // index) reads far less than matching every row.
                Some(Resolution::TooMany) => {
                    let placeholder = self.pattern(&mut pattern, text);
                    alternatives.push(format!(
                        "{expr} IN (SELECT d.value FROM {} d WHERE d.field = '{}' AND d.value ILIKE {placeholder})",
                        objects::DICTIONARY,
                        column.output_key()
                    ));
                }
                None => {
                    let placeholder = self.pattern(&mut pattern, text);
                    alternatives.push(format!("{expr} ILIKE {placeholder}"));
                }
            }
        }
        Clause::any_of(alternatives)
    }

    /// The placeholder of `text` as a contains pattern, bound once per term.
    fn pattern(&mut self, bound: &mut Option<String>, text: &str) -> String {
        bound.get_or_insert_with(|| self.binder.bind(Arg::Text(contains_pattern(text)))).clone()
    }

    fn filter(&mut self, filter: &Filter) {
        let column = filter.field.column();
        let clause = match &filter.value {
            Value::Text(text) if filter.lookup == Lookup::Icontains => self.contains_any(filter.field.columns, text),
            Value::Integer(literal) => {
                let expr = self.expr(&column);
                Clause::Simple(match (literal, filter.lookup) {
                    (IntegerLiteral::InRange(v), lookup) => {
                        format!("{expr} {} {}", comparison_operator(lookup), self.binder.bind(Arg::Int8(*v)))
                    }
                    // Beyond bigint nothing is equal, and every non-NULL value
                    // lies on one side.
                    (IntegerLiteral::AboveMax, Lookup::Lt | Lookup::Lte)
                    | (IntegerLiteral::BelowMin, Lookup::Gt | Lookup::Gte) => format!("{expr} IS NOT NULL"),
                    _ => "FALSE".to_string(),
                })
            }
            value => {
                let arg = match value {
                    Value::Timestamp(t) => Arg::Timestamptz(*t),
                    Value::Date(d) => Arg::Date(*d),
                    Value::Text(t) => Arg::Text(t.clone()),
                    Value::Integer(_) => unreachable!("handled above"),
                };
                let expr = self.expr(&column);
                Clause::Simple(format!("{expr} {} {}", comparison_operator(filter.lookup), self.binder.bind(arg)))
            }
        };
        self.clauses.push(clause);
    }

    /// DRF search: every term matches at least one search field.
    fn search_term(&mut self, term: &str) {
        let columns: Vec<Column> = fields::search_columns().collect();
        let clause = self.contains_any(&columns, term);
        self.clauses.push(clause);
    }

    fn request(mut self, request: &ListRequest) -> Self {
        // Text conditions already answered by the postings become one
        // membership condition.
        let matched = self.context.matched.clone();
        for filter in request.filters.iter().filter(|f| matched.is_none() || f.lookup != Lookup::Icontains) {
            self.filter(filter);
        }
        match matched {
            None => {
                for term in &request.search_terms {
                    self.search_term(term);
                }
            }
            Some(Matched::Ids(ids)) => {
                let ids = self.binder.bind(Arg::Int8Array(ids));
                self.clauses.push(Clause::Simple(format!("f.id = ANY({ids})")));
            }
            Some(Matched::Member) => self.clauses.push(Clause::Simple("crm._member(f.id)".to_string())),
        }
        self
    }

    fn flat_clauses(&self) -> Vec<String> {
        self.clauses.iter().map(Clause::sql).collect()
    }
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// ORDER BY text over an expression per term; NULLs as PostgreSQL's
/// default (last ascending, first descending), which is also what an index
/// scan gives in either direction.
fn order_by_sql(terms: &[OrderTerm], expr: impl Fn(&Column) -> String) -> String {
    terms
        .iter()
        .map(|t| format!("{}{}", expr(&t.field.column()), if t.descending { " DESC" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_tables() -> BTreeSet<Table> {
    Table::ALL.into_iter().collect()
}

/// How a page of the projection is read (`plan::Reading` decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Walk an index in the requested order, filtering as it goes: best
    /// when matches are dense (`count` close to `total`).
    Ordered,
    /// Collect every match through the filters' indexes, then sort: best
    /// when matches are few, which an ordered walk would have to look for
    /// through many non-matching rows.
    Materialize,
}

/// Which rows of the ordering a page takes.
#[derive(Clone, Copy, Debug)]
pub enum Window<'a> {
    /// `limit` rows after skipping `offset`.
    Offset { offset: u64, limit: u64 },
    /// `limit` rows after skipping `offset` from the end of the ordering,
    /// read in reverse (the caller flips them back): a page near the end
    /// skips few rows instead of almost all of them.
    FromEnd { offset: u64, limit: u64 },
    /// Keyset pagination from a position (`None`: the first page); reads
    /// one row more than the page to tell whether there is a next page.
    Keyset { position: Option<&'a Position> },
}

/// The exact number of contacts matching the request's filters and search.
pub fn count_query(request: &ListRequest, context: &Context) -> SqlQuery {
    let builder = WhereBuilder::new(context).request(request);
    let text = match context.source {
        // Kept by the projection's triggers: no scan.
        Source::Projection if builder.clauses.is_empty() => total_query().text,
        Source::Projection if builder.clauses.iter().any(|c| matches!(c, Clause::AnyOf(_))) => {
            format!("SELECT count(*) FROM ({}) m", projection_set(&builder.clauses, &[]))
        }
        Source::Projection => {
            format!("SELECT count(*) FROM {} f{}", objects::FLAT, where_sql(&builder.flat_clauses()))
        }
        Source::Tables => format!(
            "SELECT count(*) {}{}",
            Source::Tables.table_expression(&builder.tables),
            where_sql(&builder.flat_clauses())
        ),
    };
    SqlQuery { text, args: builder.binder.args }
}

/// The matching contacts as a plain query (for the planner's estimate of
/// their number).
pub fn match_set_query(request: &ListRequest, context: &Context) -> SqlQuery {
    let builder = WhereBuilder::new(context).request(request);
    let text = match context.source {
        Source::Projection => projection_set(&builder.clauses, &[]),
        Source::Tables => format!(
            "SELECT 1 {}{}",
            Source::Tables.table_expression(&builder.tables),
            where_sql(&builder.flat_clauses())
        ),
    };
    SqlQuery { text, args: builder.binder.args }
}

/// `SELECT array_agg(id)` of the contacts among `ids` that match the request.
pub fn ids_among_query(request: &ListRequest, context: &Context, ids: Vec<i64>) -> SqlQuery {
    let mut builder = WhereBuilder::new(context).request(request);
    let among = builder.binder.bind(Arg::Int8Array(ids));
    let mut clauses = vec![format!("f.id = ANY({among})")];
    clauses.extend(builder.flat_clauses());
    SqlQuery {
        text: format!("SELECT array_agg(f.id) FROM {} f{}", objects::FLAT, where_sql(&clauses)),
        args: builder.binder.args,
    }
}

/// `SELECT array_agg(id)` of the contacts whose `column` contains `text`
/// (ILIKE), among `ids` when given.
pub fn column_contains_query(column: &Column, text: &str, ids: Option<Vec<i64>>) -> SqlQuery {
    let mut binder = Binder::default();
    let pattern = binder.bind(Arg::Text(contains_pattern(text)));
    let mut clauses = vec![format!("{} ILIKE {pattern}", Source::Projection.expr(column))];
    if let Some(ids) = ids {
        clauses.push(format!("f.id = ANY({})", binder.bind(Arg::Int8Array(ids))));
    }
    SqlQuery {
        text: format!("SELECT array_agg(f.id) FROM {} f{}", objects::FLAT, where_sql(&clauses)),
        args: binder.args,
    }
}

/// The number of matches up to `cap`: enough to choose a strategy without
/// counting a large set.
pub fn count_up_to_query(request: &ListRequest, context: &Context, cap: u64) -> SqlQuery {
    let mut builder = WhereBuilder::new(context).request(request);
    let set = projection_set(&builder.clauses, &[]);
    let cap = builder.binder.bind(Arg::Int8(cap.min(i64::MAX as u64) as i64));
    SqlQuery { text: format!("SELECT count(*) FROM ({set} LIMIT {cap}) m"), args: builder.binder.args }
}

/// One statement that collects up to `cap + 1` matches and returns their
/// number with the requested page of them (as `(matched, contact…)` rows;
/// one row of NULL contact columns when the page is empty). When at most
/// `cap` match, this is the exact count and the page in a single pass;
/// otherwise the caller counts and walks instead (`Strategy::Ordered`).
pub fn probe_query(request: &ListRequest, context: &Context, cap: u64, offset: u64) -> SqlQuery {
    let terms = complete_ordering(request);
    let keys: Vec<&str> = terms.iter().map(|t| t.field.column().output_key()).collect();
    let mut builder = WhereBuilder::new(context).request(request);
    let set = projection_set(&builder.clauses, &keys);
    let cap = builder.binder.bind(Arg::Int8(cap.saturating_add(1).min(i64::MAX as u64) as i64));
    let limit = builder.binder.bind(Arg::Int8(request.page_size as i64));
    let offset = builder.binder.bind(Arg::Int8(offset.min(i64::MAX as u64) as i64));
    let text = format!(
        "WITH m AS MATERIALIZED (SELECT * FROM ({set}) s LIMIT {cap}) \
         SELECT c.matched, x.* FROM (SELECT count(*) AS matched FROM m) c \
         LEFT JOIN LATERAL (SELECT {} FROM (SELECT * FROM m ORDER BY {} LIMIT {limit} OFFSET {offset}) p \
         JOIN {} f ON f.id = p.id) x ON true ORDER BY {}",
        Source::Projection.select_list(),
        order_by_sql(&terms, |c| format!("m.{}", c.output_key())),
        objects::FLAT,
        order_by_sql(&terms, |c| format!("x.{}", c.output_key())),
    );
    SqlQuery { text, args: builder.binder.args }
}

/// Whether the request has any condition at all.
pub fn has_conditions(request: &ListRequest) -> bool {
    !request.filters.is_empty() || !request.search_terms.is_empty()
}

/// Contacts, contacts with an address, with a relationship, from the
/// projection's counter.
pub fn stats_from_counter_query() -> String {
    format!(
        "SELECT sum(n)::bigint, sum(with_address)::bigint, sum(with_relationship)::bigint FROM {}",
        objects::COUNTER
    )
}

/// The number of contacts, from the projection's counter.
pub fn total_query() -> SqlQuery {
    SqlQuery { text: format!("SELECT sum(n)::bigint FROM {}", objects::COUNTER), args: Vec::new() }
}

/// The matching contacts' ids and `columns` (projection keys) as a query
/// over the projection: each alternative of an `AnyOf` clause is its own
/// branch, so that each can be an (index-only) scan of its own index, and
/// the branches are united; several such clauses intersect.
fn projection_set(clauses: &[Clause], columns: &[&str]) -> String {
    let mut select = String::from("SELECT f.id");
    for c in columns.iter().filter(|c| **c != "id") {
        select.push_str(&format!(", f.{c}"));
    }
    select.push_str(&format!(" FROM {} f", objects::FLAT));
    let simple: Vec<String> =
        clauses.iter().filter_map(|c| if let Clause::Simple(s) = c { Some(s.clone()) } else { None }).collect();
    let groups: Vec<&Vec<String>> =
        clauses.iter().filter_map(|c| if let Clause::AnyOf(a) = c { Some(a) } else { None }).collect();
    if groups.is_empty() {
        return format!("{select}{}", where_sql(&simple));
    }
    groups
        .iter()
        .map(|alternatives| {
            let branches: Vec<String> = alternatives
                .iter()
                .map(|alternative| {
                    let mut conditions = simple.clone();
                    conditions.push(alternative.clone());
                    format!("{select}{}", where_sql(&conditions))
                })
                .collect();
            format!("({})", branches.join(" UNION "))
        })
        .collect::<Vec<_>>()
        .join(" INTERSECT ")
}

/// The queries of one page. An offset page is one query. A keyset page may
/// be several (see `keyset::segments`), each reading `page_size + 1` rows in
/// reading order: run them in turn until enough rows are read; reading
/// backward flips the ordering, and the caller flips the rows back.
pub fn page_queries(request: &ListRequest, context: &Context, window: Window, strategy: Strategy) -> Vec<SqlQuery> {
    let mut terms = complete_ordering(request);
    let mut builder = WhereBuilder::new(context).request(request);
    let mut segments: Vec<Option<String>> = vec![None];
    let mut limit_value = request.page_size as i64;
    let mut offset_value = None;
    match window {
        Window::Offset { offset, limit } => {
            offset_value = Some(offset.min(i64::MAX as u64) as i64);
            limit_value = limit.min(i64::MAX as u64) as i64;
        }
        Window::FromEnd { offset, limit } => {
            for t in &mut terms {
                t.descending = !t.descending;
            }
            offset_value = Some(offset.min(i64::MAX as u64) as i64);
            limit_value = limit.min(i64::MAX as u64) as i64;
        }
        Window::Keyset { position } => {
            limit_value += 1;
            if let Some(position) = position {
                if position.direction == Direction::Backward {
                    for t in &mut terms {
                        t.descending = !t.descending;
                    }
                }
                let bounds: Vec<keyset::Bound> = terms
                    .iter()
                    .zip(&position.values)
                    .map(|(t, cell)| {
                        let column = t.field.column();
                        let expr = context.source.expr(&column);
                        keyset::Bound::new(expr, t.descending, column.nullable, cell, &mut builder.binder)
                    })
                    .collect();
                segments = keyset::segments(&bounds).into_iter().map(Some).collect();
            }
        }
    }
    let limit = builder.binder.bind(Arg::Int8(limit_value));
    let offset = offset_value.map(|o| format!(" OFFSET {}", builder.binder.bind(Arg::Int8(o)))).unwrap_or_default();
    segments
        .into_iter()
        .map(|segment| {
            let mut clauses = builder.clauses.clone();
            clauses.extend(segment.map(Clause::Simple));
            let text = match context.source {
                Source::Tables => format!(
                    "SELECT {} {}{} ORDER BY {} LIMIT {limit}{offset}",
                    contact_select_list(),
                    Source::Tables.table_expression(&all_tables()),
                    where_sql(&clauses.iter().map(Clause::sql).collect::<Vec<_>>()),
                    order_by_sql(&terms, |c| Source::Tables.expr(c)),
                ),
                Source::Projection => {
                    let skips = offset_value.is_some_and(|o| o > 0);
                    projection_page(&clauses, &terms, strategy, skips, &format!("LIMIT {limit}{offset}"))
                }
            };
            SqlQuery { text, args: builder.binder.args.clone() }
        })
        .collect()
}

/// A page of the projection. Reading the rows in order directly is best
/// when nothing is skipped; otherwise the ids of the page come first (from
/// the matches, as `strategy` says), then their rows, so that sorting and
/// skipping work on narrow index entries and only the page's rows are read
/// in full.
fn projection_page(clauses: &[Clause], terms: &[OrderTerm], strategy: Strategy, skips: bool, limit: &str) -> String {
    let where_all = where_sql(&clauses.iter().map(Clause::sql).collect::<Vec<_>>());
    let order_f = order_by_sql(terms, |c| Source::Projection.expr(c));
    if strategy == Strategy::Ordered && !skips {
        return format!(
            "SELECT {} FROM {} f{where_all} ORDER BY {order_f} {limit}",
            Source::Projection.select_list(),
            objects::FLAT
        );
    }
    let keys: Vec<&str> = terms.iter().map(|t| t.field.column().output_key()).collect();
    let order_p = order_by_sql(terms, |c| format!("p.{}", c.output_key()));
    let ids = match strategy {
        Strategy::Materialize => format!(
            "WITH m AS MATERIALIZED ({}) SELECT * FROM m ORDER BY {} {limit}",
            projection_set(clauses, &keys),
            order_by_sql(terms, |c| format!("m.{}", c.output_key()))
        ),
        Strategy::Ordered => {
            let mut select = String::from("SELECT f.id");
            for k in keys.iter().filter(|k| **k != "id") {
                select.push_str(&format!(", f.{k}"));
            }
            format!("{select} FROM {} f{where_all} ORDER BY {order_f} {limit}", objects::FLAT)
        }
    };
    format!(
        "SELECT {} FROM {} f JOIN ({ids}) p ON p.id = f.id ORDER BY {order_p}",
        Source::Projection.select_list(),
        objects::FLAT
    )
}

/// One contact by id.
pub fn detail_query(id: i64, source: Source) -> SqlQuery {
    let text = format!(
        "SELECT {} {} WHERE {} = $1",
        source.select_list(),
        source.table_expression(&all_tables()),
        source.expr(&fields::U_ID)
    );
    SqlQuery { text, args: vec![Arg::Int8(id)] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::Cell;
    use crate::params::{parse_list_request, RawParams};

    fn offset_page_query(request: &ListRequest, context: &Context, offset: u64) -> SqlQuery {
        page_queries(request, context, Window::Offset { offset, limit: request.page_size }, Strategy::Ordered).remove(0)
    }

    fn keyset_page_queries(request: &ListRequest, context: &Context, position: Option<&Position>) -> Vec<SqlQuery> {
        page_queries(request, context, Window::Keyset { position }, Strategy::Ordered)
    }

    fn request(pairs: &[(&str, &str)]) -> ListRequest {
        let raw: RawParams = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_list_request(&raw).unwrap()
    }

    fn projection(resolutions: &[(&'static str, &str, Resolution)]) -> Context {
        Context {
            source: Source::Projection,
            resolutions: resolutions.iter().map(|(k, t, r)| ((*k, t.to_string()), r.clone())).collect(),
            matched: None,
        }
    }

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn default_count_reads_only_appuser_or_the_counter() {
        let q = count_query(&request(&[]), &Context::tables());
        assert_eq!(q.text, "SELECT count(*) FROM appuser u");
        assert!(q.args.is_empty());
        let q = count_query(&request(&[("page", "3")]), &projection(&[]));
        assert_eq!(q.text, "SELECT sum(n)::bigint FROM crm_contact_count");
    }

    #[test]
    fn values_are_bound_never_pasted() {
        let evil = "x'; DROP TABLE appuser; --";
        for context in [Context::tables(), projection(&[])] {
            let q = count_query(&request(&[("address__city", evil), ("search", evil)]), &context);
            assert!(!q.text.contains("DROP"), "{}", q.text);
            assert!(q.args.contains(&Arg::Text(evil.to_string())));
        }
        let q = count_query(&request(&[("address__city", evil)]), &Context::tables());
        assert!(q.text.contains("LEFT JOIN address a") && !q.text.contains("customer_relationship"), "{}", q.text);
    }

    #[test]
    fn filters_become_comparisons() {
        let r = request(&[
            ("gender", "M"),
            ("relationship__points__gte", "5000"),
            ("address__country__icontains", "United"),
        ]);
        let q = count_query(&r, &Context::tables());
        assert_eq!(
            q.text,
            "SELECT count(*) FROM appuser u LEFT JOIN address a ON a.id = u.address_id \
             LEFT JOIN customer_relationship r ON r.appuser_id = u.id \
             WHERE a.country ILIKE $1 AND u.gender = $2 AND r.points >= $3"
        );
        assert_eq!(q.args, [Arg::Text("%United%".into()), Arg::Text("M".into()), Arg::Int8(5000)]);
        let resolved = Resolution::Values(vec!["United Kingdom".into(), "United States".into()]);
        let q = count_query(&r, &projection(&[("country", "United", resolved)]));
        assert_eq!(
            q.text,
            "SELECT count(*) FROM crm_contact_flat f WHERE f.country = ANY($1) AND f.gender = $2 AND f.points >= $3"
        );
        assert_eq!(q.args[0], Arg::TextArray(vec!["United Kingdom".into(), "United States".into()]));
    }

    #[test]
    fn unresolvable_or_unmatched_patterns() {
        let r = request(&[("first_name__icontains", "zz")]);
        let q = count_query(&r, &projection(&[("first_name", "zz", Resolution::Values(vec![]))]));
        assert!(q.text.ends_with("WHERE FALSE"), "{}", q.text);
        let q = count_query(&r, &projection(&[("first_name", "zz", Resolution::TooMany)]));
        assert!(
            q.text.ends_with(
                "WHERE f.first_name IN (SELECT d.value FROM crm_dictionary d \
                 WHERE d.field = 'first_name' AND d.value ILIKE $1)"
            ),
            "{}",
            q.text
        );
        // Many-valued columns are always matched with ILIKE.
        let q = count_query(&request(&[("customer_id__icontains", "AB")]), &projection(&[]));
        assert!(q.text.ends_with("WHERE f.customer_id ILIKE $1"), "{}", q.text);
    }

    #[test]
    fn name_matches_either_column_with_one_argument() {
        let q = count_query(&request(&[("name", "pau")]), &Context::tables());
        assert!(q.text.ends_with("WHERE (u.first_name ILIKE $1 OR u.last_name ILIKE $1)"), "{}", q.text);
        assert_eq!(q.args.len(), 1);
    }

    #[test]
    fn search_requires_every_term_over_every_search_field() {
        let q = count_query(&request(&[("search", "paul berlin")]), &Context::tables());
        assert_eq!(q.text.matches("u.first_name ILIKE").count(), 2);
        assert!(q.text.contains(") AND ("));
        assert_eq!(q.args, [Arg::Text("%paul%".into()), Arg::Text("%berlin%".into())]);
        let r = request(&[("search", "paul")]);
        let wanted = patterns_to_resolve(&r);
        assert_eq!(wanted.len(), 5, "{wanted:?}");
        let ctx = projection(&[
            ("first_name", "paul", Resolution::Values(vec!["Paul".into()])),
            ("last_name", "paul", Resolution::Values(vec![])),
            ("street", "paul", Resolution::Values(vec!["Paul Lane".into()])),
            ("city", "paul", Resolution::TooMany),
            ("country", "paul", Resolution::Values(vec![])),
        ]);
        let q = count_query(&r, &ctx);
        // Each field its own branch (and index), united.
        let branch = |cond: &str| format!("SELECT f.id FROM crm_contact_flat f WHERE {cond}");
        let branches = [
            "f.first_name = ANY($1)",
            "f.customer_id ILIKE $2",
            "f.phone_number ILIKE $2",
            "f.street = ANY($3)",
            "f.city IN (SELECT d.value FROM crm_dictionary d WHERE d.field = 'city' AND d.value ILIKE $2)",
        ];
        let union: Vec<String> = branches.iter().map(|b| branch(b)).collect();
        assert_eq!(q.text, format!("SELECT count(*) FROM (({})) m", union.join(" UNION ")));
        // Two terms intersect; other conditions go into every branch.
        let r = request(&[("search", "paul anna"), ("gender", "F")]);
        let q = count_query(&r, &projection(&[]));
        assert_eq!(q.text.matches(" INTERSECT ").count(), 1, "{}", q.text);
        assert_eq!(q.text.matches("f.gender = $1").count(), 14, "{}", q.text);
    }

    #[test]
    fn out_of_range_integers_decide_the_comparison() {
        let q = count_query(&request(&[("id", "99999999999999999999")]), &Context::tables());
        assert!(q.text.ends_with("WHERE FALSE"), "{}", q.text);
        let q = count_query(&request(&[("relationship__points__lt", "99999999999999999999")]), &Context::tables());
        assert!(q.text.ends_with("WHERE r.points IS NOT NULL"), "{}", q.text);
        let q = count_query(&request(&[("relationship__points__gt", "-99999999999999999999")]), &Context::tables());
        assert!(q.text.ends_with("WHERE r.points IS NOT NULL"), "{}", q.text);
    }

    #[test]
    fn ordering_is_completed_by_id() {
        let order =
            |pairs: &[(&str, &str)]| order_by_sql(&complete_ordering(&request(pairs)), |c| Source::Tables.expr(c));
        assert_eq!(order(&[]), "u.created DESC, u.id DESC");
        assert_eq!(order(&[("ordering", "address__city")]), "a.city, u.id");
        assert_eq!(
            order(&[("ordering", "-relationship__points,last_name,first_name")]),
            "r.points DESC, u.last_name, u.first_name, u.id"
        );
        assert_eq!(order(&[("ordering", "-id,created")]), "u.id DESC, u.created");
    }

    #[test]
    fn offset_pages_bind_limit_and_offset() {
        let q = offset_page_query(&request(&[("page_size", "10")]), &Context::tables(), 20);
        assert!(q.text.starts_with("SELECT u.id AS id, u.first_name AS first_name"), "{}", q.text);
        assert!(q.text.ends_with("ORDER BY u.created DESC, u.id DESC LIMIT $1 OFFSET $2"), "{}", q.text);
        assert_eq!(q.args, [Arg::Int8(10), Arg::Int8(20)]);
        let q = offset_page_query(&request(&[]), &projection(&[]), 0);
        assert!(
            q.text.starts_with("SELECT f.id, f.first_name,")
                && q.text.contains("FROM crm_contact_flat f ORDER BY f.created DESC, f.id DESC"),
            "{}",
            q.text
        );
    }

    #[test]
    fn pages_near_the_end_are_read_backward() {
        let q =
            page_queries(&request(&[]), &Context::tables(), Window::FromEnd { offset: 3, limit: 7 }, Strategy::Ordered)
                .remove(0);
        assert!(q.text.ends_with("ORDER BY u.created, u.id LIMIT $1 OFFSET $2"), "{}", q.text);
        assert_eq!(q.args, [Arg::Int8(7), Arg::Int8(3)]);
    }

    #[test]
    fn collected_and_skipping_pages_sort_ids_first_then_read_rows() {
        let r = request(&[("first_name__icontains", "pau")]);
        let ctx = projection(&[("first_name", "pau", Resolution::Values(vec!["Paul".into()]))]);
        let q = page_queries(&r, &ctx, Window::Offset { offset: 0, limit: 50 }, Strategy::Materialize).remove(0);
        assert!(
            q.text.ends_with(
                "FROM crm_contact_flat f JOIN (WITH m AS MATERIALIZED (SELECT f.id, f.created FROM crm_contact_flat f \
                 WHERE f.first_name = ANY($1)) SELECT * FROM m ORDER BY m.created DESC, m.id DESC LIMIT $2 OFFSET $3) p \
                 ON p.id = f.id ORDER BY p.created DESC, p.id DESC"
            ),
            "{}",
            q.text
        );
        let q =
            page_queries(&request(&[]), &ctx, Window::Offset { offset: 100, limit: 50 }, Strategy::Ordered).remove(0);
        assert!(
            q.text.ends_with(
                "JOIN (SELECT f.id, f.created FROM crm_contact_flat f ORDER BY f.created DESC, f.id DESC \
                 LIMIT $1 OFFSET $2) p ON p.id = f.id ORDER BY p.created DESC, p.id DESC"
            ),
            "{}",
            q.text
        );
    }

    fn position(values: Vec<Cell>, direction: Direction) -> Position {
        Position { values, direction }
    }

    #[test]
    fn keyset_on_non_null_columns_is_a_row_comparison() {
        let r = request(&[("gender", "F")]);
        let p = position(vec![Cell::Timestamp(5), Cell::Int(9)], Direction::Forward);
        let q = keyset_page_queries(&r, &projection(&[]), Some(&p));
        assert_eq!(q.len(), 1);
        assert!(
            q[0].text.ends_with(
                "FROM crm_contact_flat f WHERE f.gender = $1 AND (f.created, f.id) < ($2, $3) \
                 ORDER BY f.created DESC, f.id DESC LIMIT $4"
            ),
            "{}",
            q[0].text
        );
        assert_eq!(q[0].args[3], Arg::Int8(51));
        // Backward flips the ordering.
        let p = position(vec![Cell::Timestamp(5), Cell::Int(9)], Direction::Backward);
        let q = keyset_page_queries(&r, &projection(&[]), Some(&p));
        assert!(q[0].text.contains("(f.created, f.id) > ($2, $3) ORDER BY f.created, f.id LIMIT"), "{}", q[0].text);
        // The first page has no position.
        let q = keyset_page_queries(&r, &projection(&[]), None);
        assert!(
            q[0].text.ends_with("WHERE f.gender = $1 ORDER BY f.created DESC, f.id DESC LIMIT $2"),
            "{}",
            q[0].text
        );
    }

    #[test]
    fn keyset_on_nullable_columns_splits_null_and_non_null_parts() {
        let r = request(&[("ordering", "address__city")]);
        let ctx = projection(&[]);
        let p = position(vec![Cell::Text("Oslo".into()), Cell::Int(3)], Direction::Forward);
        let q = keyset_page_queries(&r, &ctx, Some(&p));
        assert_eq!(q.len(), 2);
        assert!(
            q[0].text
                .contains("WHERE f.city >= $1 AND (((f.city > $1 OR f.city IS NULL)) OR (f.city = $1 AND f.id > $2))"),
            "{}",
            q[0].text
        );
        assert!(q[1].text.contains("WHERE f.city IS NULL ORDER BY f.city, f.id"), "{}", q[1].text);
        let p = position(vec![Cell::Null, Cell::Int(3)], Direction::Forward);
        let q = keyset_page_queries(&r, &ctx, Some(&p));
        assert_eq!(q.len(), 1);
        assert!(q[0].text.contains("WHERE f.city IS NULL AND (f.id > $1) ORDER BY"), "{}", q[0].text);
        // Descending from NULL: the rest of the NULLs, then all the rest.
        let r = request(&[("ordering", "-address__city")]);
        let q = keyset_page_queries(&r, &ctx, Some(&p));
        assert_eq!(q.len(), 2);
        assert!(
            q[0].text.contains("WHERE f.city IS NULL AND (f.id < $1) ORDER BY f.city DESC, f.id DESC"),
            "{}",
            q[0].text
        );
        assert!(q[1].text.contains("WHERE f.city IS NOT NULL ORDER BY"), "{}", q[1].text);
    }
}
