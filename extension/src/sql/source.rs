//! Where contacts are read from: the joined tables or the projection, their
//! expressions, select lists and table expressions, and ORDER BY text.

use std::collections::BTreeSet;

use crate::fields::{self, Column, Table};
use crate::objects;
use crate::params::OrderTerm;

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

    pub(super) fn table_expression(self, tables: &BTreeSet<Table>) -> String {
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

    pub(super) fn select_list(self) -> String {
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

/// ORDER BY text over an expression per term; NULLs as PostgreSQL's
/// default (last ascending, first descending), which is also what an index
/// scan gives in either direction.
pub(super) fn order_by_sql(terms: &[OrderTerm], expr: impl Fn(&Column) -> String) -> String {
    terms
        .iter()
        .map(|t| format!("{}{}", expr(&t.field.column()), if t.descending { " DESC" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn all_tables() -> BTreeSet<Table> {
    Table::ALL.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::complete_ordering;
    use crate::sql::test_support::request;

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
}
