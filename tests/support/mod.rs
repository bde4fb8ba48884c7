//! Test support shared by the integration tests of several crates (included
//! with `#[path = "../../tests/support/mod.rs"] mod support;`).
//!
//! A `Sandbox` is a private schema in the test database holding the
//! application tables, found first through search_path by every connection
//! the test opens; the crm_contacts extension (schema `crm`) serves it like
//! any other. Tests therefore run in parallel, each on its own rows, and the
//! schema is dropped when the sandbox goes out of scope.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls};

pub const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");

/// Asserts that `crm.stats()` equals the counts of the tables.
pub async fn assert_stats_match_tables(client: &Client, context: &str) {
    let row = client
        .query_one(
            "SELECT crm.stats()::jsonb, json_build_object('total_contacts', (SELECT count(*) FROM appuser), \
             'contacts_with_address', (SELECT count(address_id) FROM appuser), \
             'contacts_with_relationship', (SELECT count(*) FROM customer_relationship))::jsonb",
            &[],
        )
        .await
        .expect("stats and counts");
    let (stats, counted): (serde_json::Value, serde_json::Value) = (row.get(0), row.get(1));
    assert_eq!(stats, counted, "stats {context}");
}

/// A setting from the environment or the workspace's `.env` (written by
/// scripts/setup.sh).
pub fn setting(name: &str) -> String {
    if let Ok(value) = std::env::var(name) {
        return value;
    }
    let env_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env");
    dotenvy::from_path_iter(env_file)
        .ok()
        .and_then(|mut vars| vars.find_map(|v| v.ok().filter(|(k, _)| k == name).map(|(_, v)| v)))
        .unwrap_or_else(|| panic!("{name} is not set: run scripts/setup.sh (make setup) first"))
}

pub fn test_database_url() -> String {
    setting("TEST_DATABASE_URL")
}

/// A small deterministic generator (SplitMix64): the same seed, the same
/// test cases, on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

pub struct Sandbox {
    pub schema: String,
    /// A connection URL whose sessions see the sandbox first.
    pub url: String,
    /// A session on the sandbox.
    pub client: Client,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Sandbox {
    /// A new schema with empty application tables.
    pub async fn new() -> Sandbox {
        let base = test_database_url();
        let schema = format!(
            "t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
        );
        let admin = connect(&base).await;
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}%2Cpublic");
        let client = connect(&url).await;
        client.batch_execute(SCHEMA_SQL).await.expect("create tables");
        Sandbox { schema, url, client }
    }

    pub async fn connect(&self) -> Client {
        connect(&self.url).await
    }

    pub async fn add_address(&self, street: &str, city: &str, city_code: &str, country: &str) -> i64 {
        self.client
            .query_one(
                "INSERT INTO address (street, street_number, city_code, city, country) \
                 VALUES ($1, '1', $2, $3, $4) RETURNING id",
                &[&street, &city_code, &city, &country],
            )
            .await
            .expect("insert address")
            .get(0)
    }

    /// Inserts a contact from `spec`; returns its id.
    pub async fn add_contact(&self, spec: &ContactSpec) -> i64 {
        let id: i64 = self
            .client
            .query_one(
                "INSERT INTO appuser (first_name, last_name, gender, customer_id, phone_number, created, \
                 last_updated, birthday, address_id) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $6::text::timestamptz, $7::text::date, $8) \
                 RETURNING id",
                &[
                    &spec.first_name,
                    &spec.last_name,
                    &spec.gender,
                    &spec.customer_id,
                    &spec.phone_number,
                    &spec.created,
                    &spec.birthday,
                    &spec.address_id,
                ],
            )
            .await
            .expect("insert contact")
            .get(0);
        if let Some(points) = spec.points {
            let last_activity: &str = spec.last_activity.as_deref().unwrap_or(&spec.created);
            self.client
                .execute(
                    "INSERT INTO customer_relationship (appuser_id, points, created, last_activity) \
                     VALUES ($1, $2, $3::text::timestamptz, $4::text::timestamptz)",
                    &[&id, &points, &spec.created, &last_activity],
                )
                .await
                .expect("insert relationship");
        }
        id
    }

    /// Rows of a table as text, to prove a request left data untouched.
    pub async fn snapshot(&self) -> String {
        let row = self
            .client
            .query_one(
                "SELECT (SELECT coalesce(string_agg(t::text, '|' ORDER BY id), '') FROM address t) || '#' || \
                        (SELECT coalesce(string_agg(t::text, '|' ORDER BY id), '') FROM appuser t) || '#' || \
                        (SELECT coalesce(string_agg(t::text, '|' ORDER BY id), '') FROM customer_relationship t)",
                &[],
            )
            .await
            .expect("snapshot");
        row.get(0)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        let url = test_database_url();
        // Async work cannot run in Drop: a short-lived thread with its own
        // runtime removes the schema.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let client = connect(&url).await;
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            });
        })
        .join();
    }
}

/// A contact to insert; `ContactSpec::new` fills every column with a valid
/// value, tests change what they look at.
#[derive(Clone, Debug)]
pub struct ContactSpec {
    pub first_name: String,
    pub last_name: String,
    pub gender: Option<String>,
    pub customer_id: String,
    pub phone_number: Option<String>,
    /// ISO 8601 text.
    pub created: String,
    pub birthday: Option<String>,
    pub address_id: Option<i64>,
    /// A relationship is created when set.
    pub points: Option<i32>,
    pub last_activity: Option<String>,
}

static CUSTOMER_SEQUENCE: AtomicU32 = AtomicU32::new(1);

impl ContactSpec {
    pub fn new(first_name: &str, last_name: &str) -> Self {
        let n = CUSTOMER_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        ContactSpec {
            first_name: first_name.into(),
            last_name: last_name.into(),
            gender: Some("F".into()),
            customer_id: format!("CUST-{n:012X}"),
            phone_number: Some(format!("+49 30 {n:07}")),
            created: "2024-01-01T00:00:00Z".into(),
            birthday: Some("1990-01-01".into()),
            address_id: None,
            points: Some(0),
            last_activity: None,
        }
    }

    pub fn created(mut self, created: &str) -> Self {
        self.created = created.into();
        self
    }
    pub fn gender(mut self, gender: Option<&str>) -> Self {
        self.gender = gender.map(Into::into);
        self
    }
    pub fn phone(mut self, phone: Option<&str>) -> Self {
        self.phone_number = phone.map(Into::into);
        self
    }
    pub fn birthday(mut self, birthday: Option<&str>) -> Self {
        self.birthday = birthday.map(Into::into);
        self
    }
    pub fn address(mut self, address_id: Option<i64>) -> Self {
        self.address_id = address_id;
        self
    }
    pub fn points(mut self, points: Option<i32>) -> Self {
        self.points = points;
        self
    }
    pub fn last_activity(mut self, at: &str) -> Self {
        self.last_activity = Some(at.into());
        self
    }
    pub fn customer_id(mut self, id: &str) -> Self {
        self.customer_id = id.into();
        self
    }
}
