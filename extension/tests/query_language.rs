//! Targeted tests of the query language through `crm.contacts_page`: every
//! lookup, NULLs, ties across pages, LIKE escaping, unicode and injection
//! attempts, on both sources (joined tables and the trgm projection).

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{ContactSpec, Sandbox};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const VARIANTS: [&str; 2] = ["baseline", "trgm"];

async fn page(client: &Client, params: Value) -> Result<Value, tokio_postgres::Error> {
    let row = client.query_one("SELECT crm.contacts_page($1::jsonb)::text", &[&params]).await?;
    Ok(serde_json::from_str(&row.get::<_, String>(0)).unwrap())
}

async fn ids(client: &Client, params: Value) -> Vec<i64> {
    let p = page(client, params.clone()).await.unwrap_or_else(|e| panic!("{params}: {e:?}"));
    p["results"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

/// Four contacts that differ in every filterable column, one of them with
/// neither address nor relationship.
struct World {
    sandbox: Sandbox,
    paul: i64,
    zoe: i64,
    percent: i64,
    bare: i64,
}

async fn world(variant: &str) -> World {
    let sandbox = Sandbox::new().await;
    let berlin = sandbox.add_address("Main Street", "Berlin", "10115", "Germany").await;
    let zurich = sandbox.add_address("Bahnhofstraße", "Zürich", "8001", "Switzerland").await;
    let odd = sandbox.add_address("100% Lane", "Under_Score\\City", "X_1", "United Kingdom").await;
    let paul = sandbox
        .add_contact(
            &ContactSpec::new("Paul", "Smith")
                .gender(Some("M"))
                .phone(Some("+49 30 1234"))
                .created("2024-01-01T10:00:00Z")
                .birthday(Some("1980-05-05"))
                .address(Some(berlin))
                .points(Some(5000))
                .last_activity("2024-06-01T00:00:00Z")
                .customer_id("CUST-00000000PA01"),
        )
        .await;
    let zoe = sandbox
        .add_contact(
            &ContactSpec::new("Zoë", "Müller")
                .gender(Some("F"))
                .phone(Some("+41 44 5678"))
                .created("2024-02-01T10:00:00.5Z")
                .birthday(Some("1990-02-28"))
                .address(Some(zurich))
                .points(Some(100))
                .last_activity("2024-03-01T00:00:00Z")
                .customer_id("CUST-00000000ZO02"),
        )
        .await;
    let percent = sandbox
        .add_contact(
            &ContactSpec::new("Per%cent", "Under_score")
                .gender(Some("O"))
                .phone(None)
                .created("2024-03-01T10:00:00Z")
                .birthday(None)
                .address(Some(odd))
                .points(Some(99999))
                .last_activity("2024-03-02T00:00:00Z")
                .customer_id("CUST-0000000\\\\03"),
        )
        .await;
    let bare = sandbox
        .add_contact(
            &ContactSpec::new("Nobody", "Back\\slash")
                .gender(None)
                .phone(None)
                .created("2024-04-01T10:00:00Z")
                .birthday(None)
                .points(None)
                .customer_id("CUST-00000000NB04"),
        )
        .await;
    sandbox.client.query_one("SELECT crm.use_variant($1)", &[&variant]).await.unwrap();
    World { sandbox, paul, zoe, percent, bare }
}

#[tokio::test]
async fn every_lookup_filters() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        let cases: Vec<(Value, Vec<i64>)> = vec![
            (json!({"id": w.zoe.to_string()}), vec![w.zoe]),
            (json!({"first_name__icontains": "pAU"}), vec![w.paul]),
            (json!({"last_name__icontains": "müll"}), vec![w.zoe]),
            (json!({"gender": "M"}), vec![w.paul]),
            (json!({"customer_id__icontains": "zo0"}), vec![w.zoe]),
            (json!({"phone_number": "+49 30 1234"}), vec![w.paul]),
            (json!({"phone_number__icontains": "44 56"}), vec![w.zoe]),
            (json!({"created": "2024-02-01 10:00:00.5"}), vec![w.zoe]),
            (json!({"created__gte": "2024-03-01T10:00:00Z"}), vec![w.bare, w.percent]),
            (json!({"created__gt": "2024-03-01T10:00:00Z"}), vec![w.bare]),
            (json!({"created__lte": "2024-01-01T11:00:00+01:00"}), vec![w.paul]),
            (json!({"created__lt": "2024-01-01T10:00:00Z"}), vec![]),
            (json!({"birthday": "1990-02-28"}), vec![w.zoe]),
            (json!({"birthday__gte": "1985-01-01"}), vec![w.zoe]),
            (json!({"birthday__lte": "1985-01-01"}), vec![w.paul]),
            (json!({"last_updated__gt": "2024-03-15"}), vec![w.bare]),
            (json!({"address__id": "0"}), vec![]),
            (json!({"address__street": "Main Street"}), vec![w.paul]),
            (json!({"address__street__icontains": "STRASSE"}), vec![]),
            (json!({"address__street__icontains": "straße"}), vec![w.zoe]),
            (json!({"address__city": "Zürich"}), vec![w.zoe]),
            (json!({"address__city__icontains": "erl"}), vec![w.paul]),
            (json!({"address__city_code": "8001"}), vec![w.zoe]),
            (json!({"address__city_code__icontains": "011"}), vec![w.paul]),
            (json!({"address__country": "Germany"}), vec![w.paul]),
            (json!({"address__country__icontains": "united"}), vec![w.percent]),
            (json!({"relationship__points": "100"}), vec![w.zoe]),
            (json!({"relationship__points__gte": "5000"}), vec![w.percent, w.paul]),
            (json!({"relationship__points__gt": "5000"}), vec![w.percent]),
            (json!({"relationship__points__lte": "100"}), vec![w.zoe]),
            (json!({"relationship__points__lt": "99999999999999999999"}), vec![w.percent, w.zoe, w.paul]),
            (json!({"relationship__created__gte": "2024-02-01"}), vec![w.percent, w.zoe]),
            (json!({"relationship__last_activity__lt": "2024-03-02"}), vec![w.zoe]),
            (json!({"name": "smi"}), vec![w.paul]),
            (json!({"name": "zoë"}), vec![w.zoe]),
            (json!({"gender": "M", "relationship__points__gte": "1"}), vec![w.paul]),
        ];
        for (params, want) in cases {
            assert_eq!(ids(c, params.clone()).await, want, "{variant}: {params}");
        }
    }
}

