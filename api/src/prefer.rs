//! `Prefer: count=…` (RFC 7240, as PostgREST reads it): a way to ask for a
//! count mode without changing the URL. The preference becomes the `count`
//! query parameter when the URL has none (the URL wins); the extension
//! validates it like any parameter. Other preferences are ignored.

use axum::http::HeaderMap;
use serde_json::Value;

/// The query parameter (and preference token) that selects the count mode.
pub const COUNT: &str = "count";

/// The value of the `count` preference, if any of the Prefer headers has one.
pub fn count_preference(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|preference| {
            // `count=planned; x=y`: the token and its value before any parameter.
            let head = preference.split(';').next()?.trim();
            let (token, value) = head.split_once('=')?;
            (token.trim().eq_ignore_ascii_case(COUNT)).then(|| value.trim().trim_matches('"').to_string())
        })
        .next()
}

/// Applies the count preference to the request's parameters; returns the
/// `Preference-Applied` value when it was applied.
pub fn apply(headers: &HeaderMap, params: &mut Value) -> Option<String> {
    let preference = count_preference(headers)?;
    let object = params.as_object_mut()?;
    if object.contains_key(COUNT) {
        return None;
    }
    object.insert(COUNT.to_string(), Value::String(preference.clone()));
    Some(format!("{COUNT}={preference}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("prefer", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_the_count_preference_among_others() {
        assert_eq!(count_preference(&headers(&["return=minimal, count=planned"])), Some("planned".into()));
        assert_eq!(count_preference(&headers(&["handling=strict", "Count=\"none\"; x=1"])), Some("none".into()));
        assert_eq!(count_preference(&headers(&["return=minimal"])), None);
        assert_eq!(count_preference(&HeaderMap::new()), None);
    }

    #[test]
    fn the_url_wins_over_the_header() {
        let mut params = json!({"search": "x"});
        assert_eq!(apply(&headers(&["count=estimated"]), &mut params).as_deref(), Some("count=estimated"));
        assert_eq!(params, json!({"search": "x", "count": "estimated"}));
        let mut params = json!({"count": "exact"});
        assert_eq!(apply(&headers(&["count=none"]), &mut params), None);
        assert_eq!(params, json!({"count": "exact"}));
    }
}
