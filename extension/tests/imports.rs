//! `crm.import_contacts(source, on_error)` through tokio-postgres, each test
//! in its own sandbox schema: rows validated as single creates, written in
//! set-based batches, all or nothing by default, by the roles granted it.

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::Sandbox;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// A staging table of `(line, body)` rows in the session, as the API fills it.
async fn stage(client: &Client, rows: &[Value]) {
    client.batch_execute("CREATE TEMP TABLE IF NOT EXISTS staging (line bigint, body jsonb)").await.unwrap();
    client.batch_execute("TRUNCATE staging").await.unwrap();
    let bodies: Vec<String> = rows.iter().map(Value::to_string).collect();
    client
        .execute(
            "INSERT INTO staging SELECT n, b::jsonb FROM unnest($1::text[]) WITH ORDINALITY AS t(b, n)",
            &[&bodies],
        )
        .await
        .unwrap();
}

async fn import(client: &Client, source: &str, on_error: &str) -> Result<Value, tokio_postgres::Error> {
    let row =
        client.query_one("SELECT crm.import_contacts($1::text::regclass, $2)::text", &[&source, &on_error]).await?;
    Ok(serde_json::from_str(row.get(0)).unwrap())
}

fn person(n: usize) -> Value {
    let gender = ["M", "F", "O"][n % 3];
    json!({"first_name": format!("Imp{n}"), "last_name": "Orted", "gender": gender,
           "points": n, "birthday": "1990-02-03"})
}

/// Contacts as reads render them, without what each write generates.
async fn contacts_without_generated_keys(client: &Client) -> Vec<Value> {
    let rows = client.query("SELECT crm.contact(id)::text FROM appuser ORDER BY id", &[]).await.unwrap();
    rows.iter()
        .map(|row| {
            let mut contact: Value = serde_json::from_str(row.get(0)).unwrap();
            for key in [
                "id",
                "customer_id",
                "created",
                "last_updated",
                "relationship_id",
                "relationship_created",
                "address_id",
            ] {
                contact.as_object_mut().unwrap().remove(key);
            }
            contact
        })
        .collect()
}

#[tokio::test]
async fn imported_rows_are_what_single_creates_make() {
    let sandbox = Sandbox::new().await;
    let address = sandbox.add_address("Main Street", "Berlin", "10115", "Germany").await;
    let bodies = vec![
        json!({"first_name": " Zoë ", "last_name": "O'Neil", "gender": "F", "phone_number": "+49 30 1",
               "birthday": "1990-02-03", "address_id": address, "points": 12,
               "last_activity": "2026-01-02T03:04:05Z"}),
        json!({"first_name": "B", "last_name": "C", "street": "Storgata", "street_number": "1",
               "city_code": "0155", "city": "Oslo", "country": "Norway", "points": "7"}),
        json!({"first_name": "D", "last_name": "E"}),
    ];
    stage(&sandbox.client, &bodies).await;
    let report = import(&sandbox.client, "staging", "abort").await.unwrap();
    assert_eq!(report, json!({"created": 3, "failed": 0, "errors_truncated": false, "errors": []}));
    let imported = contacts_without_generated_keys(&sandbox.client).await;

    let other = Sandbox::new().await;
    other.add_address("Main Street", "Berlin", "10115", "Germany").await;
    for body in &bodies {
        let mut body = body.clone();
        if body.get("address_id").is_some() {
            let id: i64 = other.client.query_one("SELECT min(id) FROM address", &[]).await.unwrap().get(0);
            body["address_id"] = json!(id);
        }
        other.client.query_one("SELECT crm.create_contact($1::jsonb)", &[&body]).await.unwrap();
    }
    let created = contacts_without_generated_keys(&other.client).await;
    // last_activity defaults to the time of the write, which differs.
    let without_now = |mut v: Vec<Value>| {
        for c in v.iter_mut().skip(1) {
            c.as_object_mut().unwrap().remove("last_activity");
        }
        v
    };
    assert_eq!(without_now(imported), without_now(created));

    let customer_ids: Vec<String> =
        sandbox.client.query("SELECT customer_id FROM appuser", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(customer_ids.iter().all(|c| c.len() == 17 && c.starts_with("CUST-")), "{customer_ids:?}");
    let new_address: i64 =
        sandbox.client.query_one("SELECT address_id FROM appuser WHERE first_name = 'B'", &[]).await.unwrap().get(0);
    assert!(new_address > address);
}

#[tokio::test]
async fn one_invalid_row_writes_nothing_and_every_bad_line_is_named() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let before = sandbox.snapshot().await;
    // More rows than a batch, so that the refusal comes after a batch was written.
    let mut rows: Vec<Value> = (0..20_003).map(person).collect();
    rows.push(json!({"first_name": "A", "gender": "X"}));
    rows.push(json!({"first_name": "A", "last_name": "B", "address_id": 999_999}));
    rows.push(json!(["not", "an", "object"]));
    stage(&sandbox.client, &rows).await;
    let error = import(&sandbox.client, "staging", "abort").await.unwrap_err();
    let db = error.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::INVALID_PARAMETER_VALUE);
    let report: Value = serde_json::from_str(db.detail().unwrap()).unwrap();
    assert_eq!(
        report,
        json!({"created": 0, "failed": 3, "errors_truncated": false, "errors": [
            {"line": 20004, "errors": {"last_name": ["This field is required."],
                                       "gender": ["\"X\" is not a valid choice."]}},
            {"line": 20005, "errors": {"address_id": ["Invalid pk \"999999\" - object does not exist."]}},
            {"line": 20006, "errors": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}},
        ]})
    );
    assert_eq!(sandbox.snapshot().await, before, "nothing was written");
    support::assert_stats_match_tables(&sandbox.client, "after a refused import").await;
}

