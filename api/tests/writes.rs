//! Contact writes over HTTP: statuses, headers and bodies as DRF answers
//! them, each test on its own sandbox schema.

mod common;

use common::support::Sandbox;
use common::{client, start};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn create_read_patch_put_delete_with_versions() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;
    let list = format!("{}/api/contacts/", server.base);

    let response =
        client().post(&list).json(&json!({"first_name": "Ann", "last_name": "Lee", "points": 3})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created_tag = response.headers()["etag"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/contacts/{id}/"));
    assert_eq!(created["points"], 3);

    let detail = format!("{}{location}", server.base);
    let response = client().get(&detail).send().await.unwrap();
    assert_eq!(response.headers()["etag"].to_str().unwrap(), created_tag, "a read gives the same version");
    assert_eq!(response.json::<Value>().await.unwrap(), created);

    let response =
        client().patch(&detail).header("If-Match", &created_tag).json(&json!({"gender": "F"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patched_tag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(patched_tag, created_tag);
    let patched: Value = response.json().await.unwrap();
    assert_eq!((patched["gender"].as_str(), patched["points"].as_i64()), (Some("F"), Some(3)));

    // The first version is stale now: 412, and nothing changes.
    let before = sandbox.snapshot().await;
    let response =
        client().patch(&detail).header("If-Match", &created_tag).json(&json!({"gender": "M"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert!(response.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("If-Match"));
    assert_eq!(sandbox.snapshot().await, before);

    let response = client().put(&detail).json(&json!({"first_name": "Bo", "last_name": "Ek"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let replaced: Value = response.json().await.unwrap();
    assert!(replaced["gender"].is_null(), "a PUT resets what it leaves out");

    let response = client().delete(&detail).header("If-Match", &patched_tag).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let response = client().delete(&detail).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.unwrap(), "");
    for response in [
        client().get(&detail).send().await.unwrap(),
        client().delete(&detail).send().await.unwrap(),
        client().patch(&detail).json(&json!({"gender": "M"})).send().await.unwrap(),
        client().patch(format!("{list}abc/")).json(&json!({})).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn bodies_that_are_not_valid_json_contacts_are_refused_with_a_reason() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;
    let list = format!("{}/api/contacts/", server.base);
    let before = sandbox.snapshot().await;

    let response = client().post(&list).json(&json!({"first_name": "A", "gender": "X"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"last_name": ["This field is required."], "gender": ["\"X\" is not a valid choice."]})
    );

    let response = client().post(&list).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );

    let response =
        client().post(&list).header("content-type", "application/json").body("{\"first_name\": ").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["detail"].as_str().unwrap().starts_with("JSON parse error"));

    let response =
        client().post(&list).header("content-type", "application/json").body(vec![0xff, 0xfe]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = client().post(&list).json(&json!({"first_name": "a\u{0}b", "last_name": "B"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"first_name": ["Null characters are not allowed."]}));

    let huge = json!({"first_name": "x".repeat(api::writes::MAX_BODY_BYTES), "last_name": "B"});
    let response = client().post(&list).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("larger than"));

    assert_eq!(sandbox.snapshot().await, before, "nothing was written");
}

#[tokio::test]
async fn read_tokens_read_and_write_tokens_write() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[("API_TOKENS", "read:r-secret,write:w-secret,bare-secret")]).await;
    let list = format!("{}/api/contacts/", server.base);
    let body = json!({"first_name": "Ann", "last_name": "Lee"});

    let response = client().get(&list).bearer_auth("r-secret").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let before = sandbox.snapshot().await;
    let response = client().post(&list).bearer_auth("r-secret").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "You do not have permission to perform this action."})
    );
    assert_eq!(sandbox.snapshot().await, before, "a read token writes nothing");
    let response = client().post(&list).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The secret alone, without its scope, is not a token.
    let response = client().post(&list).bearer_auth("write:w-secret").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = client().post(&list).bearer_auth("w-secret").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let detail = format!("{}{}", server.base, response.headers()["location"].to_str().unwrap());
    let response = client().patch(&detail).bearer_auth("bare-secret").json(&json!({"points": 1})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a token without a scope reads and writes");
    let response = client().delete(&detail).bearer_auth("r-secret").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
