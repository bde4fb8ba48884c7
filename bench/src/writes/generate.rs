//! The contacts the write group sends: plausible values of every writable
//! key, seeded, each last name (and each new address's street) starting
//! with the run's marker so that the cleanup finds exactly them.

use serde_json::{json, Map, Value as Json};

use crate::rng::Rng;

const FIRST_NAMES: [&str; 16] = [
    "Ada", "Paul", "Maria", "Jonas", "Lena", "Omar", "Chloe", "Ivan", "Sofia", "Kenji", "Amara", "Lucas", "Noor",
    "Elena", "Tomas", "Grace",
];
const LAST_NAMES: [&str; 16] = [
    "Byron", "Smith", "Garcia", "Muller", "Rossi", "Dubois", "Novak", "Haddad", "Tanaka", "Silva", "Okafor", "Larsen",
    "Kowalski", "Nguyen", "Moreau", "Brennan",
];
const STREETS: [&str; 8] =
    ["Main Street", "Station Road", "Elm Avenue", "Harbour Lane", "Mill Road", "Park Row", "Church Street", "Quay"];
const CITIES: [(&str, &str); 8] = [
    ("Oslo", "Norway"),
    ("Leeds", "United Kingdom"),
    ("Lyon", "France"),
    ("Porto", "Portugal"),
    ("Graz", "Austria"),
    ("Austin", "United States"),
    ("Osaka", "Japan"),
    ("Cork", "Ireland"),
];
const GENDERS: [Option<&str>; 4] = [Some("M"), Some("F"), Some("O"), None];

fn pick<'a>(rng: &mut Rng, values: &[&'a str]) -> &'a str {
    values[rng.below(values.len() as u64) as usize]
}

/// A last name the cleanup recognises.
pub fn marked_last_name(marker: &str, rng: &mut Rng) -> String {
    format!("{marker} {}", pick(rng, &LAST_NAMES))
}

/// `YYYY-MM-DD` between 1940 and 2005.
fn birthday(rng: &mut Rng) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).expect("a valid date");
    (start + chrono::Days::new(rng.below(65 * 365))).format("%Y-%m-%d").to_string()
}

/// A UTC timestamp in 2024–2025.
fn last_activity(rng: &mut Rng) -> String {
    let start = chrono::DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01");
    (start + chrono::Duration::seconds(rng.below(2 * 365 * 86_400) as i64)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The five fields of a new address (its street marked).
fn address(rng: &mut Rng, marker: &str, into: &mut Map<String, Json>) {
    let (city, country) = CITIES[rng.below(CITIES.len() as u64) as usize];
    into.insert("street".into(), json!(format!("{marker} {}", pick(rng, &STREETS))));
    into.insert("street_number".into(), json!((1 + rng.below(999)).to_string()));
    into.insert("city_code".into(), json!(format!("{:05}", rng.below(100_000))));
    into.insert("city".into(), json!(city));
    into.insert("country".into(), json!(country));
}

/// A create's body (or an import row): every writable key but
/// `address_id`, with a new address when `with_address`.
pub fn contact(rng: &mut Rng, marker: &str, with_address: bool) -> Json {
    let mut body = Map::new();
    body.insert("first_name".into(), json!(pick(rng, &FIRST_NAMES)));
    body.insert("last_name".into(), json!(marked_last_name(marker, rng)));
    body.insert("gender".into(), json!(GENDERS[rng.below(GENDERS.len() as u64) as usize]));
    body.insert("phone_number".into(), json!(format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10_000))));
    body.insert("birthday".into(), json!(birthday(rng)));
    body.insert("points".into(), json!(rng.below(100_000)));
    body.insert("last_activity".into(), json!(last_activity(rng)));
    if with_address {
        address(rng, marker, &mut body);
    }
    Json::Object(body)
}

/// Every other contact gets a new address (the first one does).
pub fn with_address(index: u64) -> bool {
    index.is_multiple_of(2)
}

/// A PATCH body: new points and a new (still marked) last name.
pub fn patch(rng: &mut Rng, marker: &str) -> Json {
    json!({"points": rng.below(100_000), "last_name": marked_last_name(marker, rng)})
}

/// An import body of `rows` contacts, one JSON object a line; returns it
/// with the number of new addresses in it.
pub fn ndjson(rng: &mut Rng, marker: &str, rows: u64) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(rows as usize * 300);
    for i in 0..rows {
        // Writing a Value into a Vec cannot fail.
        serde_json::to_writer(&mut out, &contact(rng, marker, with_address(i))).expect("JSON into memory");
        out.push(b'\n');
    }
    (out, rows.div_ceil(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "BenchW20250101T120000P1";

    fn text<'a>(v: &'a Json, key: &str) -> &'a str {
        v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
    }

    #[test]
    fn contacts_are_valid_and_marked() {
        let mut rng = Rng::new(7);
        for i in 0..200 {
            let c = contact(&mut rng, MARKER, with_address(i));
            assert!(text(&c, "last_name").starts_with(&format!("{MARKER} ")), "{c}");
            assert!(text(&c, "last_name").len() <= 100 && text(&c, "first_name").len() <= 100);
            assert!(text(&c, "phone_number").len() <= 20, "{c}");
            assert!(matches!(c["gender"].as_str(), None | Some("M" | "F" | "O")));
            assert!(chrono::NaiveDate::parse_from_str(text(&c, "birthday"), "%Y-%m-%d").is_ok(), "{c}");
            assert!(chrono::DateTime::parse_from_rfc3339(text(&c, "last_activity")).is_ok(), "{c}");
            assert!(c["points"].as_u64().is_some_and(|p| p < 100_000));
            let address_keys = ["street", "street_number", "city_code", "city", "country"];
            if i % 2 == 0 {
                assert!(address_keys.iter().all(|k| !text(&c, k).is_empty()), "{c}");
                assert!(text(&c, "street").starts_with(&format!("{MARKER} ")));
                assert!(text(&c, "city_code").len() <= 20 && text(&c, "street_number").len() <= 50);
            } else {
                assert!(address_keys.iter().all(|k| c.get(k).is_none()), "{c}");
            }
            assert!(c.get("address_id").is_none() && c.get("id").is_none());
        }
    }

    #[test]
    fn seeded() {
        let draw = |seed| contact(&mut Rng::new(seed), MARKER, true);
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let p = patch(&mut Rng::new(3), MARKER);
        assert_eq!(p.as_object().unwrap().keys().collect::<Vec<_>>(), ["points", "last_name"]);
        assert!(text(&p, "last_name").starts_with(MARKER));
    }

    #[test]
    fn ndjson_one_object_a_line_half_with_an_address() {
        let (body, addresses) = ndjson(&mut Rng::new(1), MARKER, 5);
        assert_eq!(addresses, 3);
        let text = String::from_utf8(body).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines.iter().filter(|l| l.get("street").is_some()).count(), 3);
        assert_eq!(ndjson(&mut Rng::new(1), MARKER, 0), (Vec::new(), 0));
    }
}
