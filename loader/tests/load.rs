//! The loader against a real PostgreSQL: distribution, ids, reproducibility,
//! replace and append, interrupts, errors. Each test works in a schema of its
//! own in the test database (see common/mod.rs).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{now, TestSchema};
use loader::{load, load_until, Interrupted, LoadConfig};
use tokio_postgres::Client;

/// Every index and constraint definition of the schema's tables.
async fn definitions(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             UNION ALL \
             SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace = current_schema()::regnamespace \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A digest of every row of the three tables, in id order.
async fn digest(client: &Client) -> String {
    let mut parts = Vec::new();
    for table in ["address", "appuser", "customer_relationship"] {
        let sql = format!("SELECT md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM {table} t");
        parts.push(client.query_one(&sql, &[]).await.unwrap().get::<_, String>(0));
    }
    parts.join("/")
}

/// Waits until `sql` (a boolean query) holds, polling from another session.
async fn wait_until(schema: &TestSchema, sql: &str) {
    let client = schema.client().await;
    for _ in 0..3_000 {
        if client.query_one(sql, &[]).await.unwrap().get::<_, bool>(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {sql}");
}

#[tokio::test]
async fn a_small_load_has_the_specified_distribution() {
    let schema = TestSchema::new(true).await;
    schema.use_variant("trgm").await;
    let client = schema.client().await;
    let before = definitions(&client).await;

    let n = 20_000;
    let summary = load(&schema.config(n)).await.unwrap();
    assert_eq!(summary.variant, "trgm");
    assert_eq!(summary.table("appuser").unwrap().ids.len, 20_000);
    assert_eq!(summary.table("address").unwrap().ids.len, 2_000);
    assert!(summary.table("customer_relationship").unwrap().rows_per_second() > 0.0);
    // The same constraints and indexes as before, rebuilt.
    assert_eq!(definitions(&client).await, before);
    assert_eq!(schema.variant().await, "trgm");
    // The projection, filled while the tables' indexes were built, has every
    // contact as the tables join it, and its counter the count.
    let differences: i64 = client
        .query_one(
            "WITH joined AS (SELECT u.id, u.first_name, u.last_name, u.gender, u.customer_id, u.phone_number,                     u.created, u.birthday, u.last_updated, u.address_id, a.street, a.street_number, a.city_code,                     a.city, a.country, r.id, r.points, r.created, r.last_activity                  FROM appuser u LEFT JOIN address a ON a.id = u.address_id                  LEFT JOIN customer_relationship r ON r.appuser_id = u.id),              flat AS (SELECT * FROM crm_contact_flat)              SELECT (SELECT count(*) FROM (TABLE joined EXCEPT ALL TABLE flat) x)                   + (SELECT count(*) FROM (TABLE flat EXCEPT ALL TABLE joined) y)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(differences, 0, "projection rows differing from the tables");
    let stats: String = client.query_one("SELECT crm.stats()::text", &[]).await.unwrap().get(0);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["total_contacts"], 20_000);
    assert_eq!(stats["contacts_with_relationship"], 20_000);

    let now = now();
    let c = client
        .query_one(
            "SELECT count(*), count(DISTINCT id), min(id), max(id), \
                    count(*) FILTER (WHERE gender IS NULL), count(*) FILTER (WHERE gender = 'M'), \
                    count(*) FILTER (WHERE gender = 'F'), count(*) FILTER (WHERE gender = 'O'), \
                    count(*) FILTER (WHERE phone_number IS NULL), count(*) FILTER (WHERE birthday IS NULL), \
                    count(DISTINCT customer_id), bool_and(customer_id ~ '^CUST-[0-9A-F]{12}$'), \
                    count(address_id), \
                    bool_and(created > $1::timestamptz - interval '5 years' AND created <= $1), \
                    min(created) < $1::timestamptz - interval '4 years 11 months', \
                    max(created) > $1::timestamptz - interval '1 month', \
                    bool_and(last_updated >= created AND last_updated <= $1), \
                    bool_and(birthday IS NULL OR extract(year FROM age($1::date, birthday)) BETWEEN 18 AND 80), \
                    min(birthday) < ($1::timestamptz - interval '79 years')::date, \
                    max(birthday) > ($1::timestamptz - interval '19 years')::date, \
                    count(DISTINCT first_name) > 500, count(DISTINCT last_name) > 200 \
             FROM appuser",
            &[&now],
        )
        .await
        .unwrap();
    let count = |i: usize| c.get::<_, i64>(i);
    let ratio = |i: usize| count(i) as f64 / n as f64;
    assert_eq!((count(0), count(1), count(2), count(3)), (20_000, 20_000, 1, 20_000));
    assert!((ratio(4) - 0.10).abs() < 0.015, "gender NULL ratio {}", ratio(4));
    for i in 5..=7 {
        assert!((ratio(i) - 0.30).abs() < 0.02, "gender ratio {}", ratio(i));
    }
    assert!((ratio(8) - 0.10).abs() < 0.015, "phone NULL ratio {}", ratio(8));
    assert!((ratio(9) - 0.20).abs() < 0.015, "birthday NULL ratio {}", ratio(9));
    assert_eq!(count(10), 20_000, "customer ids are unique");
    assert!(c.get::<_, bool>(11), "customer id format");
    assert_eq!(count(12), 20_000, "every contact has an address");
    for (i, what) in (13..=21).zip([
        "created within the last 5 years",
        "created spans 5 years (start)",
        "created spans 5 years (end)",
        "last_updated between created and now",
        "ages 18..80",
        "birthdays reach age 80",
        "birthdays reach age 18",
        "first names vary",
        "last names vary",
    ]) {
        assert!(c.get::<_, bool>(i), "{what}");
    }

    // Addresses: a tenth of the contacts, each taken by exactly ten.
    let a = client
        .query_one(
            "SELECT (SELECT count(*) FROM address), count(*), min(n), max(n) \
             FROM (SELECT address_id, count(*) AS n FROM appuser GROUP BY address_id) s",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (a.get::<_, i64>(0), a.get::<_, i64>(1), a.get::<_, i64>(2), a.get::<_, i64>(3)),
        (2_000, 2_000, 10, 10)
    );
    let a = client
        .query_one(
            "SELECT bool_and(street_number::int BETWEEN 1 AND 9999), count(DISTINCT country) > 100, \
                    count(DISTINCT city) > 500, bool_and(street <> '' AND city_code <> '') FROM address",
            &[],
        )
        .await
        .unwrap();
    assert!((0..4).all(|i| a.get::<_, bool>(i)), "address values");

    // One relationship per contact, with the contact's created.
    let r = client
        .query_one(
            "SELECT count(*), count(DISTINCT r.appuser_id), min(points), max(points), avg(points)::float8, \
                    bool_and(r.created = u.created), \
                    bool_and(r.last_activity >= r.created AND r.last_activity <= $1), \
                    (SELECT count(*) FROM appuser x WHERE NOT EXISTS \
                       (SELECT 1 FROM customer_relationship y WHERE y.appuser_id = x.id)) \
             FROM customer_relationship r JOIN appuser u ON u.id = r.appuser_id",
            &[&now],
        )
        .await
        .unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1)), (20_000, 20_000));
    let (min, max, avg): (i32, i32, f64) = (r.get(2), r.get(3), r.get(4));
    assert!((0..100).contains(&min) && (99_901..=100_000).contains(&max), "points {min}..{max}");
    assert!((avg - 50_000.0).abs() < 1_500.0, "mean points {avg}");
    assert!(r.get::<_, bool>(5) && r.get::<_, bool>(6), "relationship dates");
    assert_eq!(r.get::<_, i64>(7), 0, "contacts without a relationship");

    // The identity sequences were advanced: ordinary inserts continue after the load.
    let next: i64 = client
        .query_one(
            "INSERT INTO address (street, street_number, city_code, city, country) \
             VALUES ('s', '1', 'c', 'c', 'c') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 2_001);
    let next: i64 =
        client.query_one("SELECT nextval(pg_get_serial_sequence('appuser', 'id'))", &[]).await.unwrap().get(0);
    assert_eq!(next, 20_001);
}

#[tokio::test]
async fn appending_continues_ids_and_shares_out_all_addresses() {
    let schema = TestSchema::new(true).await;
    schema.use_variant("indexed").await;
    let client = schema.client().await;
    let mut config = schema.config(2_000);
    config.batch_size = 500;
    load(&config).await.unwrap();

    // Appending at least as many contacts as there are rebuilds the indexes.
    config.truncate = false;
    config.count = 3_000;
    let summary = load(&config).await.unwrap();
    let ids = |t: &str| summary.table(t).map(|t| (t.ids.first, t.ids.last())).unwrap();
    assert_eq!(ids("address"), (201, 500));
    assert_eq!(ids("appuser"), (2_001, 5_000));
    assert_eq!(ids("customer_relationship"), (2_001, 5_000));
    assert_eq!(schema.variant().await, "indexed");

    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT customer_id), max(id), \
                    (SELECT count(*) FROM customer_relationship), \
                    (SELECT count(DISTINCT appuser_id) FROM customer_relationship) FROM appuser",
            &[],
        )
        .await
        .unwrap();
    let v: Vec<i64> = (0..5).map(|i| row.get(i)).collect();
    assert_eq!(v, [5_000, 5_000, 5_000, 5_000, 5_000]);
    // The new contacts go round-robin over all 500 addresses: the first 200
    // addresses had 10 contacts and get 6 more, the new 300 get 6.
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE n = 16 AND address_id <= 200), \
                    count(*) FILTER (WHERE n = 6 AND address_id > 200), count(*) \
             FROM (SELECT address_id, count(*) AS n FROM appuser GROUP BY address_id) s",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (200, 300, 500));

    // A small append keeps the indexes in place.
    config.count = 100;
    let summary = load(&config).await.unwrap();
    assert_eq!(summary.table("appuser").unwrap().ids.first, 5_001);
    assert!(summary.timings.indexes.is_zero());
    assert_eq!(schema.variant().await, "indexed");

    // Ordinary inserts take the next id.
    let next: i64 = client
        .query_one("INSERT INTO appuser (first_name, last_name, customer_id) VALUES ('a', 'b', 'x') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 5_101);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rows() {
    let (a, b, c) = (TestSchema::new(true).await, TestSchema::new(true).await, TestSchema::new(true).await);
    load(&a.config(3_000)).await.unwrap();
    // Rows do not depend on the batch size nor on the variant's indexes.
    b.use_variant("trgm").await;
    let mut config = b.config(3_000);
    config.batch_size = 777;
    load(&config).await.unwrap();
    let mut config = c.config(3_000);
    config.seed = 8;
    load(&config).await.unwrap();

    let (da, db, dc) =
        (digest(&a.client().await).await, digest(&b.client().await).await, digest(&c.client().await).await);
    assert_eq!(da, db);
    // Another seed gives other names and dates (customer ids depend on ids only).
    for (x, y) in da.split('/').zip(dc.split('/')) {
        assert_ne!(x, y);
    }
}

