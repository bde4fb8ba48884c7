//! Micro-benchmarks of the pure-Rust hot path of every request, before any
//! SQL runs: parameter parsing (`params::normalize` +
//! `params::parse_list_request`) and SQL building (`sql::count_query`,
//! `sql::page_queries`, `sql::probe_query`) for the original's benchmark
//! scenarios (docs/compatibility.md, "Benchmark"), on the joined tables and on the projection with the
//! dictionary's resolutions of the patterns.
//!
//! `cargo bench -p crm_contacts` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use crm_contacts::params::{self, ListRequest};
use crm_contacts::sql::{self, Context, Resolution, Resolutions, Strategy, Window};
use serde_json::{json, Value as Json};

/// The original's scenarios as the API hands them to the extension: the
/// query parameters as a JSON object of strings.
fn scenarios() -> Vec<(&'static str, Json)> {
    vec![
        ("initial_list_load", json!({"page_size": "1000"})),
        ("filter_by_name", json!({"first_name__icontains": "Paul"})),
        ("sort_points", json!({"ordering": "relationship__points", "page": "3"})),
        ("multi_field_sort", json!({"ordering": "address__country,address__city,-created"})),
        (
            "filter_and_sort",
            json!({"address__city__icontains": "Lake", "ordering": "-relationship__points", "page_size": "50"}),
        ),
        ("search", json!({"search": "Paul Berlin", "page": "2"})),
        (
            "complex_query",
            json!({
                "gender": "M",
                "relationship__points__gte": "1000",
                "address__country__icontains": "United",
                "created__gte": "2022-01-01T00:00:00Z",
                "birthday__lte": "2000-12-31",
                "ordering": "-relationship__last_activity",
                "page": "17",
                "page_size": "50",
            }),
        ),
    ]
}

fn request(params: &Json) -> ListRequest {
    let raw = params::normalize(params).expect("valid parameters");
    params::parse_list_request(&raw).expect("valid request")
}

/// What the dictionary typically answers for the scenarios' patterns: a few
/// values for names and countries, many for a short city fragment.
fn projection_context(request: &ListRequest) -> Context {
    let mut resolutions = Resolutions::new();
    for (column, text) in sql::patterns_to_resolve(request) {
        let resolution = match column {
            "first_name" => Resolution::Values(vec!["Paul".into(), "Paula".into(), "Pauline".into(), "Paulo".into()]),
            "country" => Resolution::Values(vec!["United Kingdom".into(), "United States of America".into()]),
            "city" => Resolution::TooMany,
            "street" => Resolution::Values((0..40).map(|i| format!("{text} Street {i}")).collect()),
            _ => Resolution::Values(Vec::new()),
        };
        resolutions.insert((column, text), resolution);
    }
    Context { resolutions, ..Context::projection() }
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("params");
    for (name, params) in scenarios() {
        group.bench_function(name, |b| {
            b.iter(|| {
                let raw = params::normalize(black_box(&params)).unwrap();
                params::parse_list_request(&raw).unwrap()
            })
        });
    }
    group.finish();
}

fn building(c: &mut Criterion) {
    let requests: Vec<(&str, ListRequest)> = scenarios().iter().map(|(name, p)| (*name, request(p))).collect();
    let mut group = c.benchmark_group("sql");
    for (name, request) in &requests {
        let tables = Context::tables();
        group.bench_function(format!("count_query/tables/{name}"), |b| {
            b.iter(|| sql::count_query(black_box(request), &tables))
        });
        group.bench_function(format!("page_queries/tables/{name}"), |b| {
            b.iter(|| {
                sql::page_queries(
                    black_box(request),
                    &tables,
                    Window::Offset { offset: 2000, limit: 50 },
                    Strategy::Ordered,
                )
            })
        });
        // The context is rebuilt per request in the extension: include it.
        group.bench_function(format!("count_query/projection/{name}"), |b| {
            b.iter_batched(
                || projection_context(request),
                |context| sql::count_query(black_box(request), &context),
                BatchSize::SmallInput,
            )
        });
        let projection = projection_context(request);
        for (strategy, label) in [(Strategy::Ordered, "ordered"), (Strategy::Materialize, "materialize")] {
            group.bench_function(format!("page_queries/projection/{label}/{name}"), |b| {
                b.iter(|| {
                    sql::page_queries(
                        black_box(request),
                        &projection,
                        Window::Offset { offset: 2000, limit: 50 },
                        strategy,
                    )
                })
            });
        }
        group.bench_function(format!("page_queries/projection/keyset_first/{name}"), |b| {
            b.iter(|| {
                sql::page_queries(black_box(request), &projection, Window::Keyset { position: None }, Strategy::Ordered)
            })
        });
        if sql::has_conditions(request) {
            group.bench_function(format!("probe_query/projection/{name}"), |b| {
                b.iter(|| sql::probe_query(black_box(request), &projection, 24_000, 950))
            });
        }
    }
    group.finish();
}

/// The whole pure path of one request: parse, resolve, build.
fn end_to_end(c: &mut Criterion) {
    let params = json!({
        "gender": "M",
        "relationship__points__gte": "1000",
        "address__country__icontains": "United",
        "ordering": "-relationship__last_activity",
    });
    c.bench_function("request/complex_query/projection", |b| {
        b.iter(|| {
            let request = request(black_box(&params));
            let context = projection_context(&request);
            let count = sql::count_query(&request, &context);
            let probe = sql::probe_query(&request, &context, 24_000, 0);
            (count, probe)
        })
    });
}

criterion_group!(benches, parsing, building, end_to_end);
criterion_main!(benches);
