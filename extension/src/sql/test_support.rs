//! Helpers of the unit tests: requests from query pairs, projection contexts.

use super::{Context, Resolution, Source};
use crate::params::{parse_list_request, ListRequest, RawParams};

pub(super) fn request(pairs: &[(&str, &str)]) -> ListRequest {
    let raw: RawParams = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse_list_request(&raw).unwrap()
}

pub(super) fn projection(resolutions: &[(&'static str, &str, Resolution)]) -> Context {
    Context {
        source: Source::Projection,
        resolutions: resolutions.iter().map(|(k, t, r)| ((*k, t.to_string()), r.clone())).collect(),
        matched: None,
        bounds: Vec::new(),
        present: Vec::new(),
    }
}
