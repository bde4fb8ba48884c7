//! The write functions (`crm.create_contact`, `crm.update_contact`,
//! `crm.replace_contact`, `crm.delete_contact`) through tokio-postgres, each
//! test in its own sandbox schema.

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{ContactSpec, Sandbox};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn create(client: &Client, body: Value) -> Result<Value, tokio_postgres::Error> {
    let row = client.query_one("SELECT crm.create_contact($1::jsonb)::text", &[&body]).await?;
    Ok(serde_json::from_str(row.get(0)).unwrap())
}

async fn update(client: &Client, id: i64, body: Value, tag: Option<&str>) -> Result<Value, tokio_postgres::Error> {
    let row = client.query_one("SELECT crm.update_contact($1, $2::jsonb, $3)::text", &[&id, &body, &tag]).await?;
    Ok(serde_json::from_str(row.get(0)).unwrap())
}

async fn tag(client: &Client, id: i64) -> String {
    client.query_one("SELECT crm.etag(crm.contact($1))", &[&id]).await.unwrap().get(0)
}

/// The SQLSTATE of a failed call and its DETAIL as JSON.
fn rejected(result: Result<Value, tokio_postgres::Error>) -> (SqlState, Value) {
    let error = result.expect_err("the write should be refused");
    let db = error.as_db_error().expect("a database error");
    let detail = db.detail().map(|d| serde_json::from_str(d).expect("DETAIL is JSON")).unwrap_or(Value::Null);
    (db.code().clone(), detail)
}

fn names() -> Value {
    json!({"first_name": "Ann", "last_name": "Lee"})
}

#[tokio::test]
async fn a_created_contact_is_what_reads_return_with_generated_keys() {
    let sandbox = Sandbox::new().await;
    let address = sandbox.add_address("Main Street", "Berlin", "10115", "Germany").await;
    let body = json!({"first_name": " Zoë ", "last_name": "O'Neil", "gender": "F", "phone_number": "+49 30 1",
                      "birthday": "1990-02-03", "address_id": address, "points": 12,
                      "last_activity": "2026-01-02T03:04:05Z"});
    let contact = create(&sandbox.client, body).await.unwrap();
    let id = contact["id"].as_i64().unwrap();
    let read: String = sandbox.client.query_one("SELECT crm.contact($1)::text", &[&id]).await.unwrap().get(0);
    assert_eq!(contact, serde_json::from_str::<Value>(&read).unwrap());
    assert_eq!(contact["first_name"], "Zoë", "trimmed as DRF's CharField does");
    assert_eq!(contact["city"], "Berlin");
    assert_eq!(contact["points"], 12);
    assert_eq!(contact["last_activity"], "2026-01-02T03:04:05Z");
    assert!(contact["relationship_id"].is_i64());
    let customer_id = contact["customer_id"].as_str().unwrap();
    assert_eq!(customer_id.len(), 17, "{customer_id}");
    assert!(customer_id.starts_with("CUST-"));
    assert!(customer_id[5..].chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)), "{customer_id}");

    // The defaults: no points, active now, no address; a new address from its fields.
    let bare = create(&sandbox.client, names()).await.unwrap();
    assert_eq!(bare["points"], 0);
    assert!(bare["last_activity"].is_string());
    assert!(bare["address_id"].is_null());
    let new_address = json!({"first_name": "B", "last_name": "C", "street": "Storgata", "street_number": "1",
                             "city_code": "0155", "city": "Oslo", "country": "Norway"});
    let housed = create(&sandbox.client, new_address).await.unwrap();
    assert!(housed["address_id"].as_i64().unwrap() > address);
    assert_eq!(housed["country"], "Norway");
}

