//! Row generation with the distribution of docs/compatibility.md, "Data", as pure functions of
//! (seed, reference time, id): no database, no clock, no shared state.
//!
//! Every row draws from its own ChaCha8 stream, selected by the row's kind and
//! id. Rows therefore do not depend on which batch or thread generates them,
//! nor on the batch size, so generation can run in parallel and still give the
//! same rows for the same seed.

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use fake::faker::address::en::{CityName, CountryName, PostCode, StreetName};
use fake::faker::name::en::{FirstName, LastName};
use fake::faker::phone_number::en::PhoneNumber;
use fake::Fake;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::ids::{self, IdBlock};

/// Column widths of the schema (docs/compatibility.md, "Schema"), in characters.
pub mod limits {
    pub const STREET: usize = 255;
    pub const STREET_NUMBER: usize = 50;
    pub const CITY_CODE: usize = 20;
    pub const CITY: usize = 100;
    pub const COUNTRY: usize = 100;
    pub const NAME: usize = 100;
    pub const PHONE: usize = 20;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub id: i64,
    pub street: String,
    pub street_number: String,
    pub city_code: String,
    pub city: String,
    pub country: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub gender: Option<&'static str>,
    pub customer_id: String,
    pub phone_number: Option<String>,
    pub created: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
    pub birthday: Option<NaiveDate>,
    pub address_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relationship {
    pub id: i64,
    pub appuser_id: i64,
    pub points: i32,
    pub created: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
}

/// Contacts and their relationships, generated and written together.
#[derive(Debug, Default)]
pub struct ContactBatch {
    pub contacts: Vec<Contact>,
    pub relationships: Vec<Relationship>,
}

/// Which stream family a row draws from; the id selects the stream within it.
#[derive(Clone, Copy)]
enum Kind {
    Address = 1,
    Contact = 2,
    Relationship = 3,
}

pub const MAX_POINTS: i32 = 100_000;
const CREATED_SPAN_MONTHS: u32 = 5 * 12;
const MIN_AGE_YEARS: u32 = 18;
const MAX_AGE_YEARS: u32 = 80;

#[derive(Debug, thiserror::Error)]
#[error("reference time {0} is out of range for generating dates")]
pub struct OutOfRange(DateTime<Utc>);

/// Generates rows for one seed and one reference instant ("now").
#[derive(Clone)]
pub struct Generator {
    /// The ChaCha key expanded from the seed.
    key: [u8; 32],
    now: DateTime<Utc>,
    created_from: DateTime<Utc>,
    birthday_from: NaiveDate,
    birthday_days: u64,
}

impl Generator {
    pub fn new(seed: u64, now: DateTime<Utc>) -> Result<Self, OutOfRange> {
        let created_from = now.checked_sub_months(Months::new(CREATED_SPAN_MONTHS)).ok_or(OutOfRange(now))?;
        // Ages MIN..=MAX at the reference date: born after today − (MAX+1)
        // years and no later than today − MIN years.
        let today = now.date_naive();
        let years_ago = |y: u32| today.checked_sub_months(Months::new(y * 12)).ok_or(OutOfRange(now));
        let birthday_to = years_ago(MIN_AGE_YEARS)?;
        let birthday_from = years_ago(MAX_AGE_YEARS + 1)?.checked_add_days(Days::new(1)).ok_or(OutOfRange(now))?;
        let birthday_days = (birthday_to - birthday_from).num_days().unsigned_abs();
        Ok(Generator {
            key: ChaCha8Rng::seed_from_u64(seed).get_seed(),
            now,
            created_from,
            birthday_from,
            birthday_days,
        })
    }

    /// The row's own stream: the seed's key with the stream number set from
    /// (kind, id), positioned at its start.
    fn rng(&self, kind: Kind, id: i64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(((kind as u64) << 56) | (id as u64 & ((1 << 56) - 1)));
        rng
    }

    /// A timestamp uniform in `from..=to`, with microsecond resolution as
    /// PostgreSQL stores it.
    fn instant(rng: &mut ChaCha8Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
        let (from, to) = (from.timestamp_micros(), to.timestamp_micros().max(from.timestamp_micros()));
        DateTime::from_timestamp_micros(rng.random_range(from..=to)).unwrap_or(DateTime::UNIX_EPOCH)
    }