#[tokio::test]
async fn truncate_replaces_the_rows() {
    let schema = TestSchema::new(true).await;
    load(&schema.config(3_000)).await.unwrap();
    let summary = load(&schema.config(1_000)).await.unwrap();
    assert_eq!(summary.table("appuser").unwrap().ids.first, 1);
    assert_eq!(schema.variant().await, "baseline");
    let counts = (
        schema.count("SELECT count(*) FROM address").await,
        schema.count("SELECT count(*) FROM appuser").await,
        schema.count("SELECT count(*) FROM customer_relationship").await,
        schema.count("SELECT max(id) FROM appuser").await,
        schema.count("SELECT nextval(pg_get_serial_sequence('customer_relationship', 'id'))").await,
    );
    assert_eq!(counts, (100, 1_000, 1_000, 1_000, 1_001));
}

#[tokio::test]
async fn an_interrupted_replacement_leaves_the_previous_rows() {
    let schema = TestSchema::new(true).await;
    schema.use_variant("trgm").await;
    load(&schema.config(1_000)).await.unwrap();
    let before = digest(&schema.client().await).await;

    let copying = format!(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = '{}' \
         AND query LIKE 'COPY appuser%' AND state = 'active')",
        schema.name
    );
    let stop = wait_until(&schema, &copying);
    let error = load_until(&schema.config(200_000), stop).await.unwrap_err();
    let message = error.downcast_ref::<Interrupted>().expect("an interruption").to_string();
    assert!(message.contains("rolled back"), "{message}");

    // Everything, the TRUNCATE and the dropped indexes included, was undone.
    assert_eq!(digest(&schema.client().await).await, before);
    assert_eq!(schema.variant().await, "trgm");
}

