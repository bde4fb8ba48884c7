//! `crm.refresh_postings` while others write and read: nothing waits for
//! it but a writer of a contact it forgets, and a contact written while it
//! runs stays dirty (matched by SQL), so no write is lost from searches.
//! `crm.refresh_stale_postings` refreshes only past its threshold.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{ContactSpec, Sandbox};

async fn count(client: &tokio_postgres::Client, params: Value) -> i64 {
    let text: String = client.query_one("SELECT crm.contacts_page($1::jsonb)::text", &[&params]).await.unwrap().get(0);
    serde_json::from_str::<Value>(&text).unwrap()["count"].as_i64().unwrap()
}

#[tokio::test]
async fn a_contact_written_during_a_refresh_stays_dirty_and_is_found() {
    let sandbox = Sandbox::new().await;
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(sandbox.add_contact(&ContactSpec::new(&format!("Person{n}"), "Before")).await);
    }
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    sandbox.client.query_one("SELECT crm.refresh_postings()", &[]).await.unwrap();
    let target = ids[7];
    // Dirty before the refresh starts…
    sandbox.client.query_one("SELECT crm.update_contact($1, '{\"last_name\": \"Middle\"}')", &[&target]).await.unwrap();
    // …and written again, uncommitted, while it runs.
    let mut writer = sandbox.connect().await;
    let transaction = writer.transaction().await.unwrap();
    transaction.query_one("SELECT crm.update_contact($1, '{\"last_name\": \"Latest\"}')", &[&target]).await.unwrap();
    let refresher = sandbox.connect().await;
    let refresh =
        tokio::spawn(async move { refresher.query_one("SELECT crm.refresh_postings()", &[]).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Readers go on during the refresh.
    let reader = sandbox.connect().await;
    let read = tokio::time::timeout(Duration::from_secs(5), count(&reader, json!({"search": "Before"}))).await;
    assert_eq!(read.expect("a read does not wait for the refresh"), 49);
    transaction.commit().await.unwrap();
    refresh.await.unwrap().unwrap();
    assert_eq!(
        count(&sandbox.client, json!({"search": "Latest"})).await,
        1,
        "the write made during the refresh is found"
    );
    assert_eq!(count(&sandbox.client, json!({"search": "Middle"})).await, 0);
    let dirty: i64 = sandbox.client.query_one("SELECT count(*) FROM crm_posting_dirty", &[]).await.unwrap().get(0);
    assert_eq!(dirty, 1, "only the contact written during the refresh is still dirty");
    sandbox.client.query_one("SELECT crm.refresh_postings()", &[]).await.unwrap();
    assert_eq!(count(&sandbox.client, json!({"search": "Latest"})).await, 1);
}

#[tokio::test]
async fn a_stale_refresh_waits_for_enough_dirty_contacts() {
    let sandbox = Sandbox::new().await;
    for n in 0..5 {
        sandbox.add_contact(&ContactSpec::new(&format!("Person{n}"), "Here")).await;
    }
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    sandbox.client.query_one("SELECT crm.refresh_postings()", &[]).await.unwrap();
    for n in 0..3 {
        sandbox
            .client
            .query_one(
                "SELECT crm.create_contact($1::jsonb)",
                &[&json!({"first_name": format!("New{n}"), "last_name": "X"})],
            )
            .await
            .unwrap();
    }
    let stale = |min: i64| {
        let client = &sandbox.client;
        async move {
            let report: Option<String> =
                client.query_one("SELECT crm.refresh_stale_postings($1)::text", &[&min]).await.unwrap().get(0);
            report.map(|r| serde_json::from_str::<Value>(&r).unwrap())
        }
    };
    assert!(stale(4).await.is_none(), "3 dirty contacts, 4 needed");
    let report = stale(3).await.expect("a refresh");
    assert_eq!(report["dirty_before"], 3);
    let dirty: i64 = sandbox.client.query_one("SELECT count(*) FROM crm_posting_dirty", &[]).await.unwrap().get(0);
    assert_eq!(dirty, 0);
    assert!(stale(1).await.is_none(), "nothing left to refresh");
}
