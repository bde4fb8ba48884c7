//! What the workload sends: requests of named classes, each a query string
//! of the list endpoint.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::scenarios::{Params, Request};

/// A kind of request. The ids are stable: they name the classes in every
/// output and in replayed files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// `<field>__icontains=<fragment>` on a text field.
    Icontains,
    /// `search=` one to three terms.
    Search,
    /// `name=<fragment of a first or last name>`.
    Name,
    /// A range lookup on a date, timestamp or points field.
    Range,
    /// An exact value.
    Exact,
    /// Two to four filters of the kinds above.
    Combined,
    /// A search with one to three filters.
    SearchFilters,
    /// A deep page number of a large page size.
    DeepPage,
    /// A keyset first page, then `next` links (each hop one request).
    Cursor,
}

impl Class {
    pub const ALL: [Class; 9] = [
        Class::Icontains,
        Class::Search,
        Class::Name,
        Class::Range,
        Class::Exact,
        Class::Combined,
        Class::SearchFilters,
        Class::DeepPage,
        Class::Cursor,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Class::Icontains => "icontains",
            Class::Search => "search",
            Class::Name => "name",
            Class::Range => "range",
            Class::Exact => "exact",
            Class::Combined => "combined",
            Class::SearchFilters => "search_filters",
            Class::DeepPage => "deep_page",
            Class::Cursor => "cursor",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One drawn request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRequest {
    pub class: Class,
    /// The query string (form-encoded) of `GET /api/contacts/?…`.
    pub query: String,
    /// `next` links followed after the first page (cursor requests only).
    #[serde(default)]
    pub hops: u8,
}

impl WorkloadRequest {
    pub fn new(class: Class, params: &Params, hops: u8) -> WorkloadRequest {
        WorkloadRequest { class, query: params.query_string(), hops }
    }

    pub fn params(&self) -> Params {
        Params::from_query(&self.query)
    }

    pub fn request(&self) -> Request {
        Request::List(self.params())
    }
}

/// The key that matches a request across runs: its query string, and for
/// the `k`-th hop of a cursor request `<query>#next<k>` (the cursor tokens
/// themselves depend on the data).
pub fn key(query: &str, hop: u8) -> String {
    if hop == 0 {
        query.to_string()
    } else {
        format!("{query}#next{hop}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_have_stable_ids() {
        let ids: Vec<&str> = Class::ALL.iter().map(|c| c.id()).collect();
        assert_eq!(
            ids,
            ["icontains", "search", "name", "range", "exact", "combined", "search_filters", "deep_page", "cursor"]
        );
        for c in Class::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.id());
        }
    }

    #[test]
    fn query_strings_round_trip() {
        let params =
            Params::new(&[("search", "ab Cd,e"), ("created__gte", "2024-01-01T00:00:00+02:00"), ("cursor", "")]);
        let r = WorkloadRequest::new(Class::Search, &params, 0);
        assert_eq!(r.query, "search=ab+Cd%2Ce&created__gte=2024-01-01T00%3A00%3A00%2B02%3A00&cursor=");
        assert_eq!(r.params(), params);
        assert_eq!(r.request().path(), format!("/api/contacts/?{}", r.query));
        assert_eq!(key("a=1", 0), "a=1");
        assert_eq!(key("a=1", 2), "a=1#next2");
    }
}
