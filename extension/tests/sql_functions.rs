//! The extension's SQL functions, called through tokio-postgres against the
//! PostgreSQL it is installed in. Each test works in its own sandbox schema.

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{ContactSpec, Sandbox};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const CONTACT_KEYS: [&str; 19] = [
    "id",
    "first_name",
    "last_name",
    "gender",
    "customer_id",
    "phone_number",
    "created",
    "birthday",
    "last_updated",
    "address_id",
    "street",
    "street_number",
    "city_code",
    "city",
    "country",
    "relationship_id",
    "points",
    "relationship_created",
    "last_activity",
];

async fn page(client: &Client, params: Value, url: Option<&str>) -> Result<Value, tokio_postgres::Error> {
    let row = client.query_one("SELECT crm.contacts_page($1::jsonb, $2)::text", &[&params, &url]).await?;
    let text: String = row.get(0);
    Ok(serde_json::from_str(&text).expect("contacts_page returns JSON"))
}

fn ids(page: &Value) -> Vec<i64> {
    page["results"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

/// Five contacts created a day apart (ids ascending = created ascending).
async fn five_contacts(sandbox: &Sandbox) -> Vec<i64> {
    let mut ids = Vec::new();
    for day in 1..=5 {
        let spec = ContactSpec::new("Ann", &format!("Lee{day}")).created(&format!("2024-01-0{day}T10:00:00Z"));
        ids.push(sandbox.add_contact(&spec).await);
    }
    ids
}

#[tokio::test]
async fn a_contact_has_every_key_in_order_with_drf_formats() {
    let sandbox = Sandbox::new().await;
    let address = sandbox.add_address("Main Street", "Berlin", "10115", "Germany").await;
    let id = sandbox
        .add_contact(
            &ContactSpec::new("Zoë", "O'Neil")
                .gender(Some("F"))
                .created("2023-05-01T12:34:56.123456Z")
                .birthday(Some("1990-02-03"))
                .address(Some(address))
                .points(Some(4200))
                .last_activity("2023-06-01T00:00:00Z"),
        )
        .await;
    let bare = sandbox
        .add_contact(&ContactSpec::new("No", "Relations").gender(None).phone(None).birthday(None).points(None))
        .await;

    let text: String = sandbox.client.query_one("SELECT crm.contact($1)::text", &[&id]).await.unwrap().get(0);
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, Value>>(&text).unwrap().keys().cloned().collect();
    assert_eq!(keys, CONTACT_KEYS);
    let contact: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(contact["first_name"], "Zoë");
    assert_eq!(contact["last_name"], "O'Neil");
    assert_eq!(contact["created"], "2023-05-01T12:34:56.123456Z");
    assert_eq!(contact["relationship_created"], "2023-05-01T12:34:56.123456Z");
    assert_eq!(contact["last_activity"], "2023-06-01T00:00:00Z");
    assert_eq!(contact["birthday"], "1990-02-03");
    assert_eq!(contact["address_id"], address);
    assert_eq!(contact["city"], "Berlin");
    assert_eq!(contact["points"], 4200);
    assert!(contact["relationship_id"].is_i64());

    let text: String = sandbox.client.query_one("SELECT crm.contact($1)::text", &[&bare]).await.unwrap().get(0);
    let contact: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "gender",
        "phone_number",
        "birthday",
        "address_id",
        "street",
        "city",
        "relationship_id",
        "points",
        "last_activity",
    ] {
        assert_eq!(contact[key], Value::Null, "{key}");
    }

    let missing: Option<String> = sandbox.client.query_one("SELECT crm.contact(-1)::text", &[]).await.unwrap().get(0);
    assert_eq!(missing, None);
}

#[tokio::test]
async fn the_list_is_newest_first_with_an_exact_count_and_drf_links() {
    let sandbox = Sandbox::new().await;
    let created = five_contacts(&sandbox).await;
    let url = Some("http://test/api/contacts/");

    let first = page(&sandbox.client, json!({"page_size": "2"}), url).await.unwrap();
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["count", "next", "previous", "results"]);
    assert_eq!(first["count"], 5);
    assert_eq!(ids(&first), [created[4], created[3]]);
    assert_eq!(first["next"], "http://test/api/contacts/?page=2&page_size=2");
    assert_eq!(first["previous"], Value::Null);

    let second = page(&sandbox.client, json!({"page": "2", "page_size": "2"}), url).await.unwrap();
    assert_eq!(ids(&second), [created[2], created[1]]);
    assert_eq!(second["next"], "http://test/api/contacts/?page=3&page_size=2");
    assert_eq!(second["previous"], "http://test/api/contacts/?page_size=2");

    let last = page(&sandbox.client, json!({"page": "last", "page_size": "2"}), url).await.unwrap();
    assert_eq!(ids(&last), [created[0]]);
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["previous"], "http://test/api/contacts/?page=2&page_size=2");

    // The default page size is 50 and everything fits.
    let all = page(&sandbox.client, json!({}), None).await.unwrap();
    assert_eq!(ids(&all), created.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(all["next"], Value::Null);
}

