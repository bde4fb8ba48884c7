//! 100,000 random and hostile requests against the running API: unknown
//! keys, huge values, unicode, quotes, `%`, NUL bytes, invalid UTF-8,
//! repeated keys, SQL fragments, long URLs. None may get a 5xx, every 4xx
//! must carry a JSON body, and the tables must be unchanged afterwards.
//!
//! URLs stay under 64 KiB: beyond that hyper itself answers a bare 414.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{start, support};
use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use support::{Rng, Sandbox};

const REQUESTS: usize = 100_000;
const CONCURRENCY: usize = 16;

const HOSTILE: &[&str] = &[
    "'",
    "\"",
    "';--",
    "' OR '1'='1",
    "1; DROP TABLE appuser",
    ") OR (1=1",
    "$1",
    "%",
    "%25",
    "_",
    "%5F",
    "\\",
    "%5C",
    "%00",
    "a%00b",
    "%C3%28",
    "%FF%FE",
    "%E2%82",
    "😀",
    "Zoë",
    "ÄÖÜß",
    "\u{202E}evil",
    "e\u{301}",
    "NULL",
    "null",
    "true",
    "-",
    "--",
    "-created",
    "+",
    "%2B",
    ",",
    ",,",
    " ",
    "%20",
    "%0A",
    "%09",
    "&",
    "=",
    "==",
    "[]",
    "{}",
    "1e9",
    "0x10",
    "-0",
    "00",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999",
    "1.5",
    "2024-02-30",
    "2024-13-01",
    "0000-01-01",
    "9999-12-31T23:59:59+23:59",
    "2024-01-01T00:00:00Z",
    "2024-01-01 00:00",
    "2024-01-01T25:00",
    "1970-01-01",
    "last",
    "first",
    "0",
    "-1",
    "cursor",
    "eyJvIjoiLWNyZWF0ZWQsLWlkIiwiZCI6ImYiLCJwIjpbMSwyXX0",
    "ordering",
    "id,-id",
    "-created,created",
    "address__city,-relationship__points",
    "pg_sleep(10)",
    "(SELECT 1)",
    "UNION SELECT",
    "/*",
    "*/",
];

fn random_text(rng: &mut Rng, vocabulary: &[String]) -> String {
    match rng.below(10) {
        0 => {
            let unit = *rng.pick(HOSTILE);
            unit.repeat(1 + rng.below(4000 / unit.len().max(1)))
        }
        1 => (0..rng.below(40)).map(|_| char::from_u32(0x20 + rng.below(0x2FFF) as u32).unwrap_or('?')).collect(),
        2 => vocabulary[rng.below(vocabulary.len())].clone(),
        3 => rng.next().to_string(),
        _ => rng.pick(HOSTILE).to_string(),
    }
}

/// Percent-encodes most of a text, leaving hostile percent sequences as
/// they are half of the time.
fn encode(rng: &mut Rng, text: &str) -> String {
    if rng.below(2) == 0 && text.is_ascii() {
        return text.replace(['&', '#', ' '], "+");
    }
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn random_request(rng: &mut Rng, parameters: &[String]) -> String {
    let path = match rng.below(12) {
        0 => {
            let id = random_text(rng, parameters);
            format!("/api/contacts/{}/", encode(rng, &id))
        }
        1 => "/api/contacts/stats/".to_string(),
        2 => format!("/api/contacts/{}/", rng.below(700)),
        _ => "/api/contacts/".to_string(),
    };
    let mut pairs = Vec::new();
    for _ in 0..rng.below(7) {
        let key = match rng.below(6) {
            0 => random_text(rng, parameters),
            1 => format!("{}__{}", parameters[rng.below(parameters.len())], *rng.pick(HOSTILE)),
            _ => parameters[rng.below(parameters.len())].clone(),
        };
        let value = random_text(rng, parameters);
        let pair = format!("{}={}", encode(rng, &key), encode(rng, &value));
        // Repeated keys, sometimes.
        if rng.below(8) == 0 {
            pairs.push(pair.clone());
        }
        pairs.push(pair);
    }
    if rng.below(20) == 0 {
        pairs.push(rng.pick(&["%", "%G1", "&&&", "==", "a=%", "%00=1", "=x", "x"]).to_string());
    }
    let mut url = format!("{path}?{}", pairs.join("&"));
    url.truncate(60_000);
    while !url.is_char_boundary(url.len()) {
        url.pop();
    }
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hostile_query_gets_a_5xx_or_a_non_json_4xx_or_changes_data() {
    let sandbox = Sandbox::new().await;
    let mut load = loader::LoadConfig::new(sandbox.url.clone());
    load.count = 600;
    load.truncate = true;
    loader::load(&load).await.expect("sample data");
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let before = sandbox.snapshot().await;
    let server = start(&sandbox.url, &[("DB_POOL_SIZE", "8")]).await;

    // The parameter names, from the API's own description.
    let http = reqwest::Client::new();
    let doc: Value = http.get(format!("{}/api/schema/", server.base)).send().await.unwrap().json().await.unwrap();
    let parameters: Vec<String> = doc["paths"]["/api/contacts/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();

    let mut rng = Rng(0x5EED);
    let requests: Vec<String> = (0..REQUESTS).map(|_| random_request(&mut rng, &parameters)).collect();
    let started = Instant::now();
    let client_errors = Arc::new(AtomicUsize::new(0));
    let failures: Vec<String> = stream::iter(requests)
        .map(|path| {
            let http = http.clone();
            let base = server.base.clone();
            let client_errors = client_errors.clone();
            async move {
                let response = match http.get(format!("{base}{path}")).send().await {
                    Ok(response) => response,
                    Err(error) => return Some(format!("{path}: transport error {error}")),
                };
                let status = response.status();
                let json = response.headers().get("content-type").is_some_and(|v| v == "application/json");
                let body = response.bytes().await.unwrap_or_default();
                if status.is_server_error() {
                    return Some(format!("{path}: {status} {}", String::from_utf8_lossy(&body)));
                }
                if status.is_client_error() {
                    client_errors.fetch_add(1, Ordering::Relaxed);
                    if !json || serde_json::from_slice::<Value>(&body).is_err() {
                        return Some(format!("{path}: {status} without a JSON body"));
                    }
                } else if status != StatusCode::OK && status != StatusCode::MOVED_PERMANENTLY {
                    return Some(format!("{path}: unexpected {status}"));
                }
                None
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    let elapsed = started.elapsed();
    let shown: Vec<String> = failures.iter().take(5).map(|f| f.chars().take(300).collect()).collect();
    assert!(failures.is_empty(), "{} failures, first: {shown:?}", failures.len());
    let rejected = client_errors.load(Ordering::Relaxed);
    assert!(rejected > REQUESTS / 10 && rejected < REQUESTS, "{rejected} 4xx of {REQUESTS}: the mix tests both sides");
    println!("{REQUESTS} requests in {elapsed:?}, {rejected} answered 4xx");
    assert_eq!(sandbox.snapshot().await, before, "the tables changed");
}
