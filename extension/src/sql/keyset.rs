//! Keyset conditions: the rows after a position in an ordering, written so
//! that an index on the ordering's columns can read them as a range.

use super::binding::{Arg, Binder};
use super::filters::or_all;
use crate::contact::Cell;

pub fn cell_arg(cell: &Cell) -> Option<Arg> {
    match cell {
        Cell::Null => None,
        Cell::Int(v) => Some(Arg::Int8(*v)),
        Cell::Text(s) => Some(Arg::Text(s.clone())),
        Cell::Timestamp(t) => Some(Arg::Timestamptz(*t)),
        Cell::Date(d) => Some(Arg::Date(*d)),
    }
}

/// One term of an ordering with the position's value for it.
pub struct Bound {
    pub expr: String,
    pub descending: bool,
    pub nullable: bool,
    /// The placeholder of the position's value, `None` for NULL.
    pub value: Option<String>,
}

impl Bound {
    pub fn new(expr: String, descending: bool, nullable: bool, cell: &Cell, binder: &mut Binder) -> Self {
        Bound { expr, descending, nullable, value: cell_arg(cell).map(|arg| binder.bind(arg)) }
    }

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
            alternatives.push(format!("({})", parts.join(" AND ")));
        }
    }
    or_all(alternatives)
}

/// The conditions, in reading order, that together select the rows after a
/// position. A position on a nullable leading column splits the ordering in
/// its NULL and non-NULL parts so that each part is a plain index range.
pub fn segments(bounds: &[Bound]) -> Vec<String> {
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
    let same_group = || format!("{} AND {}", lead.equal(), after_position(&bounds[1..]));
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
