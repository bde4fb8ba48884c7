//! PostgreSQL restarted under a running API: requests meanwhile get a JSON
//! 503, and the API serves again once the database is back, without being
//! restarted. Alone in its test binary: it stops the whole cluster.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{get, setting, start, support};
use reqwest::StatusCode;
use support::{ContactSpec, Sandbox};

/// `pg_ctlcluster <version> <name> <action>` for the project's cluster
/// (through sudo unless running as root, as scripts/setup.sh does).
fn cluster(action: &str) {
    let cluster = setting("TEST_PG_CLUSTER");
    let (version, name) = cluster.split_once('/').expect("TEST_PG_CLUSTER is version/name");
    let as_root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let mut command = if as_root {
        Command::new("pg_ctlcluster")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "pg_ctlcluster"]);
        sudo
    };
    let status = command.args([version, name, action, "-m", "fast"]).status().unwrap();
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

#[tokio::test]
async fn the_api_serves_again_after_a_database_restart() {
    let sandbox = Sandbox::new().await;
    sandbox.add_contact(&ContactSpec::new("Ada", "Lovelace")).await;
    let server = start(&sandbox.url, &[("DB_POOL_TIMEOUT", "1000")]).await;
    let url = format!("{}/api/contacts/", server.base);
    assert_eq!(get(&url).await.0, StatusCode::OK);

    cluster("stop");
    let started = Instant::now();
    let (status, content_type, body) = get(&url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(content_type, "application/json");
    assert!(body["detail"].as_str().unwrap().starts_with("The database is unavailable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered within the pool's timeouts");
    let (status, _, _) = get(&format!("{}/ready", server.base)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    cluster("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = get(&url).await;
        if status == StatusCode::OK {
            assert_eq!(body["count"], 1);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "the API did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&format!("{}/ready", server.base)).await.0, StatusCode::OK);
}
