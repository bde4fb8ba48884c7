//! Page-number pagination as DRF's PageNumberPagination does it: which page
//! to read, and the `next` / `previous` links of the response.

use crate::contact::{self, ContactRow};
use crate::error::QueryError;
use crate::fields;
use crate::params::{PageRequest, RawParams};

/// A page resolved against the total count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWindow {
    pub number: u64,
    pub num_pages: u64,
    pub offset: u64,
}

/// Django's Paginator: at least one (possibly empty) page; a page beyond the
/// last is an error.
pub fn resolve(page: &PageRequest, count: u64, page_size: u64) -> Result<PageWindow, QueryError> {
    let num_pages = count.div_ceil(page_size).max(1);
    let number = match page {
        PageRequest::Number(n) if *n <= num_pages => *n,
        PageRequest::Last => num_pages,
        PageRequest::Number(_) | PageRequest::Invalid | PageRequest::Cursor(_) => return Err(QueryError::InvalidPage),
    };
    Ok(PageWindow { number, num_pages, offset: (number - 1) * page_size })
}

/// Python's `quote_plus`: unreserved characters kept, space as `+`, every
/// other UTF-8 byte percent-encoded.
fn quote_plus(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// The request's parameters with `key` replaced (or removed for `None`),
/// sorted by name and encoded, as DRF's `replace_query_param` does.
pub fn query_string(params: &RawParams, key: &str, value: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> =
        params.iter().filter(|(k, _)| k.as_str() != key).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(v) = value {
        pairs.push((key, v));
    }
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        quote_plus(k, &mut out);
        out.push('=');
        quote_plus(v, &mut out);
    }
    out
}

/// An absolute link when the caller passed its URL (the API does), otherwise
/// just `?query` (handy from psql).
fn link(base_url: Option<&str>, params: &RawParams, key: &str, value: Option<&str>) -> String {
    let query = query_string(params, key, value);
    let base = base_url.unwrap_or("");
    if query.is_empty() {
        if base.is_empty() {
            "?".to_string()
        } else {
            base.to_string()
        }
    } else {
        format!("{base}?{query}")
    }
}

/// `next` and `previous` for a page: the previous of page 2 drops `page`.
pub fn links(window: &PageWindow, base_url: Option<&str>, params: &RawParams) -> (Option<String>, Option<String>) {
    let page_link = |page: Option<u64>| link(base_url, params, fields::PAGE, page.map(|p| p.to_string()).as_deref());
    let next = (window.number < window.num_pages).then(|| page_link(Some(window.number + 1)));
    let previous = (window.number > 1).then(|| {
        let target = window.number - 1;
        page_link((target > 1).then_some(target))
    });
    (next, previous)
}

/// A keyset page's link: the request with `cursor` set to the token.
pub fn cursor_link(base_url: Option<&str>, params: &RawParams, token: &str) -> String {
    link(base_url, params, fields::CURSOR, Some(token))
}

fn push_optional_string(out: &mut String, value: &Option<String>) {
    match value {
        Some(s) => out.push_str(&serde_json::to_string(s).expect("strings serialize")),
        None => out.push_str("null"),
    }
}

/// The `count` member of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountField {
    /// Keyset pages have none (DRF's CursorPagination).
    Absent,
    /// `"count": null` (`count=none`).
    Null,
    Value(u64),
}

/// `{"count": …, "next": …, "previous": …, "results": […]}`.
pub fn page_json(count: CountField, next: &Option<String>, previous: &Option<String>, rows: &[ContactRow]) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 512);
    page_head(&mut out, count, next, previous);
    contact::write_json_array(&mut out, rows);
    out.push('}');
    out
}

/// The same page with results already rendered as JSON objects.
pub fn json_page(count: CountField, next: &Option<String>, previous: &Option<String>, rows: &[String]) -> String {
    let mut out = String::with_capacity(256 + rows.iter().map(|r| r.len() + 1).sum::<usize>());
    page_head(&mut out, count, next, previous);
    out.push('[');
    out.push_str(&rows.join(","));
    out.push_str("]}");
    out
}

