//! The original's recorded figures (docs/compatibility.md, "Benchmark": 3,000,000 contacts, its own
//! machine, ms), to put next to ours.

/// The original's variants, in its column order.
pub const VARIANTS: [&str; 3] = ["baseline", "indexed", "trgm"];

/// (scenario id, [baseline, indexed, "trgm"] ms).
const FIGURES: [(&str, [f64; 3]); 11] = [
    ("initial_list_load", [394.0, 81.0, 80.0]),
    ("filter_by_name", [269.0, 268.0, 252.0]),
    ("sort_by_attribute:-created", [66.0, 63.0, 66.0]),
    ("sort_by_attribute:relationship__points", [1745.0, 1534.0, 1513.0]),
    ("sort_by_attribute:address__city", [1585.0, 1537.0, 1642.0]),
    ("multi_field_sort:-relationship__points,last_name,first_name", [1541.0, 1648.0, 1659.0]),
    ("multi_field_sort:address__country,address__city,-created", [1710.0, 1703.0, 1587.0]),
    ("filter_and_sort", [104.0, 97.0, 110.0]),
    ("multiple_filters", [300.0, 263.0, 253.0]),
    ("search", [1643.0, 1694.0, 1569.0]),
    ("complex_query", [261.0, 211.0, 251.0]),
];

/// Pagination, page_size 1000: (avg, max) per page.
const PAGINATION: [(f64, f64); 3] = [(391.0, 744.0), (466.0, 857.0), (373.0, 683.0)];

/// The scenario id the original's pagination line compares with.
pub const PAGINATION_SCENARIO: &str = "pagination_selected_pages:1000";

/// Every request of the original cost this many queries (a COUNT and the page).
pub const QUERIES_PER_REQUEST: u32 = 2;

/// The original's figures of a scenario, by variant.
pub fn figures(scenario: &str) -> Option<[f64; 3]> {
    if scenario == PAGINATION_SCENARIO {
        return Some(PAGINATION.map(|(avg, _)| avg));
    }
    FIGURES.iter().find(|(id, _)| *id == scenario).map(|(_, f)| *f)
}

/// The original's figure of a scenario on a variant of the same name.
pub fn figure(scenario: &str, variant: &str) -> Option<f64> {
    let column = VARIANTS.iter().position(|v| *v == variant)?;
    figures(scenario).map(|f| f[column])
}

/// The original's best figure of a scenario (over its variants).
pub fn best(scenario: &str) -> Option<f64> {
    figures(scenario).map(|f| f.into_iter().fold(f64::INFINITY, f64::min))
}

/// The original's pagination (avg, max) per page of a variant.
pub fn pagination(variant: &str) -> Option<(f64, f64)> {
    VARIANTS.iter().position(|v| *v == variant).map(|i| PAGINATION[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures' table in docs/compatibility.md, row by row: the eleven
    /// scenarios in `FIGURES` order, then pagination "avg / max".
    #[test]
    fn the_documented_figures_are_these() {
        let doc = include_str!("../../docs/compatibility.md");
        let table = doc.split("| test | baseline | indexed | \"trgm\" |").nth(1).expect("the figures' table");
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.trim_matches('|').split('|').map(str::trim).skip(1).collect())
            .collect();
        assert_eq!(rows.len(), FIGURES.len() + 1);
        for (row, (id, figures)) in rows.iter().zip(FIGURES) {
            let documented: Vec<f64> = row.iter().map(|c| c.parse().expect("a number")).collect();
            assert_eq!(documented, figures, "{id}");
        }
        let pagination: Vec<(f64, f64)> = rows[FIGURES.len()]
            .iter()
            .map(|c| {
                let (avg, max) = c.split_once(" / ").expect("avg / max");
                (avg.parse().unwrap(), max.parse().unwrap())
            })
            .collect();
        assert_eq!(pagination, PAGINATION);
    }

    #[test]
    fn figures_by_scenario_and_variant() {
        assert_eq!(figure("search", "baseline"), Some(1643.0));
        assert_eq!(figure("search", "trgm"), Some(1569.0));
        assert_eq!(figure("search", "full"), None);
        assert_eq!(best("sort_by_attribute:-created"), Some(63.0));
        assert_eq!(figure(PAGINATION_SCENARIO, "indexed"), Some(466.0));
        assert_eq!(pagination("trgm"), Some((373.0, 683.0)));
        assert_eq!(figures("detail"), None);
    }
}
