//! `/api/addresses/` over HTTP: the list's filters, the writes with their
//! statuses and versions, and scopes.

mod common;

use common::support::{ContactSpec, Sandbox};
use common::{client, get, start};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn oslo() -> Value {
    json!({"street": "Storgata", "street_number": "1", "city_code": "0155", "city": "Oslo", "country": "Norway"})
}

#[tokio::test]
async fn addresses_are_listed_created_changed_and_deleted() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;
    let list = format!("{}/api/addresses/", server.base);

    let response = client().post(&list).json(&oslo()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let tag = response.headers()["etag"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/addresses/{id}/"));
    sandbox.add_contact(&ContactSpec::new("Ann", "Lee").address(Some(id))).await;

    let (status, _, page) = get(&format!("{list}?country=Norway&search=storg")).await;
    assert_eq!((status, page["count"].as_i64()), (StatusCode::OK, Some(1)));
    let (status, _, body) = get(&format!("{list}?colour=red")).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"colour": ["Unknown parameter."]})));

    let detail = format!("{}{location}", server.base);
    let response = client().get(&detail).send().await.unwrap();
    assert_eq!(response.headers()["etag"].to_str().unwrap(), tag);
    let response =
        client().patch(&detail).header("If-Match", &tag).json(&json!({"city": "Bergen"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, _, contacts) = get(&format!("{}/api/contacts/?address__city=Bergen", server.base)).await;
    assert_eq!(contacts["count"], 1, "the contact living there moved with it");
    let response =
        client().patch(&detail).header("If-Match", &tag).json(&json!({"city": "Oslo"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let response = client().put(&detail).json(&json!({"city": "Oslo"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["street"], json!(["This field is required."]));
    let response = client().post(&list).header("content-type", "text/plain").body("x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let response = client().delete(&detail).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, body) = get(&detail).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "No Address matches the given query."})));
    let (_, _, contacts) = get(&format!("{}/api/contacts/?search=Ann", server.base)).await;
    assert!(contacts["results"][0]["address_id"].is_null(), "the contact remains, without an address");
    let response = client().post(format!("{}/api/addresses/1/", server.base)).json(&oslo()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, PUT, PATCH, DELETE, HEAD");
}

#[tokio::test]
async fn a_read_token_reads_addresses_but_does_not_write_them() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[("API_TOKENS", "read:r3ad")]).await;
    let list = format!("{}/api/addresses/", server.base);
    let response = client().get(&list).bearer_auth("r3ad").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client().post(&list).bearer_auth("r3ad").json(&oslo()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(client().get(&list).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn options_describe_the_write_bodies_from_the_field_table() {
    let sandbox = Sandbox::new().await;
    let server = start(&sandbox.url, &[]).await;
    let options = |path: &str| client().request(reqwest::Method::OPTIONS, format!("{}{path}", server.base)).send();
    let response = options("/api/contacts/").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["allow"], "GET, POST, HEAD, OPTIONS");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Contact List");
    let post = &body["actions"]["POST"];
    assert_eq!(post["first_name"], json!({"type": "string", "required": true, "read_only": false, "max_length": 100}));
    assert_eq!(post["gender"]["choices"].as_array().unwrap().len(), 3);
    assert_eq!(post["birthday"]["type"], "date");
    assert!(post.get("id").is_none(), "read-only keys are not written");
    let body: Value = options("/api/addresses/7/").await.unwrap().json().await.unwrap();
    assert_eq!(body["actions"]["PUT"]["street"]["max_length"], 255);
    assert_eq!(body["actions"]["PUT"]["country"]["required"], true);
}
