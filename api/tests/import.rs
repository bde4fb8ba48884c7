//! `POST /api/contacts/import/` over HTTP: CSV and NDJSON bodies, all or
//! nothing or `on_error=skip`, scopes, and imports cut off half-way (the
//! client gone, the server killed) leaving the tables as they were.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::support::{self, Sandbox};
use common::{client, start};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

fn ndjson(rows: impl IntoIterator<Item = Value>) -> String {
    rows.into_iter().map(|r| format!("{r}\n")).collect()
}

fn person(n: usize) -> Value {
    json!({"first_name": format!("Bulk{n}"), "last_name": "Import", "points": n})
}

async fn post(url: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = client().post(url).header("content-type", content_type).body(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ndjson_and_csv_import_all_or_nothing_or_skipping_the_bad_rows() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let server = start(&sandbox.url, &[]).await;
    let url = format!("{}/api/contacts/import/", server.base);

    let mut rows: Vec<Value> = (0..50).map(person).collect();
    rows.insert(10, json!({"first_name": "No", "gender": "X"}));
    let body = ndjson(rows);
    let before = sandbox.snapshot().await;
    let (status, report) = post(&url, "application/x-ndjson", body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(report["created"], 0);
    assert_eq!(
        report["errors"],
        json!([{"line": 11, "errors": {
        "last_name": ["This field is required."], "gender": ["\"X\" is not a valid choice."]}}])
    );
    assert!(sandbox.snapshot().await == before, "an import with a bad row writes nothing");

    let (status, report) = post(&format!("{url}?on_error=skip"), "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((report["created"].as_i64(), report["failed"].as_i64()), (Some(50), Some(1)));

    let csv = "first_name,last_name,gender,birthday,city,street,street_number,city_code,country\n\
               Ann,Lee,F,1990-01-02,Oslo,Storgata,1,0155,Norway\n\
               Bo,\"Ek, Jr\",,,,,,,\n";
    let (status, report) = post(&url, "text/csv; charset=utf-8", csv).await;
    assert_eq!((status, report["created"].as_i64()), (StatusCode::OK, Some(2)), "{report}");
    let (_, _, page) = common::get(&format!("{}/api/contacts/?search=Ek,%20Jr", server.base)).await;
    assert_eq!(page["count"], 1);
    assert!(page["results"][0]["gender"].is_null(), "an empty cell is a key not given");
    let (_, _, page) = common::get(&format!("{}/api/contacts/?address__city=Oslo", server.base)).await;
    assert_eq!(page["results"][0]["first_name"], "Ann");
    support::assert_stats_match_tables(&sandbox.client, "after imports over HTTP").await;

    let (status, body) = post(&url, "application/json", "[]").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body["detail"].as_str().unwrap().contains("text/csv"));
    let (status, body) = post(&format!("{url}?on_error=later"), "text/csv", "first_name\nA\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["on_error"][0].as_str().unwrap().starts_with("Select a valid choice."));
    let before = sandbox.snapshot().await;
    let (status, body) = post(&url, "text/csv", "first_name,last_name\nA,B\nC\n").await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"detail": "Line 3: the row has 1 fields, the header 2."}))
    );
    let (status, body) = post(&url, "application/x-ndjson", b"{\"first_name\": \"\xff\"}\n".to_vec()).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Line 1 is not valid UTF-8."})));
    assert!(sandbox.snapshot().await == before, "a malformed body writes nothing");
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn a_read_token_may_not_import() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[("API_TOKENS", "read:r3ad,write:wr1te")]).await;
    let url = format!("{}/api/contacts/import/", server.base);
    let send = |token: &'static str| {
        client()
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(ndjson([person(1)]))
            .send()
    };
    assert_eq!(send("r3ad").await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(sandbox.snapshot().await.matches("Bulk1").count(), 0);
    assert_eq!(send("wr1te").await.unwrap().status(), StatusCode::OK);
}

/// Sends the head of a chunked POST and `rows` rows of NDJSON, and leaves
/// the connection open (the import is in progress).
async fn half_an_import(base: &str, rows: usize) -> tokio::net::TcpStream {
    let address = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/contacts/import/ HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let body = ndjson((0..rows).map(person));
    stream.write_all(format!("{:x}\r\n{body}\r\n", body.len()).as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// The sessions of `application` that are in a transaction (an import
/// still open), polled until there are none or `within` passes.
async fn open_transactions(application: &str, within: Duration) -> i64 {
    let admin = support::connect(&support::setting("TEST_ADMIN_DATABASE_URL")).await;
    let deadline = Instant::now() + within;
    loop {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL",
                &[&application],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 || Instant::now() > deadline {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a session of `application` is copying an import.
async fn until_copying(application: &str) {
    let admin = support::connect(&support::setting("TEST_ADMIN_DATABASE_URL")).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let copying: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'COPY crm_import%'",
                &[&application],
            )
            .await
            .unwrap()
            .get(0);
        if copying > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the import never started copying");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn with_application(url: &str, application: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={application}")
}

#[tokio::test]
async fn a_client_gone_half_way_leaves_nothing() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let application = format!("{}_client_gone", sandbox.schema);
    let server = start(&with_application(&sandbox.url, &application), &[]).await;
    let before = sandbox.snapshot().await;
    let stream = half_an_import(&server.base, 5_000).await;
    until_copying(&application).await;
    drop(stream);
    assert_eq!(open_transactions(&application, Duration::from_secs(10)).await, 0, "the import's transaction ended");
    assert!(sandbox.snapshot().await == before, "the rows sent before the client left are not written");
    support::assert_stats_match_tables(&sandbox.client, "after an import cut off").await;
}

#[tokio::test]
async fn a_server_killed_half_way_leaves_nothing() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let application = format!("{}_server_killed", sandbox.schema);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crm-api"))
        .env("API_DATABASE_URL", with_application(&sandbox.url, &application))
        .env("API_BIND", format!("127.0.0.1:{port}"))
        .env_remove("API_TOKENS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the crm-api binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client().get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "crm-api did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = sandbox.snapshot().await;
    let _stream = half_an_import(&base, 5_000).await;
    until_copying(&application).await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert_eq!(open_transactions(&application, Duration::from_secs(10)).await, 0, "the import's transaction ended");
    assert!(sandbox.snapshot().await == before, "the rows sent before the server died are not written");
    support::assert_stats_match_tables(&sandbox.client, "after the server died mid-import").await;
}
