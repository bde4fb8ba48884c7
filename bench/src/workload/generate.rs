//! The workload generator: a pure function of the seed, the sample rows
//! and the contact total, so that a seed on the same data draws the same
//! requests on every machine.
//!
//! Classes are dealt from a shuffled deck holding each class as often as
//! its weight says: every class is present in every full deck (100
//! requests), whatever the seed.

use std::collections::BTreeMap;

use super::fields::{self, NAME};
use super::request::{Class, WorkloadRequest};
use super::sample::SampleRow;
use crate::rng::Rng;
use crate::scenarios::Params;

/// Requests per class in one deck of 100.
pub const WEIGHTS: [(Class, usize); 9] = [
    (Class::Icontains, 15),
    (Class::Search, 15),
    (Class::Name, 8),
    (Class::Range, 10),
    (Class::Exact, 10),
    (Class::Combined, 12),
    (Class::SearchFilters, 10),
    (Class::DeepPage, 10),
    (Class::Cursor, 10),
];

/// Page sizes of the `deep_page` class.
pub const PAGE_SIZES: [u64; 5] = [50, 100, 200, 500, 1000];
/// Filtered and searched requests ask for a page up to this one.
pub const MAX_PAGE: u64 = 20;
/// `icontains` and `name` fragments: 1 to this many characters.
pub const MAX_FRAGMENT: usize = 7;
/// Search terms: 1 to this many characters; up to [`SHORT_TERM`] is short.
pub const MAX_TERM: usize = 8;
pub const SHORT_TERM: usize = 2;
/// `next` links a cursor request follows: 1 to this many.
pub const MAX_HOPS: u8 = 5;

/// `n` requests drawn with `seed` from `rows`; `total` is the number of
/// contacts (the deep pages stay within it). No rows, no requests.
pub fn generate(seed: u64, rows: &[SampleRow], total: u64, n: usize) -> Vec<WorkloadRequest> {
    if rows.is_empty() {
        return Vec::new();
    }
    let mut generator = Generator::new(seed, rows, total);
    let mut deck: Vec<Class> = Vec::new();
    (0..n)
        .map(|_| {
            if deck.is_empty() {
                deck = generator.shuffled_deck();
            }
            let class = deck.pop().expect("a dealt deck is not empty");
            generator.request(class)
        })
        .collect()
}

/// A filter kind, as the `combined` and `search_filters` classes mix them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Icontains,
    Name,
    Range,
    Exact,
}

/// Kinds and their weights in mixed filters.
const KINDS: [(Kind, u64); 4] = [(Kind::Icontains, 35), (Kind::Range, 30), (Kind::Exact, 25), (Kind::Name, 10)];

/// Timestamp fields: their range values are sometimes a date alone (which
/// the API reads as midnight UTC).
const TIMESTAMPS: [&str; 4] = ["created", "last_updated", "relationship__created", "relationship__last_activity"];

type Pairs = Vec<(String, String)>;

struct Generator<'a> {
    rng: Rng,
    rows: &'a [SampleRow],
    total: u64,
    /// Per field, the rows that have a value for it.
    having: BTreeMap<&'static str, Vec<usize>>,
}