#[tokio::test]
async fn like_wildcards_and_backslashes_match_literally() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        assert_eq!(ids(c, json!({"first_name__icontains": "%"})).await, [w.percent], "{variant}");
        assert_eq!(ids(c, json!({"last_name__icontains": "_"})).await, [w.percent], "{variant}");
        assert_eq!(ids(c, json!({"last_name__icontains": "\\"})).await, [w.bare], "{variant}");
        assert_eq!(ids(c, json!({"address__city__icontains": "r_s"})).await, [w.percent], "{variant}");
        // Unescaped, `_` would match the `l` of Berlin.
        assert!(ids(c, json!({"address__city__icontains": "r_i"})).await.is_empty(), "{variant}");
        assert_eq!(ids(c, json!({"customer_id__icontains": "\\\\"})).await, [w.percent], "{variant}");
        assert_eq!(ids(c, json!({"search": "%"})).await, [w.percent], "{variant}");
        assert_eq!(ids(c, json!({"search": "100%"})).await, [w.percent], "{variant}");
        assert!(ids(c, json!({"search": "_x"})).await.is_empty(), "{variant}");
    }
}

#[tokio::test]
async fn search_needs_every_term_in_some_field() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        assert_eq!(ids(c, json!({"search": "paul"})).await, [w.paul], "{variant}");
        assert_eq!(ids(c, json!({"search": "paul berlin"})).await, [w.paul], "{variant}");
        assert_eq!(ids(c, json!({"search": "paul,zürich"})).await, Vec::<i64>::new(), "{variant}");
        assert_eq!(ids(c, json!({"search": "SWITZERLAND  zoë"})).await, [w.zoe], "{variant}");
        assert_eq!(ids(c, json!({"search": "+41"})).await, [w.zoe], "{variant}");
        assert_eq!(ids(c, json!({"search": "nb04"})).await, [w.bare], "{variant}");
        assert_eq!(ids(c, json!({"search": " , "})).await.len(), 4, "{variant}: no terms, no filter");
    }
}

#[tokio::test]
async fn nulls_sort_last_ascending_and_first_descending() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        assert_eq!(ids(c, json!({"ordering": "relationship__points"})).await, [w.zoe, w.paul, w.percent, w.bare]);
        assert_eq!(ids(c, json!({"ordering": "-relationship__points"})).await, [w.bare, w.percent, w.paul, w.zoe]);
        assert_eq!(ids(c, json!({"ordering": "address__city"})).await, [w.paul, w.percent, w.zoe, w.bare], "{variant}");
        assert_eq!(ids(c, json!({"ordering": "-birthday"})).await, [w.bare, w.percent, w.zoe, w.paul], "{variant}");
        assert_eq!(ids(c, json!({"ordering": "gender,-created"})).await, [w.zoe, w.paul, w.percent, w.bare]);
    }
}