#[tokio::test]
async fn an_interrupted_append_keeps_whole_batches_only() {
    let schema = TestSchema::new(true).await;
    load(&schema.config(1_000)).await.unwrap();

    let mut config = schema.config(100_000);
    config.truncate = false;
    let stop = wait_until(&schema, "SELECT count(*) > 1000 FROM appuser");
    let error = load_until(&config, stop).await.unwrap_err();
    let message = error.downcast_ref::<Interrupted>().expect("an interruption").to_string();
    assert!(message.contains("contacts were committed in whole batches"), "{message}");

    let client = schema.client().await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT customer_id), \
                    (SELECT count(*) FROM customer_relationship), \
                    (SELECT count(*) FROM appuser u WHERE NOT EXISTS \
                       (SELECT 1 FROM customer_relationship r WHERE r.appuser_id = u.id)) \
             FROM appuser",
            &[],
        )
        .await
        .unwrap();
    let (contacts, distinct, relationships, orphans): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(contacts > 1_000 && contacts < 101_000, "{contacts}");
    assert_eq!((contacts - 1_000) % 1_000, 0, "whole batches only");
    assert_eq!((distinct, relationships, orphans), (contacts, contacts, 0));

    // The next run appends after the ids reserved by the interrupted one.
    config.count = 1_000;
    let summary = load(&config).await.unwrap();
    assert_eq!(summary.table("appuser").unwrap().ids.first, 101_001);
    assert_eq!(schema.count("SELECT count(DISTINCT id) FROM appuser").await, contacts + 1_000);
}