/// Everything of a page before its results' array.
fn page_head(out: &mut String, count: CountField, next: &Option<String>, previous: &Option<String>) {
    out.push('{');
    match count {
        CountField::Absent => {}
        CountField::Null => out.push_str("\"count\":null,"),
        CountField::Value(count) => {
            out.push_str("\"count\":");
            out.push_str(&count.to_string());
            out.push(',');
        }
    }
    out.push_str("\"next\":");
    push_optional_string(out, next);
    out.push_str(",\"previous\":");
    push_optional_string(out, previous);
    out.push_str(",\"results\":");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> RawParams {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn resolves_pages_like_djangos_paginator() {
        assert_eq!(resolve(&PageRequest::Number(1), 0, 50), Ok(PageWindow { number: 1, num_pages: 1, offset: 0 }));
        assert_eq!(resolve(&PageRequest::Number(3), 101, 50), Ok(PageWindow { number: 3, num_pages: 3, offset: 100 }));
        assert_eq!(resolve(&PageRequest::Last, 100, 50).unwrap().number, 2);
        assert_eq!(resolve(&PageRequest::Last, 0, 50).unwrap().number, 1);
        assert_eq!(resolve(&PageRequest::Number(4), 101, 50), Err(QueryError::InvalidPage));
        assert_eq!(resolve(&PageRequest::Number(2), 0, 50), Err(QueryError::InvalidPage));
        assert_eq!(resolve(&PageRequest::Invalid, 10, 50), Err(QueryError::InvalidPage));
    }

    #[test]
    fn query_strings_are_sorted_and_encoded_like_drf() {
        let p = params(&[("page_size", "2"), ("search", "Zoë & co/50%"), ("page", "7"), ("ordering", "-created")]);
        assert_eq!(
            query_string(&p, "page", Some("2")),
            "ordering=-created&page=2&page_size=2&search=Zo%C3%AB+%26+co%2F50%25"
        );
        assert_eq!(query_string(&p, "page", None), "ordering=-created&page_size=2&search=Zo%C3%AB+%26+co%2F50%25");
        let c = params(&[("cursor", ""), ("page_size", "2")]);
        assert_eq!(cursor_link(Some("http://h/"), &c, "abc-_"), "http://h/?cursor=abc-_&page_size=2");
    }

    #[test]
    fn links_follow_drf() {
        let base = Some("http://h/api/contacts/");
        let p = params(&[("page_size", "2")]);
        let w = resolve(&PageRequest::Number(2), 5, 2).unwrap();
        assert_eq!(
            links(&w, base, &p),
            (
                Some("http://h/api/contacts/?page=3&page_size=2".into()),
                Some("http://h/api/contacts/?page_size=2".into())
            )
        );
        let w = resolve(&PageRequest::Number(3), 5, 2).unwrap();
        assert_eq!(links(&w, base, &p), (None, Some("http://h/api/contacts/?page=2&page_size=2".into())));
        let w = resolve(&PageRequest::Number(2), 5, 4).unwrap();
        assert_eq!(
            links(&w, base, &params(&[("page", "2"), ("page_size", "4")])).1,
            Some("http://h/api/contacts/?page_size=4".into())
        );
        let w = resolve(&PageRequest::Number(2), 150, 50).unwrap();
        assert_eq!(links(&w, base, &params(&[("page", "2")])).1, Some("http://h/api/contacts/".into()));
        assert_eq!(links(&w, None, &params(&[])).0, Some("?page=3".into()));
    }

    #[test]
    fn page_json_has_drfs_keys_in_order() {
        let json = page_json(CountField::Value(0), &None, &None, &[]);
        assert_eq!(json, r#"{"count":0,"next":null,"previous":null,"results":[]}"#);
        let json = page_json(CountField::Value(3), &Some("http://x/?page=2".into()), &None, &[]);
        assert_eq!(json, r#"{"count":3,"next":"http://x/?page=2","previous":null,"results":[]}"#);
        assert_eq!(page_json(CountField::Absent, &None, &None, &[]), r#"{"next":null,"previous":null,"results":[]}"#);
        assert_eq!(
            page_json(CountField::Null, &None, &None, &[]),
            r#"{"count":null,"next":null,"previous":null,"results":[]}"#
        );
    }
}
