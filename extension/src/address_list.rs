//! The address list (`crm.addresses_page`, `/api/addresses/`): its query
//! parameters → an `AddressQuery` (the plan), then its two statements (the
//! count and the page). Every key and what it allows comes from
//! `fields::ADDRESS`; every value is bound.
//!
//! Parameters: `street`, `city_code`, `city`, `country` (exact) and their
//! `__icontains`; `search` (terms split on blanks and commas, each matched
//! in street, city code, city or country); `ordering` (keys, `-` for
//! descending; the id breaks ties); `page`, `page_size`.

use crate::error::{ParameterErrors, QueryError};
use crate::fields::{self, AddressKey, Column};
use crate::params::{self, PageRequest, RawParams, DEFAULT_PAGE_SIZE, MAX_SEARCH_TERMS};
use crate::sql::{contains_pattern, Arg, Binder, SqlQuery};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Exact,
    Contains,
}

/// A validated address list request.
#[derive(Clone, Debug, PartialEq)]
pub struct AddressQuery {
    pub filters: Vec<(Column, Match, String)>,
    pub search_terms: Vec<String>,
    /// Columns and whether descending; the id last.
    pub ordering: Vec<(Column, bool)>,
    pub page: PageRequest,
    pub page_size: u64,
}

pub fn parse(raw: &RawParams) -> Result<AddressQuery, QueryError> {
    let mut errors = ParameterErrors::default();
    let mut query = AddressQuery {
        filters: Vec::new(),
        search_terms: Vec::new(),
        ordering: Vec::new(),
        page: PageRequest::Number(1),
        page_size: DEFAULT_PAGE_SIZE,
    };
    for (key, value) in raw {
        match key.as_str() {
            fields::PAGE => query.page = params::parse_page(value),
            fields::PAGE_SIZE => match params::parse_page_size(value) {
                Ok(size) => query.page_size = size,
                Err(message) => errors.add(key, message),
            },
            fields::SEARCH => {
                let terms = params::split_search_terms(value);
                if terms.len() > MAX_SEARCH_TERMS {
                    errors.add(key, format!("Use at most {MAX_SEARCH_TERMS} search terms."));
                }
                query.search_terms = terms;
            }
            fields::ORDERING => match ordering(value) {
                Ok(terms) => query.ordering = terms,
                Err(message) => errors.add(key, message),
            },
            _ => match filter(key) {
                // An empty value is no filter, as django-filter treats it.
                Some(_) if value.is_empty() => {}
                Some((column, how)) => query.filters.push((column, how, value.clone())),
                None => errors.add(key, "Unknown parameter."),
            },
        }
    }
    if !query.ordering.iter().any(|(c, _)| *c == fields::A_ID) {
        let descending = query.ordering.last().is_some_and(|(_, d)| *d);
        query.ordering.push((fields::A_ID, descending));
    }
    errors.into_result(query)
}

/// The column and match a filter parameter names, if it names one.
fn filter(name: &str) -> Option<(Column, Match)> {
    let (key, how) = match name.strip_suffix("__icontains") {
        Some(key) => (key, Match::Contains),
        None => (name, Match::Exact),
    };
    fields::ADDRESS.iter().find(|a| a.filter && a.key == key).map(|a| (a.column, how))
}

fn ordering(value: &str) -> Result<Vec<(Column, bool)>, String> {
    let mut terms: Vec<(Column, bool)> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (descending, key) = item.strip_prefix('-').map_or((false, item), |rest| (true, rest));
        let Some(field) = fields::ADDRESS.iter().find(|a| a.orderable && a.key == key) else {
            let choices: Vec<&str> = fields::ADDRESS.iter().filter(|a| a.orderable).map(|a| a.key).collect();
            return Err(format!("Unknown ordering field '{item}'. Choices: {}.", choices.join(", ")));
        };
        if !terms.iter().any(|(c, _)| *c == field.column) {
            terms.push((field.column, descending));
        }
    }
    Ok(terms)
}

