//! The request's query string as the JSON object the extension takes:
//! names to values, a name given several times to the array of its values
//! (the extension decides what that means). Nothing here knows any field.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Decodes `a=1&b=x+y&a=2` (percent-decoding, `+` as space).
pub fn to_json(query: Option<&str>) -> Result<Value, ApiError> {
    let mut object = Map::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        // PostgreSQL text (and so jsonb) cannot hold NUL: refuse it here,
        // naming the parameter, as Django's ProhibitNullCharactersValidator.
        if key.contains('\0') || value.contains('\0') {
            let mut body = Map::new();
            body.insert(key.replace('\0', ""), Value::from(vec!["Null characters are not allowed."]));
            return Err(ApiError::BadRequest(Value::Object(body).to_string()));
        }
        let value = Value::String(value.into_owned());
        match object.get_mut(key.as_ref()) {
            None => {
                object.insert(key.into_owned(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_and_groups_repeated_names() {
        let v = to_json(Some("page=2&search=Zo%C3%AB+x&gender=M&gender=F&empty=")).unwrap();
        assert_eq!(v, json!({"page": "2", "search": "Zoë x", "gender": ["M", "F"], "empty": ""}));
        assert_eq!(to_json(None).unwrap(), json!({}));
    }

    #[test]
    fn refuses_nul_naming_the_parameter() {
        let e = to_json(Some("name=a%00b")).unwrap_err();
        assert_eq!(e.status_and_body().1, r#"{"name":["Null characters are not allowed."]}"#);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let v = to_json(Some("search=%FF")).unwrap();
        assert_eq!(v, json!({"search": "\u{FFFD}"}));
    }
}
