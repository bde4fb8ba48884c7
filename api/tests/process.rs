//! The `crm-api` binary as an operator runs it: structured logs on stdout,
//! and SIGTERM finishing the requests in flight before it exits.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{client, support};
use reqwest::StatusCode;
use serde_json::Value;
use support::{ContactSpec, Sandbox};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn_api(database_url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crm-api"))
        .env("API_DATABASE_URL", database_url)
        .env("API_BIND", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env_remove("API_TOKENS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the crm-api binary starts")
}

/// Polls /health until the server answers. Refused connections never
/// reach it, so exactly one /health request is served (and logged).
async fn wait_until_up(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client().get(format!("{base}/health")).send().await {
            assert_eq!(response.status(), StatusCode::OK);
            return;
        }
        assert!(Instant::now() < deadline, "crm-api did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_and_every_request_is_logged_once() {
    let sandbox = Sandbox::new().await;
    sandbox.add_contact(&ContactSpec::new("Ada", "Lovelace")).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_api(&sandbox.url, port);
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());

    wait_until_up(&base).await;
    assert_eq!(client().get(format!("{base}/api/contacts/")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client().get(format!("{base}/nowhere")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // A request held by a lock is in flight when SIGTERM arrives.
    let mut blocker = sandbox.connect().await;
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE appuser IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let url = format!("{base}/api/contacts/?ordering=id");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "it must wait for the request in flight");
    lock.rollback().await.unwrap();

    assert_eq!(in_flight.await.unwrap().unwrap(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "crm-api did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");

    let logged: Vec<Value> = lines
        .join()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    let summary: Vec<(String, String, u64)> = logged
        .iter()
        .map(|l| {
            let f = &l["fields"];
            assert!(f["latency_ms"].as_str().unwrap().parse::<f64>().is_ok(), "{l}");
            (f["method"].as_str().unwrap().into(), f["path"].as_str().unwrap().into(), f["status"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET".to_string(), "/health".to_string(), 200),
            ("GET".into(), "/api/contacts/".into(), 200),
            ("GET".into(), "/nowhere".into(), 404),
            ("GET".into(), "/api/contacts/".into(), 200),
        ],
        "one line per request, the query string left out"
    );
}
