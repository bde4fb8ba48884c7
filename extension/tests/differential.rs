//! Differential test: hundreds of random combinations of filters, lookups,
//! orderings, search terms and pages, each answered by the extension and by
//! a straightforward reference query written here, independently of the
//! extension's code: same ids, same order, same count. It runs on both of
//! the extension's sources (the joined tables, and the projection of the
//! trgm variant), page-number and cursor pagination.

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{json, Map, Value};
use support::{Rng, Sandbox};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

const FIRST: &[&str] =
    &["Paul", "Paula", "Pauline", "Anna", "Zoë", "ZOË", "Jean-Luc", "Ana", "Anne", "Mary", "Maryam", "O'Brien"];
const LAST: &[&str] = &[
    "Smith",
    "Smithers",
    "Paulsen",
    "Nguyen",
    "Müller",
    "MÜLLER",
    "Lee",
    "Leeds",
    "100% Real",
    "Under_Score",
    "Back\\Slash",
];
const CITIES: &[&str] =
    &["Berlin", "Bern", "Zürich", "St. Paul", "Paulton", "Lake_City", "50% Off", "Anna Bay", "Paris"];
const COUNTRIES: &[&str] =
    &["United States", "United Kingdom", "United Arab Emirates", "Germany", "France", "Österreich"];
const STREETS: &[&str] = &["Main Street", "Paul Lane", "High St", "Elm Road", "Rue de Paris", "Anna-Weg"];

/// The test's own view of the query language: parameter base, SQL over the
/// joined tables, kind, lookups, orderable.
struct RefField {
    name: &'static str,
    expr: &'static str,
    kind: Kind,
    lookups: &'static [&'static str],
    orderable: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Timestamp,
    Date,
}

const REF_FIELDS: &[RefField] = &[
    RefField { name: "id", expr: "u.id", kind: Kind::Int, lookups: &["exact"], orderable: true },
    RefField { name: "first_name", expr: "u.first_name", kind: Kind::Text, lookups: &["icontains"], orderable: true },
    RefField { name: "last_name", expr: "u.last_name", kind: Kind::Text, lookups: &["icontains"], orderable: true },
    RefField { name: "gender", expr: "u.gender", kind: Kind::Text, lookups: &["exact"], orderable: true },
    RefField { name: "customer_id", expr: "u.customer_id", kind: Kind::Text, lookups: &["icontains"], orderable: true },
    RefField {
        name: "phone_number",
        expr: "u.phone_number",
        kind: Kind::Text,
        lookups: &["exact", "icontains"],
        orderable: true,
    },
    RefField {
        name: "created",
        expr: "u.created",
        kind: Kind::Timestamp,
        lookups: &["exact", "gte", "lte", "gt", "lt"],
        orderable: true,
    },
    RefField {
        name: "birthday",
        expr: "u.birthday",
        kind: Kind::Date,
        lookups: &["exact", "gte", "lte"],
        orderable: true,
    },
    RefField {
        name: "last_updated",
        expr: "u.last_updated",
        kind: Kind::Timestamp,
        lookups: &["exact", "gte", "lte", "gt", "lt"],
        orderable: true,
    },
    RefField { name: "address__id", expr: "a.id", kind: Kind::Int, lookups: &["exact"], orderable: false },
    RefField {
        name: "address__street",
        expr: "a.street",
        kind: Kind::Text,
        lookups: &["exact", "icontains"],
        orderable: false,
    },
    RefField {
        name: "address__city",
        expr: "a.city",
        kind: Kind::Text,
        lookups: &["exact", "icontains"],
        orderable: true,
    },
    RefField {
        name: "address__city_code",
        expr: "a.city_code",
        kind: Kind::Text,
        lookups: &["exact", "icontains"],
        orderable: true,
    },
    RefField {
        name: "address__country",
        expr: "a.country",
        kind: Kind::Text,
        lookups: &["exact", "icontains"],
        orderable: true,
    },
    RefField {
        name: "relationship__points",
        expr: "r.points",
        kind: Kind::Int,
        lookups: &["exact", "gte", "lte", "gt", "lt"],
        orderable: true,
    },
    RefField {
        name: "relationship__created",
        expr: "r.created",
        kind: Kind::Timestamp,
        lookups: &["exact", "gte", "lte", "gt", "lt"],
        orderable: true,
    },
    RefField {
        name: "relationship__last_activity",
        expr: "r.last_activity",
        kind: Kind::Timestamp,
        lookups: &["exact", "gte", "lte", "gt", "lt"],
        orderable: true,
    },
];