/// `count`: exact (default), planned, estimated, none, on both sources.
/// The pages are the same in every mode; only `count` and how `next` is
/// known differ.
#[tokio::test]
async fn count_modes_change_the_count_not_the_page() {
    let sandbox = Sandbox::new().await;
    let created = five_contacts(&sandbox).await;
    let newest_first: Vec<i64> = created.iter().rev().copied().collect();
    for variant in ["baseline", "trgm"] {
        sandbox.client.query_one("SELECT crm.use_variant($1)", &[&variant]).await.unwrap();
        for mode in ["exact", "planned", "estimated", "none"] {
            let context = format!("{variant}, count={mode}");
            let filtered =
                |page: &str| json!({"last_name__icontains": "lee", "page_size": "2", "page": page, "count": mode});
            let first = page(&sandbox.client, filtered("1"), None).await.unwrap_or_else(|e| panic!("{context}: {e:?}"));
            assert_eq!(ids(&first), newest_first[..2], "{context}");
            let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["count", "next", "previous", "results"], "{context}");
            match mode {
                // Few matches: estimated counts them exactly.
                "exact" | "estimated" => assert_eq!(first["count"], 5, "{context}"),
                "none" => assert_eq!(first["count"], Value::Null, "{context}"),
                _ => assert!(first["count"].is_u64(), "{context}: {}", first["count"]),
            }
            assert_eq!(
                first["next"],
                format!("?count={mode}&last_name__icontains=lee&page=2&page_size=2"),
                "{context}"
            );
            let last = page(&sandbox.client, filtered("3"), None).await.unwrap();
            assert_eq!(ids(&last), newest_first[4..], "{context}");
            assert_eq!(last["next"], Value::Null, "{context}: the page past the end is known without a count");
            let past = page(&sandbox.client, filtered("4"), None).await.unwrap_err();
            assert_eq!(past.code().unwrap().code(), "P0002", "{context}");
            // With the projection, no condition costs nothing to count
            // (the counter): exact in every mode that wants a count.
            let all = page(&sandbox.client, json!({"count": mode}), None).await.unwrap();
            if variant == "trgm" && mode != "none" {
                assert_eq!(all["count"], 5, "{context}");
            }
            assert_eq!(ids(&all), newest_first, "{context}");
            // page=last needs the number of pages: counted.
            let last = page(
                &sandbox.client,
                json!({"count": mode, "page": "last", "page_size": "2", "last_name__icontains": "lee"}),
                None,
            )
            .await
            .unwrap();
            assert_eq!((ids(&last), last["count"].clone()), (newest_first[4..].to_vec(), json!(5)), "{context}");
        }
    }
    let bad = page(&sandbox.client, json!({"count": "fast"}), None).await.unwrap_err();
    let detail = bad.as_db_error().unwrap().detail().unwrap().to_string();
    assert!(detail.contains("Choices: exact, planned, estimated, none."), "{detail}");
}

