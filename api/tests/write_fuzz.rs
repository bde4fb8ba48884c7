//! 10,000 random and hostile write bodies against the running API: wrong
//! types, huge and NUL-holding strings, deep nesting, invalid UTF-8,
//! duplicate keys, unknown and read-only keys, wrong media types. None may
//! get a 5xx, every 4xx must carry a JSON body, and what was written must
//! read back as the contact the API answered.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::start;
use common::support::{Rng, Sandbox};
use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;

const BODIES: usize = 10_000;
const CONCURRENCY: usize = 16;

const KEYS: &[&str] = &[
    "first_name",
    "last_name",
    "gender",
    "phone_number",
    "birthday",
    "address_id",
    "street",
    "street_number",
    "city_code",
    "city",
    "country",
    "points",
    "last_activity",
    "id",
    "customer_id",
    "created",
    "last_updated",
    "relationship_id",
    "relationship_created",
    "",
    "first_name\u{0}",
    "😀",
    "__proto__",
    "FIRST_NAME",
];

/// JSON text of one value, often of the wrong kind.
fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(22) {
        0 => "null".into(),
        1 => "true".into(),
        2 => format!("{}", rng.next() as i64),
        3 => "1e400".into(),
        4 => "-0.5".into(),
        5 => "99999999999999999999999".into(),
        6 => format!("\"{}\"", "x".repeat(rng.below(300))),
        7 => format!("\"{}\"", "é".repeat(rng.below(40_000))),
        8 => "\"a\\u0000b\"".into(),
        9 => "\"\\ud800\"".into(),
        10 => format!("\"{}\"", rng.pick(&["M", "F", "O", "X", "m", "", " ", "MF"])),
        11 => format!(
            "\"{}\"",
            rng.pick(&[
                "1990-02-28",
                "1990-02-30",
                "2026-01-02T03:04:05Z",
                "0000-01-01",
                "yesterday",
                "9999-12-31T23:59:59+14:00"
            ])
        ),
        12 => format!("{}", rng.pick(&[0i64, 1, -1, 2147483647, 2147483648, -2147483649, 1, 2, 3])),
        13 if depth < 3 => format!("[{}]", value(rng, depth + 1)),
        14 if depth < 3 => format!("{{\"k\": {}}}", value(rng, depth + 1)),
        15 => "[".repeat(200) + &"]".repeat(200),
        16 => format!("\"{}\"", rng.pick(&["'; DROP TABLE appuser; --", "$1", "%", "\\\\", "\u{202E}"])),
        _ => format!("\"Name{}\"", rng.below(1000)),
    }
}

/// A body as bytes, with its content type.
fn body(rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let content_type = *rng.pick(&[
        "application/json",
        "application/json",
        "application/json",
        "text/plain",
        "application/merge-patch+json",
    ]);
    match rng.below(20) {
        0 => (vec![0xff, 0xfe, b'{', b'}'], content_type),
        1 => (b"{\"first_name\": \"a\", \"first_name\": \"b\", \"last_name\": \"c\"}".to_vec(), content_type),
        2 => (b"".to_vec(), content_type),
        3 => (value(rng, 0).into_bytes(), content_type),
        4 => (b"{\"first_name\": \"A\", \"last_name\": \"B\"".to_vec(), content_type),
        _ => {
            let mut pairs = Vec::new();
            if rng.chance(60) {
                pairs.push(format!("\"first_name\": \"F{}\"", rng.below(100)));
                pairs.push(format!("\"last_name\": \"L{}\"", rng.below(100)));
            }
            for _ in 0..rng.below(5) {
                pairs.push(format!("{}: {}", Value::String(rng.pick(KEYS).to_string()), value(rng, 0)));
            }
            (format!("{{{}}}", pairs.join(", ")).into_bytes(), content_type)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hostile_write_body_gets_a_5xx_or_a_non_json_4xx() {
    let sandbox = Sandbox::new().await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let server = start(&sandbox.url, &[("DB_POOL_SIZE", "8")]).await;
    let http = reqwest::Client::new();
    // A contact to PATCH and PUT.
    let seed: Value = http
        .post(format!("{}/api/contacts/", server.base))
        .json(&serde_json::json!({"first_name": "Seed", "last_name": "Contact"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let target = format!("{}/api/contacts/{}/", server.base, seed["id"]);

    let mut rng = Rng(0xB0D1E5);
    let requests: Vec<(usize, Vec<u8>, &str)> = (0..BODIES)
        .map(|_| {
            let method = rng.below(3);
            let (b, t) = body(&mut rng);
            (method, b, t)
        })
        .collect();
    let created = Arc::new(AtomicUsize::new(0));
    let failures: Vec<String> = stream::iter(requests)
        .map(|(method, bytes, content_type)| {
            let (http, created) = (http.clone(), created.clone());
            let (list, target) = (format!("{}/api/contacts/", server.base), target.clone());
            async move {
                let request = match method {
                    0 => http.post(&list),
                    1 => http.patch(&target),
                    _ => http.put(&target),
                };
                let shown = String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>();
                let response = match request.header("content-type", content_type).body(bytes).send().await {
                    Ok(response) => response,
                    Err(error) => return Some(format!("{shown}: transport error {error}")),
                };
                let status = response.status();
                let json = response.headers().get("content-type").is_some_and(|v| v == "application/json");
                let answer = response.bytes().await.unwrap_or_default();
                if status.is_server_error() {
                    return Some(format!("{shown}: {status} {}", String::from_utf8_lossy(&answer)));
                }
                if !json || serde_json::from_slice::<Value>(&answer).is_err() {
                    return Some(format!("{shown}: {status} without a JSON body"));
                }
                if status == StatusCode::CREATED {
                    created.fetch_add(1, Ordering::Relaxed);
                } else if !status.is_client_error() && status != StatusCode::OK {
                    return Some(format!("{shown}: unexpected {status}"));
                }
                None
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    let shown: Vec<&String> = failures.iter().take(5).collect();
    assert!(failures.is_empty(), "{} failures, first: {shown:?}", failures.len());
    let created = created.load(Ordering::Relaxed);
    assert!(created > BODIES / 50, "{created} creates of {BODIES}: the mix tests both sides");
    // What the API answered is what the tables hold: the projection agrees.
    let count: i64 = sandbox.client.query_one("SELECT count(*) FROM appuser", &[]).await.unwrap().get(0);
    let page: String =
        sandbox.client.query_one("SELECT crm.contacts_page('{\"page_size\": 1}')::text", &[]).await.unwrap().get(0);
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["count"].as_i64(), Some(count));
    assert_eq!(count as usize, created + 1);
}
