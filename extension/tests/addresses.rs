//! Addresses from SQL: `crm.addresses_page`, `crm.address` and the address
//! writes, each test in its own sandbox schema.

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{ContactSpec, Sandbox};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn json_of(client: &Client, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Value {
    let text: String = client.query_one(sql, params).await.unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}

async fn page(client: &Client, params: Value) -> Value {
    json_of(client, "SELECT crm.addresses_page($1::jsonb)::text", &[&params]).await
}

fn oslo() -> Value {
    json!({"street": "Storgata", "street_number": "1", "city_code": "0155", "city": "Oslo", "country": "Norway"})
}

#[tokio::test]
async fn the_list_filters_searches_orders_and_pages() {
    let sandbox = Sandbox::new().await;
    for (street, city, code, country) in [
        ("Main Street", "Berlin", "10115", "Germany"),
        ("Storgata", "Oslo", "0155", "Norway"),
        ("Karl Johans gate", "Oslo", "0154", "Norway"),
        ("50% Lane", "Lima", "15001", "Peru"),
    ] {
        sandbox.add_address(street, city, code, country).await;
    }
    let all = page(&sandbox.client, json!({})).await;
    assert_eq!(all["count"], 4);
    assert_eq!(
        all["results"][0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "street", "street_number", "city_code", "city", "country"]
    );
    let oslo = page(&sandbox.client, json!({"city": "Oslo", "ordering": "-street"})).await;
    let streets: Vec<&str> =
        oslo["results"].as_array().unwrap().iter().map(|a| a["street"].as_str().unwrap()).collect();
    assert_eq!(streets, ["Storgata", "Karl Johans gate"]);
    assert_eq!(page(&sandbox.client, json!({"street__icontains": "50%"})).await["count"], 1);
    assert_eq!(
        page(&sandbox.client, json!({"street__icontains": "5_"})).await["count"],
        0,
        "LIKE's wildcards are text"
    );
    assert_eq!(page(&sandbox.client, json!({"search": "nor 0155"})).await["count"], 1, "every term, any field");
    assert_eq!(page(&sandbox.client, json!({"search": "015"})).await["count"], 2);
    let second = page(&sandbox.client, json!({"page_size": 3, "page": 2, "ordering": "country"})).await;
    assert_eq!((second["count"].as_i64(), second["results"].as_array().unwrap().len()), (Some(4), 1));
    assert_eq!(second["previous"], "?ordering=country&page_size=3");
    let error = sandbox.client.query_one("SELECT crm.addresses_page('{\"zip\": \"1\"}')", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_PARAMETER_VALUE));
    assert_eq!(error.as_db_error().unwrap().detail(), Some(r#"{"zip":["Unknown parameter."]}"#));
    let error = sandbox.client.query_one("SELECT crm.addresses_page('{\"page\": 9}')", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::NO_DATA_FOUND));
}

#[tokio::test]
async fn an_address_change_reaches_its_contacts_and_a_delete_leaves_them_without() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let created = json_of(&sandbox.client, "SELECT crm.create_address($1::jsonb)::text", &[&oslo()]).await;
    let id = created["id"].as_i64().unwrap();
    for n in 0..3 {
        sandbox.add_contact(&ContactSpec::new(&format!("Resident{n}"), "Here").address(Some(id))).await;
    }
    let tag: String = sandbox.client.query_one("SELECT crm.etag(crm.address($1))", &[&id]).await.unwrap().get(0);
    let changed = json_of(
        &sandbox.client,
        "SELECT crm.update_address($1, $2::jsonb, $3)::text",
        &[&id, &json!({"city": "Bergen"}), &tag],
    )
    .await;
    assert_eq!((changed["city"].as_str(), changed["street"].as_str()), (Some("Bergen"), Some("Storgata")));
    let contacts =
        json_of(&sandbox.client, "SELECT crm.contacts_page('{\"address__city\": \"Bergen\"}')::text", &[]).await;
    assert_eq!(contacts["count"], 3, "the projection follows the address");

    // The old tag is stale now: nothing changes.
    let stale = sandbox
        .client
        .query_one("SELECT crm.update_address($1, '{\"city\": \"Oslo\"}', $2)", &[&id, &tag])
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE));
    let replaced =
        sandbox.client.query_one("SELECT crm.replace_address($1, '{\"city\": \"X\"}')", &[&id]).await.unwrap_err();
    let detail: Value = serde_json::from_str(replaced.as_db_error().unwrap().detail().unwrap()).unwrap();
    assert_eq!(detail["street"], json!(["This field is required."]), "a PUT needs every field");

    sandbox.client.execute("SELECT crm.delete_address($1)", &[&id]).await.unwrap();
    let homeless: i64 =
        sandbox.client.query_one("SELECT count(*) FROM appuser WHERE address_id IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(homeless, 3, "the contacts remain, without an address");
    let contacts = json_of(&sandbox.client, "SELECT crm.contacts_page('{\"search\": \"Resident\"}')::text", &[]).await;
    assert!(contacts["results"].as_array().unwrap().iter().all(|c| c["city"].is_null()));
    support::assert_stats_match_tables(&sandbox.client, "after address writes").await;
    let none: Option<String> = sandbox.client.query_one("SELECT crm.address($1)::text", &[&id]).await.unwrap().get(0);
    assert!(none.is_none(), "no such address: NULL");
    let gone = sandbox.client.query_one("SELECT crm.delete_address($1)", &[&id]).await.unwrap_err();
    assert_eq!(gone.code(), Some(&SqlState::NO_DATA_FOUND));
    assert_eq!(gone.as_db_error().unwrap().detail(), Some(r#"{"detail":"No Address matches the given query."}"#));
}

#[tokio::test]
async fn address_writes_are_granted_like_the_contact_writes() {
    let sandbox = Sandbox::new().await;
    let rows = sandbox
        .client
        .query(
            "SELECT p.proname::text, p.prosecdef, has_function_privilege('public', p.oid, 'EXECUTE') \
             FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace AND p.proname LIKE '%\\_address'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        let name: String = row.get(0);
        assert!(row.get::<_, bool>(1), "{name} is SECURITY DEFINER");
        assert!(!row.get::<_, bool>(2), "{name} is not granted to PUBLIC");
    }
    let invalid = sandbox
        .client
        .query_one("SELECT crm.create_address('{\"street\": \"\", \"country\": 5}')", &[])
        .await
        .unwrap_err();
    let detail: Value = serde_json::from_str(invalid.as_db_error().unwrap().detail().unwrap()).unwrap();
    assert_eq!(detail["street"], json!(["This field may not be blank."]));
    assert_eq!(detail["city"], json!(["This field is required."]));
    assert!(detail.get("country").is_none(), "a number is taken as its text");
}
