//! What running in front of real data takes: authentication, the API's own
//! least-privileged role, probes, the OpenAPI description, an exhausted
//! pool and clients that go away.

mod common;

use std::time::{Duration, Instant};

use common::{client, get, setting, start, support};
use reqwest::StatusCode;
use serde_json::Value;
use support::{ContactSpec, Sandbox};

#[tokio::test]
async fn bearer_tokens_guard_the_contacts_but_not_the_probes() {
    let sandbox = Sandbox::new().await;
    sandbox.add_contact(&ContactSpec::new("Ada", "Lovelace")).await;
    let server = start(&sandbox.url, &[("API_TOKENS", "first-token,second-token")]).await;
    let url = format!("{}/api/contacts/", server.base);

    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.json::<Value>().await.unwrap()["detail"], "Authentication credentials were not provided.");

    let response = client().get(&url).bearer_auth("first-tokem").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["detail"], "Invalid token.");

    for token in ["first-token", "second-token"] {
        let response = client().get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{token}");
    }
    let stats = client().get(format!("{url}stats/")).send().await.unwrap();
    assert_eq!(stats.status(), StatusCode::UNAUTHORIZED);

    for open in ["/health", "/ready", "/api/schema/"] {
        let (status, _, _) = get(&format!("{}{open}", server.base)).await;
        assert_eq!(status, StatusCode::OK, "{open}");
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;
    assert_eq!(get(&format!("{}/health", server.base)).await.2["status"], "ok");
    assert_eq!(get(&format!("{}/ready", server.base)).await.2["status"], "ready");

    let down = start("postgres://nobody@127.0.0.1:1/none", &[("DB_POOL_TIMEOUT", "500")]).await;
    let (status, _, body) = get(&format!("{}/health", down.base)).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, _, body) = get(&format!("{}/ready", down.base)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert!(body["detail"].as_str().unwrap().starts_with("The database is unavailable"), "{body}");
}

#[tokio::test]
async fn the_openapi_description_lists_every_parameter_the_extension_accepts() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;
    let (status, content_type, doc) = get(&format!("{}/api/schema/", server.base)).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(doc["openapi"], "3.0.3");
    let parameters: Vec<&str> = doc["paths"]["/api/contacts/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // Every documented parameter is accepted (none is a 400 "unknown"), and
    // a sample of the original's (docs/compatibility.md) are there.
    for name in ["relationship__last_activity__lt", "address__city_code__icontains", "name", "cursor", "page_size"] {
        assert!(parameters.contains(&name), "{name}");
    }
    for name in &parameters {
        let value = match *name {
            "page" => "1",
            "page_size" => "5",
            "cursor" => "",
            "ordering" => "id",
            "format" => "json",
            "count" => "planned",
            n if n.contains("created") || n.contains("updated") || n.contains("activity") => "2024-01-01",
            n if n.starts_with("birthday") => "2000-01-01",
            n if n.starts_with("id") || n.contains("points") || n == "address__id" => "1",
            _ => "x",
        };
        let (status, _, body) = get(&format!("{}/api/contacts/?{name}={value}", server.base)).await;
        assert_eq!(status, StatusCode::OK, "{name}={value}: {body}");
    }
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_within_its_wait_timeout() {
    let sandbox = Sandbox::new().await;
    sandbox.add_contact(&ContactSpec::new("Ada", "Lovelace")).await;
    let server = start(&sandbox.url, &[("DB_POOL_SIZE", "1"), ("DB_POOL_TIMEOUT", "400")]).await;
    let mut blocker = sandbox.connect().await;
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE appuser IN ACCESS EXCLUSIVE MODE").await.unwrap();
    // The first request takes the only connection and waits for the lock.
    let first = tokio::spawn(get(format!("{}/api/contacts/", server.base).leak()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, _, body) = get(&format!("{}/api/contacts/", server.base)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("no connection became free"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    lock.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
}

const CANCEL_TEST_APPLICATION: &str = "crm-api-cancel-test";

/// This test's API sessions waiting on a lock, as pg_stat_activity shows them.
async fn waiting_api_queries(admin: &tokio_postgres::Client) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state = 'active' AND wait_event_type = 'Lock'",
            &[&CANCEL_TEST_APPLICATION],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_client_that_goes_away_has_its_query_cancelled() {
    let sandbox = Sandbox::new().await;
    sandbox.add_contact(&ContactSpec::new("Ada", "Lovelace")).await;
    let server = start(&format!("{}&application_name={CANCEL_TEST_APPLICATION}", sandbox.url), &[]).await;
    let mut blocker = sandbox.connect().await;
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE appuser IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let observer = sandbox.connect().await;

    // A client that gives up after 500 ms: its query waits on the lock.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let url = format!("{}/api/contacts/?search=ada", server.base);
    let request = tokio::spawn(async move { impatient.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(waiting_api_queries(&observer).await, 1, "the query should be waiting on the lock");
    assert!(request.await.unwrap().is_err(), "the client timed out");

    // Gone from pg_stat_activity promptly, while the lock is still held.
    let deadline = Instant::now() + Duration::from_secs(3);
    while waiting_api_queries(&observer).await > 0 {
        assert!(Instant::now() < deadline, "the abandoned query still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lock.rollback().await.unwrap();
    // The pool's connection is usable again.
    assert_eq!(get(&format!("{}/api/contacts/", server.base)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_apis_role_reads_and_executes_but_cannot_write() {
    let url = setting("TEST_API_DATABASE_URL");
    let api_role = support::connect(&url).await;
    let page: String = api_role.query_one("SELECT crm.contacts_page()::text", &[]).await.unwrap().get(0);
    assert!(page.starts_with("{\"count\":"), "{page}");
    for forbidden in [
        "INSERT INTO appuser (first_name, last_name, customer_id) VALUES ('x', 'y', 'CUST-FORBIDDEN01')",
        "UPDATE address SET city = 'x'",
        "DELETE FROM customer_relationship",
        "TRUNCATE appuser",
        "CREATE TABLE api_was_here (id int)",
        "SELECT crm.use_variant('trgm')",
        "DROP EXTENSION crm_contacts",
    ] {
        let error = api_role.batch_execute(forbidden).await.unwrap_err();
        let code = error.as_db_error().map(|e| e.code().code().to_string()).unwrap_or_default();
        assert!(code == "42501" || code == "42P01" || code.starts_with("42"), "{forbidden}: {error}");
    }
    // And the API runs with it.
    let server = start(&url, &[]).await;
    assert_eq!(get(&format!("{}/api/contacts/stats/", server.base)).await.0, StatusCode::OK);
}
