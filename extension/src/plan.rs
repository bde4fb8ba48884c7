//! The plan of a list request: every decision about how it is answered,
//! made as one value before any SQL text exists (PostgREST's Plan stage).
//! `service` gathers the facts (`Facts`: what the active variant provides,
//! the counter, what the postings matched), asks `plan` what to do, and
//! executes exactly that; `crm.explain` shows the plan beside the SQL.

use serde::Serialize;

use crate::params::{
    complete_ordering, first_index_orders, CountMode, ListRequest, PageRequest, ESTIMATED_COUNT_THRESHOLD,
};
use crate::sql::Source;

/// Up to this many matches found by the postings are bound as an id array
/// (read through the primary key); more are tested with `crm._member`.
pub const MAX_BOUND_IDS: u64 = 20_000;

/// What is known about a request before planning it.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub projection: bool,
    /// The number of contacts (the projection's counter).
    pub total: Option<u64>,
    /// The contacts the postings found for the conditions they answer
    /// (text, exact values, ranges: `postings::answers`).
    pub text_matches: Option<u64>,
    /// Whether conditions the postings do not answer remain (for SQL).
    pub other_conditions: bool,
    /// Whether the request has any condition at all.
    pub conditions: bool,
    /// Whether postings exist that divide the ordering's first term into
    /// groups (or it is the id): see `grouped`.
    pub grouped_order: bool,
    /// From this offset on, a page of every contact is deep: read through
    /// groups or by seeking (`sql::seek::MIN_OFFSET`, or the session's
    /// `crm.seek_min_offset`).
    pub deep_offset: u64,
}

/// How the conditions are matched: by the postings' bitmap, or in SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextMatching {
    /// No condition the postings could answer.
    None,
    /// Text patterns in SQL (ILIKE, dictionary values), no postings.
    Sql,
    /// The postings' bitmap, bound as ids.
    PostingsIds,
    /// The postings' bitmap, tested per row by `crm._member`.
    PostingsMember,
    /// The postings' bitmap, divided by the ordering's groups (`grouped`).
    PostingsGroups,
}

/// How the page's `count` is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum Counting {
    /// The projection's counter: no condition.
    Counter,
    /// The postings' bitmap is the whole answer: its size.
    Postings,
    /// Collect up to `cap` matches with the page (one statement); more
    /// than that: count them with a query.
    Collected { cap: u64 },
    /// `count(*)` of the matches.
    Query,
    /// Exact up to `threshold`, above it the planner's estimate.
    UpTo { threshold: u64 },
    /// The planner's estimate.
    Planned,
    /// No count (`"count": null`).
    Omitted,
}

/// How the page's rows are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// Walk an index in the requested order, filtering as it goes (read
    /// from the end when the page is past the middle of an exact count).
    Walk,
    /// Collect every match through the filters' indexes, sort, page.
    Collect,
    /// Decided by the matches' number: collect up to the limit, walk above.
    ByCount,
    /// Find where the page lies from the postings' groups of the ordering's
    /// leading terms, then read each group's part (`grouped`): the walk's
    /// cost without its worst case (matches deep in the ordering).
    Groups,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub source: Source,
    pub text: TextMatching,
    pub count: Counting,
    pub read: Reading,
    /// Rows read past the page to tell whether a next page exists (when
    /// no exact count tells it).
    pub lookahead: bool,
}

impl Plan {
    /// Whether the count is exact (page numbers and links follow from it).
    pub fn exact_count(&self) -> bool {
        matches!(self.count, Counting::Counter | Counting::Postings | Counting::Collected { .. } | Counting::Query)
    }
}

/// Up to this many matches, collecting them is cheaper than an ordered
/// walk: the walk reads about `wanted × total / count` rows, collecting
/// reads `count` index entries, about four times cheaper each.
pub fn materialize_limit(total: u64, wanted: u64) -> u64 {
    (4.0 * wanted.max(1) as f64 * total as f64).sqrt() as u64
}

/// Filters on columns that go with an ordering (a last activity before a
/// date, newest first) put their matches at one end of it: walking may read
/// almost every row before finding the page, however many match. Up to
/// this many counted matches of such filters are collected instead, whose
/// cost is bounded by the count.
pub const COLLECT_FILTERED_FLOOR: u64 = 100_000;