#[tokio::test]
async fn ties_never_make_pages_overlap_or_skip() {
    for variant in VARIANTS {
        let sandbox = Sandbox::new().await;
        let mut all = Vec::new();
        for i in 0..23 {
            // Everyone created at the same instant, a third without points.
            let points = (i % 3 != 0).then_some(7);
            all.push(
                sandbox
                    .add_contact(&ContactSpec::new("Same", "Name").created("2024-01-01T00:00:00Z").points(points))
                    .await,
            );
        }
        sandbox.client.query_one("SELECT crm.use_variant($1)", &[&variant]).await.unwrap();
        for ordering in ["-created", "created", "relationship__points", "-relationship__points,first_name"] {
            let mut seen = Vec::new();
            for number in 1..=5 {
                let params = json!({"ordering": ordering, "page_size": "5", "page": number.to_string()});
                seen.extend(ids(&sandbox.client, params).await);
            }
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 23, "{variant} {ordering}: {seen:?}");
        }
    }
}

#[tokio::test]
async fn injection_attempts_are_rejected_or_harmless_and_change_nothing() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        let before = w.sandbox.snapshot().await;
        let evil = [
            "'; DROP TABLE appuser; --",
            "\" OR 1=1 --",
            "1; DELETE FROM appuser",
            "$1",
            "') OR ('a'='a",
            "%' OR '1'='1",
            "\\'; TRUNCATE address; --",
        ];
        for text in evil {
            for key in ["first_name__icontains", "address__city", "search", "name", "phone_number"] {
                assert!(ids(c, json!({ key: text })).await.is_empty(), "{variant} {key}={text}");
            }
            for key in ["id", "relationship__points__gte", "created__lt", "birthday", "page_size"] {
                let e = page(c, json!({ key: text })).await.unwrap_err();
                assert_eq!(e.as_db_error().unwrap().code(), &SqlState::INVALID_PARAMETER_VALUE, "{key}={text}");
            }
            for params in
                [json!({ text: "1" }), json!({"ordering": text}), json!({ format!("first_name__{text}"): "x" })]
            {
                let e = page(c, params.clone()).await.unwrap_err();
                assert_eq!(e.as_db_error().unwrap().code(), &SqlState::INVALID_PARAMETER_VALUE, "{params}");
            }
            let e = page(c, json!({"cursor": text})).await.unwrap_err();
            assert_eq!(e.as_db_error().unwrap().code(), &SqlState::NO_DATA_FOUND);
        }
        assert_eq!(w.sandbox.snapshot().await, before, "{variant}: data changed");
    }
}

#[tokio::test]
async fn unicode_is_matched_case_insensitively_and_rendered_intact() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        assert_eq!(ids(c, json!({"first_name__icontains": "ZOË"})).await, [w.zoe], "{variant}");
        let p = page(c, json!({"address__city": "Zürich"})).await.unwrap();
        assert_eq!(p["results"][0]["city"], "Zürich");
        assert_eq!(p["results"][0]["street"], "Bahnhofstraße");
        assert_eq!(p["results"][0]["created"], "2024-02-01T10:00:00.500000Z");
        assert!(ids(c, json!({"search": "😀"})).await.is_empty());
    }
}

