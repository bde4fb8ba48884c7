//! SQL generation. Identifiers come only from the tables in `fields`; every
//! client value becomes a bound parameter (`$n`), never text in the query.

use std::collections::BTreeSet;

use crate::fields::{self, Column, Lookup, Table};
use crate::params::{self, Filter, ListRequest, OrderTerm, Value};
use crate::values::IntegerLiteral;

/// A bound parameter, typed as PostgreSQL will receive it.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int8(i64),
    Text(String),
    /// Microseconds since 2000-01-01 UTC.
    Timestamptz(i64),
    /// Days since 2000-01-01.
    Date(i32),
}

/// SQL text with its arguments. The text depends only on the shape of the
/// request (which filters, which ordering), never on values, so it is a good
/// key for cached plans.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlQuery {
    pub text: String,
    pub args: Vec<Arg>,
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

/// The WHERE conditions of a list request and the tables they read.
struct Conditions {
    clauses: Vec<String>,
    tables: BTreeSet<Table>,
}

impl Conditions {
    fn build(request: &ListRequest, binder: &mut Binder) -> Self {
        let mut conditions = Conditions { clauses: Vec::new(), tables: BTreeSet::new() };
        for filter in &request.filters {
            let clause = filter_clause(filter, binder);
            conditions.tables.extend(filter.field.columns.iter().map(|c| c.table));
            conditions.clauses.push(clause);
        }
        for term in &request.search_terms {
            let placeholder = binder.bind(Arg::Text(contains_pattern(term)));
            let alternatives: Vec<String> = fields::search_columns()
                .map(|c| {
                    conditions.tables.insert(c.table);
                    format!("{} ILIKE {placeholder}", c.qualified())
                })
                .collect();
            conditions.clauses.push(format!("({})", alternatives.join(" OR ")));
        }
        conditions
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
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

fn filter_clause(filter: &Filter, binder: &mut Binder) -> String {
    let columns = filter.field.columns;
    match &filter.value {
        // `name` matches when any of its columns does.
        Value::Text(text) if filter.lookup == Lookup::Icontains => {
            let placeholder = binder.bind(Arg::Text(contains_pattern(text)));
            let alternatives: Vec<String> =
                columns.iter().map(|c| format!("{} ILIKE {placeholder}", c.qualified())).collect();
            if alternatives.len() == 1 {
                alternatives.into_iter().next().unwrap_or_default()
            } else {
                format!("({})", alternatives.join(" OR "))
            }
        }
        Value::Integer(literal) => integer_clause(&columns[0], filter.lookup, *literal, binder),
        value => {
            let arg = match value {
                Value::Text(t) => Arg::Text(t.clone()),
                Value::Timestamp(t) => Arg::Timestamptz(*t),
                Value::Date(d) => Arg::Date(*d),
                Value::Integer(_) => unreachable!("handled above"),
            };
            format!("{} {} {}", columns[0].qualified(), comparison_operator(filter.lookup), binder.bind(arg))
        }
    }
}

/// Integers beyond bigint decide the comparison on their own: nothing equals
/// them, and every non-NULL value lies on one side.
fn integer_clause(column: &Column, lookup: Lookup, literal: IntegerLiteral, binder: &mut Binder) -> String {
    let col = column.qualified();
    match (literal, lookup) {
        (IntegerLiteral::InRange(v), _) => {
            format!("{col} {} {}", comparison_operator(lookup), binder.bind(Arg::Int8(v)))
        }
        (IntegerLiteral::AboveMax, Lookup::Lt | Lookup::Lte) | (IntegerLiteral::BelowMin, Lookup::Gt | Lookup::Gte) => {
            format!("{col} IS NOT NULL")
        }
        _ => "FALSE".to_string(),
    }
}

/// ORDER BY terms, completed by the contact id so the order is total and
/// consecutive pages can neither overlap nor skip a row. NULLs sort as
/// PostgreSQL's default: last ascending, first descending.
pub fn order_by(request: &ListRequest) -> (String, BTreeSet<Table>) {
    let mut terms: Vec<OrderTerm> =
        if request.ordering.is_empty() { params::default_ordering() } else { request.ordering.clone() };
    let id = fields::field_by_name("id").expect("id is a field");
    if !terms.iter().any(|t| t.field.name == id.name) {
        let descending = terms.last().is_some_and(|t| t.descending);
        terms.push(OrderTerm { field: id, descending });
    }
    let tables = terms.iter().map(|t| t.field.column().table).collect();
    let sql = terms
        .iter()
        .map(|t| format!("{}{}", t.field.column().qualified(), if t.descending { " DESC" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ");
    (sql, tables)
}

fn from_clause(tables: &BTreeSet<Table>) -> String {
    let mut sql = String::from("FROM appuser u");
    for join in tables.iter().filter_map(|t| t.join()) {
        sql.push(' ');
        sql.push_str(join);
    }
    sql
}

/// `u.id AS id, …, r.last_activity AS last_activity`: the contact's columns
/// in output order.
pub fn contact_select_list() -> String {
    fields::CONTACT.iter().map(|o| format!("{} AS {}", o.column.qualified(), o.key)).collect::<Vec<_>>().join(", ")
}

fn all_tables() -> BTreeSet<Table> {
    Table::ALL.into_iter().collect()
}

/// The exact number of contacts matching the request's filters and search.
pub fn count_query(request: &ListRequest) -> SqlQuery {
    let mut binder = Binder::default();
    let conditions = Conditions::build(request, &mut binder);
    let text = format!("SELECT count(*) {}{}", from_clause(&conditions.tables), conditions.where_sql());
    SqlQuery { text, args: binder.args }
}

/// One page of contacts in the requested order.
pub fn page_query(request: &ListRequest, offset: u64) -> SqlQuery {
    let mut binder = Binder::default();
    let conditions = Conditions::build(request, &mut binder);
    let (order_sql, _) = order_by(request);
    let limit = binder.bind(Arg::Int8(request.page_size as i64));
    let offset = binder.bind(Arg::Int8(offset.min(i64::MAX as u64) as i64));
    let text = format!(
        "SELECT {} {}{} ORDER BY {order_sql} LIMIT {limit} OFFSET {offset}",
        contact_select_list(),
        from_clause(&all_tables()),
        conditions.where_sql(),
    );
    SqlQuery { text, args: binder.args }
}

/// One contact by id.
pub fn detail_query(id: i64) -> SqlQuery {
    let text = format!("SELECT {} {} WHERE u.id = $1", contact_select_list(), from_clause(&all_tables()));
    SqlQuery { text, args: vec![Arg::Int8(id)] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse_list_request, RawParams};

    fn request(pairs: &[(&str, &str)]) -> ListRequest {
        let raw: RawParams = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_list_request(&raw).unwrap()
    }

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn default_count_reads_only_appuser() {
        let q = count_query(&request(&[]));
        assert_eq!(q.text, "SELECT count(*) FROM appuser u");
        assert!(q.args.is_empty());
    }

    #[test]
    fn values_are_bound_never_pasted() {
        let evil = "x'; DROP TABLE appuser; --";
        let q = count_query(&request(&[("address__city", evil), ("search", evil)]));
        assert!(!q.text.contains("DROP"), "{}", q.text);
        assert!(q.args.contains(&Arg::Text(evil.to_string())));
        assert!(q.text.contains("LEFT JOIN address a"));
        assert!(!q.text.contains("customer_relationship"));
    }

    #[test]
    fn filters_become_comparisons() {
        let q = count_query(&request(&[
            ("gender", "M"),
            ("relationship__points__gte", "5000"),
            ("address__country__icontains", "United"),
        ]));
        assert_eq!(
            q.text,
            "SELECT count(*) FROM appuser u LEFT JOIN address a ON a.id = u.address_id \
             LEFT JOIN customer_relationship r ON r.appuser_id = u.id \
             WHERE a.country ILIKE $1 AND u.gender = $2 AND r.points >= $3"
        );
        assert_eq!(q.args, [Arg::Text("%United%".into()), Arg::Text("M".into()), Arg::Int8(5000)]);
    }

    #[test]
    fn name_matches_either_column_with_one_argument() {
        let q = count_query(&request(&[("name", "pau")]));
        assert!(q.text.ends_with("WHERE (u.first_name ILIKE $1 OR u.last_name ILIKE $1)"), "{}", q.text);
        assert_eq!(q.args.len(), 1);
    }

    #[test]
    fn search_requires_every_term() {
        let q = count_query(&request(&[("search", "paul berlin")]));
        assert_eq!(q.text.matches("u.first_name ILIKE").count(), 2);
        assert!(q.text.contains(") AND ("));
        assert_eq!(q.args, [Arg::Text("%paul%".into()), Arg::Text("%berlin%".into())]);
    }

    #[test]
    fn out_of_range_integers_decide_the_comparison() {
        let q = count_query(&request(&[("id", "99999999999999999999")]));
        assert!(q.text.ends_with("WHERE FALSE"), "{}", q.text);
        let q = count_query(&request(&[("relationship__points__lt", "99999999999999999999")]));
        assert!(q.text.ends_with("WHERE r.points IS NOT NULL"), "{}", q.text);
        let q = count_query(&request(&[("relationship__points__gt", "-99999999999999999999")]));
        assert!(q.text.ends_with("WHERE r.points IS NOT NULL"), "{}", q.text);
    }

    #[test]
    fn ordering_is_completed_by_id() {
        assert_eq!(order_by(&request(&[])).0, "u.created DESC, u.id DESC");
        assert_eq!(order_by(&request(&[("ordering", "address__city")])).0, "a.city, u.id");
        assert_eq!(
            order_by(&request(&[("ordering", "-relationship__points,last_name,first_name")])).0,
            "r.points DESC, u.last_name, u.first_name, u.id"
        );
        assert_eq!(order_by(&request(&[("ordering", "-id,created")])).0, "u.id DESC, u.created");
    }

    #[test]
    fn page_query_binds_limit_and_offset() {
        let q = page_query(&request(&[("page_size", "10")]), 20);
        assert!(q.text.starts_with("SELECT u.id AS id, u.first_name AS first_name"), "{}", q.text);
        assert!(q.text.ends_with("ORDER BY u.created DESC, u.id DESC LIMIT $1 OFFSET $2"), "{}", q.text);
        assert_eq!(q.args, [Arg::Int8(10), Arg::Int8(20)]);
    }
}
