//! SQL generation. Identifiers come only from the tables in `fields`; every
//! client value becomes a bound parameter (`$n`), never text in the query.
//!
//! Queries read one of two sources: the application's tables (joined as the
//! original did) or, when the active variant has it, the projection, where a
//! contact is one row and every filter, ordering and count can be served by
//! an index of a single table.

use std::collections::{BTreeSet, HashMap};

use crate::contact::Cell;
use crate::cursor::{Direction, Position};
use crate::fields::{self, Column, Lookup, Table};
use crate::params::{complete_ordering, Filter, ListRequest, OrderTerm, Value};
use crate::projection;
use crate::values::IntegerLiteral;

/// A bound parameter, typed as PostgreSQL will receive it.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int8(i64),
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
            Source::Projection => format!("FROM {} f", projection::FLAT),
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

/// How a request is turned into SQL: the source and, for the projection,
/// what the dictionary said about the request's patterns.
pub struct Context {
    pub source: Source,
    pub resolutions: Resolutions,
}

impl Context {
    pub fn tables() -> Self {
        Context { source: Source::Tables, resolutions: Resolutions::new() }
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
struct Binder {
    args: Vec<Arg>,
}

impl Binder {
    fn bind(&mut self, arg: Arg) -> String {
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

/// Builds the WHERE clause of a request for a context.
struct WhereBuilder<'a> {
    context: &'a Context,
    binder: Binder,
    clauses: Vec<String>,
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

    /// `column contains text`, for each column, ORed: equality with the
    /// dictionary's values where resolved, ILIKE otherwise (one argument).
    fn contains_any(&mut self, columns: &[Column], text: &str) -> String {
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
                Some(Resolution::TooMany) | None => {
                    let placeholder = match &pattern {
                        Some(p) => p.clone(),
                        None => {
                            let p = self.binder.bind(Arg::Text(contains_pattern(text)));
                            pattern = Some(p.clone());
                            p
                        }
                    };
                    alternatives.push(format!("{expr} ILIKE {placeholder}"));
                }
            }
        }
        or_all(alternatives)
    }

    fn filter(&mut self, filter: &Filter) {
        let column = filter.field.column();
        let clause = match &filter.value {
            Value::Text(text) if filter.lookup == Lookup::Icontains => self.contains_any(filter.field.columns, text),
            Value::Integer(literal) => {
                let expr = self.expr(&column);
                match (literal, filter.lookup) {
                    (IntegerLiteral::InRange(v), lookup) => {
                        format!("{expr} {} {}", comparison_operator(lookup), self.binder.bind(Arg::Int8(*v)))
                    }
                    // Beyond bigint nothing is equal, and every non-NULL value
                    // lies on one side.
                    (IntegerLiteral::AboveMax, Lookup::Lt | Lookup::Lte)
                    | (IntegerLiteral::BelowMin, Lookup::Gt | Lookup::Gte) => format!("{expr} IS NOT NULL"),
                    _ => "FALSE".to_string(),
                }
            }
            value => {
                let arg = match value {
                    Value::Timestamp(t) => Arg::Timestamptz(*t),
                    Value::Date(d) => Arg::Date(*d),
                    Value::Text(t) => Arg::Text(t.clone()),
                    Value::Integer(_) => unreachable!("handled above"),
                };
                let expr = self.expr(&column);
                format!("{expr} {} {}", comparison_operator(filter.lookup), self.binder.bind(arg))
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
        for filter in &request.filters {
            self.filter(filter);
        }
        for term in &request.search_terms {
            self.search_term(term);
        }
        self
    }

    fn where_sql(&self) -> String {
        where_sql(&self.clauses)
    }
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// ORDER BY text; NULLs as PostgreSQL's default (last ascending, first
/// descending), which is also what an index scan gives in either direction.
fn order_by_sql(terms: &[OrderTerm], source: Source) -> String {
    terms
        .iter()
        .map(|t| format!("{}{}", source.expr(&t.field.column()), if t.descending { " DESC" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_tables() -> BTreeSet<Table> {
    Table::ALL.into_iter().collect()
}

/// The exact number of contacts matching the request's filters and search.
pub fn count_query(request: &ListRequest, context: &Context) -> SqlQuery {
    let builder = WhereBuilder::new(context).request(request);
    if builder.clauses.is_empty() && context.source == Source::Projection {
        // Kept by the projection's triggers: no scan.
        let text = format!("SELECT sum(n)::bigint FROM {}", projection::COUNTER);
        return SqlQuery { text, args: Vec::new() };
    }
    let text = format!("SELECT count(*) {}{}", context.source.table_expression(&builder.tables), builder.where_sql());
    SqlQuery { text, args: builder.binder.args }
}

/// One page of contacts by offset (page-number pagination).
pub fn offset_page_query(request: &ListRequest, context: &Context, offset: u64) -> SqlQuery {
    let mut builder = WhereBuilder::new(context).request(request);
    let order = order_by_sql(&complete_ordering(request), context.source);
    let limit = builder.binder.bind(Arg::Int8(request.page_size as i64));
    let offset = builder.binder.bind(Arg::Int8(offset.min(i64::MAX as u64) as i64));
    let text = format!(
        "SELECT {} {}{} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
        context.source.select_list(),
        context.source.table_expression(&all_tables()),
        builder.where_sql(),
    );
    SqlQuery { text, args: builder.binder.args }
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

fn cell_arg(cell: &Cell) -> Option<Arg> {
    match cell {
        Cell::Null => None,
        Cell::Int(v) => Some(Arg::Int8(*v)),
        Cell::Text(s) => Some(Arg::Text(s.clone())),
        Cell::Timestamp(t) => Some(Arg::Timestamptz(*t)),
        Cell::Date(d) => Some(Arg::Date(*d)),
    }
}

/// One term of an ordering with the position's value for it.
struct Bound {
    expr: String,
    descending: bool,
    nullable: bool,
    /// The placeholder of the position's value, `None` for NULL.
    value: Option<String>,
}

impl Bound {
    fn equal(&self) -> String {
        match &self.value {
            Some(v) => format!("{} = {v}", self.expr),
            None => format!("{} IS NULL", self.expr),
        }
    }

    /// Strictly after the position in this term's order; `None` when nothing
    /// can be (after NULL, ascending: NULLs come last).
    fn after(&self) -> Option<String> {
        match (&self.value, self.descending) {
            (Some(v), false) if self.nullable => Some(format!("({} > {v} OR {} IS NULL)", self.expr, self.expr)),
            (Some(v), false) => Some(format!("{} > {v}", self.expr)),
            (Some(v), true) => Some(format!("{} < {v}", self.expr)),
            (None, false) => None,
            (None, true) => Some(format!("{} IS NOT NULL", self.expr)),
        }
    }
}

/// `(t1 after) OR (t1 = AND t2 after) OR …`: rows after the position.
fn after_position(bounds: &[Bound]) -> String {
    let mut alternatives = Vec::new();
    for (i, bound) in bounds.iter().enumerate() {
        if let Some(after) = bound.after() {
            let mut parts: Vec<String> = bounds[..i].iter().map(Bound::equal).collect();
            parts.push(after);
            alternatives.push(parts.join(" AND "));
        }
    }
    or_all(alternatives.into_iter().map(|a| format!("({a})")).collect())
}

/// The conditions, in reading order, that together select the rows after a
/// position. A position on a nullable leading column splits the ordering in
/// its NULL and non-NULL parts so that each part is a plain index range.
fn keyset_segments(bounds: &[Bound]) -> Vec<String> {
    let lead = &bounds[0];
    let all_plain = bounds.iter().all(|b| !b.nullable && b.value.is_some() && b.descending == lead.descending);
    if all_plain {
        // A row comparison is an index range on (c1, …, id).
        let exprs: Vec<&str> = bounds.iter().map(|b| b.expr.as_str()).collect();
        let values: Vec<&str> = bounds.iter().filter_map(|b| b.value.as_deref()).collect();
        let op = if lead.descending { "<" } else { ">" };
        return vec![format!("({}) {op} ({})", exprs.join(", "), values.join(", "))];
    }
    let after = after_position(bounds);
    let same_group = || {
        let rest = after_position(&bounds[1..]);
        format!("{} AND {rest}", lead.equal())
    };
    match (&lead.value, lead.descending, lead.nullable) {
        // Ascending, non-NULL: the rest of the non-NULL range, then the NULLs.
        (Some(v), false, true) => vec![format!("{} >= {v} AND {after}", lead.expr), format!("{} IS NULL", lead.expr)],
        (Some(v), false, false) => vec![format!("{} >= {v} AND {after}", lead.expr)],
        // Descending, non-NULL: NULLs came first, only smaller values remain.
        (Some(v), true, _) => vec![format!("{} <= {v} AND {after}", lead.expr)],
        // Ascending from NULL: only the NULL group's rest.
        (None, false, _) => vec![same_group()],
        // Descending from NULL: the NULL group's rest, then every non-NULL.
        (None, true, _) => vec![same_group(), format!("{} IS NOT NULL", lead.expr)],
    }
}

/// The queries of a keyset page: each reads `page_size + 1` rows (one more
/// tells whether there is a next page) in the reading order; run them in
/// turn until enough rows are read. Reading backward flips the ordering;
/// the caller flips the rows back. All share the same arguments.
pub fn keyset_page_queries(request: &ListRequest, context: &Context, position: Option<&Position>) -> Vec<SqlQuery> {
    let mut terms = complete_ordering(request);
    if position.is_some_and(|p| p.direction == Direction::Backward) {
        for t in &mut terms {
            t.descending = !t.descending;
        }
    }
    let mut builder = WhereBuilder::new(context).request(request);
    let conditions: Vec<Option<String>> = match position {
        None => vec![None],
        Some(position) => {
            let bounds: Vec<Bound> = terms
                .iter()
                .zip(&position.values)
                .map(|(t, cell)| {
                    let column = t.field.column();
                    Bound {
                        expr: context.source.expr(&column),
                        descending: t.descending,
                        nullable: column.nullable,
                        value: cell_arg(cell).map(|arg| builder.binder.bind(arg)),
                    }
                })
                .collect();
            keyset_segments(&bounds).into_iter().map(Some).collect()
        }
    };
    let limit = builder.binder.bind(Arg::Int8(request.page_size as i64 + 1));
    let order = order_by_sql(&terms, context.source);
    conditions
        .into_iter()
        .map(|condition| {
            let mut clauses = builder.clauses.clone();
            clauses.extend(condition);
            SqlQuery {
                text: format!(
                    "SELECT {} {}{} ORDER BY {order} LIMIT {limit}",
                    context.source.select_list(),
                    context.source.table_expression(&all_tables()),
                    where_sql(&clauses),
                ),
                args: builder.binder.args.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse_list_request, RawParams};

    fn request(pairs: &[(&str, &str)]) -> ListRequest {
        let raw: RawParams = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_list_request(&raw).unwrap()
    }

    fn projection(resolutions: &[(&'static str, &str, Resolution)]) -> Context {
        Context {
            source: Source::Projection,
            resolutions: resolutions.iter().map(|(k, t, r)| ((*k, t.to_string()), r.clone())).collect(),
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
        assert!(q.text.ends_with("WHERE f.first_name ILIKE $1"), "{}", q.text);
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
        assert_eq!(
            q.text,
            "SELECT count(*) FROM crm_contact_flat f WHERE (f.first_name = ANY($1) OR f.customer_id ILIKE $2 \
             OR f.phone_number ILIKE $2 OR f.street = ANY($3) OR f.city ILIKE $2)"
        );
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
        let order = |pairs: &[(&str, &str)]| order_by_sql(&complete_ordering(&request(pairs)), Source::Tables);
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
                "WHERE f.gender = $1 AND (f.created, f.id) < ($2, $3) ORDER BY f.created DESC, f.id DESC LIMIT $4"
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
