//! The test database for the bench's integration tests: a private schema
//! with the application tables, loaded by the loader, dropped afterwards.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bench::Args;
use clap::Parser;
use loader::LoadConfig;
use serde_json::Value as Json;
use tokio_postgres::{Client, NoTls};

const SCHEMA_SQL: &str = include_str!("../../../sql/schema.sql");

pub fn test_database_url() -> String {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return url;
    }
    let env_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env");
    dotenvy::from_path_iter(env_file)
        .ok()
        .and_then(|pairs| pairs.flatten().find(|(k, _)| k == "TEST_DATABASE_URL").map(|(_, v)| v))
        .expect("TEST_DATABASE_URL is not set (environment or .env): run scripts/setup.sh")
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("cannot connect to the test database");
    tokio::spawn(connection);
    client
}

/// A schema `bench_test_<random>` with the application tables, first in
/// the search_path of `url`; dropped (with everything in it) on drop.
pub struct Sandbox {
    pub name: String,
    pub url: String,
    pub out_dir: PathBuf,
}

impl Sandbox {
    pub async fn new() -> Sandbox {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("bench_test_{:x}_{:x}", std::process::id(), nanos % (1 << 40));
        let base = test_database_url();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}%2Cpublic");
        let out_dir = std::env::temp_dir().join(&name);
        let sandbox = Sandbox { name, url, out_dir };
        let client = connect(&base).await;
        client.batch_execute(&format!("CREATE SCHEMA {}", sandbox.name)).await.unwrap();
        connect(&sandbox.url).await.batch_execute(SCHEMA_SQL).await.expect("create the tables");
        sandbox
    }

    pub async fn load(&self, count: u64) {
        let config = LoadConfig {
            count,
            batch_size: 1_000,
            seed: 7,
            truncate: true,
            show_progress: false,
            index_jobs: 2,
            ..LoadConfig::new(self.url.clone())
        };
        loader::load(&config).await.expect("load the contacts");
    }

    pub async fn variant(&self) -> String {
        let json: String = connect(&self.url).await.query_one("SELECT crm.variant()::text", &[]).await.unwrap().get(0);
        serde_json::from_str::<Json>(&json).unwrap()["variant"].as_str().unwrap().to_string()
    }

    pub fn args(&self, extra: &[&str]) -> Args {
        let out = self.out_dir.to_string_lossy().into_owned();
        let mut argv = vec!["bench", "--database-url", &self.url, "--out-dir", &out, "--quiet"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let (name, out_dir) = (self.name.clone(), self.out_dir.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = connect(&test_database_url()).await;
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await.unwrap();
            });
            let _ = std::fs::remove_dir_all(out_dir);
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("cannot drop the test schema {}", self.name);
        }
    }
}

pub fn read_json(path: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path).unwrap().records().map(Result::unwrap).collect()
}