#[tokio::test]
async fn invalid_bodies_are_refused_whole_with_every_message() {
    let sandbox = Sandbox::new().await;
    sandbox.add_contact(&ContactSpec::new("Old", "Row")).await;
    let before = sandbox.snapshot().await;
    let cases = [
        (json!({}), json!({"first_name": ["This field is required."], "last_name": ["This field is required."]})),
        (
            json!({"first_name": "x".repeat(101), "last_name": "", "gender": "X", "id": 1, "colour": "red"}),
            json!({"first_name": ["Ensure this field has no more than 100 characters."],
                   "last_name": ["This field may not be blank."], "gender": ["\"X\" is not a valid choice."],
                   "id": ["This field is read-only."], "colour": ["Unknown field."]}),
        ),
        (
            json!({"first_name": "A", "last_name": "B", "birthday": "1990-13-01", "points": 1.5, "address_id": 999999}),
            json!({"birthday": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
                   "points": ["A valid integer is required."]}),
        ),
        (
            json!({"first_name": "A", "last_name": "B", "address_id": 999999}),
            json!({"address_id": ["Invalid pk \"999999\" - object does not exist."]}),
        ),
        (
            json!({"first_name": "A", "last_name": "B", "city": "Oslo"}),
            json!({"street": ["This field is required."], "street_number": ["This field is required."],
                   "city_code": ["This field is required."], "country": ["This field is required."]}),
        ),
        (json!("text"), json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]})),
    ];
    for (body, expected) in cases {
        let (code, detail) = rejected(create(&sandbox.client, body.clone()).await);
        assert_eq!(code, SqlState::INVALID_PARAMETER_VALUE, "{body}");
        assert_eq!(detail, expected, "{body}");
    }
    assert_eq!(sandbox.snapshot().await, before, "nothing was written");
}

#[tokio::test]
async fn a_patch_changes_only_its_keys_and_a_stale_tag_changes_nothing() {
    let sandbox = Sandbox::new().await;
    let contact =
        create(&sandbox.client, json!({"first_name": "Ann", "last_name": "Lee", "phone_number": "123"})).await.unwrap();
    let id = contact["id"].as_i64().unwrap();
    let first_tag = tag(&sandbox.client, id).await;
    let changed = update(&sandbox.client, id, json!({"gender": "O", "points": 7}), Some(&first_tag)).await.unwrap();
    assert_eq!(changed["gender"], "O");
    assert_eq!(changed["points"], 7);
    assert_eq!(changed["phone_number"], "123", "a key not given stays");
    assert_eq!(changed["customer_id"], contact["customer_id"]);
    assert_ne!(changed["last_updated"], contact["last_updated"]);
    let second_tag = tag(&sandbox.client, id).await;
    assert_ne!(second_tag, first_tag, "a write changes the tag");

    let before = sandbox.snapshot().await;
    let (code, detail) = rejected(update(&sandbox.client, id, json!({"gender": "M"}), Some(&first_tag)).await);
    assert_eq!(code, SqlState::T_R_SERIALIZATION_FAILURE);
    assert!(detail["detail"].as_str().unwrap().contains("If-Match"), "{detail}");
    assert_eq!(sandbox.snapshot().await, before, "a stale tag writes nothing");
    // Any version (`*`) and no If-Match at all are accepted.
    update(&sandbox.client, id, json!({"gender": "M"}), Some("*")).await.unwrap();
    let (code, detail) = rejected(update(&sandbox.client, id, json!({"gender": "Q"}), None).await);
    assert_eq!(
        (code, detail),
        (SqlState::INVALID_PARAMETER_VALUE, json!({"gender": ["\"Q\" is not a valid choice."]}))
    );
    let (code, _) = rejected(update(&sandbox.client, 987654321, json!({"gender": "M"}), None).await);
    assert_eq!(code, SqlState::NO_DATA_FOUND);
}

