//! The API over HTTP: a real server on an ephemeral port, in front of the
//! extension, each test on its own sandbox schema.

mod common;

use std::time::Duration;

use common::{client, get, start, support};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{ContactSpec, Sandbox};

async fn three_contacts(sandbox: &Sandbox) -> Vec<i64> {
    let address = sandbox.add_address("Main Street", "Berlin", "10115", "Germany").await;
    let mut ids = Vec::new();
    for (i, name) in ["Ada", "Bob", "Cyd"].iter().enumerate() {
        let spec =
            ContactSpec::new(name, "Test").address(Some(address)).created(&format!("2024-03-0{}T08:00:00Z", i + 1));
        ids.push(sandbox.add_contact(&spec).await);
    }
    ids
}

#[tokio::test]
async fn list_returns_the_drf_page_with_absolute_links() {
    let sandbox = Sandbox::new().await;
    let ids = three_contacts(&sandbox).await;
    let server = start(&sandbox.url, &[]).await;

    let (status, content_type, page) =
        get(&format!("{}/api/contacts/?page_size=2&ordering=created", server.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(page["count"], 3);
    let got: Vec<i64> = page["results"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[..2]);
    assert_eq!(page["next"], format!("{}/api/contacts/?ordering=created&page=2&page_size=2", server.base));
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(page["results"][0]["created"], "2024-03-01T08:00:00Z");
    assert_eq!(page["results"][0]["city"], "Berlin");

    let (_, _, second) = get(page["next"].as_str().unwrap()).await;
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert_eq!(second["previous"], format!("{}/api/contacts/?ordering=created&page_size=2", server.base));

    // The default: newest first, 50 a page.
    let (_, _, default) = get(&format!("{}/api/contacts/", server.base)).await;
    assert_eq!(default["results"][0]["id"], ids[2]);
}

#[tokio::test]
async fn prefer_count_selects_the_count_mode_and_is_acknowledged() {
    let sandbox = Sandbox::new().await;
    three_contacts(&sandbox).await;
    let server = start(&sandbox.url, &[]).await;
    let url = format!("{}/api/contacts/?first_name__icontains=d&page_size=1", server.base);
    let response = client().get(&url).header("Prefer", "count=none").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["preference-applied"], "count=none");
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["count"], Value::Null);
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    // The URL parameter wins, and no preference is then acknowledged.
    let response = client().get(format!("{url}&count=exact")).header("Prefer", "count=none").send().await.unwrap();
    assert!(response.headers().get("preference-applied").is_none());
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["count"], 2);
    // A bad preference is a 400 naming the count parameter.
    let response = client().get(&url).header("Prefer", "count=fast").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["count"][0].as_str().unwrap().contains("Choices: exact, planned, estimated, none."), "{body}");
}

#[tokio::test]
async fn public_base_url_replaces_the_host_in_links() {
    let sandbox = Sandbox::new().await;
    three_contacts(&sandbox).await;
    let server = start(&sandbox.url, &[("PUBLIC_BASE_URL", "https://crm.example.com/")]).await;
    let (_, _, page) = get(&format!("{}/api/contacts/?page_size=1", server.base)).await;
    assert_eq!(page["next"], "https://crm.example.com/api/contacts/?page=2&page_size=1");
}

#[tokio::test]
async fn detail_and_its_404s() {
    let sandbox = Sandbox::new().await;
    let ids = three_contacts(&sandbox).await;
    let server = start(&sandbox.url, &[]).await;

    let (status, _, contact) = get(&format!("{}/api/contacts/{}/", server.base, ids[1])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact["first_name"], "Bob");
    assert_eq!(contact.as_object().unwrap().len(), 19);

    let (status, content_type, body) = get(&format!("{}/api/contacts/999999/", server.base)).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::NOT_FOUND, "application/json"));
    assert_eq!(body, json!({"detail": "No AppUser matches the given query."}));

    let (status, _, body) = get(&format!("{}/api/contacts/abc/", server.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Not found."}));
}

#[tokio::test]
async fn stats() {
    let sandbox = Sandbox::new().await;
    three_contacts(&sandbox).await;
    sandbox.add_contact(&ContactSpec::new("Lone", "Wolf").points(None)).await;
    let server = start(&sandbox.url, &[]).await;
    let (status, _, body) = get(&format!("{}/api/contacts/stats/", server.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"total_contacts": 4, "contacts_with_address": 3, "contacts_with_relationship": 3}));
}

#[tokio::test]
async fn client_errors_are_json_400s_and_404s() {
    let sandbox = Sandbox::new().await;
    three_contacts(&sandbox).await;
    let server = start(&sandbox.url, &[]).await;

    let (status, _, body) = get(&format!("{}/api/contacts/?relationship__points__gte=lots", server.base)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"relationship__points__gte": ["Enter a number."]}));

    let (status, _, body) = get(&format!("{}/api/contacts/?created__gte=2024-13-01", server.base)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"created__gte": ["Enter a valid date/time."]}));

    let (status, _, body) = get(&format!("{}/api/contacts/?search=a%00b", server.base)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"search": ["Null characters are not allowed."]}));

    for page in ["9", "0", "x"] {
        let (status, _, body) = get(&format!("{}/api/contacts/?page={page}", server.base)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "page={page}");
        assert_eq!(body, json!({"detail": "Invalid page."}));
    }
}

#[tokio::test]
async fn routing_like_django() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;

    let response = client().get(format!("{}/api/contacts?page=2", server.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()["location"], "/api/contacts/?page=2");

    let response = client().delete(format!("{}/api/contacts/", server.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, POST, HEAD");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"detail": "Method \"DELETE\" not allowed."}));
    let response = client().post(format!("{}/api/contacts/7/", server.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, PUT, PATCH, DELETE, HEAD");
    let response = client().post(format!("{}/api/contacts/stats/", server.base)).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD");

    let (status, _, body) = get(&format!("{}/nowhere", server.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Not found."}));
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_not_a_hang() {
    // Nothing listens on port 1.
    let server = start("postgres://nobody@127.0.0.1:1/none", &[("DB_POOL_TIMEOUT", "2000")]).await;
    let started = std::time::Instant::now();
    let (status, _, body) = get(&format!("{}/api/contacts/", server.base)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["detail"].as_str().unwrap().starts_with("The database is unavailable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_statement_timeout_is_a_clear_504() {
    let sandbox = Sandbox::new().await;
    three_contacts(&sandbox).await;
    let server = start(&sandbox.url, &[("DB_STATEMENT_TIMEOUT", "300")]).await;
    // Another session holds the table: the API's query waits past its timeout.
    let mut blocker = sandbox.connect().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE appuser IN ACCESS EXCLUSIVE MODE").await.unwrap();

    let (status, _, body) = get(&format!("{}/api/contacts/", server.base)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body, json!({"detail": "The query took longer than the statement timeout and was cancelled."}));
    tx.rollback().await.unwrap();

    let (status, _, _) = get(&format!("{}/api/contacts/", server.base)).await;
    assert_eq!(status, StatusCode::OK);
}
