//! Queries over the set of matches: its number (exact, up to a cap, or
//! with a page of it in one pass), the set itself for the planner, the ids
//! among a candidate set, and the projection's counter.

use super::binding::{Arg, Binder, SqlQuery};
use super::filters::{contains_pattern, where_sql, Clause, Context, WhereBuilder};
use super::source::{order_by_sql, Source};
use crate::fields::Column;
use crate::objects;
use crate::params::{complete_ordering, ListRequest};

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

/// `SELECT array_agg(id)` of the projection's contacts that match the request.
pub fn ids_query(request: &ListRequest, context: &Context) -> SqlQuery {
    let builder = WhereBuilder::new(context).request(request);
    SqlQuery {
        text: format!("SELECT array_agg(f.id) FROM {} f{}", objects::FLAT, where_sql(&builder.flat_clauses())),
        args: builder.binder.args,
    }
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
    let SqlQuery { text: set, mut args } = match_set_query(request, context);
    args.push(Arg::Int8(cap.min(i64::MAX as u64) as i64));
    SqlQuery { text: format!("SELECT count(*) FROM ({set} LIMIT ${}) m", args.len()), args }
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
pub(super) fn projection_set(clauses: &[Clause], columns: &[&str]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::test_support::{projection, request};

    #[test]
    fn counting_up_to_a_cap_reads_the_requests_source() {
        let r = request(&[("gender", "F")]);
        let q = count_up_to_query(&r, &Context::tables(), 10);
        assert_eq!(q.text, "SELECT count(*) FROM (SELECT 1 FROM appuser u WHERE u.gender = $1 LIMIT $2) m");
        assert_eq!(q.args, [Arg::Text("F".into()), Arg::Int8(10)]);
        let q = count_up_to_query(&r, &projection(&[]), 10);
        assert_eq!(q.text, "SELECT count(*) FROM (SELECT f.id FROM crm_contact_flat f WHERE f.gender = $1 LIMIT $2) m");
    }

    #[test]
    fn default_count_reads_only_appuser_or_the_counter() {
        let q = count_query(&request(&[]), &Context::tables());
        assert_eq!(q.text, "SELECT count(*) FROM appuser u");
        assert!(q.args.is_empty());
        let q = count_query(&request(&[("page", "3")]), &projection(&[]));
        assert_eq!(q.text, "SELECT sum(n)::bigint FROM crm_contact_count");
    }
}
