//! What is measured: the original's scenarios (docs/compatibility.md, "Benchmark") with the sample
//! values drawn from the data, detail and stats, and the pages of the
//! pagination sampling.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::rng::Rng;
use crate::writes::WriteParts;

/// Query parameters, in the order they are sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// A copy with `key` set to `value` (replaced where present).
    pub fn with(&self, key: &str, value: &str) -> Params {
        let mut pairs: Vec<(String, String)> = self.0.iter().filter(|(k, _)| k != key).cloned().collect();
        pairs.push((key.to_string(), value.to_string()));
        Params(pairs)
    }

    /// From a form-encoded query string (the inverse of [`Params::query_string`]).
    pub fn from_query(query: &str) -> Params {
        Params(form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// `a=1&b=x+y`, form-encoded as a browser would.
    pub fn query_string(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            out.append_pair(k, v);
        }
        out.finish()
    }

    /// The JSON object of strings `crm.contacts_page` takes.
    pub fn to_json(&self) -> Json {
        Json::Object(self.0.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect::<Map<_, _>>())
    }
}

/// One HTTP request of the API (or its SQL function).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// `GET /api/contacts/?…` = `crm.contacts_page(params)`.
    List(Params),
    /// `GET /api/contacts/{id}/` = `crm.contact(id)`.
    Detail(i64),
    /// `GET /api/contacts/stats/` = `crm.stats()`.
    Stats,
}

impl Request {
    /// The API path with its query string.
    pub fn path(&self) -> String {
        match self {
            Request::List(params) if params.0.is_empty() => "/api/contacts/".to_string(),
            Request::List(params) => format!("/api/contacts/?{}", params.query_string()),
            Request::Detail(id) => format!("/api/contacts/{id}/"),
            Request::Stats => "/api/contacts/stats/".to_string(),
        }
    }
}

/// Values drawn from the data once per run, as the original did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleValues {
    /// 'Paul' when the data has it, otherwise a seeded pick.
    pub first_name: String,
    /// A seeded pick of `SELECT DISTINCT city FROM address`.
    pub city: String,
    /// Existing contact ids for the detail scenario.
    pub detail_ids: Vec<i64>,
}

/// One line of the results: a request (or a few, taken in turn).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Stable name, `group` or `group:variant-of-it`.
    pub id: String,
    /// The original's test name.
    pub group: String,
    /// For tables and charts (the row names of docs/compatibility.md, "Benchmark").
    pub label: String,
    pub requests: Vec<Request>,
}

fn list(id: &str, label: &str, pairs: &[(&str, &str)]) -> Scenario {
    Scenario {
        id: id.to_string(),
        group: id.split(':').next().unwrap_or(id).to_string(),
        label: label.to_string(),
        requests: vec![Request::List(Params::new(pairs))],
    }
}

/// Every scenario, in the original's order, then detail and stats.
pub fn all(samples: &SampleValues) -> Vec<Scenario> {
    let name = samples.first_name.as_str();
    let city = samples.city.as_str();
    let mut scenarios = vec![
        list("initial_list_load", "initial_list_load", &[("page_size", "1000")]),
        list("filter_by_name", &format!("filter_by_name ({name})"), &[("first_name__icontains", name)]),
        list("sort_by_attribute:-created", "sort -created", &[("ordering", "-created")]),
        list(
            "sort_by_attribute:relationship__points",
            "sort relationship__points",
            &[("ordering", "relationship__points")],
        ),
        list("sort_by_attribute:address__city", "sort address__city", &[("ordering", "address__city")]),
        list(
            "multi_field_sort:-relationship__points,last_name,first_name",
            "multi sort -points,last,first",
            &[("ordering", "-relationship__points,last_name,first_name")],
        ),
        list(
            "multi_field_sort:address__country,address__city,-created",
            "multi sort country,city,-created",
            &[("ordering", "address__country,address__city,-created")],
        ),
        list(
            "filter_and_sort",
            "filter_and_sort",
            &[("address__city__icontains", city), ("ordering", "-relationship__points")],
        ),
        list(
            "multiple_filters",
            "multiple_filters",
            &[("gender", "M"), ("relationship__points__gte", "5000"), ("address__country__icontains", "United")],
        ),
        list("search", &format!("search ({name})"), &[("search", name)]),
        list(
            "complex_query",
            "complex_query",
            &[
                ("gender", "M"),
                ("relationship__points__gte", "1000"),
                ("address__country__icontains", "United"),
                ("ordering", "-relationship__last_activity"),
            ],
        ),
    ];
    if !samples.detail_ids.is_empty() {
        scenarios.push(Scenario {
            id: "detail".into(),
            group: "detail".into(),
            label: format!("detail ({} ids)", samples.detail_ids.len()),
            requests: samples.detail_ids.iter().map(|id| Request::Detail(*id)).collect(),
        });
    }
    scenarios.push(Scenario {
        id: "stats".into(),
        group: "stats".into(),
        label: "stats".into(),
        requests: vec![Request::Stats],
    });
    scenarios
}