const SEARCHED: &[&str] =
    &["u.first_name", "u.last_name", "u.customer_id", "u.phone_number", "a.street", "a.city", "a.country"];

fn like_escape(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if c == '%' || c == '_' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Timestamps on a coarse grid, so that many contacts share one (ties).
fn timestamp(rng: &mut Rng) -> String {
    format!("2024-0{}-{:02}T{:02}:00:00Z", 1 + rng.below(3), 1 + rng.below(28), rng.below(3) * 6)
}

/// Adds 60 addresses and 1500 contacts; `batch` keeps customer ids unique.
async fn fill(sandbox: &Sandbox, rng: &mut Rng, batch: usize) {
    let client = &sandbox.client;
    let mut addresses = Vec::new();
    for i in 0..60 {
        let (street, city, country) = (*rng.pick(STREETS), *rng.pick(CITIES), *rng.pick(COUNTRIES));
        let city_code = format!("{:05}", 1000 + rng.below(30) * 7);
        let id: i64 = client
            .query_one(
                "INSERT INTO address (street, street_number, city_code, city, country) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&street, &i.to_string(), &city_code, &city, &country],
            )
            .await
            .unwrap()
            .get(0);
        addresses.push(id);
    }
    for i in 0..1500 {
        let gender: Option<&str> = if rng.chance(15) { None } else { Some(*rng.pick(&["M", "F", "O"])) };
        let phone: Option<String> = (!rng.chance(15)).then(|| format!("+1 555-{:04}", rng.below(400)));
        let birthday: Option<String> =
            (!rng.chance(20)).then(|| format!("19{}-0{}-1{}", 50 + rng.below(50), 1 + rng.below(9), rng.below(10)));
        let address: Option<i64> = (!rng.chance(10)).then(|| *rng.pick(&addresses));
        let created = timestamp(rng);
        let (first, last) = (*rng.pick(FIRST), *rng.pick(LAST));
        let customer_id = format!("CUST-{:012X}", (batch * 1500 + i) * 7919 + 11);
        let id: i64 = client
            .query_one(
                "INSERT INTO appuser (first_name, last_name, gender, customer_id, phone_number, created, last_updated, birthday, address_id) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $6::text::timestamptz + interval '1 day', $7::text::date, $8) RETURNING id",
                &[&first, &last, &gender, &customer_id, &phone, &created, &birthday, &address],
            )
            .await
            .unwrap()
            .get(0);
        if !rng.chance(15) {
            let points = rng.below(60) as i32 * 1000;
            client
                .execute(
                    "INSERT INTO customer_relationship (appuser_id, points, created, last_activity) \
                     VALUES ($1, $2, $3::text::timestamptz, $4::text::timestamptz)",
                    &[&id, &points, &created, &timestamp(rng)],
                )
                .await
                .unwrap();
        }
    }
}

/// A random text fragment: part of a value of the data, in a random case,
/// or something absent.
fn fragment(rng: &mut Rng, pool: &[&str]) -> String {
    if rng.chance(10) {
        return rng.pick(&["qqq", "%", "_", "\\", "'", "ë", "E"]).to_string();
    }
    let chars: Vec<char> = rng.pick(pool).chars().collect();
    let start = rng.below(chars.len());
    let len = 1 + rng.below((chars.len() - start).min(5));
    let s: String = chars[start..start + len].iter().collect();
    match rng.below(3) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        _ => s,
    }
}

