//! Errors carried as values through parsing and SQL building, mapped to a
//! SQLSTATE once, at the SQL edge (`lib.rs`). The API maps SQLSTATEs to HTTP.

use std::collections::BTreeMap;

/// The client-facing class of an error; each has one SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad parameters: SQLSTATE 22023 (invalid_parameter_value), HTTP 400.
    BadRequest,
    /// Page or cursor out of range, no such contact: SQLSTATE P0002
    /// (no_data_found), HTTP 404.
    NotFound,
    /// A write's If-Match names a version that is no longer the contact's:
    /// SQLSTATE 40001 (serialization_failure, the conflict of optimistic
    /// concurrency), HTTP 412.
    PreconditionFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// One or more parameters are invalid: messages per parameter, reported
    /// together as a Django form does.
    #[error("invalid query parameters: {}", summarize(.0))]
    BadParameters(BTreeMap<String, Vec<String>>),
    /// `page=0`, a non-numeric page or a page past the end (DRF's wording).
    #[error("Invalid page.")]
    InvalidPage,
    /// A cursor that is malformed or was made for another ordering (DRF's wording).
    #[error("Invalid cursor")]
    InvalidCursor,
    /// A write to a contact that does not exist (DRF's wording).
    #[error("No AppUser matches the given query.")]
    NoSuchContact,
    /// The same for an address (Django's model is `Address`).
    #[error("No Address matches the given query.")]
    NoSuchAddress,
    /// If-Match did not name the contact's current version.
    #[error("It has changed since the version given in If-Match; read it again.")]
    StaleVersion,
    /// An all-or-nothing import met invalid rows and wrote nothing: the
    /// import's report (`import_rows::Report`, JSON), which names them.
    #[error("the import has invalid rows; nothing was written")]
    RejectedRows(String),
}

fn summarize(errors: &BTreeMap<String, Vec<String>>) -> String {
    errors.iter().map(|(param, messages)| format!("{param}: {}", messages.join(" "))).collect::<Vec<_>>().join("; ")
}

impl QueryError {
    /// A single-parameter error.
    pub fn parameter(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = ParameterErrors::default();
        errors.add(param, message);
        QueryError::BadParameters(errors.0)
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            QueryError::BadParameters(_) | QueryError::RejectedRows(_) => ErrorClass::BadRequest,
            QueryError::InvalidPage
            | QueryError::InvalidCursor
            | QueryError::NoSuchContact
            | QueryError::NoSuchAddress => ErrorClass::NotFound,
            QueryError::StaleVersion => ErrorClass::PreconditionFailed,
        }
    }

    /// The HTTP response body, as the original sends it.
    pub fn body(&self) -> String {
        let value = match self {
            QueryError::BadParameters(errors) => serde_json::to_value(errors),
            QueryError::RejectedRows(report) => return report.clone(),
            other => serde_json::to_value(BTreeMap::from([("detail", other.to_string())])),
        };
        value.expect("string maps serialize").to_string()
    }
}

/// Collects messages per parameter while a request is validated.
#[derive(Debug, Default)]
pub struct ParameterErrors(BTreeMap<String, Vec<String>>);

impl ParameterErrors {
    pub fn add(&mut self, param: impl Into<String>, message: impl Into<String>) {
        self.0.entry(param.into()).or_default().push(message.into());
    }

    /// `Err` with every collected message, or `Ok(value)` when there were none.
    pub fn into_result<T>(self, value: T) -> Result<T, QueryError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(QueryError::BadParameters(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_the_original() {
        let e = QueryError::parameter("relationship__points__gte", "Enter a number.");
        assert_eq!(e.body(), r#"{"relationship__points__gte":["Enter a number."]}"#);
        assert_eq!(e.class(), ErrorClass::BadRequest);
        assert_eq!(QueryError::InvalidPage.body(), r#"{"detail":"Invalid page."}"#);
        assert_eq!(QueryError::InvalidPage.class(), ErrorClass::NotFound);
    }

    #[test]
    fn errors_are_collected_per_parameter() {
        let mut errors = ParameterErrors::default();
        errors.add("b", "one");
        errors.add("a", "two");
        errors.add("b", "three");
        let e = errors.into_result(()).unwrap_err();
        assert_eq!(e.body(), r#"{"a":["two"],"b":["one","three"]}"#);
        assert_eq!(e.to_string(), "invalid query parameters: a: two; b: one three");
        assert!(ParameterErrors::default().into_result(1).is_ok());
    }
}