/// Names `--scenarios` accepts besides the scenarios' ids and groups.
pub const PAGINATION: &str = "pagination";
pub const CURSOR: &str = "cursor";

/// What a run measures.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub scenarios: Vec<Scenario>,
    /// Page-number sampling (first, middle, last, random pages).
    pub pagination: bool,
    /// Cursor pages (and the page-number pages at the same depths).
    pub cursor: bool,
    /// The write group's parts (never part of `all`).
    pub writes: WriteParts,
}

/// `names` empty or `all`: every read. Otherwise each name is a scenario
/// id, a group (all its scenarios), `pagination` or `cursor`. The write
/// group (`writes`, `writes:<part>`) only when named, also next to `all`.
pub fn select(all: Vec<Scenario>, names: &[String]) -> Result<Selection> {
    let writes = WriteParts::from_names(names);
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(Selection { scenarios: all, pagination: true, cursor: true, writes });
    }
    let known = |n: &str| {
        n == PAGINATION || n == CURSOR || WriteParts::is_name(n) || all.iter().any(|s| s.id == n || s.group == n)
    };
    let unknown: Vec<&String> = names.iter().filter(|n| !known(n)).collect();
    if !unknown.is_empty() {
        let mut choices: Vec<String> = Vec::new();
        for s in &all {
            if !choices.contains(&s.group) {
                choices.push(s.group.clone());
            }
            if s.id != s.group {
                choices.push(s.id.clone());
            }
        }
        choices.extend([PAGINATION.to_string(), CURSOR.to_string(), "all".to_string()]);
        choices.extend(WriteParts::names());
        bail!(
            "unknown scenario{} {}; choices: {}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", "),
            choices.join(", ")
        );
    }
    let wanted = |s: &Scenario| names.iter().any(|n| *n == s.id || *n == s.group);
    Ok(Selection {
        scenarios: all.into_iter().filter(wanted).collect(),
        pagination: names.iter().any(|n| n == PAGINATION),
        cursor: names.iter().any(|n| n == CURSOR),
        writes,
    })
}

/// A page of the page-number sampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagePick {
    /// `first`, `middle`, `last`, `random`, or `depth` (at a depth the
    /// cursor pages are measured at too).
    pub selection: &'static str,
    pub page: u64,
}

impl PagePick {
    /// Rows before the page.
    pub fn depth(&self, page_size: u64) -> u64 {
        (self.page - 1) * page_size
    }
}

/// The number of pages of `total` rows (at least one: an empty list has
/// one empty page).
pub fn page_count(total: u64, page_size: u64) -> u64 {
    total.div_ceil(page_size.max(1)).max(1)
}

/// The original's sampling: first, middle, last and `random` distinct
/// other pages (seeded), then the pages at `depths` (rows before the page)
/// not already chosen; sorted by page.
pub fn page_picks(total: u64, page_size: u64, random: usize, seed: u64, depths: &[u64]) -> Vec<PagePick> {
    let last = page_count(total, page_size);
    let mut picks: Vec<PagePick> = Vec::new();
    let add = |picks: &mut Vec<PagePick>, selection, page| {
        if !picks.iter().any(|p: &PagePick| p.page == page) {
            picks.push(PagePick { selection, page });
        }
    };
    add(&mut picks, "first", 1);
    add(&mut picks, "middle", last.div_ceil(2));
    add(&mut picks, "last", last);
    let free = last.saturating_sub(picks.len() as u64);
    let wanted = (random as u64).min(free);
    let mut rng = Rng::new(seed ^ page_size.rotate_left(32));
    let mut chosen = 0;
    while chosen < wanted {
        let page = 1 + rng.below(last);
        if !picks.iter().any(|p| p.page == page) {
            picks.push(PagePick { selection: "random", page });
            chosen += 1;
        }
    }
    for depth in depths {
        let page = depth / page_size + 1;
        if page <= last {
            add(&mut picks, "depth", page);
        }
    }
    picks.sort_by_key(|p| p.page);
    picks
}

/// Cursor pages are reached by walking `next` links with pages of this
/// size (the API's maximum): a cursor carries a position, not a page size,
/// so the cursor found at a depth serves every page size.
pub const WALK_PAGE_SIZE: u64 = 1000;

/// Default depths (rows before the page) of the cursor comparison.
pub const DEFAULT_CURSOR_DEPTHS: [u64; 8] = [0, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];