/// Collect or walk, for this many matches of SQL filters (see
/// `COLLECT_FILTERED_FLOOR`).
pub fn reading_for_filtered(matches: u64, total: u64, wanted: u64) -> Reading {
    if matches <= COLLECT_FILTERED_FLOOR {
        Reading::Collect
    } else {
        reading_for(matches, total, wanted)
    }
}

/// Collect or walk, for this many matches found by the postings. A walk
/// then tests `crm._member(id)` on the ordering index's entries (the id is
/// in every ordering index), far cheaper per row than collecting, which
/// reads each match through the primary key: collecting pays below about
/// `sqrt(0.03 × wanted × total)` matches (2,100 for a first page of 50
/// among 3M) when the matches are spread over the ordering. (They may not
/// be, as a last name pattern under an ordering by last name: the walk
/// then reads many index entries. Collecting up to 10,000 matches instead
/// made the median request of the randomized workload twice as slow at 3M,
/// so it is not done.)
pub fn reading_for_postings(matches: u64, total: u64, wanted: u64) -> Reading {
    let limit = (0.03 * wanted.max(1) as f64 * total as f64).sqrt() as u64;
    if matches <= limit {
        Reading::Collect
    } else {
        Reading::Walk
    }
}

/// Collect or walk, for this many matches.
pub fn reading_for(matches: u64, total: u64, wanted: u64) -> Reading {
    if matches <= materialize_limit(total, wanted) {
        Reading::Collect
    } else {
        Reading::Walk
    }
}

/// How the text conditions enter the SQL: bound ids when few (read
/// through the primary key), a membership test when many or when the page
/// is walked (tested on index entries).
fn text_matching(request: &ListRequest, facts: &Facts, read: Reading) -> TextMatching {
    let has_text = request.search_terms.len()
        + request.filters.iter().filter(|f| f.lookup == crate::fields::Lookup::Icontains).count()
        > 0;
    match facts.text_matches {
        Some(_) if read == Reading::Groups => TextMatching::PostingsGroups,
        Some(n) if n <= MAX_BOUND_IDS && read != Reading::Walk => TextMatching::PostingsIds,
        Some(_) => TextMatching::PostingsMember,
        None if has_text => TextMatching::Sql,
        None => TextMatching::None,
    }
}

/// The plan of a numbered page (or of `crm.contacts` rows).
pub fn numbered(request: &ListRequest, facts: &Facts) -> Plan {
    let source = if facts.projection { Source::Projection } else { Source::Tables };
    let offset = match request.page {
        PageRequest::Number(n) => (n - 1).saturating_mul(request.page_size),
        _ => 0,
    };
    let wanted = offset.saturating_add(request.page_size);
    // `page=last` needs the number of pages: an exact count whatever the mode.
    let mode = if request.page == PageRequest::Last { CountMode::Exact } else { request.count };
    let plan = |count, read| Plan {
        source,
        text: text_matching(request, facts, read),
        count,
        read,
        lookahead: !matches!(mode, CountMode::Exact),
    };
    let total = facts.total.unwrap_or(0);
    if !facts.projection {
        let count = match mode {
            CountMode::Exact => Counting::Query,
            CountMode::Planned => Counting::Planned,
            CountMode::Estimated => Counting::UpTo { threshold: ESTIMATED_COUNT_THRESHOLD },
            CountMode::None => Counting::Omitted,
        };
        return Plan { lookahead: count != Counting::Query, ..plan(count, Reading::Walk) };
    }
    // A count that costs nothing is given exactly, unless none was asked for.
    let free = |counting| if mode == CountMode::None { Counting::Omitted } else { counting };
    if !facts.conditions {
        let count = free(Counting::Counter);
        let read = if facts.grouped_order && offset >= facts.deep_offset { Reading::Groups } else { Reading::Walk };
        return Plan { lookahead: count == Counting::Omitted, ..plan(count, read) };
    }
    if let (Some(matches), false) = (facts.text_matches, facts.other_conditions) {
        let read = match reading_for_postings(matches, total, wanted) {
            Reading::Walk if facts.grouped_order => Reading::Groups,
            read => read,
        };
        let count = free(Counting::Postings);
        return Plan { lookahead: count == Counting::Omitted, ..plan(count, read) };
    }
    let cap = materialize_limit(total, wanted);
    match mode {
        CountMode::Exact => plan(Counting::Collected { cap }, Reading::ByCount),
        CountMode::Planned => plan(Counting::Planned, Reading::ByCount),
        CountMode::Estimated => plan(Counting::UpTo { threshold: ESTIMATED_COUNT_THRESHOLD }, Reading::ByCount),
        CountMode::None => plan(Counting::Omitted, Reading::ByCount),
    }
}

