//! The write group's cleanup on a sandbox of 200 loaded contacts: exactly
//! the marked contacts (with their relationships) and the marked addresses
//! no contact uses are deleted; nothing else is touched.

mod support;

use bench::db::Admin;
use bench::writes::cleanup;
use support::{connect, Sandbox};

const MARKER: &str = "BenchW20250101T120000P1";

async fn counts(url: &str) -> (i64, i64, i64) {
    let row = connect(url)
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM appuser), (SELECT count(*) FROM address), \
                    (SELECT count(*) FROM customer_relationship)",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_exactly_what_carries_the_marker() {
    let sandbox = Sandbox::new().await;
    sandbox.load(200).await;
    let before = counts(&sandbox.url).await;
    let client = connect(&sandbox.url).await;
    client
        .batch_execute(&format!(
            "INSERT INTO address (id, street, street_number, city_code, city, country) VALUES
                 (-1, '{MARKER} Main Street', '1', '00001', 'Oslo', 'Norway'),   -- used by a marked contact
                 (-2, '{MARKER} Mill Road', '2', '00002', 'Oslo', 'Norway'),     -- used by nobody (contact deleted by HTTP)
                 (-3, '{MARKER} Quay', '3', '00003', 'Oslo', 'Norway'),          -- used by someone else: kept
                 (-4, '{MARKER}X Park Row', '4', '00004', 'Oslo', 'Norway');     -- another marker: kept
             INSERT INTO appuser (id, first_name, last_name, customer_id, address_id) VALUES
                 (-1, 'Ada', '{MARKER} Byron', 'CUST-BENCHTEST01', -1),
                 (-2, 'Paul', '{MARKER} Smith', 'CUST-BENCHTEST02', NULL),
                 (-3, 'Lena', 'Rossi', 'CUST-BENCHTEST03', -3),
                 (-4, 'Omar', '{MARKER}X Haddad', 'CUST-BENCHTEST04', NULL),
                 (-5, 'Ivan', 'Novak {MARKER} Jr', 'CUST-BENCHTEST05', NULL);
             INSERT INTO customer_relationship (appuser_id, points, created, last_activity)
                 SELECT id, 1, now(), now() FROM appuser WHERE id < 0;"
        ))
        .await
        .unwrap();

    let admin = Admin::connect(&sandbox.url).await.unwrap();
    // VACUUM reports to the shared statistics as it ends: seen at once.
    let vacuums = || async {
        let sql = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'appuser'::regclass";
        client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
    };
    let vacuumed_before = vacuums().await;
    let done = cleanup::run(&admin, MARKER, true).await.unwrap();
    assert_eq!(vacuums().await, vacuumed_before + 1, "the cleanup vacuums");
    assert_eq!((done.contacts_deleted, done.addresses_deleted, done.error.as_deref()), (2, 2, None), "{done:?}");
    assert!(done.delete_s >= 0.0 && done.vacuum_s.is_some_and(|s| s >= 0.0));

    let left = |sql: &str| {
        let client = &client;
        let sql = sql.to_string();
        async move {
            let rows = client.query(&sql, &[]).await.unwrap();
            rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<i64>>()
        }
    };
    assert_eq!(left("SELECT id FROM appuser WHERE id < 0 ORDER BY id DESC").await, [-3, -4, -5]);
    assert_eq!(left("SELECT id FROM address WHERE id < 0 ORDER BY id DESC").await, [-3, -4]);
    assert_eq!(
        left("SELECT appuser_id FROM customer_relationship WHERE appuser_id < 0 ORDER BY 1 DESC").await,
        [-3, -4, -5]
    );
    // The marked address still used by someone else is what remains.
    assert_eq!(cleanup::remaining(&admin, MARKER).await.unwrap(), (0, 1));

    client.batch_execute("DELETE FROM appuser WHERE id < 0; DELETE FROM address WHERE id < 0;").await.unwrap();
    assert_eq!(counts(&sandbox.url).await, before, "the loaded data is untouched");
    // A second cleanup finds nothing.
    // --no-vacuum: the same deletes, no VACUUM.
    let again = cleanup::run(&admin, MARKER, false).await.unwrap();
    assert_eq!((again.contacts_deleted, again.addresses_deleted, again.vacuum_s), (0, 0, None));
    assert_eq!(vacuums().await, vacuumed_before + 1, "--no-vacuum leaves the tables to autovacuum");
}