#[tokio::test]
async fn errors_are_clear() {
    // Nothing listens on port 1.
    let config = LoadConfig { count: 10, ..LoadConfig::new("postgres://crm_owner:secret@127.0.0.1:1/crm_test") };
    let message = format!("{:#}", load(&config).await.unwrap_err());
    assert!(message.starts_with("cannot connect to database crm_test on 127.0.0.1:1 as crm_owner"), "{message}");
    assert!(!message.contains("secret"));

    let empty = TestSchema::new(false).await;
    let message = format!("{:#}", load(&empty.config(10)).await.unwrap_err());
    assert!(message.contains("table address, appuser, customer_relationship not found"), "{message}");
    assert!(message.contains(&empty.name), "{message}");

    let message = format!("{:#}", load(&LoadConfig { count: 0, ..empty.config(10) }).await.unwrap_err());
    assert_eq!(message, "--count must be at least 1");
}

#[test]
fn the_command_fails_in_one_line_without_a_panic() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_loader"))
            .args(args)
            .env("DATABASE_URL", "postgres://crm_owner:secret@127.0.0.1:1/crm")
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) = run(&["--count", "x"]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("loader: error: invalid value 'x' for '--count <COUNT>'"), "{stderr}");

    let (code, stderr) = run(&["--count", "5", "--no-progress"]);
    assert_eq!(code, Some(1));
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("loader: error: cannot connect to database crm on 127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("secret"), "{stderr}");
}