/// Chooses a value with `rng` from sorted distinct values.
pub fn pick<'a>(values: &'a [String], rng: &mut Rng) -> Option<&'a String> {
    (!values.is_empty()).then(|| &values[rng.below(values.len() as u64) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> SampleValues {
        SampleValues { first_name: "Paul".into(), city: "Port Anna".into(), detail_ids: vec![3, 17] }
    }

    #[test]
    fn the_originals_scenarios_in_order() {
        let all = all(&samples());
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), 13);
        assert_eq!(ids[0], "initial_list_load");
        assert_eq!(ids[10], "complex_query");
        assert_eq!(all.iter().filter(|s| s.group == "sort_by_attribute").count(), 3);
        assert_eq!(all.iter().filter(|s| s.group == "multi_field_sort").count(), 2);
        assert_eq!(all[0].requests[0].path(), "/api/contacts/?page_size=1000");
        assert_eq!(all[1].requests[0].path(), "/api/contacts/?first_name__icontains=Paul");
        assert_eq!(
            all[7].requests[0].path(),
            "/api/contacts/?address__city__icontains=Port+Anna&ordering=-relationship__points"
        );
        assert_eq!(all[5].requests[0].path(), "/api/contacts/?ordering=-relationship__points%2Clast_name%2Cfirst_name");
        assert_eq!(all[11].requests, [Request::Detail(3), Request::Detail(17)]);
        assert_eq!(all[12].requests[0].path(), "/api/contacts/stats/");
        assert_eq!(Request::List(Params::default()).path(), "/api/contacts/");
    }

    #[test]
    fn params_as_json_and_replaced() {
        let p = Params::new(&[("cursor", ""), ("page_size", "1000")]).with("page_size", "50");
        assert_eq!(p.to_json(), serde_json::json!({"cursor": "", "page_size": "50"}));
        assert_eq!(p.query_string(), "cursor=&page_size=50");
    }

    #[test]
    fn selection_by_id_group_and_extras() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let s = select(all(&samples()), &[]).unwrap();
        assert!(s.pagination && s.cursor && s.scenarios.len() == 13);
        let s = select(all(&samples()), &names(&["sort_by_attribute", "search", "cursor"])).unwrap();
        assert_eq!(s.scenarios.len(), 4);
        assert!(!s.pagination && s.cursor);
        let s = select(all(&samples()), &names(&["multi_field_sort:address__country,address__city,-created"])).unwrap();
        assert_eq!(s.scenarios.len(), 1);
        let e = select(all(&samples()), &names(&["serch", "stats"])).unwrap_err().to_string();
        assert!(e.starts_with("unknown scenario 'serch'; choices: initial_list_load, "), "{e}");
        assert!(e.contains("pagination, cursor, all, writes, writes:single, writes:import, writes:export"), "{e}");
        // The write group: only by name, alone or next to reads.
        assert!(!select(all(&samples()), &[]).unwrap().writes.any());
        let s = select(all(&samples()), &names(&["writes"])).unwrap();
        assert!(s.scenarios.is_empty() && !s.pagination && !s.cursor);
        assert!(s.writes.single && s.writes.import && s.writes.export);
        let s = select(all(&samples()), &names(&["all", "writes:import"])).unwrap();
        assert!(s.scenarios.len() == 13 && s.pagination && s.writes.import && !s.writes.single);
        assert!(select(all(&samples()), &names(&["writes:delete"])).is_err());
    }

    #[test]
    fn pagination_sampling() {
        let picks = page_picks(3_000_000, 1000, 10, 42, &[]);
        assert_eq!(picks.len(), 13);
        assert_eq!(picks.first().unwrap(), &PagePick { selection: "first", page: 1 });
        assert_eq!(picks.last().unwrap(), &PagePick { selection: "last", page: 3000 });
        assert!(picks.contains(&PagePick { selection: "middle", page: 1500 }));
        assert_eq!(picks.iter().filter(|p| p.selection == "random").count(), 10);
        assert_eq!(picks, page_picks(3_000_000, 1000, 10, 42, &[]), "seeded");
        assert_ne!(picks, page_picks(3_000_000, 1000, 10, 43, &[]));
        // Depth pages are added unless already chosen or past the end.
        let picks = page_picks(3_000_000, 50, 10, 42, &[0, 1000, 5_000_000]);
        assert_eq!(picks.iter().filter(|p| p.selection == "depth").map(|p| p.page).collect::<Vec<_>>(), [21]);
        assert_eq!(picks[1].depth(50), 1000);
        // Few pages: no duplicates, no endless loop.
        let picks = page_picks(2000, 1000, 10, 42, &[]);
        assert_eq!(picks.iter().map(|p| (p.selection, p.page)).collect::<Vec<_>>(), [("first", 1), ("last", 2)]);
        assert_eq!(page_picks(0, 50, 10, 1, &[]).len(), 1);
        assert_eq!(page_count(2001, 1000), 3);
    }

    #[test]
    fn seeded_picks() {
        let cities: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
        let a = pick(&cities, &mut Rng::new(7)).cloned();
        assert_eq!(a, pick(&cities, &mut Rng::new(7)).cloned());
        assert!(pick(&[], &mut Rng::new(7)).is_none());
    }
}