/// A random filter: parameter name, value, and the reference SQL condition
/// with its arguments (as text, cast in SQL).
fn random_filter(rng: &mut Rng, args: &mut Vec<String>) -> (String, String, String) {
    let field = rng.pick(REF_FIELDS);
    let lookup = *rng.pick(field.lookups);
    let param = if lookup == "exact" { field.name.to_string() } else { format!("{}__{lookup}", field.name) };
    let value = match (field.name, field.kind, lookup) {
        (_, _, "icontains") => {
            let pool = match field.name {
                "first_name" => FIRST,
                "last_name" => LAST,
                "address__city" => CITIES,
                "address__country" => COUNTRIES,
                "address__street" => STREETS,
                "customer_id" => &["CUST-00000000", "ABC", "7F"],
                "phone_number" => &["+1 555-0", "555-01", "-00"],
                _ => &["00"],
            };
            fragment(rng, pool)
        }
        ("gender", _, _) => rng.pick(&["M", "F", "O", "X"]).to_string(),
        ("address__city", _, _) => rng.pick(CITIES).to_string(),
        ("address__country", _, _) => rng.pick(COUNTRIES).to_string(),
        ("address__street", _, _) => rng.pick(STREETS).to_string(),
        ("address__city_code", _, _) => format!("{:05}", 1000 + rng.below(30) * 7),
        ("phone_number", _, _) => format!("+1 555-{:04}", rng.below(400)),
        ("id" | "address__id", _, _) => (1 + rng.below(2000)).to_string(),
        (_, Kind::Int, _) => (rng.below(60) * 1000).to_string(),
        (_, Kind::Timestamp, _) => timestamp(rng),
        (_, Kind::Date, _) => format!("19{}-0{}-1{}", 50 + rng.below(50), 1 + rng.below(9), rng.below(10)),
        (_, Kind::Text, _) => "x".to_string(),
    };
    args.push(if lookup == "icontains" { like_escape(&value) } else { value.clone() });
    let placeholder = format!("${}", args.len());
    // Arguments are text; the SQL casts them.
    let cast = match field.kind {
        Kind::Int => "::text::bigint",
        Kind::Text => "",
        Kind::Timestamp => "::text::timestamptz",
        Kind::Date => "::text::date",
    };
    let op = match lookup {
        "exact" => "=",
        "gte" => ">=",
        "lte" => "<=",
        "gt" => ">",
        "lt" => "<",
        _ => "ILIKE",
    };
    (param, value, format!("{} {op} {placeholder}{cast}", field.expr))
}

struct Case {
    params: Map<String, Value>,
    conditions: Vec<String>,
    args: Vec<String>,
    order_sql: String,
}