/// A substring of `value` of `min..=max` characters (fewer when the value
/// is shorter), without surrounding whitespace; `None` when that leaves
/// nothing.
fn fragment(value: &str, min: usize, max: usize, rng: &mut Rng) -> Option<String> {
    let chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let wanted = min + rng.below((max - min + 1) as u64) as usize;
    let len = wanted.min(chars.len());
    let start = rng.below((chars.len() - len + 1) as u64) as usize;
    let text: String = chars[start..start + len].iter().collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Each character upper- or lower-cased at random (left as it is when its
/// other case is not one character, as `ß` → `SS`, to keep the length).
fn random_case(text: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let other: Vec<char> = if rng.below(2) == 0 { c.to_uppercase().collect() } else { c.to_lowercase().collect() };
        out.push(if other.len() == 1 { other[0] } else { c });
    }
    out
}

impl<'a> Generator<'a> {
    fn new(seed: u64, rows: &'a [SampleRow], total: u64) -> Generator<'a> {
        let mut having = BTreeMap::new();
        for field in fields::FIELDS.iter().filter(|f| f.name != NAME) {
            let with: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].get(field.name).is_some()).collect();
            having.insert(field.name, with);
        }
        Generator { rng: Rng::new(seed), rows, total, having }
    }

    fn shuffled_deck(&mut self) -> Vec<Class> {
        let mut deck: Vec<Class> = WEIGHTS.iter().flat_map(|(c, w)| std::iter::repeat_n(*c, *w)).collect();
        for i in (1..deck.len()).rev() {
            deck.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        deck
    }

    /// True with `percent` % probability.
    fn chance(&mut self, percent: u64) -> bool {
        self.rng.below(100) < percent
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.rng.below(hi - lo + 1)
    }

    fn choose<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.below(items.len() as u64) as usize])
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u64)]) -> T {
        let mut at = self.rng.below(items.iter().map(|(_, w)| w).sum());
        for (item, weight) in items {
            if at < *weight {
                return *item;
            }
            at -= weight;
        }
        items[items.len() - 1].0
    }

    fn row(&mut self) -> usize {
        self.rng.below(self.rows.len() as u64) as usize
    }

    /// The fields of `wanted` some row has a value for.
    fn available(&self, wanted: &[&'static str]) -> Vec<&'static str> {
        wanted.iter().copied().filter(|f| self.having.get(f).is_some_and(|rows| !rows.is_empty())).collect()
    }

    /// A real value of `field`: the anchor contact's when it has one,
    /// otherwise a random contact's.
    fn value(&mut self, field: &str, anchor: Option<usize>) -> Option<String> {
        let rows = self.rows;
        if let Some(value) = anchor.and_then(|a| rows[a].get(field)) {
            return Some(value.to_string());
        }
        let with = self.having.get(field)?.clone();
        let row = self.choose(&with)?;
        rows[row].get(field).map(str::to_string)
    }

    /// A filter of `kind`: from the anchor contact first, then (when its
    /// value gave nothing, as a fragment that was only blanks) from others.
    fn some_filter(&mut self, kind: Kind, anchor: Option<usize>) -> Option<(String, String)> {
        if let Some(found) = self.filter(kind, anchor) {
            return Some(found);
        }
        (0..8).find_map(|_| self.filter(kind, None))
    }

    fn filter(&mut self, kind: Kind, anchor: Option<usize>) -> Option<(String, String)> {
        match kind {
            Kind::Icontains => {
                let field = self.choose(&self.available(&fields::icontains_fields()))?;
                let fragment = self.fragment_of(field, anchor)?;
                Some((fields::parameter(field, "icontains"), fragment))
            }
            Kind::Name => {
                let field = self.choose(&self.available(&["first_name", "last_name"]))?;
                Some((NAME.to_string(), self.fragment_of(field, anchor)?))
            }
            Kind::Range => {
                let ranges = fields::range_fields();
                let names: Vec<&'static str> = ranges.iter().map(|(f, _)| *f).collect();
                let field = self.choose(&self.available(&names))?;
                let lookups = &ranges.iter().find(|(f, _)| *f == field)?.1;
                let lookup = self.choose(lookups)?;
                let mut value = self.value(field, anchor)?;
                if TIMESTAMPS.contains(&field) && self.chance(40) {
                    value.truncate(10);
                }
                Some((fields::parameter(field, lookup), value))
            }
            Kind::Exact => {
                let field = self.choose(&self.available(&fields::EXACT_FIELDS))?;
                Some((fields::parameter(field, "exact"), self.value(field, anchor)?))
            }
        }
    }

    /// A fragment of 1..=[`MAX_FRAGMENT`] characters of a real value of
    /// `field`, in random case.
    fn fragment_of(&mut self, field: &str, anchor: Option<usize>) -> Option<String> {
        let value = self.value(field, anchor)?;
        let fragment = fragment(&value, 1, MAX_FRAGMENT, &mut self.rng)?;
        Some(random_case(&fragment, &mut self.rng))
    }

    /// `count` filters of mixed kinds, each parameter at most once.
    fn filters(&mut self, count: usize, anchor: Option<usize>) -> Pairs {
        let mut pairs: Pairs = Vec::new();
        for _ in 0..count * 5 {
            if pairs.len() == count {
                break;
            }
            let kind = self.weighted(&KINDS);
            if let Some((name, value)) = self.filter(kind, anchor) {
                if !pairs.iter().any(|(n, _)| *n == name) {
                    pairs.push((name, value));
                }
            }
        }
        pairs
    }

    /// A term of 1..=[`MAX_TERM`] characters from a word of a searched
    /// field of contact `row`: short (up to [`SHORT_TERM`]) four times in ten.
    fn term(&mut self, row: usize) -> Option<String> {
        let rows = self.rows;
        let searched: Vec<&str> = fields::search_fields().into_iter().filter(|f| rows[row].get(f).is_some()).collect();
        let value = rows[row].get(self.choose(&searched)?)?;
        let words: Vec<&str> = value.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
        let word = self.choose(&words)?;
        let (min, max) = if self.chance(40) { (1, SHORT_TERM) } else { (SHORT_TERM + 1, MAX_TERM) };
        let term = fragment(word, min, max, &mut self.rng)?;
        Some(random_case(&term, &mut self.rng))
    }

    /// `terms` search terms, mostly from the anchor contact (so that the
    /// search usually matches), sometimes from another one.
    fn search(&mut self, terms: u64, anchor: usize) -> String {
        let mut found = Vec::new();
        for _ in 0..terms {
            let row = if self.chance(80) { anchor } else { self.row() };
            found.extend(self.term(row));
        }
        while found.is_empty() {
            let row = self.row();
            found.extend(self.term(row));
        }
        found.join(" ")
    }

    /// 0 to 3 distinct ordering fields, each in either direction.
    fn ordering(&mut self) -> Option<String> {
        let count = self.weighted(&[(0usize, 25), (1, 35), (2, 25), (3, 15)]);
        let mut candidates = fields::ordering_fields();
        let mut chosen = Vec::new();
        for _ in 0..count {
            let at = self.rng.below(candidates.len() as u64) as usize;
            let field = candidates.remove(at);
            chosen.push(if self.chance(50) { format!("-{field}") } else { field.to_string() });
        }
        (!chosen.is_empty()).then(|| chosen.join(","))
    }

    /// Page 1 seven times in ten (the parameter left out), else 2..=20.
    fn page(&mut self) -> Option<u64> {
        if self.chance(70) {
            None
        } else {
            Some(self.between(2, MAX_PAGE))
        }
    }

    fn push_ordering(&mut self, pairs: &mut Pairs) {
        if let Some(ordering) = self.ordering() {
            pairs.push(("ordering".into(), ordering));
        }
    }

    fn request(&mut self, class: Class) -> WorkloadRequest {
        let anchor = self.row();
        let mut pairs: Pairs = match class {
            Class::Icontains => self.some_filter(Kind::Icontains, Some(anchor)).into_iter().collect(),
            Class::Name => self.some_filter(Kind::Name, Some(anchor)).into_iter().collect(),
            Class::Range => self.some_filter(Kind::Range, Some(anchor)).into_iter().collect(),
            Class::Exact => self.some_filter(Kind::Exact, Some(anchor)).into_iter().collect(),
            Class::Search => {
                let terms = self.between(1, 3);
                vec![("search".into(), self.search(terms, anchor))]
            }
            Class::Combined => {
                // Mostly one contact's values (the filters match together),
                // sometimes independent ones (often no match at all).
                let anchor = if self.chance(75) { Some(anchor) } else { None };
                let count = self.between(2, 4) as usize;
                self.filters(count, anchor)
            }
            Class::SearchFilters => {
                let terms = self.between(1, 2);
                let mut pairs = vec![("search".to_string(), self.search(terms, anchor))];
                let count = self.between(1, 3) as usize;
                pairs.extend(self.filters(count, Some(anchor)));
                pairs
            }
            Class::DeepPage => return self.deep_page(),
            Class::Cursor => return self.cursor(anchor),
        };
        self.push_ordering(&mut pairs);
        if let Some(page) = self.page() {
            pairs.push(("page".into(), page.to_string()));
        }
        WorkloadRequest::new(class, &Params(pairs), 0)
    }

    /// A random page of a large page size, unfiltered or (one in five) by
    /// gender; a page past the end is possible then (a 404 the API gives).
    fn deep_page(&mut self) -> WorkloadRequest {
        let mut pairs: Pairs = Vec::new();
        if self.chance(20) {
            if let Some(gender) = self.value("gender", None) {
                pairs.push(("gender".into(), gender));
            }
        }
        self.push_ordering(&mut pairs);
        let size = self.choose(&PAGE_SIZES).expect("page sizes");
        let page = self.between(1, (self.total / size).max(1));
        pairs.push(("page_size".into(), size.to_string()));
        pairs.push(("page".into(), page.to_string()));
        WorkloadRequest::new(Class::DeepPage, &Params(pairs), 0)
    }

    /// `cursor=` with a random ordering and, one in two, a filter; then
    /// 1..=[`MAX_HOPS`] `next` links.
    fn cursor(&mut self, anchor: usize) -> WorkloadRequest {
        let mut pairs: Pairs = Vec::new();
        if self.chance(50) {
            let kind = self.weighted(&KINDS);
            pairs.extend(self.some_filter(kind, Some(anchor)));
        }
        self.push_ordering(&mut pairs);
        pairs.push(("cursor".into(), String::new()));
        let hops = self.between(1, MAX_HOPS as u64) as u8;
        WorkloadRequest::new(Class::Cursor, &Params(pairs), hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const FIRST: [&str; 8] = ["Paul", "Anna", "Zoë", "Łukasz", "Jo", "Marie-Claire", "Ed", "Ugo"];
    const LAST: [&str; 6] = ["Smith", "O'Brien", "van der Berg", "Nguyen", "Li", "Straße"];
    const CITIES: [&str; 5] = ["Port Anna", "Lake Ugo", "Berlin", "New York", "São Paulo"];
    const COUNTRIES: [&str; 4] = ["United States", "Germany", "United Kingdom", "Côte d'Ivoire"];

    /// 60 contacts like the loader's, some without address, relationship,
    /// gender or phone.
    fn rows() -> Vec<SampleRow> {
        (0..60)
            .map(|i: usize| {
                let mut v: Vec<(&str, String)> = vec![
                    ("id", (1000 + i * 17).to_string()),
                    ("first_name", FIRST[i % FIRST.len()].to_string()),
                    ("last_name", LAST[i % LAST.len()].to_string()),
                    ("customer_id", format!("CUST-{:012X}", i * 7919)),
                    ("created", format!("2024-0{}-1{}T08:30:1{}.12345{}Z", 1 + i % 9, i % 10, i % 10, i % 10)),
                    ("last_updated", format!("2025-02-0{}T10:00:00.000000Z", 1 + i % 9)),
                ];
                if !i.is_multiple_of(10) {
                    v.push(("gender", ["M", "F", "O"][i % 3].to_string()));
                    v.push(("phone_number", format!("+1-555-{:04}", i)));
                    v.push(("birthday", format!("19{}-0{}-2{}", 50 + i % 50, 1 + i % 9, i % 9)));
                }
                if !i.is_multiple_of(7) {
                    v.push(("address__id", (i / 3 + 1).to_string()));
                    v.push(("address__street", format!("{} Street", ["Elm", "Oak", "Main"][i % 3])));
                    v.push(("address__city", CITIES[i % CITIES.len()].to_string()));
                    v.push(("address__city_code", format!("{:05}", i * 311)));
                    v.push(("address__country", COUNTRIES[i % COUNTRIES.len()].to_string()));
                }
                if !i.is_multiple_of(5) {
                    v.push(("relationship__points", (i * 163 % 10000).to_string()));
                    v.push(("relationship__created", format!("2024-03-0{}T00:00:00.000000Z", 1 + i % 9)));
                    v.push(("relationship__last_activity", format!("2025-01-1{}T12:00:00.500000Z", i % 10)));
                }
                SampleRow(v.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            })
            .collect()
    }

    fn workload(seed: u64, n: usize) -> Vec<WorkloadRequest> {
        generate(seed, &rows(), 3_000_000, n)
    }

    fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
        params.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether `needle` occurs (case-insensitively) in a value of one of
    /// `fields` of some row.
    fn occurs(needle: &str, fields: &[&str]) -> bool {
        let needle = needle.to_lowercase();
        rows().iter().any(|r| fields.iter().filter_map(|f| r.get(f)).any(|v| v.to_lowercase().contains(&needle)))
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = workload(42, 300);
        assert_eq!(a.len(), 300);
        assert_eq!(a, workload(42, 300));
        assert_ne!(a, workload(43, 300));
        // A longer workload starts with the shorter one.
        assert_eq!(workload(42, 350)[..300], a[..]);
        assert!(generate(1, &[], 100, 10).is_empty());
    }

    #[test]
    fn every_class_is_present_from_200_requests() {
        for seed in 0..20 {
            let classes: BTreeSet<Class> = workload(seed, 200).iter().map(|r| r.class).collect();
            assert_eq!(classes.len(), Class::ALL.len(), "seed {seed}");
        }
        let counts = |c: Class| workload(7, 1000).iter().filter(|r| r.class == c).count();
        assert_eq!(counts(Class::Search), 150);
        assert_eq!(counts(Class::DeepPage), 100);
    }

    #[test]
    fn parameters_are_the_api_s_and_never_repeated() {
        let allowed: BTreeSet<String> = fields::filter_parameters()
            .into_iter()
            .chain(fields::CONTROL_PARAMETERS.iter().map(|s| s.to_string()))
            .collect();
        for r in workload(3, 1000) {
            let params = r.params();
            let names: Vec<&String> = params.0.iter().map(|(k, _)| k).collect();
            assert!(names.iter().all(|n| allowed.contains(*n)), "{r:?}");
            assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), names.len(), "repeated: {r:?}");
            assert!(params.0.iter().all(|(k, v)| !v.is_empty() || k == "cursor"), "{r:?}");
            let filters = params.0.iter().filter(|(k, _)| !fields::CONTROL_PARAMETERS.contains(&k.as_str())).count();
            let expected = match r.class {
                Class::Icontains | Class::Name | Class::Range | Class::Exact => 1..=1,
                Class::Combined => 2..=4,
                Class::SearchFilters => 1..=3,
                Class::Search => 0..=0,
                Class::DeepPage | Class::Cursor => 0..=1,
            };
            assert!(expected.contains(&filters), "{r:?}");
            assert_eq!(param(&params, "search").is_some(), matches!(r.class, Class::Search | Class::SearchFilters));
            match r.class {
                Class::Icontains => assert!(names[0].ends_with("__icontains"), "{r:?}"),
                Class::Name => assert_eq!(names[0], "name"),
                Class::Range => assert!(RANGE_SUFFIXES.iter().any(|s| names[0].ends_with(s)), "{r:?}"),
                Class::Exact => assert!(fields::EXACT_FIELDS.contains(&names[0].as_str()), "{r:?}"),
                _ => {}
            }
        }
    }

    const RANGE_SUFFIXES: [&str; 4] = ["__gte", "__lte", "__gt", "__lt"];

    #[test]
    fn fragments_are_short_substrings_of_real_values_in_mixed_case() {
        let mut mixed = 0;
        let mut lengths = BTreeSet::new();
        for r in workload(5, 1000) {
            for (name, value) in r.params().0 {
                let field = if name == "name" { Some("name") } else { name.strip_suffix("__icontains") };
                let Some(field) = field else { continue };
                let len = value.chars().count();
                assert!((1..=MAX_FRAGMENT).contains(&len), "{name}={value}");
                lengths.insert(len);
                let fields: &[&str] = if field == "name" { &["first_name", "last_name"] } else { &[field] };
                assert!(occurs(&value, fields), "{name}={value} is in no value");
                mixed += (value != value.to_lowercase() && value != value.to_uppercase()) as usize;
            }
        }
        assert_eq!(lengths, (1..=MAX_FRAGMENT).collect(), "every length occurs");
        assert!(mixed > 50, "mixed case: {mixed}");
    }

    #[test]
    fn search_terms_short_and_long() {
        let searched = fields::search_fields();
        let (mut short, mut mixed, mut three) = (0, 0, 0);
        for r in workload(11, 1000).iter().filter(|r| matches!(r.class, Class::Search | Class::SearchFilters)) {
            let params = r.params();
            let terms: Vec<&str> = param(&params, "search").unwrap().split(' ').collect();
            let max_terms = if r.class == Class::Search { 3 } else { 2 };
            assert!((1..=max_terms).contains(&terms.len()), "{r:?}");
            for t in &terms {
                assert!((1..=MAX_TERM).contains(&t.chars().count()), "{t}");
                assert!(!t.contains(',') && !t.trim().is_empty(), "{t}");
                assert!(occurs(t, &searched), "{t} is in no searched field");
            }
            let is_short = |t: &&str| t.chars().count() <= SHORT_TERM;
            short += terms.iter().any(is_short) as usize;
            mixed += (terms.iter().any(is_short) && !terms.iter().all(is_short)) as usize;
            three += (terms.len() == 3) as usize;
        }
        assert!(short > 100, "requests with a short term: {short}");
        assert!(mixed > 40, "requests mixing short and long terms: {mixed}");
        assert!(three > 20, "three-term searches: {three}");
    }

    #[test]
    fn orderings_and_pages() {
        let orderable = fields::ordering_fields();
        let (mut first_pages, mut paged, mut directions) = (0, 0, BTreeSet::new());
        let mut sizes = BTreeSet::new();
        for r in workload(9, 1000) {
            let params = r.params();
            if let Some(ordering) = param(&params, "ordering") {
                let terms: Vec<&str> = ordering.split(',').collect();
                assert!((1..=3).contains(&terms.len()), "{ordering}");
                let names: BTreeSet<&str> = terms.iter().map(|t| t.trim_start_matches('-')).collect();
                assert_eq!(names.len(), terms.len(), "distinct: {ordering}");
                assert!(names.iter().all(|n| orderable.contains(n)), "{ordering}");
                directions.extend(terms.iter().map(|t| t.starts_with('-')));
            }
            let page: Option<u64> = param(&params, "page").map(|p| p.parse().unwrap());
            match r.class {
                Class::DeepPage => {
                    let size: u64 = param(&params, "page_size").unwrap().parse().unwrap();
                    assert!(PAGE_SIZES.contains(&size));
                    assert!((1..=3_000_000 / size).contains(&page.unwrap()), "{r:?}");
                    sizes.insert(size);
                }
                Class::Cursor => {
                    assert_eq!(param(&params, "cursor"), Some(""));
                    assert!(page.is_none() && (1..=MAX_HOPS).contains(&r.hops), "{r:?}");
                }
                _ => {
                    assert!(page.is_none_or(|p| (2..=MAX_PAGE).contains(&p)), "{r:?}");
                    assert_eq!(r.hops, 0);
                    first_pages += page.is_none() as usize;
                    paged += page.is_some() as usize;
                }
            }
        }
        assert!(first_pages > 2 * paged && paged > 50, "mostly page 1: {first_pages} / {paged}");
        assert_eq!(directions.len(), 2);
        assert_eq!(sizes.len(), PAGE_SIZES.len());
    }

    #[test]
    fn values_are_real_and_url_encoded() {
        for r in workload(13, 1000) {
            for (name, value) in r.params().0 {
                let field =
                    name.split("__").take_while(|p| !["gte", "lte", "gt", "lt"].contains(p)).collect::<Vec<_>>();
                let field = field.join("__");
                if fields::EXACT_FIELDS.contains(&name.as_str()) && r.class != Class::DeepPage {
                    assert!(rows().iter().any(|row| row.get(&name) == Some(value.as_str())), "{name}={value}");
                } else if RANGE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                    let real = rows().iter().any(|row| row.get(&field).is_some_and(|v| v.starts_with(&value)));
                    assert!(
                        real && (value.len() == 10 || !TIMESTAMPS.contains(&field.as_str()) || value.ends_with('Z'))
                    );
                }
            }
            assert!(!r.query.contains(' '), "{}", r.query);
            assert_eq!(Params::from_query(&r.query).query_string(), r.query);
        }
        let phone = WorkloadRequest::new(Class::Exact, &Params::new(&[("phone_number", "+1-555 01")]), 0);
        assert_eq!(phone.query, "phone_number=%2B1-555+01");
    }

    #[test]
    fn helpers() {
        let mut rng = Rng::new(1);
        let mut blanks = 0;
        for _ in 0..200 {
            match fragment("ab cd", 1, 7, &mut rng) {
                Some(f) => assert!("ab cd".contains(&f) && f == f.trim() && !f.is_empty()),
                None => blanks += 1,
            }
        }
        assert!(blanks < 20, "only the blank alone gives nothing: {blanks}");
        assert_eq!(fragment("", 1, 7, &mut rng), None);
        assert_eq!(fragment("   ", 1, 1, &mut rng), None);
        let s = random_case("straße", &mut rng);
        assert_eq!(s.to_lowercase(), "straße");
        assert_eq!(s.chars().count(), 6);
    }
}