/// `WHERE …` of the request, values bound through `binder`.
fn conditions(query: &AddressQuery, binder: &mut Binder) -> String {
    let mut parts = Vec::new();
    for (column, how, value) in &query.filters {
        parts.push(match how {
            Match::Exact => format!("a.{} = {}", column.name, binder.bind(Arg::Text(value.clone()))),
            Match::Contains => format!("a.{} ILIKE {}", column.name, binder.bind(Arg::Text(contains_pattern(value)))),
        });
    }
    let searched: Vec<&AddressKey> = fields::ADDRESS.iter().filter(|a| a.search).collect();
    for term in &query.search_terms {
        let pattern = binder.bind(Arg::Text(contains_pattern(term)));
        let any: Vec<String> = searched.iter().map(|a| format!("a.{} ILIKE {pattern}", a.column.name)).collect();
        parts.push(format!("({})", any.join(" OR ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    }
}

/// An address as its JSON object, keys in output order.
pub fn json_select_list() -> String {
    let pairs: Vec<String> = fields::ADDRESS.iter().map(|a| format!("'{}', a.{}", a.key, a.column.name)).collect();
    format!("json_build_object({})::text", pairs.join(", "))
}

/// The number of addresses the request matches.
pub fn count_query(query: &AddressQuery) -> SqlQuery {
    let mut binder = Binder::default();
    let text = format!("SELECT count(*) FROM address a{}", conditions(query, &mut binder));
    binder.finish(text)
}

/// One page of the request's addresses as JSON text, `offset` rows in.
pub fn page_query(query: &AddressQuery, offset: u64) -> SqlQuery {
    let mut binder = Binder::default();
    let conditions = conditions(query, &mut binder);
    let order: Vec<String> =
        query.ordering.iter().map(|(c, d)| format!("a.{}{}", c.name, if *d { " DESC" } else { "" })).collect();
    let limit = binder.bind(Arg::Int8(query.page_size as i64));
    let offset = binder.bind(Arg::Int8(offset as i64));
    let text = format!(
        "SELECT {} FROM address a{conditions} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        json_select_list(),
        order.join(", ")
    );
    binder.finish(text)
}

/// One address as JSON text.
pub fn detail_query(id: i64) -> SqlQuery {
    SqlQuery {
        text: format!("SELECT {} FROM address a WHERE a.id = $1", json_select_list()),
        args: vec![Arg::Int8(id)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{Table, Write};

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_address_keys_are_the_contact_address_keys_with_the_id() {
        let contact: Vec<&str> =
            fields::CONTACT.iter().filter(|f| f.column.table == Table::Address).map(|f| f.key).collect();
        let address: Vec<&str> = fields::ADDRESS.iter().skip(1).map(|a| a.key).collect();
        assert_eq!(address, contact);
        assert_eq!(fields::address_write_rule(&fields::ADDRESS[0]), Write::ReadOnly);
        assert!(fields::ADDRESS[1..].iter().all(|a| fields::address_write_rule(a) != Write::ReadOnly));
    }

    #[test]
    fn filters_search_and_ordering_become_bound_sql() {
        let q = parse(&raw(&[
            ("city", "Oslo"),
            ("street__icontains", "50%"),
            ("search", "nor 01"),
            ("ordering", "-country"),
            ("page_size", "2"),
        ]))
        .unwrap();
        let page = page_query(&q, 4);
        assert_eq!(
            page.text,
            format!(
                "SELECT {} FROM address a WHERE a.city = $1 AND a.street ILIKE $2 AND \
                 (a.street ILIKE $3 OR a.city_code ILIKE $3 OR a.city ILIKE $3 OR a.country ILIKE $3) AND \
                 (a.street ILIKE $4 OR a.city_code ILIKE $4 OR a.city ILIKE $4 OR a.country ILIKE $4) \
                 ORDER BY a.country DESC, a.id DESC LIMIT $5 OFFSET $6",
                json_select_list()
            )
        );
        assert_eq!(page.args[1], Arg::Text("%50\\%%".into()));
        assert_eq!(page.args[4..], [Arg::Int8(2), Arg::Int8(4)]);
        assert_eq!(count_query(&q).args.len(), 4);
    }

    #[test]
    fn unknown_keys_and_orderings_are_named() {
        let e = parse(&raw(&[("zip", "1"), ("ordering", "street_number"), ("page_size", "0")])).unwrap_err();
        assert_eq!(
            e.body(),
            r#"{"ordering":["Unknown ordering field 'street_number'. Choices: id, street, city_code, city, country."],"page_size":["Ensure this value is greater than or equal to 1."],"zip":["Unknown parameter."]}"#
        );
        assert!(parse(&raw(&[("city", "")])).unwrap().filters.is_empty());
        assert_eq!(parse(&raw(&[])).unwrap().ordering, vec![(fields::A_ID, false)]);
    }
}