/// Whether a filter is on the column of the ordering's first term.
fn filters_first_term(request: &ListRequest) -> bool {
    let first = complete_ordering(request)[0].field.column();
    request.filters.iter().any(|f| f.field.columns.contains(&first))
}

/// How a keyset page is read: by the matches' number, counted only up to
/// where collecting stops paying (keyset pages have no count). A walk
/// that no index orders (gender then a name: every contact of a gender
/// sorted) is read through the groups, which find the position's group.
pub fn keyset(request: &ListRequest, facts: &Facts) -> Plan {
    let source = if facts.projection { Source::Projection } else { Source::Tables };
    let grouped = |read| match read {
        Reading::Walk if facts.grouped_order => Reading::Groups,
        read => read,
    };
    let read = match (facts.projection && facts.conditions, facts.text_matches, facts.other_conditions) {
        (false, _, _) if facts.projection && !first_index_orders(&complete_ordering(request)) => grouped(Reading::Walk),
        (false, _, _) => Reading::Walk,
        // Filtered on the ordering's first field: the matches lie together
        // in the ordering, where a walk may take long to reach.
        (true, Some(matches), false) if matches <= MAX_BOUND_IDS && filters_first_term(request) => Reading::Collect,
        (true, Some(matches), false) => {
            grouped(reading_for_postings(matches, facts.total.unwrap_or(0), request.page_size + 1))
        }
        (true, _, _) => Reading::ByCount,
    };
    Plan { source, text: text_matching(request, facts, read), count: Counting::Omitted, read, lookahead: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse_list_request, RawParams};

    fn request(pairs: &[(&str, &str)]) -> ListRequest {
        let raw: RawParams = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_list_request(&raw).unwrap()
    }

    fn projection(conditions: bool, text_matches: Option<u64>, other_conditions: bool) -> Facts {
        Facts {
            projection: true,
            total: Some(3_000_000),
            text_matches,
            other_conditions,
            conditions,
            grouped_order: false,
            deep_offset: 10_000,
        }
    }

    #[test]
    fn groups_read_deep_pages_and_walks_over_matches_when_the_ordering_has_them() {
        let grouped = |c, m| Facts { grouped_order: true, ..projection(c, m, false) };
        let p = numbered(&request(&[("page", "2")]), &grouped(false, None));
        assert_eq!((p.read, p.count), (Reading::Walk, Counting::Counter));
        let p = numbered(&request(&[("page", "201")]), &grouped(false, None));
        assert_eq!((p.read, p.count, p.text), (Reading::Groups, Counting::Counter, TextMatching::None));
        let p = numbered(&request(&[("page", "201")]), &projection(false, None, false));
        assert_eq!(p.read, Reading::Walk);
        let p = numbered(&request(&[("search", "ar")]), &grouped(true, Some(1_300_000)));
        assert_eq!((p.read, p.count, p.text), (Reading::Groups, Counting::Postings, TextMatching::PostingsGroups));
        // Few matches are still collected; other conditions leave groups out.
        let p = numbered(&request(&[("search", "ar")]), &grouped(true, Some(29)));
        assert_eq!(p.read, Reading::Collect);
        let facts = Facts { other_conditions: true, ..grouped(true, Some(1_300_000)) };
        assert_eq!(numbered(&request(&[("search", "ar")]), &facts).read, Reading::ByCount);
    }

    #[test]
    fn the_collect_limit_grows_with_the_page_depth() {
        // 3M contacts, a page of 50: collecting pays up to ~24,500 matches.
        assert_eq!(materialize_limit(3_000_000, 50), 24_494);
        assert_eq!(reading_for(4_000, 3_000_000, 50), Reading::Collect);
        assert_eq!(reading_for(900_000, 3_000_000, 50), Reading::Walk);
        assert_eq!(reading_for(900_000, 3_000_000, 500_000), Reading::Collect);
        // Filters may go with the ordering: their counted matches are
        // collected up to the floor.
        assert_eq!(reading_for(60_000, 3_000_000, 50), Reading::Walk);
        assert_eq!(reading_for_filtered(60_000, 3_000_000, 50), Reading::Collect);
        assert_eq!(reading_for_filtered(900_000, 3_000_000, 50), Reading::Walk);
    }

    #[test]
    fn the_tables_count_with_a_query_and_walk() {
        let p = numbered(&request(&[("search", "paul")]), &Facts { conditions: true, ..Facts::default() });
        assert_eq!(
            (p.source, p.text, p.count, p.read),
            (Source::Tables, TextMatching::Sql, Counting::Query, Reading::Walk)
        );
        let p = numbered(&request(&[("count", "none")]), &Facts::default());
        assert_eq!((p.count, p.lookahead), (Counting::Omitted, true));
    }

    #[test]
    fn no_condition_reads_the_counter_unless_no_count_is_wanted() {
        for mode in ["exact", "planned", "estimated"] {
            let p = numbered(&request(&[("count", mode)]), &projection(false, None, false));
            assert_eq!((p.count, p.read, p.lookahead), (Counting::Counter, Reading::Walk, false), "{mode}");
        }
        let p = numbered(&request(&[("count", "none")]), &projection(false, None, false));
        assert_eq!((p.count, p.lookahead), (Counting::Omitted, true));
        let p = numbered(&request(&[("count", "none"), ("search", "x")]), &projection(true, Some(5), false));
        assert_eq!((p.count, p.read), (Counting::Omitted, Reading::Collect));
    }

    #[test]
    fn postings_alone_count_and_choose_the_reading() {
        let r = request(&[("search", "ar")]);
        let p = numbered(&r, &projection(true, Some(1_300_000), false));
        assert_eq!((p.text, p.count, p.read), (TextMatching::PostingsMember, Counting::Postings, Reading::Walk));
        let p = numbered(&r, &projection(true, Some(29), false));
        assert_eq!((p.text, p.count, p.read), (TextMatching::PostingsIds, Counting::Postings, Reading::Collect));
        assert!(p.exact_count());
        // A few thousand matches are walked with the membership test.
        let p = numbered(&r, &projection(true, Some(12_800), false));
        assert_eq!((p.text, p.read), (TextMatching::PostingsMember, Reading::Walk));
        assert_eq!(reading_for_postings(2_000, 3_000_000, 50), Reading::Collect);
        assert_eq!(reading_for_postings(9_000, 3_000_000, 50), Reading::Walk);
    }

    #[test]
    fn other_conditions_follow_the_count_mode() {
        let facts = projection(true, Some(5_000), true);
        let p = numbered(&request(&[("search", "ar"), ("gender", "F")]), &facts);
        assert_eq!(p.count, Counting::Collected { cap: 24_494 });
        assert_eq!(p.read, Reading::ByCount);
        let p = numbered(&request(&[("gender", "F"), ("count", "planned")]), &facts);
        assert_eq!((p.count, p.lookahead), (Counting::Planned, true));
        let p = numbered(&request(&[("gender", "F"), ("count", "estimated")]), &facts);
        assert_eq!(p.count, Counting::UpTo { threshold: ESTIMATED_COUNT_THRESHOLD });
        let p = numbered(&request(&[("gender", "F"), ("count", "none")]), &facts);
        assert!(!p.exact_count());
        // The last page needs the number of pages.
        let p = numbered(&request(&[("gender", "F"), ("count", "none"), ("page", "last")]), &facts);
        assert!(p.exact_count() && !p.lookahead);
    }

    #[test]
    fn keyset_pages_read_by_the_number_of_matches() {
        let p = keyset(&request(&[("cursor", "")]), &projection(false, None, false));
        assert_eq!(p.read, Reading::Walk);
        let p = keyset(&request(&[("cursor", ""), ("search", "x")]), &projection(true, Some(10), false));
        assert_eq!(p.read, Reading::Collect);
        let p = keyset(&request(&[("cursor", ""), ("gender", "F")]), &projection(true, None, true));
        assert_eq!(p.read, Reading::ByCount);
        // Matches of a filter on the ordering's field lie together: collected.
        let r = request(&[("cursor", ""), ("address__country", "Bouvet Island"), ("ordering", "-address__country")]);
        assert_eq!(keyset(&r, &projection(true, Some(12_000), false)).read, Reading::Collect);
        let r = request(&[("cursor", ""), ("address__country", "Bouvet Island")]);
        assert_eq!(keyset(&r, &projection(true, Some(12_000), false)).read, Reading::Walk);
    }
}