#[tokio::test]
async fn cursor_pages_walk_both_ways_and_refuse_foreign_cursors() {
    for variant in VARIANTS {
        let w = world(variant).await;
        let c = &w.sandbox.client;
        let first = page(c, json!({"cursor": "", "page_size": "2", "ordering": "address__city"})).await.unwrap();
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["next", "previous", "results"]);
        let token = |link: &Value| {
            let q = link.as_str().unwrap().split_once('?').unwrap().1.to_string();
            form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "cursor").unwrap().1.into_owned()
        };
        assert_eq!(first["previous"], Value::Null);
        let next = token(&first["next"]);
        let second = page(c, json!({"cursor": next, "page_size": "2", "ordering": "address__city"})).await.unwrap();
        let got: Vec<i64> = second["results"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(got, [w.zoe, w.bare], "{variant}");
        assert_eq!(second["next"], Value::Null);
        let back =
            page(c, json!({"cursor": token(&second["previous"]), "page_size": "2", "ordering": "address__city"}))
                .await
                .unwrap();
        assert_eq!(back["results"], first["results"]);
        // A cursor made for another ordering is refused as DRF does.
        let e = page(c, json!({"cursor": next, "ordering": "-address__city"})).await.unwrap_err();
        assert_eq!(e.as_db_error().unwrap().detail(), Some(r#"{"detail":"Invalid cursor"}"#));
    }
}

/// A pattern that matches more distinct values than the dictionary resolves
/// into a list is matched through the dictionary's values in SQL: the same
/// rows, counts and order as a plain ILIKE over the tables.
#[tokio::test]
async fn patterns_matching_very_many_values_give_the_same_rows() {
    let sandbox = Sandbox::new().await;
    sandbox
        .client
        .batch_execute(
            "INSERT INTO address (street, street_number, city_code, city, country) \
             SELECT 'Street ' || i, '1', 'C' || i, \
                    CASE WHEN i % 3 = 0 THEN 'Elsewhere ' || i ELSE 'Zq' || CASE WHEN i % 2 = 0 THEN 'PORT ' ELSE 'port ' END || i END, \
                    'Country' FROM generate_series(1, 1800) i; \
             INSERT INTO appuser (first_name, last_name, customer_id, created, last_updated, address_id) \
             SELECT 'F' || i, 'L' || i, 'CUST-' || lpad(i::text, 12, '0'), now(), now(), \
                    CASE WHEN i % 7 = 0 THEN NULL ELSE (SELECT min(id) FROM address) + i % 1800 END \
             FROM generate_series(1, 2500) i",
        )
        .await
        .unwrap();
    let expected: i64 = sandbox
        .client
        .query_one(
            "SELECT count(*) FROM appuser u JOIN address a ON a.id = u.address_id WHERE a.city ILIKE '%qpor%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(expected > 1000, "{expected}");
    let first_page: Vec<i64> = sandbox
        .client
        .query(
            "SELECT u.id FROM appuser u JOIN address a ON a.id = u.address_id WHERE a.city ILIKE '%qpor%' \
             ORDER BY a.city DESC, u.id DESC LIMIT 50",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for variant in VARIANTS {
        sandbox.client.query_one("SELECT crm.use_variant($1)", &[&variant]).await.unwrap();
        for params in [
            json!({"address__city__icontains": "qPor", "ordering": "-address__city"}),
            json!({"search": "qpor", "ordering": "-address__city"}),
        ] {
            let p = page(&sandbox.client, params.clone()).await.unwrap();
            assert_eq!(p["count"], json!(expected), "{variant} {params}");
            assert_eq!(ids(&sandbox.client, params.clone()).await, first_page, "{variant} {params}");
        }
    }
}

/// Customer ids share a prefix (`CUST-`): a pattern inside it matches every
/// contact, one that crosses it matches those whose rest begins with the
/// pattern's end, and a pattern next to a selective filter is rechecked
/// among that filter's matches only. The same counts and pages as ILIKE
/// over the tables, with postings built and on every variant.
#[tokio::test]
async fn patterns_inside_and_across_a_shared_prefix_match_as_ilike() {
    let sandbox = Sandbox::new().await;
    sandbox
        .client
        .batch_execute(
            "INSERT INTO address (street, street_number, city_code, city, country) VALUES ('S', '1', 'C', 'City', 'Land'); \
             INSERT INTO appuser (first_name, last_name, customer_id, created, last_updated, address_id) \
             SELECT 'F' || i, 'L' || i, 'CUST-' || upper(lpad(to_hex(i * 7919), 12, '0')), now(), now(), \
                    CASE WHEN i % 5 = 0 THEN (SELECT min(id) FROM address) END \
             FROM generate_series(1, 3000) i",
        )
        .await
        .unwrap();
    for variant in VARIANTS {
        sandbox.client.query_one("SELECT crm.use_variant($1)", &[&variant]).await.unwrap();
        for (params, pattern, with_address) in [
            (json!({"customer_id__icontains": "uSt"}), "%uSt%", false),
            (json!({"customer_id__icontains": "CUST-"}), "%CUST-%", false),
            (json!({"search": "ust-"}), "%ust-%", false),
            (json!({"customer_id__icontains": "T-0"}), "%T-0%", false),
            (json!({"customer_id__icontains": "-000001"}), "%-000001%", false),
            (json!({"customer_id__icontains": "T-0", "address__id": 0}), "%T-0%", true),
        ] {
            let mut params = params;
            if with_address {
                let address: i64 = sandbox.client.query_one("SELECT min(id) FROM address", &[]).await.unwrap().get(0);
                params["address__id"] = json!(address);
            }
            let filter = if with_address { " AND address_id IS NOT NULL" } else { "" };
            let expected: Vec<i64> = sandbox
                .client
                .query(
                    &format!(
                        "SELECT id FROM appuser WHERE customer_id ILIKE $1{filter} ORDER BY created DESC, id DESC"
                    ),
                    &[&pattern],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(!expected.is_empty(), "{params}");
            let p = page(&sandbox.client, params.clone()).await.unwrap();
            assert_eq!(p["count"], json!(expected.len()), "{variant} {params}");
            let first: Vec<i64> = expected.iter().take(50).copied().collect();
            assert_eq!(ids(&sandbox.client, params.clone()).await, first, "{variant} {params}");
        }
    }
}
