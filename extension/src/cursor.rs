//! Opaque cursors for keyset pagination: the position of a row in an
//! ordering, and which way to read from it.
//!
//! A cursor carries the ordering it was made for and the row's values of the
//! ordering's columns. It is not signed: a client can forge any position, and
//! that is harmless, because every value is type-checked here and bound as a
//! parameter; a cursor made for another ordering is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value as Json};

use crate::contact::Cell;
use crate::fields::ValueType;
use crate::params::OrderTerm;

/// Which way to read from the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Rows after the position (the `next` link).
    Forward,
    /// Rows before it (the `previous` link), read in reverse and flipped.
    Backward,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    /// One value per ordering term, tie-breaker included.
    pub values: Vec<Cell>,
    pub direction: Direction,
}

/// `-created,-id`: the complete ordering a cursor belongs to.
pub fn ordering_signature(terms: &[OrderTerm]) -> String {
    terms
        .iter()
        .map(|t| format!("{}{}", if t.descending { "-" } else { "" }, t.field.name))
        .collect::<Vec<_>>()
        .join(",")
}

fn cell_json(cell: &Cell) -> Json {
    match cell {
        Cell::Null => Json::Null,
        Cell::Int(v) => json!(v),
        Cell::Text(s) => json!(s),
        Cell::Timestamp(t) => json!(t),
        Cell::Date(d) => json!(d),
    }
}

fn json_cell(value: &Json, ty: ValueType) -> Option<Cell> {
    if value.is_null() {
        return Some(Cell::Null);
    }
    Some(match ty {
        ValueType::BigInt => Cell::Int(value.as_i64()?),
        ValueType::Int => Cell::Int(i32::try_from(value.as_i64()?).ok()?.into()),
        ValueType::Text => Cell::Text(value.as_str()?.to_owned()),
        ValueType::Timestamp => Cell::Timestamp(value.as_i64()?),
        ValueType::Date => Cell::Date(i32::try_from(value.as_i64()?).ok()?),
    })
}

pub fn encode(terms: &[OrderTerm], position: &Position) -> String {
    let token = json!({
        "o": ordering_signature(terms),
        "d": match position.direction { Direction::Forward => "f", Direction::Backward => "b" },
        "p": position.values.iter().map(cell_json).collect::<Vec<_>>(),
    });
    URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The position a token stands for, if it is well formed and was made for
/// this ordering.
pub fn decode(token: &str, terms: &[OrderTerm]) -> Option<Position> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim().trim_end_matches('=')).ok()?;
    let token: Json = serde_json::from_slice(&bytes).ok()?;
    if token.get("o")?.as_str()? != ordering_signature(terms) {
        return None;
    }
    let direction = match token.get("d")?.as_str()? {
        "f" => Direction::Forward,
        "b" => Direction::Backward,
        _ => return None,
    };
    let raw = token.get("p")?.as_array()?;
    if raw.len() != terms.len() {
        return None;
    }
    let values = raw.iter().zip(terms).map(|(v, t)| json_cell(v, t.field.value_type())).collect::<Option<Vec<_>>>()?;
    // The tie-breaker (id, wherever the ordering has it) is never NULL.
    let id_term = terms.iter().position(|t| t.field.name == "id");
    if id_term.is_none_or(|i| values[i] == Cell::Null) {
        return None;
    }
    Some(Position { values, direction })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::field_by_name;

    fn terms(spec: &[(&str, bool)]) -> Vec<OrderTerm> {
        spec.iter().map(|(n, d)| OrderTerm { field: field_by_name(n).unwrap(), descending: *d }).collect()
    }

    #[test]
    fn the_id_may_come_before_a_nullable_last_term() {
        let t = terms(&[("id", false), ("phone_number", false)]);
        let position = Position { values: vec![Cell::Int(257), Cell::Null], direction: Direction::Forward };
        assert_eq!(decode(&encode(&t, &position), &t), Some(position));
        let no_id = Position { values: vec![Cell::Null, Cell::Text("x".into())], direction: Direction::Forward };
        assert_eq!(decode(&encode(&t, &no_id), &t), None);
    }

    #[test]
    fn round_trips() {
        let t = terms(&[("relationship__points", true), ("address__city", false), ("created", false), ("id", false)]);
        let position = Position {
            values: vec![Cell::Int(5), Cell::Null, Cell::Timestamp(-3), Cell::Int(42)],
            direction: Direction::Backward,
        };
        let token = encode(&t, &position);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
        assert_eq!(decode(&token, &t), Some(position));
    }

    #[test]
    fn refuses_other_orderings_and_garbage() {
        let t = terms(&[("created", true), ("id", true)]);
        let token =
            encode(&t, &Position { values: vec![Cell::Timestamp(1), Cell::Int(1)], direction: Direction::Forward });
        assert!(decode(&token, &terms(&[("created", false), ("id", false)])).is_none());
        for bad in ["", "!!!", "e30", &URL_SAFE_NO_PAD.encode(r#"{"o":"-created,-id","d":"f","p":["x",1]}"#)] {
            assert!(decode(bad, &t).is_none(), "{bad}");
        }
        let null_id = URL_SAFE_NO_PAD.encode(r#"{"o":"-created,-id","d":"f","p":[1,null]}"#);
        assert!(decode(&null_id, &t).is_none());
        let points = terms(&[("relationship__points", false), ("id", false)]);
        let too_big = URL_SAFE_NO_PAD.encode(r#"{"o":"relationship__points,id","d":"f","p":[99999999999,1]}"#);
        assert!(decode(&too_big, &points).is_none());
    }
}