fn random_case(rng: &mut Rng) -> Case {
    let mut case = Case { params: Map::new(), conditions: Vec::new(), args: Vec::new(), order_sql: String::new() };
    for _ in 0..rng.below(3) {
        let (param, value, condition) = random_filter(rng, &mut case.args);
        if case.params.contains_key(&param) {
            case.args.pop();
            continue;
        }
        case.params.insert(param, json!(value));
        case.conditions.push(condition);
    }
    if rng.chance(15) {
        let text = fragment(rng, FIRST);
        case.args.push(like_escape(&text));
        let p = format!("${}", case.args.len());
        case.conditions.push(format!("(u.first_name ILIKE {p} OR u.last_name ILIKE {p})"));
        case.params.insert("name".into(), json!(text));
    }
    if rng.chance(35) {
        let pools: [&[&str]; 4] = [FIRST, LAST, CITIES, COUNTRIES];
        let fragments: Vec<String> = (0..1 + rng.below(2))
            .map(|_| {
                let pool = pools[rng.below(pools.len())];
                fragment(rng, pool)
            })
            .collect();
        let text = fragments.join(if rng.chance(50) { " " } else { ", " });
        // DRF's SearchFilter: terms split on whitespace and commas.
        for term in text.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()) {
            case.args.push(like_escape(term));
            let p = format!("${}", case.args.len());
            let any: Vec<String> = SEARCHED.iter().map(|c| format!("{c} ILIKE {p}")).collect();
            case.conditions.push(format!("({})", any.join(" OR ")));
        }
        case.params.insert("search".into(), json!(text));
    }
    // Ordering: 0 to 3 fields; the reference spells out NULL placement and
    // the id tie-breaker itself.
    let orderable: Vec<&RefField> = REF_FIELDS.iter().filter(|f| f.orderable).collect();
    let mut terms: Vec<(&RefField, bool)> = Vec::new();
    for _ in 0..rng.below(4) {
        let f = *rng.pick(&orderable);
        if !terms.iter().any(|(t, _)| t.name == f.name) {
            terms.push((f, rng.chance(50)));
        }
    }
    if !terms.is_empty() {
        let spec: Vec<String> = terms.iter().map(|(f, d)| format!("{}{}", if *d { "-" } else { "" }, f.name)).collect();
        case.params.insert("ordering".into(), json!(spec.join(",")));
    } else {
        terms.push((&REF_FIELDS[6], true)); // -created
    }
    let mut order: Vec<String> = terms
        .iter()
        .map(|(f, d)| format!("{} {}", f.expr, if *d { "DESC NULLS FIRST" } else { "ASC NULLS LAST" }))
        .collect();
    if !terms.iter().any(|(f, _)| f.name == "id") {
        order.push(format!("u.id {}", if terms.last().unwrap().1 { "DESC" } else { "ASC" }));
    }
    case.order_sql = order.join(", ");
    case
}

