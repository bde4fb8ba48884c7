//! The contacts the workload's values come from: rows drawn from the data
//! at seeded random ids, with their address and relationship, every value
//! as the API writes it in a URL.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::db::Admin;
use crate::rng::Rng;

/// One contact: field name of the query language (`first_name`,
/// `address__city`, `relationship__points`, …) → its value as text.
/// NULL values are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleRow(pub BTreeMap<String, String>);

impl SampleRow {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Timestamps as ISO 8601 in UTC with microseconds, the API's format.
const ISO: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#;

/// The columns read, in [`FIELDS`] order.
fn columns() -> Vec<String> {
    let ts = |c: &str| format!("to_char({c} AT TIME ZONE 'UTC', {ISO})");
    [
        "u.id::text".to_string(),
        "u.first_name::text".into(),
        "u.last_name::text".into(),
        "u.gender::text".into(),
        "u.customer_id::text".into(),
        "u.phone_number::text".into(),
        ts("u.created"),
        "u.birthday::text".into(),
        ts("u.last_updated"),
        "u.address_id::text".into(),
        "a.street::text".into(),
        "a.city::text".into(),
        "a.city_code::text".into(),
        "a.country::text".into(),
        "r.points::text".into(),
        ts("r.created"),
        ts("r.last_activity"),
    ]
    .to_vec()
}

/// The field each of the [`columns`] is for.
const FIELDS: [&str; 17] = [
    "id",
    "first_name",
    "last_name",
    "gender",
    "customer_id",
    "phone_number",
    "created",
    "birthday",
    "last_updated",
    "address__id",
    "address__street",
    "address__city",
    "address__city_code",
    "address__country",
    "relationship__points",
    "relationship__created",
    "relationship__last_activity",
];

/// `count` seeded random ids between the smallest and the largest contact
/// id; each stands for the first contact at or after it. The same seed on
/// the same data gives the same rows (duplicates are possible and kept).
pub fn picks(seed: u64, min: i64, max: i64, count: usize) -> Vec<i64> {
    let mut rng = Rng::new(seed ^ 0x5A4D_504C_4553);
    let span = (max - min).max(0) as u64 + 1;
    (0..count).map(|_| min + rng.below(span) as i64).collect()
}

/// The sample: `count` contacts at seeded random ids (see [`picks`]).
pub async fn fetch(admin: &Admin, seed: u64, count: usize) -> Result<Vec<SampleRow>> {
    let session = admin.session();
    let row = session.query_one("SELECT min(id), max(id) FROM appuser", &[]).await?;
    let (Some(min), Some(max)): (Option<i64>, Option<i64>) = (row.get(0), row.get(1)) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {} FROM unnest($1::bigint[]) WITH ORDINALITY AS p(at, n) \
         CROSS JOIN LATERAL (SELECT * FROM appuser WHERE id >= p.at ORDER BY id LIMIT 1) u \
         LEFT JOIN address a ON a.id = u.address_id \
         LEFT JOIN customer_relationship r ON r.appuser_id = u.id ORDER BY p.n",
        columns().join(", ")
    );
    let rows =
        session.query(&sql, &[&picks(seed, min, max, count)]).await.context("cannot read the sample contacts")?;
    Ok(rows
        .iter()
        .map(|row| {
            let values = FIELDS
                .iter()
                .enumerate()
                .filter_map(|(i, field)| row.get::<_, Option<String>>(i).map(|v| (field.to_string(), v)))
                .collect();
            SampleRow(values)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_seeded_and_in_range() {
        let a = picks(42, 10, 20, 50);
        assert_eq!(a, picks(42, 10, 20, 50));
        assert_ne!(a, picks(43, 10, 20, 50));
        assert!(a.iter().all(|id| (10..=20).contains(id)));
        assert_eq!(picks(1, 5, 5, 3), [5, 5, 5]);
    }

    #[test]
    fn every_field_is_read() {
        assert_eq!(columns().len(), FIELDS.len());
        for f in FIELDS {
            assert!(super::super::fields::by_name(f).is_some(), "{f}");
        }
        let row = SampleRow([("gender".to_string(), String::new())].into_iter().collect());
        assert_eq!(row.get("gender"), None);
    }
}