    pub fn address(&self, id: i64) -> Address {
        let rng = &mut self.rng(Kind::Address, id);
        Address {
            id,
            street: fit(StreetName().fake_with_rng(rng), limits::STREET),
            street_number: fit(rng.random_range(1..=9999u32).to_string(), limits::STREET_NUMBER),
            city_code: fit(PostCode().fake_with_rng(rng), limits::CITY_CODE),
            city: fit(CityName().fake_with_rng(rng), limits::CITY),
            country: fit(CountryName().fake_with_rng(rng), limits::COUNTRY),
        }
    }

    pub fn contact(&self, id: i64, address_id: Option<i64>) -> Contact {
        let rng = &mut self.rng(Kind::Contact, id);
        let first_name = fit(FirstName().fake_with_rng(rng), limits::NAME);
        let last_name = fit(LastName().fake_with_rng(rng), limits::NAME);
        let gender = (!rng.random_bool(0.1)).then(|| match rng.random_range(0..3u8) {
            0 => "M",
            1 => "F",
            _ => "O",
        });
        let phone_number = (!rng.random_bool(0.1)).then(|| fit(PhoneNumber().fake_with_rng(rng), limits::PHONE));
        let created = Self::instant(rng, self.created_from, self.now);
        // Never edited since creation, or edited once since: any instant from
        // creation to now.
        let last_updated = Self::instant(rng, created, self.now);
        let birthday = (!rng.random_bool(0.2)).then(|| {
            let days = rng.random_range(0..=self.birthday_days);
            self.birthday_from.checked_add_days(Days::new(days)).unwrap_or(self.birthday_from)
        });
        Contact {
            id,
            first_name,
            last_name,
            gender,
            customer_id: ids::customer_id(id),
            phone_number,
            created,
            last_updated,
            birthday,
            address_id,
        }
    }

    /// The contact's relationship. It draws from a stream keyed by the
    /// contact's id, so its values do not depend on its own id.
    pub fn relationship(&self, id: i64, contact: &Contact) -> Relationship {
        let rng = &mut self.rng(Kind::Relationship, contact.id);
        let points = rng.random_range(0..=MAX_POINTS);
        Relationship {
            id,
            appuser_id: contact.id,
            points,
            created: contact.created,
            last_activity: Self::instant(rng, contact.created, self.now),
        }
    }

    pub fn addresses(&self, block: IdBlock) -> Vec<Address> {
        block.ids().map(|id| self.address(id)).collect()
    }

