//! The streamed export over HTTP: every match, in the list's order, as CSV
//! or NDJSON, across the extension's pages of 10,000.

mod common;

use common::support::Sandbox;
use common::{client, start};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_every_match_in_the_lists_order() {
    let sandbox = Sandbox::new().await;
    let mut load = loader::LoadConfig::new(sandbox.url.clone());
    load.count = 10_700;
    load.truncate = true;
    loader::load(&load).await.expect("sample data");
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let server = start(&sandbox.url, &[]).await;
    let export = format!("{}/api/contacts/export/", server.base);

    // CSV, the default: a header, then every contact, newest first.
    let response = client().get(&export).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 19);
    assert_eq!(&header[..3], ["id", "first_name", "last_name"]);
    let exported: Vec<i64> = lines.map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    let expected: Vec<i64> = sandbox
        .client
        .query("SELECT id FROM appuser ORDER BY created DESC, id DESC", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(exported.len(), 10_700, "past the first page of 10,000");
    assert_eq!(exported, expected);

    // NDJSON (by Accept), filtered and ordered: the list's objects.
    let url = format!("{export}?gender=F&ordering=-relationship__points");
    let response = client().get(&url).header("accept", "application/x-ndjson").send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let objects: Vec<Value> =
        response.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first_page: String = sandbox
        .client
        .query_one(
            "SELECT crm.contacts_page('{\"gender\": \"F\", \"ordering\": \"-relationship__points\", \"page_size\": 1000}')::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let first_page: Value = serde_json::from_str(&first_page).unwrap();
    assert_eq!(objects.len() as u64, first_page["count"].as_u64().unwrap());
    assert_eq!(objects[..1000], first_page["results"].as_array().unwrap()[..]);

    // Gzip when accepted: the same lines.
    let response = client()
        .get(&url)
        .header("accept", "application/x-ndjson")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut text).unwrap();
    let unzipped: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(unzipped, objects);
    assert!(compressed.len() * 2 < text.len(), "{} bytes for {}", compressed.len(), text.len());

    for (query, key) in [
        ("format=xml", "format"),
        ("page=2", "page"),
        ("colour=red", "colour"),
        ("relationship__points__gte=x", "relationship__points__gte"),
    ] {
        let response = client().get(format!("{export}?{query}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body.get(key).is_some(), "{query}: {body}");
    }
}