#[tokio::test]
async fn a_replace_resets_what_it_leaves_out_and_a_delete_takes_the_relationship() {
    let sandbox = Sandbox::new().await;
    let contact = create(
        &sandbox.client,
        json!({"first_name": "Ann", "last_name": "Lee", "gender": "F", "phone_number": "1", "points": 9}),
    )
    .await
    .unwrap();
    let id = contact["id"].as_i64().unwrap();
    let row = sandbox.client.query_one("SELECT crm.replace_contact($1, $2::jsonb)::text", &[&id, &names()]).await;
    let replaced: Value = serde_json::from_str(row.unwrap().get(0)).unwrap();
    assert!(replaced["gender"].is_null() && replaced["phone_number"].is_null());
    assert_eq!(replaced["points"], 0);
    assert_eq!(replaced["relationship_id"], contact["relationship_id"], "the same relationship, reset");

    let stale = "\"0123\"";
    let error = sandbox.client.execute("SELECT crm.delete_contact($1, $2)", &[&id, &stale]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE));
    let current = tag(&sandbox.client, id).await;
    sandbox.client.execute("SELECT crm.delete_contact($1, $2)", &[&id, &current]).await.unwrap();
    let left: i64 = sandbox
        .client
        .query_one(
            "SELECT (SELECT count(*) FROM appuser WHERE id = $1) + (SELECT count(*) FROM customer_relationship WHERE appuser_id = $1)",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let error = sandbox.client.execute("SELECT crm.delete_contact($1)", &[&id]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::NO_DATA_FOUND));
}

