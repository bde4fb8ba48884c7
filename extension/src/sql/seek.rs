//! Deep pages of the unfiltered projection under an ordering whose later
//! terms no index holds. `OFFSET n` would read n rows in full to sort them
//! by every term; instead, the first term's index is read alone (index-only)
//! to find the first term's values at the page, then only the rows with
//! those values are sorted by the whole ordering:
//!
//! 1. `boundary_query`: the first term's values at positions
//!    `offset .. offset + limit` (an index-only scan that skips `offset`);
//! 2. how many rows come before the first of them: seen among the values
//!    read just before the page (`LEAD`), else counted (`before_query`);
//! 3. `group_page_query`: the rows within those values, in full order,
//!    skipping the rows of the first value that precede the page.
//!
//! With a condition on the id alone (`crm._member(f.id)`, the postings'
//! matches), every step keeps to the same index entries: a walk whose
//! matches lie far into the ordering reads index entries, not rows.

use super::binding::{Arg, Binder, SqlQuery};
use super::source::{order_by_sql, Source};
use crate::contact::Cell;
use crate::objects;
use crate::params::OrderTerm;

use super::keyset::cell_arg;

fn expr(term: &OrderTerm) -> String {
    Source::Projection.expr(&term.field.column())
}

fn and(condition: Option<&str>) -> String {
    condition.map(|c| format!(" AND {c}")).unwrap_or_default()
}

/// The first term's values of the rows at `offset .. offset + limit`.
pub fn boundary_query(first: &OrderTerm, condition: Option<&str>, offset: u64, limit: u64) -> SqlQuery {
    let e = expr(first);
    let filter = condition.map(|c| format!(" WHERE {c}")).unwrap_or_default();
    let text = format!(
        "SELECT {e} FROM {} f{filter} ORDER BY {e}{} OFFSET $1 LIMIT $2",
        objects::FLAT,
        if first.descending { " DESC" } else { "" }
    );
    SqlQuery { text, args: vec![Arg::Int8(offset as i64), Arg::Int8(limit as i64)] }
}

/// The number of rows before the first row whose first term is `value`
/// (NULLs come last ascending, first descending).
pub fn before_query(first: &OrderTerm, condition: Option<&str>, value: &Cell) -> SqlQuery {
    let e = expr(first);
    let mut binder = Binder::default();
    let before = match (cell_arg(value), first.descending) {
        (None, false) => format!("{e} IS NOT NULL"),
        (None, true) => "FALSE".to_string(),
        (Some(v), false) => format!("{e} < {}", binder.bind(v)),
        (Some(v), true) => format!("({e} > {} OR {e} IS NULL)", binder.bind(v)),
    };
    SqlQuery {
        text: format!("SELECT count(*) FROM {} f WHERE {before}{}", objects::FLAT, and(condition)),
        args: binder.args,
    }
}

/// The rows whose first term lies from `from` to `to` (in reading order),
/// ordered by every term, `limit` of them after skipping `skip`.
pub fn group_page_query(
    terms: &[OrderTerm],
    condition: Option<&str>,
    from: &Cell,
    to: &Cell,
    skip: u64,
    limit: u64,
) -> SqlQuery {
    let first = &terms[0];
    let e = expr(first);
    let mut binder = Binder::default();
    // In reading order: ascending, values then NULLs; descending, NULLs then values.
    let (low, high) = if first.descending { (to, from) } else { (from, to) };
    let range = match (cell_arg(low), cell_arg(high)) {
        (Some(l), Some(h)) => format!("{e} BETWEEN {} AND {}", binder.bind(l), binder.bind(h)),
        // One end is NULL: the values on the other side of the range, and the NULLs.
        (Some(l), None) => format!("({e} >= {} OR {e} IS NULL)", binder.bind(l)),
        (None, Some(h)) => format!("({e} <= {} OR {e} IS NULL)", binder.bind(h)),
        (None, None) => format!("{e} IS NULL"),
    };
    let limit = binder.bind(Arg::Int8(limit as i64));
    let skip = binder.bind(Arg::Int8(skip as i64));
    let text = format!(
        "SELECT {} FROM {} f WHERE {range}{} ORDER BY {} LIMIT {limit} OFFSET {skip}",
        Source::Projection.select_list(),
        objects::FLAT,
        and(condition),
        order_by_sql(terms, |c| Source::Projection.expr(c))
    );
    SqlQuery { text, args: binder.args }
}