#[tokio::test]
async fn skip_writes_the_valid_rows_and_reports_the_others() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let rows = vec![person(1), json!({"first_name": "x".repeat(101), "last_name": "B"}), person(2)];
    stage(&sandbox.client, &rows).await;
    let report = import(&sandbox.client, "staging", "skip").await.unwrap();
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["failed"], 1);
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][0]["errors"]["first_name"][0], "Ensure this field has no more than 100 characters.");
    let found: String =
        sandbox.client.query_one("SELECT crm.contacts_page('{\"search\": \"Imp2\"}')::text", &[]).await.unwrap().get(0);
    assert_eq!(serde_json::from_str::<Value>(&found).unwrap()["count"], 1, "the projection has the rows");
    support::assert_stats_match_tables(&sandbox.client, "after an import").await;
    let error = import(&sandbox.client, "staging", "ignore").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_PARAMETER_VALUE));
}

#[tokio::test]
async fn a_table_of_the_keys_imports_as_copy_loads_a_csv_file() {
    let sandbox = Sandbox::new().await;
    // What `\copy people FROM 'people.csv' CSV HEADER` leaves: text columns,
    // empty cells as NULL.
    sandbox
        .client
        .batch_execute(
            "CREATE TEMP TABLE people (first_name text, last_name text, gender text, points text, birthday text); \
             INSERT INTO people VALUES ('Ann', 'Lee', 'F', '5', '1990-01-02'), ('Bo', 'Ek', NULL, NULL, NULL), \
                                       ('Cy', NULL, 'M', 'x', '1990-13-01')",
        )
        .await
        .unwrap();
    let report = import(&sandbox.client, "people", "skip").await.unwrap();
    assert_eq!(report["created"], 2);
    assert_eq!(
        report["errors"],
        json!([{"line": 3, "errors": {
            "last_name": ["This field is required."],
            "points": ["A valid integer is required."],
            "birthday": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}}])
    );
    let bo: String = sandbox
        .client
        .query_one("SELECT crm.contact(id)::text FROM appuser WHERE first_name = 'Bo'", &[])
        .await
        .unwrap()
        .get(0);
    let bo: Value = serde_json::from_str(&bo).unwrap();
    assert_eq!(
        (bo["gender"].clone(), bo["points"].clone(), bo["birthday"].clone()),
        (Value::Null, json!(0), Value::Null)
    );
}

#[tokio::test]
async fn the_api_role_imports_its_own_table_and_stays_itself() {
    let sandbox = Sandbox::new().await;
    let row = sandbox
        .client
        .query_one(
            "SELECT p.prosecdef, has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc p \
             WHERE p.oid = 'crm.import_contacts(regclass, text)'::regprocedure",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0), "it reads its source as its caller");
    assert!(!row.get::<_, bool>(1), "not granted to PUBLIC");

    let api_url = support::setting("TEST_API_DATABASE_URL");
    sandbox.client.batch_execute(&format!("GRANT USAGE ON SCHEMA {} TO crm_api", sandbox.schema)).await.unwrap();
    let separator = if api_url.contains('?') { '&' } else { '?' };
    let api =
        support::connect(&format!("{api_url}{separator}options=-c%20search_path%3D{}%2Cpublic", sandbox.schema)).await;
    stage(&api, &[person(1), person(2)]).await;
    assert_eq!(import(&api, "staging", "abort").await.unwrap()["created"], 2);
    let (user, path): (String, String) = {
        let r = api.query_one("SELECT current_user::text, current_setting('search_path')", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(user, "crm_api", "the writes ran as the owner, the session goes on as itself");
    assert_eq!(path, format!("{},public", sandbox.schema));
    let direct = api.execute("DELETE FROM appuser", &[]).await.unwrap_err();
    assert_eq!(direct.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    // A source the caller may not read is not read for them.
    let private = format!("{}.private_rows", sandbox.schema);
    sandbox.client.batch_execute(&format!("CREATE TABLE {private} (line bigint, body jsonb)")).await.unwrap();
    let error = import(&api, &private, "abort").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let user: String = api.query_one("SELECT current_user::text", &[]).await.unwrap().get(0);
    assert_eq!(user, "crm_api");
}