#[tokio::test]
async fn of_fifty_concurrent_patches_with_one_tag_exactly_one_succeeds() {
    let sandbox = Sandbox::new().await;
    let id = create(&sandbox.client, names()).await.unwrap()["id"].as_i64().unwrap();
    let first_tag = tag(&sandbox.client, id).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(sandbox.connect().await);
    }
    let attempts = clients.iter().enumerate().map(|(n, client)| {
        let tag = first_tag.clone();
        async move { update(client, id, json!({"points": n}), Some(&tag)).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let won: Vec<i64> = results.iter().filter_map(|r| r.as_ref().ok()).map(|c| c["points"].as_i64().unwrap()).collect();
    assert_eq!(won.len(), 1, "exactly one write wins");
    for result in results.into_iter().filter(Result::is_err) {
        assert_eq!(rejected(result).0, SqlState::T_R_SERIALIZATION_FAILURE);
    }
    let points: i32 = sandbox
        .client
        .query_one("SELECT points FROM customer_relationship WHERE appuser_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(i64::from(points), won[0], "the winner's write is the one kept");
}

async fn page(client: &Client, params: Value) -> Value {
    let text: String = client.query_one("SELECT crm.contacts_page($1::jsonb)::text", &[&params]).await.unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_projection_follows_the_writes() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..12 {
        let gender = ["M", "F", "O"][n % 3];
        let body = json!({"first_name": format!("Name{n}"), "last_name": "Writer", "gender": gender,
                          "points": n * 10});
        ids.push(create(&sandbox.client, body).await.unwrap()["id"].as_i64().unwrap());
    }
    for id in &ids[..6] {
        update(&sandbox.client, *id, json!({"last_name": "Changed", "points": 999}), None).await.unwrap();
    }
    for id in &ids[6..9] {
        sandbox.client.execute("SELECT crm.delete_contact($1)", &[id]).await.unwrap();
    }
    let params = json!({"page_size": 100, "ordering": "id", "search": "Changed"});
    let from_projection = page(&sandbox.client, params.clone()).await;
    assert_eq!(from_projection["count"], 6);
    let everything = page(&sandbox.client, json!({"page_size": 100, "ordering": "id"})).await;
    sandbox.client.query_one("SELECT crm.use_variant('baseline')", &[]).await.unwrap();
    assert_eq!(page(&sandbox.client, params).await, from_projection, "the tables say the same");
    assert_eq!(page(&sandbox.client, json!({"page_size": 100, "ordering": "id"})).await, everything);
}

#[tokio::test]
async fn the_write_functions_run_as_the_tables_owner_for_the_roles_granted_them() {
    let sandbox = Sandbox::new().await;
    let rows = sandbox
        .client
        .query(
            "SELECT p.proname::text, p.prosecdef, pg_get_userbyid(p.proowner)::text, \
                    has_function_privilege('public', p.oid, 'EXECUTE') \
             FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace \
               AND p.proname IN ('create_contact', 'update_contact', 'replace_contact', 'delete_contact') \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let owner: String = sandbox
        .client
        .query_one("SELECT tableowner::text FROM pg_tables WHERE tablename = 'appuser' AND schemaname = 'public'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows.len(), 4);
    for row in rows {
        let name: String = row.get(0);
        assert!(row.get::<_, bool>(1), "{name} is SECURITY DEFINER");
        assert_eq!(row.get::<_, String>(2), owner, "{name} belongs to the tables' owner");
        assert!(!row.get::<_, bool>(3), "{name} is not granted to PUBLIC");
    }

    // The API's role: granted the writes, not the tables.
    let api_url = support::setting("TEST_API_DATABASE_URL");
    sandbox.client.batch_execute(&format!("GRANT USAGE ON SCHEMA {} TO crm_api", sandbox.schema)).await.unwrap();
    let separator = if api_url.contains('?') { '&' } else { '?' };
    let api =
        support::connect(&format!("{api_url}{separator}options=-c%20search_path%3D{}%2Cpublic", sandbox.schema)).await;
    let created = create(&api, names()).await.expect("the API's role may create through the function");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(update(&api, id, json!({"points": 5}), None).await.unwrap()["points"], 5);
    let direct = api.execute("UPDATE appuser SET first_name = 'X' WHERE id = $1", &[&id]).await.unwrap_err();
    assert_eq!(direct.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    // The caller's search_path is back as it was after the write.
    let path: String = api.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(path, format!("{},public", sandbox.schema));
}

#[tokio::test]
async fn a_table_of_another_owner_found_first_is_not_written() {
    let sandbox = Sandbox::new().await;
    // A schema of the API's role with its own appuser, first in its path.
    let api_url = support::setting("TEST_API_DATABASE_URL");
    let admin = support::connect(&support::setting("TEST_ADMIN_DATABASE_URL")).await;
    let schema = format!("{}_foreign", sandbox.schema);
    admin.batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION crm_api")).await.unwrap();
    let separator = if api_url.contains('?') { '&' } else { '?' };
    let api = support::connect(&format!("{api_url}{separator}options=-c%20search_path%3D{schema}%2Cpublic")).await;
    // Visible to the tables' owner too (a schema the function's owner may
    // not use is left out of its search_path by PostgreSQL already).
    api.batch_execute(&format!(
        "CREATE TABLE appuser (id bigint, first_name text, last_name text, customer_id text); \
         GRANT USAGE ON SCHEMA {schema} TO crm_owner; GRANT ALL ON appuser TO crm_owner"
    ))
    .await
    .unwrap();
    let error = create(&api, names()).await.unwrap_err();
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
    assert_eq!(error.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{:?}", error.as_db_error());
}

#[tokio::test]
async fn the_write_rules_are_the_tables_own() {
    // The field table's maximum lengths and required keys, as the OpenAPI
    // document publishes them, against the catalog of the tables.
    let sandbox = Sandbox::new().await;
    let doc: String = sandbox.client.query_one("SELECT crm.openapi()::text", &[]).await.unwrap().get(0);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let schema = &doc["components"]["schemas"]["ContactWrite"];
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let new_address: Vec<&str> =
        schema["x-new-address"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for (key, property) in schema["properties"].as_object().unwrap() {
        let (table, column) = match key.as_str() {
            "points" | "last_activity" => ("customer_relationship", key.as_str()),
            k if new_address.contains(&k) => ("address", k),
            k => ("appuser", k),
        };
        let row = sandbox
            .client
            .query_one(
                "SELECT character_maximum_length, is_nullable = 'YES', column_default IS NOT NULL \
                 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
                &[&sandbox.schema, &table, &column],
            )
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let max: Option<i32> = row.get(0);
        assert_eq!(property["maxLength"].as_i64(), max.map(i64::from), "{key}");
        let (nullable, has_default): (bool, bool) = (row.get(1), row.get(2));
        assert_eq!(property["nullable"].as_bool().unwrap_or(false), nullable, "{key}");
        let needed = required.contains(&key.as_str()) || new_address.contains(&key.as_str());
        // Required: NOT NULL without a default, except the relationship's,
        // whose defaults the write supplies (0 points, active now).
        let expected = !nullable && !has_default && table != "customer_relationship";
        assert_eq!(needed, expected, "{key}");
    }
}