    /// Contacts `contacts` (addresses from `pool`, round-robin) with their
    /// relationships numbered from `first_relationship_id`.
    pub fn contacts(&self, contacts: IdBlock, first_relationship_id: i64, pool: &[i64]) -> ContactBatch {
        let mut batch = ContactBatch {
            contacts: Vec::with_capacity(contacts.len as usize),
            relationships: Vec::with_capacity(contacts.len as usize),
        };
        for (offset, id) in contacts.ids().enumerate() {
            let contact = self.contact(id, round_robin(pool, id));
            batch.relationships.push(self.relationship(first_relationship_id + offset as i64, &contact));
            batch.contacts.push(contact);
        }
        batch
    }
}

/// Round-robin assignment: contact ids 1, 2, … take the pool's addresses in
/// order and start over at its end. `None` only for an empty pool.
pub fn round_robin(pool: &[i64], contact_id: i64) -> Option<i64> {
    let len = i64::try_from(pool.len()).ok().filter(|&n| n > 0)?;
    pool.get((contact_id - 1).rem_euclid(len) as usize).copied()
}

/// Cuts a string to at most `max` characters (varchar counts characters).
pub fn fit(mut s: String, max: usize) -> String {
    if let Some((end, _)) = s.char_indices().nth(max) {
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
    }

    fn generator(seed: u64) -> Generator {
        Generator::new(seed, now()).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_rows_whatever_the_order() {
        let (a, b) = (generator(7), generator(7));
        let forward: Vec<_> = (1..=50).map(|id| a.contact(id, Some(1))).collect();
        let backward: Vec<_> = (1..=50).rev().map(|id| b.contact(id, Some(1))).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert_eq!(a.address(3), b.address(3));
        assert_eq!(a.relationship(9, &forward[0]), b.relationship(9, &forward[0]));
    }

    #[test]
    fn different_seeds_and_ids_give_different_rows() {
        let (a, b) = (generator(1), generator(2));
        let names = |g: &Generator| (1..=20).map(|id| g.contact(id, None).first_name).collect::<Vec<_>>();
        assert_ne!(names(&a), names(&b));
        let distinct: HashSet<_> = (1..=200).map(|id| a.contact(id, None).last_name).collect();
        assert!(distinct.len() > 50, "{}", distinct.len());
    }

    #[test]
    fn batches_match_single_rows() {
        let g = generator(3);
        let pool = [10, 20, 30];
        let batch = g.contacts(IdBlock::new(5, 4), 100, &pool);
        assert_eq!(batch.contacts[0], g.contact(5, Some(20)));
        assert_eq!(batch.relationships[3], g.relationship(103, &batch.contacts[3]));
        assert_eq!(batch.relationships[3].appuser_id, 8);
        assert_eq!(g.addresses(IdBlock::new(2, 2)), [g.address(2), g.address(3)]);
    }

    #[test]
    fn values_stay_in_range_and_fit_the_columns() {
        let g = generator(11);
        let five_years_ago = Utc.with_ymd_and_hms(2020, 6, 1, 0, 0, 0).unwrap();
        let (mut no_gender, mut no_phone, mut no_birthday) = (0, 0, 0);
        let n = 20_000;
        for id in 1..=n {
            let c = g.contact(id, Some(1));
            let r = g.relationship(id, &c);
            assert!(c.first_name.chars().count() <= limits::NAME && !c.first_name.is_empty());
            assert!(c.last_name.chars().count() <= limits::NAME && !c.last_name.is_empty());
            assert!(c.phone_number.as_ref().is_none_or(|p| p.chars().count() <= limits::PHONE));
            assert!(c.created >= five_years_ago && c.created <= now());
            assert!(c.last_updated >= c.created && c.last_updated <= now());
            if let Some(b) = c.birthday {
                let age = now().date_naive().years_since(b).unwrap();
                assert!((18..=80).contains(&age), "{b} gives age {age}");
            }
            assert!((0..=MAX_POINTS).contains(&r.points));
            assert!(r.last_activity >= c.created && r.last_activity <= now());
            assert_eq!(r.created, c.created);
            no_gender += c.gender.is_none() as i64;
            no_phone += c.phone_number.is_none() as i64;
            no_birthday += c.birthday.is_none() as i64;
        }
        let ratio = |k: i64| k as f64 / n as f64;
        assert!((ratio(no_gender) - 0.1).abs() < 0.01, "{no_gender}");
        assert!((ratio(no_phone) - 0.1).abs() < 0.01, "{no_phone}");
        assert!((ratio(no_birthday) - 0.2).abs() < 0.015, "{no_birthday}");
        for id in 1..=2_000 {
            let a = g.address(id);
            let number: u32 = a.street_number.parse().unwrap();
            assert!((1..=9999).contains(&number));
            assert!(!a.street.is_empty() && a.street.chars().count() <= limits::STREET);
            assert!(!a.city.is_empty() && a.city.chars().count() <= limits::CITY);
            assert!(!a.country.is_empty() && a.country.chars().count() <= limits::COUNTRY);
            assert!(!a.city_code.is_empty() && a.city_code.chars().count() <= limits::CITY_CODE);
        }
    }

    #[test]
    fn addresses_are_assigned_round_robin() {
        let pool = [4, 5, 6];
        let assigned: Vec<_> = (1..=7).map(|id| round_robin(&pool, id)).collect();
        assert_eq!(assigned, [Some(4), Some(5), Some(6), Some(4), Some(5), Some(6), Some(4)]);
        assert_eq!(round_robin(&[], 1), None);
    }

    #[test]
    fn fit_cuts_at_characters_not_bytes() {
        assert_eq!(fit("héllo".into(), 2), "hé");
        assert_eq!(fit("abc".into(), 3), "abc");
        assert_eq!(fit(String::new(), 0), "");
    }

    #[test]
    fn out_of_range_reference_times_are_errors() {
        assert!(Generator::new(1, DateTime::<Utc>::MIN_UTC).is_err());
    }
}
