//! The conditions of a request: its filters and search terms as WHERE
//! clauses for a context (the source, the dictionary's resolutions of its
//! patterns, the contacts the postings matched).

use std::collections::{BTreeSet, HashMap};

use super::binding::{Arg, Binder};
use super::source::Source;
use crate::fields::{self, Column, Lookup, Table};
use crate::objects;
use crate::params::{Filter, ListRequest, Value};
use crate::values::IntegerLiteral;

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
#[derive(Clone)]
pub struct Context {
    pub source: Source,
    pub resolutions: Resolutions,
    pub matched: Option<Matched>,
    /// Range conditions written as SQL whatever `matched` says: they bound
    /// the walk of an index (a slice of a page read through the postings'
    /// groups, `grouped`), the matches being known already.
    pub bounds: Vec<Filter>,
    /// Columns that must have a value (`IS NOT NULL`): a slice of the rows
    /// with one, whatever their value (`grouped::GroupKey::Present`).
    pub present: Vec<Column>,
}

impl Context {
    pub fn tables() -> Self {
        Context {
            source: Source::Tables,
            resolutions: Resolutions::new(),
            matched: None,
            bounds: Vec::new(),
            present: Vec::new(),
        }
    }

    /// The projection, patterns matched with ILIKE.
    pub fn projection() -> Self {
        Context {
            source: Source::Projection,
            resolutions: Resolutions::new(),
            matched: None,
            bounds: Vec::new(),
            present: Vec::new(),
        }
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

pub(super) fn or_all(alternatives: Vec<String>) -> String {
    match alternatives.len() {
        0 => "FALSE".to_string(),
        1 => alternatives.into_iter().next().unwrap_or_default(),
        _ => format!("({})", alternatives.join(" OR ")),
    }
}

/// One condition of the WHERE clause: the request's conditions are ANDed.
#[derive(Clone, Debug)]
pub(super) enum Clause {
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

    pub(super) fn sql(&self) -> String {
        match self {
            Clause::Simple(s) => s.clone(),
            Clause::AnyOf(alternatives) => or_all(alternatives.clone()),
        }
    }
}

/// Builds the conditions of a request for a context.
pub(super) struct WhereBuilder<'a> {
    context: &'a Context,
    pub(super) binder: Binder,
    pub(super) clauses: Vec<Clause>,
    pub(super) tables: BTreeSet<Table>,
}

impl<'a> WhereBuilder<'a> {
    pub(super) fn new(context: &'a Context) -> Self {
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

    pub(super) fn request(mut self, request: &ListRequest) -> Self {
        // Conditions already answered by the postings become one
        // membership condition.
        let matched = self.context.matched.clone();
        for filter in request.filters.iter().filter(|f| matched.is_none() || !crate::postings::answers(f)) {
            self.filter(filter);
        }
        for bound in self.context.bounds.clone() {
            self.filter(&bound);
        }
        for column in self.context.present.clone() {
            let expr = self.expr(&column);
            self.clauses.push(Clause::Simple(format!("{expr} IS NOT NULL")));
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

    pub(super) fn flat_clauses(&self) -> Vec<String> {
        self.clauses.iter().map(Clause::sql).collect()
    }
}

pub(super) fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// Whether the request has any condition at all.
pub fn has_conditions(request: &ListRequest) -> bool {
    !request.filters.is_empty() || !request.search_terms.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::count_query;
    use crate::sql::test_support::{projection, request};

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern(""), "%%");
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
}
