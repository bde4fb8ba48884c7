//! Pages of contacts (by offset, from the end, or by keyset) and one
//! contact by id.

use super::binding::{Arg, SqlQuery};
use super::count::projection_set;
use super::filters::{where_sql, Clause, Context, WhereBuilder};
use super::keyset;
use super::source::{all_tables, contact_select_list, order_by_sql, Source};
use crate::cursor::{Direction, Position};
use crate::fields;
use crate::objects;
use crate::params::{complete_ordering, ListRequest, OrderTerm};

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
                    // A membership test is checked on the ordering index's
                    // entries (index-only) when only ids are read first.
                    let member = matches!(context.matched, Some(super::filters::Matched::Member));
                    let skips = offset_value.is_some_and(|o| o > 0) || member;
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
    use crate::sql::test_support::{projection, request};
    use crate::sql::Resolution;

    fn offset_page_query(request: &ListRequest, context: &Context, offset: u64) -> SqlQuery {
        page_queries(request, context, Window::Offset { offset, limit: request.page_size }, Strategy::Ordered).remove(0)
    }

    fn keyset_page_queries(request: &ListRequest, context: &Context, position: Option<&Position>) -> Vec<SqlQuery> {
        page_queries(request, context, Window::Keyset { position }, Strategy::Ordered)
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
