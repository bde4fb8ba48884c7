//! A schema of its own per test, in the test database (TEST_DATABASE_URL from
//! the environment or the workspace's .env), dropped when the test ends,
//! passed or failed.

use chrono::{DateTime, TimeZone, Utc};
use loader::LoadConfig;
use tokio_postgres::{Client, NoTls};

#[path = "../../../tests/support/mod.rs"]
pub mod support;

use support::test_database_url;

/// The reference instant of every test load.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

pub struct TestSchema {
    pub name: String,
    /// Connects with the schema first in search_path; `application_name` is
    /// the schema name, to find the loader's sessions in pg_stat_activity.
    pub url: String,
}

impl TestSchema {
    /// A new schema, with the application tables unless `with_tables` is
    /// false; then it is alone in search_path, so that the tables of public
    /// are not found either.
    pub async fn new(with_tables: bool) -> TestSchema {
        let name = format!("loader_test_{:016x}", rand::random::<u64>());
        let base = test_database_url();
        let separator = if base.contains('?') { '&' } else { '?' };
        let path = if with_tables { format!("{name}%2Cpublic") } else { name.clone() };
        let url = format!("{base}{separator}options=-c%20search_path%3D{path}&application_name={name}");
        let schema = TestSchema { name, url };
        let client = schema.client().await;
        client.batch_execute(&format!("CREATE SCHEMA {}", schema.name)).await.unwrap();
        if with_tables {
            loader::create_schema(&client).await.unwrap();
        }
        schema
    }

    pub async fn client(&self) -> Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url, NoTls).await.expect("cannot connect to the test database");
        tokio::spawn(connection);
        client
    }

    /// A quiet, reproducible load of `count` contacts replacing the rows.
    pub fn config(&self, count: u64) -> LoadConfig {
        LoadConfig {
            count,
            batch_size: 1_000,
            seed: 7,
            now: now(),
            truncate: true,
            show_progress: false,
            index_jobs: 2,
            ..LoadConfig::new(self.url.clone())
        }
    }

    pub async fn use_variant(&self, variant: &str) {
        self.client().await.query_one("SELECT crm.use_variant($1)::text", &[&variant]).await.unwrap();
    }

    pub async fn variant(&self) -> String {
        let json: String = self.client().await.query_one("SELECT crm.variant()::text", &[]).await.unwrap().get(0);
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["variant"].as_str().unwrap().to_string()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.client().await.query_one(sql, &[]).await.unwrap().get(0)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on another
        // future: drop the schema from a thread with a runtime of its own.
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await.unwrap();
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("cannot drop test schema {}", self.name);
        }
    }
}