/// Values read before the page's (see `service::seek_rows`): the page's
/// first value usually begins among them, which tells how many rows come
/// before it without counting them.
pub const LEAD: u64 = 64;

/// From this offset on, seeking pays (below, OFFSET reads few rows).
/// The session setting `crm.seek_min_offset` overrides it (the tests
/// compare seeking with a reference on small tables).
pub const MIN_OFFSET: u64 = 10_000;

/// Whether seeking pays: a deep page, and terms after the first that its
/// index (first term, id) does not hold.
pub fn worth_it(terms: &[OrderTerm], offset: u64, min_offset: u64) -> bool {
    offset >= min_offset && !crate::params::first_index_orders(terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::field_by_name;

    fn term(name: &str, descending: bool) -> OrderTerm {
        OrderTerm { field: field_by_name(name).unwrap(), descending }
    }

    #[test]
    fn boundaries_read_the_first_terms_index_alone() {
        let q = boundary_query(&term("gender", true), None, 100, 50);
        assert_eq!(q.text, "SELECT f.gender FROM crm_contact_flat f ORDER BY f.gender DESC OFFSET $1 LIMIT $2");
        assert_eq!(q.args, [Arg::Int8(100), Arg::Int8(50)]);
    }

    #[test]
    fn rows_before_a_value_follow_null_placement() {
        let v = Cell::Text("F".into());
        assert!(before_query(&term("gender", false), None, &v).text.ends_with("WHERE f.gender < $1"));
        assert!(before_query(&term("gender", true), None, &v)
            .text
            .ends_with("WHERE (f.gender > $1 OR f.gender IS NULL)"));
        assert!(before_query(&term("gender", false), None, &Cell::Null).text.ends_with("WHERE f.gender IS NOT NULL"));
        assert!(before_query(&term("gender", true), None, &Cell::Null).text.ends_with("WHERE FALSE"));
    }

    #[test]
    fn the_group_range_spans_the_pages_first_values() {
        let terms = [term("address__city", true), term("created", false), term("id", false)];
        let (a, b) = (Cell::Text("Oslo".into()), Cell::Text("Bergen".into()));
        let q = group_page_query(&terms, None, &a, &b, 7, 50);
        assert!(
            q.text.contains("WHERE f.city BETWEEN $1 AND $2 ORDER BY f.city DESC, f.created, f.id LIMIT $3 OFFSET $4"),
            "{}",
            q.text
        );
        assert_eq!(q.args, [Arg::Text("Bergen".into()), Arg::Text("Oslo".into()), Arg::Int8(50), Arg::Int8(7)]);
        // Descending starts with the NULLs.
        let q = group_page_query(&terms, None, &Cell::Null, &b, 0, 50);
        assert!(q.text.contains("WHERE (f.city >= $1 OR f.city IS NULL)"), "{}", q.text);
        let asc = [term("address__city", false), term("id", true)];
        let q = group_page_query(&asc, None, &a, &Cell::Null, 0, 50);
        assert!(q.text.contains("WHERE (f.city >= $1 OR f.city IS NULL)"), "{}", q.text);
    }

    #[test]
    fn a_membership_condition_joins_every_step() {
        let m = Some("crm._member(f.id)");
        let q = boundary_query(&term("created", false), m, 0, 50);
        assert!(
            q.text.contains("FROM crm_contact_flat f WHERE crm._member(f.id) ORDER BY f.created OFFSET"),
            "{}",
            q.text
        );
        let q = before_query(&term("created", false), m, &Cell::Timestamp(5));
        assert!(q.text.ends_with("WHERE f.created < $1 AND crm._member(f.id)"), "{}", q.text);
        let q = group_page_query(&[term("created", false), term("id", false)], m, &Cell::Int(1), &Cell::Int(2), 0, 5);
        assert!(q.text.contains("BETWEEN $1 AND $2 AND crm._member(f.id) ORDER BY"), "{}", q.text);
    }

    #[test]
    fn only_deep_pages_of_orderings_beyond_an_index_seek() {
        let deep = [term("gender", false), term("address__city", false), term("id", false)];
        assert!(worth_it(&deep, 50_000, MIN_OFFSET));
        assert!(!worth_it(&deep, 500, MIN_OFFSET));
        assert!(worth_it(&deep, 500, 1));
        assert!(!worth_it(&[term("created", true), term("id", true)], 50_000, MIN_OFFSET));
        assert!(!worth_it(&[term("id", true), term("created", true)], 50_000, MIN_OFFSET));
    }
}
