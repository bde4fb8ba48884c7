//! SQL generation. Identifiers come only from the tables in `fields`; every
//! client value becomes a bound parameter (`$n`), never text in the query.
//!
//! Queries read one of two sources: the application's tables (joined as the
//! original did) or, when the active variant has it, the projection, where a
//! contact is one row and every filter, ordering and count can be served by
//! an index of a single table.

mod binding;
mod count;
mod filters;
pub mod import;
mod keyset;
mod page;
pub mod seek;
mod source;
#[cfg(test)]
mod test_support;
pub mod write;

pub use binding::{Arg, Binder, SqlQuery};
pub use count::{
    column_contains_query, count_query, count_up_to_query, ids_among_query, ids_query, match_set_query, probe_query,
    stats_from_counter_query, total_query,
};
pub use filters::{
    contains_pattern, has_conditions, patterns_to_resolve, Context, Matched, Resolution, Resolutions,
    MAX_RESOLVED_VALUES,
};
pub use page::{detail_query, page_queries, Strategy, Window};
pub use source::{contact_select_list, Source};