#[tokio::test]
async fn pages_past_the_end_and_bad_pages_are_not_found() {
    let sandbox = Sandbox::new().await;
    five_contacts(&sandbox).await;
    for params in [json!({"page": "4", "page_size": "2"}), json!({"page": "0"}), json!({"page": "x"})] {
        let error = page(&sandbox.client, params.clone(), None).await.unwrap_err();
        let db = error.as_db_error().expect("a database error");
        assert_eq!(db.code(), &SqlState::NO_DATA_FOUND, "{params}");
        assert_eq!(db.detail(), Some(r#"{"detail":"Invalid page."}"#));
    }
    // An empty table still has its first page.
    let empty = Sandbox::new().await;
    let first = page(&empty.client, json!({}), None).await.unwrap();
    assert_eq!(first, json!({"count": 0, "next": null, "previous": null, "results": []}));
}

#[tokio::test]
async fn bad_parameters_are_rejected_with_sqlstate_22023_and_a_drf_body() {
    let sandbox = Sandbox::new().await;
    let error = page(&sandbox.client, json!({"relationship__points__gte": "many", "birthday": "2024-02-30"}), None)
        .await
        .unwrap_err();
    let db = error.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::INVALID_PARAMETER_VALUE);
    let body: Value = serde_json::from_str(db.detail().unwrap()).unwrap();
    assert_eq!(body, json!({"birthday": ["Enter a valid date."], "relationship__points__gte": ["Enter a number."]}));
}

#[tokio::test]
async fn the_set_returning_form_gives_the_same_rows_for_joins_and_copy() {
    let sandbox = Sandbox::new().await;
    let address = sandbox.add_address("Elm", "Paris", "75001", "France").await;
    let mut created = five_contacts(&sandbox).await;
    created.push(
        sandbox.add_contact(&ContactSpec::new("Bo", "Ek").address(Some(address)).created("2024-02-01T00:00:00Z")).await,
    );

    let params = json!({"page_size": "3", "page": "2"});
    let from_json = ids(&page(&sandbox.client, params.clone(), None).await.unwrap());
    let rows = sandbox.client.query("SELECT id FROM crm.contacts($1::jsonb)", &[&params]).await.unwrap();
    let from_rows: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(from_rows, from_json);

    // Typed columns, joinable with the application's own tables.
    let row = sandbox
        .client
        .query_one(
            "SELECT c.city, c.points, c.created = u.created, a.country \
             FROM crm.contacts() c JOIN appuser u USING (id) JOIN address a ON a.id = c.address_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("Paris"));
    assert_eq!(row.get::<_, Option<i32>>(1), Some(0));
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, String>(3), "France");

    // COPY of a query over it.
    use futures_util::TryStreamExt;
    let stream = sandbox
        .client
        .copy_out("COPY (SELECT id, last_name FROM crm.contacts('{\"ordering\": \"id\"}')) TO STDOUT")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    let text = String::from_utf8(chunks.concat()).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert_eq!(text.lines().next().unwrap(), format!("{}\tLee1", created[0]));
}

#[tokio::test]
async fn stats_count_contacts_addresses_and_relationships() {
    let sandbox = Sandbox::new().await;
    let address = sandbox.add_address("Elm", "Paris", "75001", "France").await;
    sandbox.add_contact(&ContactSpec::new("A", "A").address(Some(address))).await;
    sandbox.add_contact(&ContactSpec::new("B", "B").address(Some(address)).points(None)).await;
    sandbox.add_contact(&ContactSpec::new("C", "C")).await;
    let text: String = sandbox.client.query_one("SELECT crm.stats()::text", &[]).await.unwrap().get(0);
    assert_eq!(text, r#"{"total_contacts":3,"contacts_with_address":2,"contacts_with_relationship":2}"#);
}

/// The projection must equal the joined tables, and its counters the
/// counts, after every kind of write.
async fn assert_projection_matches_tables(client: &Client, step: &str) {
    let columns = "id, first_name, last_name, gender, customer_id, phone_number, created, birthday, last_updated, \
                   address_id, street, street_number, city_code, city, country, relationship_id, points, \
                   relationship_created, last_activity";
    let joined = "SELECT string_agg(x::text, '|' ORDER BY x.id) FROM (SELECT u.id, u.first_name, u.last_name, u.gender, \
         u.customer_id, u.phone_number, u.created, u.birthday, u.last_updated, u.address_id, a.street, \
         a.street_number, a.city_code, a.city, a.country, r.id AS rid, r.points, r.created AS rcreated, r.last_activity \
         FROM appuser u LEFT JOIN address a ON a.id = u.address_id \
         LEFT JOIN customer_relationship r ON r.appuser_id = u.id) x".to_string();
    let flat = format!("SELECT string_agg(x::text, '|' ORDER BY x.id) FROM (SELECT {columns} FROM crm_contact_flat) x");
    let want: Option<String> = client.query_one(&joined, &[]).await.unwrap().get(0);
    let got: Option<String> = client.query_one(&flat, &[]).await.unwrap().get(0);
    assert_eq!(got, want, "projection after {step}");
    support::assert_stats_match_tables(client, &format!("after {step}")).await;
}

#[tokio::test]
async fn the_projection_follows_every_write() {
    let sandbox = Sandbox::new().await;
    let c = &sandbox.client;
    let paris = sandbox.add_address("Elm", "Paris", "75001", "France").await;
    let oslo = sandbox.add_address("Fjord", "Oslo", "0150", "Norway").await;
    let a = sandbox.add_contact(&ContactSpec::new("Ann", "A").address(Some(paris))).await;
    let b = sandbox.add_contact(&ContactSpec::new("Bob", "B").address(Some(oslo)).points(None)).await;
    c.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    assert_projection_matches_tables(c, "the build").await;

    let steps: Vec<(&str, String)> = vec![
        ("insert", format!("INSERT INTO appuser (first_name, last_name, customer_id, address_id) VALUES ('Cy', 'C', 'CUST-0000000000C1', {paris}), ('Di', 'D', 'CUST-0000000000D1', NULL)")),
        ("update contact", format!("UPDATE appuser SET first_name = 'Annette', address_id = {oslo} WHERE id = {a}")),
        ("update address", format!("UPDATE address SET city = 'Bergen', country = 'Norge' WHERE id = {oslo}")),
        ("insert relationship", format!("INSERT INTO customer_relationship (appuser_id, points, created, last_activity) VALUES ({b}, 77, now(), now())")),
        ("update relationship", format!("UPDATE customer_relationship SET points = points + 1 WHERE appuser_id = {b}")),
        ("delete relationship", format!("DELETE FROM customer_relationship WHERE appuser_id = {a}")),
        ("delete address", format!("DELETE FROM address WHERE id = {paris}")),
        ("delete contact", format!("DELETE FROM appuser WHERE id = {b}")),
        ("truncate relationships", "TRUNCATE customer_relationship".to_string()),
        ("copy-sized insert", "INSERT INTO appuser (first_name, last_name, customer_id) SELECT 'Gen', 'X' || g, 'CUST-G' || lpad(g::text, 11, '0') FROM generate_series(1, 500) g".to_string()),
        ("truncate contacts", "TRUNCATE appuser CASCADE".to_string()),
    ];
    for (step, sql) in steps {
        c.batch_execute(&sql).await.unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_projection_matches_tables(c, step).await;
        if step == "update address" {
            // New values reach the dictionary: the pattern resolves.
            let page: String = c
                .query_one("SELECT crm.contacts_page('{\"address__city__icontains\": \"berg\"}')::text", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(serde_json::from_str::<Value>(&page).unwrap()["count"], 2, "{page}");
        }
    }
}

async fn variant(client: &Client) -> Value {
    let text: String = client.query_one("SELECT crm.variant()::text", &[]).await.unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}

/// The first (text) column of every row of `sql`.
async fn text_column(client: &Client, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Vec<String> {
    client.query(sql, params).await.unwrap().iter().map(|r| r.get(0)).collect()
}

async fn managed_index_names(client: &Client, schema: &str) -> Vec<String> {
    let sql = "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = $1 AND c.relname LIKE 'crm\\_%' AND NOT i.indisprimary ORDER BY 1";
    text_column(client, sql, &[&schema]).await
}

#[tokio::test]
async fn variants_switch_at_run_time_and_report_themselves() {
    let sandbox = Sandbox::new().await;
    let client = &sandbox.client;
    assert_eq!(variant(client).await["variant"], "baseline");

    client.query_one("SELECT crm.use_variant('indexed')", &[]).await.unwrap();
    assert_eq!(variant(client).await["variant"], "indexed");
    assert_eq!(managed_index_names(client, &sandbox.schema).await.len(), 8);

    let report: String = client.query_one("SELECT crm.use_variant('trgm')::text", &[]).await.unwrap().get(0);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["variant"], "trgm");
    let names = managed_index_names(client, &sandbox.schema).await;
    // Of the original's eight, the three on address (contacts are read
    // from the projection); then the projection's 14: the scenarios'
    // orderings and filters, address_id, the columns with few values,
    // phone_number (exact lookups) and the dictionary's trigram index;
    // patterns themselves are answered by the postings, which need no index.
    assert_eq!(names.len(), 3 + 14, "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("crm_appuser_") || n.starts_with("crm_customer_relationship_")));
    assert!(names.contains(&"crm_contact_flat_phone_number_id".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("crm_contact_flat_") && n.ends_with("_trgm")), "{names:?}");
    assert_eq!(report["postings"], "built");
    assert!(names.contains(&"crm_address_country_city".to_string()));
    assert!(names.contains(&"crm_contact_flat_points_id".to_string()));
    assert!(!names.contains(&"crm_contact_flat_birthday_id".to_string()));

    // full: an index for every ordering field.
    client.query_one("SELECT crm.use_variant('full')", &[]).await.unwrap();
    let names = managed_index_names(client, &sandbox.schema).await;
    assert!(names.contains(&"crm_contact_flat_birthday_id".to_string()));
    assert_eq!(variant(client).await["variant"], "full");
    assert!(names.contains(&"crm_contact_flat_customer_id_id".to_string()));
    assert_eq!(report["projection"], "present");
    let listed: Vec<&str> = report["indexes"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(listed.contains(&"appuser_pkey"), "baseline indexes are reported too: {listed:?}");

    // Back to indexed: the projection goes, the original's eight are back.
    client.query_one("SELECT crm.use_variant('indexed')", &[]).await.unwrap();
    assert_eq!(managed_index_names(client, &sandbox.schema).await.len(), 8);
    assert_eq!(variant(client).await["variant"], "indexed");

    client.query_one("SELECT crm.use_variant('baseline')", &[]).await.unwrap();
    assert!(managed_index_names(client, &sandbox.schema).await.is_empty());
    assert_eq!(variant(client).await["variant"], "baseline");

    let error = client.query_one("SELECT crm.use_variant('fastest')", &[]).await.unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code(), &SqlState::INVALID_PARAMETER_VALUE);
    assert!(error.as_db_error().unwrap().detail().unwrap().contains("baseline, indexed, trgm, full"));
}

/// The relation locks a backend holds (granted) or waits for, as
/// `table:mode:granted`, for the application tables.
async fn table_locks(observer: &Client, pid: i32) -> Vec<String> {
    let sql = "SELECT c.relname || ':' || l.mode || ':' || l.granted FROM pg_locks l \
               JOIN pg_class c ON c.oid = l.relation \
               WHERE l.pid = $1 AND c.relname IN ('appuser', 'address', 'customer_relationship') ORDER BY 1";
    text_column(observer, sql, &[&pid]).await
}

async fn wait_for_lock_wait(observer: &Client, pid: i32) {
    for _ in 0..1_000 {
        let row = observer
            .query_one("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap();
        if row.get::<_, Option<bool>>(0) == Some(true) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("backend {pid} never waited for a lock");
}

/// Filling the projection shares the tables with index builds (the loader
/// builds the tables' indexes meanwhile) but not with writes.
#[tokio::test]
async fn the_projection_fills_beside_index_builds_and_blocks_writes() {
    let sandbox = Sandbox::new().await;
    five_contacts(&sandbox).await;
    let builder = sandbox.connect().await;
    // What CREATE INDEX holds while it builds.
    builder.batch_execute("BEGIN; LOCK TABLE appuser, address, customer_relationship IN SHARE MODE").await.unwrap();

    let switcher = sandbox.connect().await;
    let pid: i32 = switcher.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let switch = tokio::spawn(async move {
        switcher.query_one("SELECT crm.use_variant('trgm')::text", &[]).await.map(|r| r.get::<_, String>(0))
    });
    let observer = sandbox.connect().await;
    wait_for_lock_wait(&observer, pid).await;
    let locks = table_locks(&observer, pid).await;
    let writer = sandbox.connect().await;
    let write = writer
        .batch_execute(
            "SET lock_timeout = '200ms'; \
             INSERT INTO address (street, street_number, city_code, city, country) VALUES ('s', '1', 'c', 'c', 'c')",
        )
        .await;
    // Released before asserting: a failed assertion must not leave a
    // session holding the tables.
    builder.batch_execute("COMMIT").await.unwrap();
    let report = switch.await.unwrap();

    // It held the tables in SHARE mode (it got past filling the projection)
    // and waited only to create its triggers.
    for table in ["address", "appuser", "customer_relationship"] {
        assert!(locks.contains(&format!("{table}:ShareLock:true")), "{locks:?}");
    }
    assert!(locks.iter().any(|l| l.ends_with("ShareRowExclusiveLock:false")), "{locks:?}");
    let error = write.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::LOCK_NOT_AVAILABLE), "{error}");
    let report: Value = serde_json::from_str(&report.unwrap()).unwrap();
    assert_eq!(report["variant"], "trgm");
    assert_projection_matches_tables(&sandbox.client, "a switch beside an index build").await;
}

/// Two switches of the same tables take turns: the second sees what the
/// first did instead of building the projection a second time.
#[tokio::test]
async fn concurrent_variant_switches_take_turns() {
    let sandbox = Sandbox::new().await;
    five_contacts(&sandbox).await;
    sandbox.client.query_one("SELECT crm.use_variant('indexed')", &[]).await.unwrap();
    let first = sandbox.connect().await;
    first.batch_execute("BEGIN").await.unwrap();
    first.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();

    let second = sandbox.connect().await;
    let pid: i32 = second.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let switch = tokio::spawn(async move {
        second.query_one("SELECT crm.use_variant('trgm')::text", &[]).await.map(|r| r.get::<_, String>(0))
    });
    let observer = sandbox.connect().await;
    wait_for_lock_wait(&observer, pid).await;
    first.batch_execute("COMMIT").await.unwrap();

    let report: Value = serde_json::from_str(&switch.await.unwrap().expect("the second switch succeeds")).unwrap();
    assert_eq!(report["variant"], "trgm");
    assert_projection_matches_tables(&sandbox.client, "two concurrent switches").await;
}

/// DROP EXTENSION must leave the application's tables, rows and indexes
/// alone. Runs in a scratch database because it needs the superuser and
/// removes the extension.
#[tokio::test]
async fn dropping_the_extension_leaves_all_data_intact() {
    let admin_url = support::setting("TEST_ADMIN_DATABASE_URL");
    let admin = support::connect(&admin_url).await;
    let scratch = format!("crm_drop_test_{}", std::process::id());
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch}")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {scratch}")).await.unwrap();
    let scratch_url = admin_url.rsplit_once('/').map(|(base, _)| format!("{base}/{scratch}")).unwrap();
    let db = support::connect(&scratch_url).await;
    db.batch_execute(support::SCHEMA_SQL).await.unwrap();
    db.batch_execute(
        "CREATE EXTENSION crm_contacts CASCADE;
         INSERT INTO address (street, street_number, city_code, city, country) VALUES ('Elm', '1', '1', 'Oslo', 'Norway');
         INSERT INTO appuser (first_name, last_name, customer_id, address_id) VALUES ('Kari', 'Nord', 'CUST-00000000000A', 1);
         INSERT INTO customer_relationship (appuser_id, points, created, last_activity) VALUES (1, 7, now(), now());
         SELECT crm.use_variant('trgm');",
    )
    .await
    .unwrap();
    let before: String = db.query_one("SELECT crm.contacts_page()::text", &[]).await.unwrap().get(0);

    db.batch_execute("DROP EXTENSION crm_contacts").await.unwrap();
    let counts = db
        .query_one(
            "SELECT (SELECT count(*) FROM address), (SELECT count(*) FROM appuser), \
                    (SELECT count(*) FROM customer_relationship), \
                    (SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'crm\\_%'), \
                    (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'crm'), \
                    (SELECT count(*) FROM crm_contact_flat)",
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<i64> = (0..6).map(|i| counts.get(i)).collect();
    // 17 managed indexes and the 5 primary keys of the projection's tables
    // (contacts, dictionary, counter, postings, dirty contacts).
    assert_eq!(counts, [1, 1, 1, 22, 0, 1], "rows, projection and indexes stay, functions go");

    // The projection's triggers are plain PL/pgSQL: they keep working.
    db.batch_execute(
        "INSERT INTO appuser (first_name, last_name, customer_id, address_id, created) \
         VALUES ('Ola', 'Sør', 'CUST-00000000000B', 1, now() - interval '1 day')",
    )
    .await
    .unwrap();

    // Reinstalled, it serves the data, the new contact included, and
    // recognises its objects.
    db.batch_execute("CREATE EXTENSION crm_contacts").await.unwrap();
    let after: Value =
        serde_json::from_str(&db.query_one("SELECT crm.contacts_page()::text", &[]).await.unwrap().get::<_, String>(0))
            .unwrap();
    let before: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(after["count"], 2);
    assert_eq!(after["results"][0], before["results"][0]);
    assert_eq!(after["results"][1]["first_name"], "Ola");
    assert_eq!(after["results"][1]["city"], "Oslo");
    assert_eq!(variant(&db).await["variant"], "trgm");

    drop(db);
    admin.batch_execute(&format!("DROP DATABASE {scratch} WITH (FORCE)")).await.unwrap();
}

/// The concatenated pieces of `crm.export_chunks` are the lines of
/// `crm.export_lines`, each with its newline: nothing lost, doubled or cut
/// at a piece's edge, over several pieces and several keyset pages.
#[tokio::test]
async fn export_chunks_are_the_export_lines_joined() {
    let sandbox = Sandbox::new().await;
    let address = sandbox.add_address("Rue \"A\", 1", "Paris", "75001", "France").await;
    // Enough contacts for several 256 kB pieces; names with the characters
    // CSV quotes, NULLs in every optional column, some with an address.
    sandbox
        .client
        .execute(
            "INSERT INTO appuser (first_name, last_name, gender, customer_id, phone_number, created, \
                                  last_updated, birthday, address_id) \
             SELECT 'Ann' || n, CASE WHEN n % 7 = 0 THEN 'O\"Neil, ' || n ELSE 'Lee' END, \
                    (ARRAY['M','F','O',NULL])[n % 4 + 1], 'CUST-' || lpad(n::text, 12, '0'), \
                    CASE WHEN n % 3 = 0 THEN NULL ELSE '+1 555 ' || n END, \
                    timestamptz '2024-01-01' + n * interval '1 minute', timestamptz '2024-06-01', \
                    CASE WHEN n % 5 = 0 THEN NULL ELSE date '1980-01-01' + n END, \
                    CASE WHEN n % 2 = 0 THEN $1::bigint END \
             FROM generate_series(1, 12000) n",
            &[&address],
        )
        .await
        .unwrap();
    sandbox
        .client
        .batch_execute(
            "INSERT INTO customer_relationship (appuser_id, points, created, last_activity) \
             SELECT id, id % 1000, created, created FROM appuser WHERE id % 3 <> 0",
        )
        .await
        .unwrap();

    for (params, format) in [
        (json!({}), "csv"),
        (json!({}), "ndjson"),
        (json!({"gender": "F", "ordering": "-relationship__points,id"}), "csv"),
        (json!({"search": "neil"}), "ndjson"),
    ] {
        let lines =
            text_column(&sandbox.client, "SELECT crm.export_lines($1::jsonb, $2::text)", &[&params, &format]).await;
        let chunks =
            text_column(&sandbox.client, "SELECT crm.export_chunks($1::jsonb, $2::text)", &[&params, &format]).await;
        let context = format!("{params} as {format}");
        assert!(lines.len() > 1_000, "{context}: {} lines", lines.len());
        if params == json!({}) {
            assert!(chunks.len() > 3, "{context}: several pieces, got {}", chunks.len());
        }
        assert!(chunks.iter().all(|c| c.ends_with('\n')), "{context}: every piece ends a line");
        let joined: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(chunks.concat(), joined, "{context}");
    }

    // A bad parameter is the same error before any piece.
    let error = sandbox.client.query("SELECT crm.export_chunks('{\"page\": \"2\"}')", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_PARAMETER_VALUE));
}