/// Every id the reference selects, in order.
async fn reference_ids(client: &Client, case: &Case) -> Vec<i64> {
    let where_sql =
        if case.conditions.is_empty() { String::new() } else { format!("WHERE {}", case.conditions.join(" AND ")) };
    let sql = format!(
        "SELECT u.id FROM appuser u LEFT JOIN address a ON a.id = u.address_id \
         LEFT JOIN customer_relationship r ON r.appuser_id = u.id {where_sql} ORDER BY {}",
        case.order_sql
    );
    let args: Vec<&(dyn ToSql + Sync)> = case.args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    client
        .query(&sql, &args)
        .await
        .unwrap_or_else(|e| panic!("reference failed: {e}\n{sql}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn page(client: &Client, params: &Map<String, Value>) -> Value {
    let text: String = client
        .query_one("SELECT crm.contacts_page($1::jsonb)::text", &[&Value::Object(params.clone())])
        .await
        .unwrap_or_else(|e| panic!("contacts_page({params:?}): {e:?}"))
        .get(0);
    serde_json::from_str(&text).unwrap()
}

fn ids(page: &Value) -> Vec<i64> {
    page["results"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

/// The `cursor` parameter of a next/previous link.
fn cursor_of(link: &Value) -> Option<String> {
    let link = link.as_str()?;
    let query = link.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "cursor").map(|(_, v)| v.into_owned())
}

async fn check_case(client: &Client, case: &Case, rng: &mut Rng, label: &str) {
    let expected = reference_ids(client, case).await;
    let page_size = 1 + rng.below(40);
    let num_pages = expected.len().div_ceil(page_size).max(1);
    let number = 1 + rng.below(num_pages);
    let mut params = case.params.clone();
    params.insert("page_size".into(), json!(page_size.to_string()));
    params.insert("page".into(), json!(number.to_string()));
    let got = page(client, &params).await;
    let context = format!("{label}: {params:?}");
    assert_eq!(got["count"].as_u64().unwrap() as usize, expected.len(), "count, {context}");
    let start = (number - 1) * page_size;
    let want: Vec<i64> = expected.iter().skip(start).take(page_size).copied().collect();
    assert_eq!(ids(&got), want, "page {number}, {context}");

    // Keyset: walk forward through every page, then back from the last.
    if rng.chance(30) {
        let mut params = case.params.clone();
        let size = 1 + rng.below(200);
        params.insert("page_size".into(), json!(size));
        params.insert("cursor".into(), json!(""));
        let mut walked = Vec::new();
        let mut pages = Vec::new();
        loop {
            let p = page(client, &params).await;
            assert!(p.get("count").is_none(), "keyset pages have no count");
            walked.extend(ids(&p));
            pages.push(p.clone());
            match cursor_of(&p["next"]) {
                Some(token) => params.insert("cursor".into(), json!(token)),
                None => break,
            };
        }
        assert_eq!(walked, expected, "keyset forward, {context}");
        let mut back = Vec::new();
        let mut current = pages.last().unwrap().clone();
        back.splice(0..0, ids(&current));
        while let Some(token) = cursor_of(&current["previous"]) {
            params.insert("cursor".into(), json!(token));
            current = page(client, &params).await;
            back.splice(0..0, ids(&current));
        }
        assert_eq!(back, expected, "keyset backward, {context}");
    }
}

async fn run(variant: &str, seed: u64, cases: usize) {
    let sandbox = Sandbox::new().await;
    let mut rng = Rng(seed);
    fill(&sandbox, &mut rng, 0).await;
    sandbox.client.query_one("SELECT crm.use_variant($1)", &[&variant]).await.unwrap();
    let report: String = sandbox.client.query_one("SELECT crm.variant()->>'variant'", &[]).await.unwrap().get(0);
    assert_eq!(report, variant);
    for i in 0..cases {
        let case = random_case(&mut rng);
        check_case(&sandbox.client, &case, &mut rng, &format!("{variant} case {i}")).await;
    }
}

/// Writes after the postings were built: new contacts, changed names and
/// addresses, values set to NULL and from NULL, deleted contacts, a changed
/// relationship. Their postings are
/// stale (the dirty set), so these contacts are matched by SQL.
async fn write_after_postings(sandbox: &Sandbox, rng: &mut Rng) {
    fill(sandbox, rng, 1).await;
    let client = &sandbox.client;
    for sql in [
        "UPDATE appuser SET first_name = 'Zoë-Paula' WHERE id % 17 = 0",
        "UPDATE appuser SET last_name = 'Ab' WHERE id % 23 = 1",
        "UPDATE address SET street = 'Pauline Allee', city = 'Ürümqi' WHERE id % 5 = 0",
        "UPDATE customer_relationship SET points = points + 1 WHERE id % 3 = 0",
        // Values that become NULL, and NULLs that get a value: the groups
        // of pages read through them (`grouped`) must follow.
        "UPDATE appuser SET gender = NULL, birthday = NULL WHERE id % 13 = 3",
        "UPDATE appuser SET gender = 'O' WHERE gender IS NULL AND id % 13 = 5",
        "UPDATE appuser SET address_id = NULL WHERE id % 11 = 4",
        // Phone numbers are not divided into groups, only split into their
        // NULLs and the rest.
        "UPDATE appuser SET phone_number = NULL WHERE id % 19 = 7",
        "UPDATE appuser SET phone_number = '+1 000' WHERE phone_number IS NULL AND id % 19 = 8",
        "DELETE FROM appuser WHERE id % 29 = 2",
    ] {
        client.execute(sql, &[]).await.unwrap();
    }
    let dirty: i64 = client.query_one("SELECT count(*) FROM crm_posting_dirty", &[]).await.unwrap().get(0);
    assert!(dirty > 1500, "the writes left {dirty} dirty contacts");
}

#[tokio::test]
async fn postings_with_writes_since_their_snapshot_match_the_reference() {
    let sandbox = Sandbox::new().await;
    let mut rng = Rng(3);
    fill(&sandbox, &mut rng, 0).await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    write_after_postings(&sandbox, &mut rng).await;
    // Pages of every contact from offset 100 on are read through groups
    // too (from 10,000 in production), with the written contacts in them.
    sandbox.client.batch_execute("SET crm.seek_min_offset = 1").await.unwrap();
    for i in 0..200 {
        let case = random_case(&mut rng);
        check_case(&sandbox.client, &case, &mut rng, &format!("dirty case {i}")).await;
    }
    // A new snapshot takes the written contacts in.
    sandbox.client.query_one("SELECT crm.refresh_postings()", &[]).await.unwrap();
    let dirty: i64 = sandbox.client.query_one("SELECT count(*) FROM crm_posting_dirty", &[]).await.unwrap().get(0);
    assert_eq!(dirty, 0);
    for i in 0..100 {
        let case = random_case(&mut rng);
        check_case(&sandbox.client, &case, &mut rng, &format!("refreshed case {i}")).await;
    }
}

/// Deep pages of the unfiltered projection seek on the first term's index
/// (from offset 10,000 in production; here from the first row past 1).
#[tokio::test]
async fn seeking_deep_pages_matches_the_reference() {
    let sandbox = Sandbox::new().await;
    let mut rng = Rng(4);
    fill(&sandbox, &mut rng, 0).await;
    sandbox.client.query_one("SELECT crm.use_variant('full')", &[]).await.unwrap();
    sandbox.client.batch_execute("SET crm.seek_min_offset = 1").await.unwrap();
    for i in 0..150 {
        let mut case = random_case(&mut rng);
        // Unfiltered: only the ordering decides.
        case.conditions.clear();
        case.args.clear();
        case.params.retain(|k, _| k == "ordering");
        check_case(&sandbox.client, &case, &mut rng, &format!("seek case {i}")).await;
    }
}

#[tokio::test]
async fn tables_source_matches_the_reference() {
    run("baseline", 1, 300).await;
}

#[tokio::test]
async fn projection_source_matches_the_reference() {
    run("trgm", 2, 300).await;
}

/// A random write body: some of the writable keys, from the same
/// vocabulary as `fill` (so that searches find old and new contacts).
fn random_write_body(rng: &mut Rng, addresses: &[i64], full: bool) -> Value {
    let mut body = Map::new();
    if full || rng.chance(40) {
        body.insert("first_name".into(), json!(*rng.pick(FIRST)));
    }
    if full || rng.chance(40) {
        body.insert("last_name".into(), json!(*rng.pick(LAST)));
    }
    if rng.chance(40) {
        body.insert("gender".into(), if rng.chance(20) { Value::Null } else { json!(*rng.pick(&["M", "F", "O"])) });
    }
    if rng.chance(30) {
        body.insert(
            "phone_number".into(),
            if rng.chance(20) { Value::Null } else { json!(format!("+1 555-{:04}", rng.below(400))) },
        );
    }
    if rng.chance(30) {
        body.insert(
            "birthday".into(),
            json!(format!("19{}-0{}-1{}", 50 + rng.below(50), 1 + rng.below(9), rng.below(10))),
        );
    }
    if rng.chance(40) {
        body.insert("points".into(), json!(rng.below(100_000)));
    }
    if rng.chance(30) {
        body.insert("last_activity".into(), json!(timestamp(rng)));
    }
    match rng.below(6) {
        0 => {
            body.insert("address_id".into(), if rng.chance(20) { Value::Null } else { json!(*rng.pick(addresses)) });
        }
        1 => {
            for (key, value) in [
                ("street", *rng.pick(STREETS)),
                ("street_number", "9"),
                ("city_code", "01234"),
                ("city", *rng.pick(CITIES)),
                ("country", *rng.pick(COUNTRIES)),
            ] {
                body.insert(key.into(), json!(value));
            }
        }
        _ => {}
    }
    Value::Object(body)
}

/// Creates, PATCHes, PUTs and deletes through the write functions, after
/// the postings were built; then the projection, its postings, dictionary
/// and counters answer as the reference query over the tables does.
#[tokio::test]
async fn writes_through_the_functions_match_the_reference() {
    let sandbox = Sandbox::new().await;
    let mut rng = Rng(5);
    fill(&sandbox, &mut rng, 0).await;
    sandbox.client.query_one("SELECT crm.use_variant('trgm')", &[]).await.unwrap();
    let client = &sandbox.client;
    let mut addresses: Vec<i64> =
        client.query("SELECT id FROM address", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let mut contacts: Vec<i64> =
        client.query("SELECT id FROM appuser", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    client.batch_execute("CREATE TEMP TABLE staged (line bigint, body jsonb)").await.unwrap();
    for _ in 0..400 {
        let body = random_write_body(&mut rng, &addresses, false);
        let id = *rng.pick(&contacts);
        match rng.below(13) {
            10 => {
                // An import of a few rows, some with new addresses.
                let bodies: Vec<String> =
                    (0..1 + rng.below(20)).map(|_| random_write_body(&mut rng, &addresses, true).to_string()).collect();
                client.batch_execute("TRUNCATE staged").await.unwrap();
                client
                    .execute(
                        "INSERT INTO staged SELECT n, b::jsonb FROM unnest($1::text[]) WITH ORDINALITY t(b, n)",
                        &[&bodies],
                    )
                    .await
                    .unwrap();
                let before: i64 =
                    client.query_one("SELECT coalesce(max(id), 0) FROM appuser", &[]).await.unwrap().get(0);
                let report: String =
                    client.query_one("SELECT crm.import_contacts('staged')::text", &[]).await.unwrap().get(0);
                let report: Value = serde_json::from_str(&report).unwrap();
                assert_eq!(report["created"].as_u64(), Some(bodies.len() as u64), "{report}");
                let new = client.query("SELECT id FROM appuser WHERE id > $1", &[&before]).await.unwrap();
                contacts.extend(new.iter().map(|r| r.get::<_, i64>(0)));
            }
            11 if !addresses.is_empty() => {
                let address = *rng.pick(&addresses);
                let city = format!("Moved{}", rng.below(5));
                client
                    .query_one("SELECT crm.update_address($1, $2)::text", &[&address, &json!({"city": city})])
                    .await
                    .unwrap();
            }
            12 if addresses.len() > 1 => {
                let address = *rng.pick(&addresses);
                client.execute("SELECT crm.delete_address($1)", &[&address]).await.unwrap();
                addresses.retain(|a| *a != address);
            }
            0..=2 => {
                let body = random_write_body(&mut rng, &addresses, true);
                let text: String =
                    client.query_one("SELECT crm.create_contact($1)::text", &[&body]).await.unwrap().get(0);
                contacts.push(serde_json::from_str::<Value>(&text).unwrap()["id"].as_i64().unwrap());
            }
            3..=6 => {
                client.query_one("SELECT crm.update_contact($1, $2)::text", &[&id, &body]).await.unwrap();
            }
            7 => {
                let body = random_write_body(&mut rng, &addresses, true);
                client.query_one("SELECT crm.replace_contact($1, $2)::text", &[&id, &body]).await.unwrap();
            }
            _ => {
                client.execute("SELECT crm.delete_contact($1)", &[&id]).await.unwrap();
                contacts.retain(|c| *c != id);
            }
        }
    }
    support::assert_stats_match_tables(client, "after the writes").await;
    for i in 0..200 {
        let case = random_case(&mut rng);
        check_case(client, &case, &mut rng, &format!("written case {i}")).await;
    }
}
