//! One run: for each variant, switch, warm up, measure every scenario and
//! the pagination sampling; restore the variant active at the start.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::cli::{Args, Via};
use crate::client::http::HttpClient;
use crate::client::sql::SqlClient;
use crate::client::{Client, Reply};
use crate::db::{self, Admin, Dataset, VariantInfo};
use crate::plan::PlanSummary;
use crate::progress::Progress;
use crate::results::{Machine, PageResult, RunMeta, RunResults, ScenarioResult, VariantRun};
use crate::scenarios::{self, PagePick, Params, Request, SampleValues, Scenario, Selection, WALK_PAGE_SIZE};
use crate::stats::Timing;
use crate::writes::{self, WritePlan, Written};

/// What every stage of the run needs.
struct Context<'a> {
    args: &'a Args,
    admin: &'a Admin,
    progress: &'a Progress,
    selection: Selection,
    variants: Vec<String>,
    /// Page picks per page size, the same on every variant.
    picks: Vec<(u64, Vec<PagePick>)>,
    /// The API, when the run goes through it (the write group needs it).
    http: Option<&'a HttpClient>,
    /// The write group, when asked for.
    writes: Option<WritePlan>,
}

/// What has been measured so far (kept when a run stops early).
#[derive(Default)]
struct Collected {
    results: Vec<ScenarioResult>,
    pages: Vec<PageResult>,
    variants: Vec<VariantRun>,
    writes: Written,
}

/// Runs the bench as `args` say. The results are returned also when the
/// run stopped early (`meta.incomplete` says why); an error means nothing
/// could be measured.
pub async fn run(args: &Args) -> Result<RunResults> {
    args.validate()?;
    let started_at = chrono::Utc::now();
    let progress = Progress::new(args.quiet);
    let url = args.database_url();
    let admin = Admin::connect(url).await?;
    let dataset = dataset(&admin, url, &progress).await?;
    // Fail early on unknown scenario names (the labels come later).
    let placeholder = SampleValues { first_name: String::new(), city: String::new(), detail_ids: vec![0] };
    scenarios::select(scenarios::all(&placeholder), &args.scenarios)?;
    // Fail early, before drawing samples, when the API cannot be used.
    let http = match args.via {
        Via::Http => Some(http_client(args, &dataset).await?),
        Via::Sql => None,
    };
    let initial = admin.variant().await?;
    let variants = choose_variants(&args.variants, &initial)?;
    let samples = admin.sample_values(args.seed, args.detail_ids).await?;
    progress.line(format!(
        "sample values (seed {}): first name '{}', city '{}', detail ids {:?}",
        args.seed, samples.first_name, samples.city, samples.detail_ids
    ));
    let selection = scenarios::select(scenarios::all(&samples), &args.scenarios)?;
    let depths: &[u64] = if selection.cursor { &args.cursor_depths } else { &[] };
    let picks = args
        .page_sizes
        .iter()
        .map(|size| (*size, scenarios::page_picks(dataset.total_contacts, *size, args.random_pages, args.seed, depths)))
        .collect();
    let writes = write_plan(args, &selection, started_at);
    let context =
        Context { args, admin: &admin, progress: &progress, selection, variants, picks, http: http.as_ref(), writes };
    let start = Start { started_at, dataset, samples, initial };
    match &http {
        Some(client) => measure_all(client, &context, start).await,
        None => {
            let client = SqlClient::connect(url, args.statement_timeout).await?;
            measure_all(&client, &context, start).await
        }
    }
}

/// The dataset, refusing an empty one, announced on the progress output.
pub(crate) async fn dataset(admin: &Admin, url: &str, progress: &Progress) -> Result<Dataset> {
    let dataset = admin.stats().await?;
    if dataset.total_contacts == 0 {
        bail!(
            "the database {} holds no contacts: refusing to benchmark an empty database \
             (load data first, e.g. `cargo run --release -p loader -- --count 3000000 --truncate`)",
            db::redacted(url)
        );
    }
    progress.line(format!(
        "dataset: {} contacts ({} with an address, {} with a relationship) in {}",
        dataset.total_contacts,
        dataset.contacts_with_address,
        dataset.contacts_with_relationship,
        db::redacted(url)
    ));
    Ok(dataset)
}

/// The HTTP timeout: longer than the API's statement timeout, which
/// answers 504 first.
pub(crate) fn http_timeout(args: &Args) -> Duration {
    Duration::from_millis(args.statement_timeout) + Duration::from_secs(120)
}

/// A client of the API at `--api-url`, checked to answer and to serve the
/// same database as the bench's session.
pub(crate) async fn http_client(args: &Args, dataset: &Dataset) -> Result<HttpClient> {
    let client = HttpClient::new(&args.api_url, args.api_token.as_deref(), http_timeout(args))?;
    let served = client.check(Duration::from_secs(args.api_wait)).await?;
    if served != dataset.total_contacts {
        bail!(
            "the API at {} serves {served} contacts but the database {} holds {}: \
             point both at the same database",
            args.api_url,
            db::redacted(args.database_url()),
            dataset.total_contacts
        );
    }
    Ok(client)
}

/// The write group's plan, when `--scenarios` names it.
fn write_plan(args: &Args, selection: &Selection, started_at: chrono::DateTime<chrono::Utc>) -> Option<WritePlan> {
    selection.writes.any().then(|| WritePlan {
        parts: selection.writes,
        single_writes: args.single_writes(),
        import_rows: args.import_rows(),
        export_params: args.export_params(),
        seed: args.seed,
        vacuum: !args.no_vacuum,
        marker: writes::plan::marker(started_at, std::process::id()),
    })
}

/// `--variants active`: the variant active at the start, measured as it
/// is (also one crm.use_variant cannot make, e.g. indexes changed by hand).
pub const ACTIVE: &str = "active";

/// The variants to measure: as asked (each must be available, or
/// `active`), or all.
pub(crate) fn choose_variants(asked: &[String], info: &VariantInfo) -> Result<Vec<String>> {
    if asked.is_empty() {
        return Ok(info.available.clone());
    }
    if let Some(unknown) = asked.iter().find(|v| *v != ACTIVE && !info.available.contains(v)) {
        bail!("unknown variant '{unknown}'; crm.variant() lists: {} (or {ACTIVE})", info.available.join(", "));
    }
    let mut chosen: Vec<String> = Vec::new();
    for v in asked {
        let v = if v == ACTIVE { &info.variant } else { v };
        if !chosen.contains(v) {
            chosen.push(v.clone());
        }
    }
    Ok(chosen)
}

struct Start {
    started_at: chrono::DateTime<chrono::Utc>,
    dataset: Dataset,
    samples: SampleValues,
    initial: VariantInfo,
}

async fn measure_all<C: Client>(client: &C, context: &Context<'_>, start: Start) -> Result<RunResults> {
    let mut collected = Collected::default();
    let outcome = tokio::select! {
        outcome = measure_variants(client, context, &mut collected) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted (Ctrl-C)")),
    };
    if let Err(e) = &outcome {
        context.progress.line(format!("the run stopped early: {e:#}"));
    }
    let outcome = undo_writes(context, &mut collected, outcome).await;
    let final_variant = restore(context.admin, context.args.database_url(), context.progress, &start.initial).await;
    context.progress.finish();
    let args = context.args;
    let mut scenario_names: Vec<String> = context.selection.scenarios.iter().map(|s| s.id.clone()).collect();
    if context.selection.pagination {
        scenario_names.push(scenarios::PAGINATION.into());
    }
    if context.selection.cursor {
        scenario_names.push(scenarios::CURSOR.into());
    }
    scenario_names.extend(context.selection.writes.selected());
    let meta = RunMeta {
        timestamp: start.started_at.format("%Y%m%d_%H%M%S").to_string(),
        started_at: start.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        via: client.via().to_string(),
        target: client.target(),
        database: db::redacted(args.database_url()),
        dataset: start.dataset,
        samples: start.samples,
        reps: args.reps as usize,
        warmup: args.warmup as usize,
        page_reps: args.page_reps() as usize,
        seed: args.seed,
        statement_timeout_ms: args.statement_timeout,
        page_sizes: args.page_sizes.clone(),
        random_pages: args.random_pages,
        cursor_depths: args.cursor_depths.clone(),
        cursor_walk_budget_s: args.cursor_walk_budget,
        explain: !args.no_explain,
        scenarios: scenario_names,
        writes: context.writes.clone(),
        variants: collected.variants,
        initial_variant: start.initial.variant,
        final_variant,
        incomplete: outcome.err().map(|e| format!("{e:#}")),
        machine: Machine::this(),
        bench_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok(RunResults { meta, results: collected.results, pages: collected.pages, writes: collected.writes.results })
}

/// A run stopped in the middle of the write group (an error, Ctrl-C) may
/// have left marked contacts: they are deleted before the run ends, and
/// the run is incomplete if that fails.
async fn undo_writes(context: &Context<'_>, collected: &mut Collected, outcome: Result<()>) -> Result<()> {
    let Some(plan) = context.writes.as_ref().filter(|_| collected.writes.pending) else {
        return outcome;
    };
    context.progress.line("deleting what the write group wrote before the run stopped…");
    let cleanup = writes::clean(context.admin, plan, context.progress, &mut collected.writes).await;
    let failed = cleanup.error.clone().filter(|_| collected.writes.pending);
    if let Some(v) = collected.variants.last_mut() {
        v.writes_cleanup = Some(cleanup);
    }
    match (outcome, failed) {
        (Err(e), Some(why)) => Err(e.context(format!("and the cleanup failed: {why}"))),
        (Ok(()), Some(why)) => Err(anyhow!("the cleanup failed: {why}")),
        (outcome, None) => outcome,
    }
}

/// Puts back the variant active at the start; returns the variant left.
/// A second Ctrl-C gives up (and says how to restore by hand).
pub(crate) async fn restore(admin: &Admin, url: &str, progress: &Progress, initial: &VariantInfo) -> String {
    let by_hand = format!("run SELECT crm.use_variant('{}') and VACUUM ANALYZE", initial.variant);
    tokio::select! {
        variant = restore_variant(admin, url, progress, initial) => match variant {
            Ok(variant) => variant,
            Err(e) => {
                progress.line(format!("could not restore variant {} ({e:#}): {by_hand}", initial.variant));
                format!("unknown ({e:#})")
            }
        },
        _ = tokio::signal::ctrl_c() => {
            progress.line(format!("interrupted while restoring variant {}: {by_hand}", initial.variant));
            "unknown (restore interrupted)".to_string()
        }
    }
}

async fn restore_variant(admin: &Admin, url: &str, progress: &Progress, initial: &VariantInfo) -> Result<String> {
    // The run may have ended because the server went away: wait for it.
    let mut fresh: Option<Admin> = None;
    if admin.variant().await.is_err() {
        progress.line("the bench's database session is gone: reconnecting to restore the variant…");
        let mut last_error = None;
        for _ in 0..RECONNECT_ATTEMPTS {
            match Admin::connect(url).await {
                Ok(admin) => {
                    fresh = Some(admin);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
        if fresh.is_none() {
            return Err(last_error.unwrap_or_else(|| anyhow!("cannot reconnect")));
        }
    }
    let admin = fresh.as_ref().unwrap_or(admin);
    let current = admin.variant().await?.variant;
    if current == initial.variant {
        return Ok(current);
    }
    if !initial.available.contains(&initial.variant) {
        progress.line(format!(
            "the variant at the start was '{}', not one crm.use_variant() can restore: left on '{current}'",
            initial.variant
        ));
        return Ok(current);
    }
    progress.line(format!("restoring variant {} (active at the start)…", initial.variant));
    Ok(admin.use_variant(&initial.variant).await?.0.variant)
}

/// How long the restore waits for a server that went away (2 minutes).
const RECONNECT_ATTEMPTS: usize = 24;
const RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// A request that got no answer at all: the server (or the API) is gone,
/// and the rest of the run could only record the same failure.
fn lost(status: u16, error: &Option<String>, what: &str) -> Result<()> {
    if status == 0 {
        bail!("no answer to {what} ({}): stopping the run", error.as_deref().unwrap_or("connection lost"));
    }
    Ok(())
}

async fn measure_variants<C: Client>(client: &C, context: &Context<'_>, out: &mut Collected) -> Result<()> {
    let count = context.variants.len();
    for (i, variant) in context.variants.iter().enumerate() {
        let progress = context.progress;
        progress.stage(variant, 0);
        progress.message("switching variant");
        let current = context.admin.variant().await?.variant;
        if current != *variant {
            let slow = matches!(variant.as_str(), "trgm" | "full") && current != "trgm" && current != "full";
            progress.line(format!(
                "[{}/{count}] variant {variant}: switching from {current}{}",
                i + 1,
                if slow { " (builds the projection: about 2 minutes at 3M contacts)" } else { "" }
            ));
        } else {
            progress.line(format!("[{}/{count}] variant {variant}: already active", i + 1));
        }
        let (info, switch) = context.admin.use_variant(variant).await?;
        if let Some(s) = &switch {
            progress.line(format!("  switched in {:.1} s, VACUUM/ANALYZE {:.1} s", s.switch_s, s.maintenance_s));
        }
        out.variants.push(VariantRun {
            name: variant.clone(),
            projection: info.projection,
            switch,
            ..Default::default()
        });
        progress.stage(variant, planned_requests(context));
        for scenario in &context.selection.scenarios {
            let result = measure_scenario(client, context, variant, scenario).await;
            progress.line(describe(&result));
            let (status, error) = (result.status, result.error.clone());
            out.results.push(result);
            lost(status, &error, &format!("{} on {variant}", scenario.id))?;
        }
        measure_pages(client, context, variant, out).await?;
        if let (Some(plan), Some(http)) = (&context.writes, context.http) {
            let (cleanup, outcome) =
                writes::measure(http, context.admin, plan, variant, progress, &mut out.writes).await;
            if let Some(v) = out.variants.last_mut() {
                v.writes_cleanup = cleanup;
            }
            outcome?;
        }
    }
    Ok(())
}

/// Requests of one variant (for the progress bar; the walk comes on top).
fn planned_requests(context: &Context<'_>) -> u64 {
    let args = context.args;
    let scenario_requests: usize = context.selection.scenarios.iter().map(|s| s.requests.len()).sum();
    let mut n = scenario_requests as u64 * (args.warmup + args.reps);
    for (_, picks) in &context.picks {
        let pages = picks.iter().filter(|p| wanted_pick(context, p)).count() as u64;
        let cursors = if context.selection.cursor { args.cursor_depths.len() as u64 } else { 0 };
        n += (pages + cursors) * (args.warmup + args.page_reps());
    }
    n
}

fn wanted_pick(context: &Context<'_>, pick: &PagePick) -> bool {
    if pick.selection == "depth" {
        context.selection.cursor
    } else {
        context.selection.pagination
    }
}

/// A console line for a result.
fn describe(r: &ScenarioResult) -> String {
    let timing =
        r.timing.map_or("no timing".to_string(), |t| format!("p50 {:>9.2} ms  p95 {:>9.2} ms", t.p50_ms, t.p95_ms));
    let queries = r.query_count.map_or("-".to_string(), |q| q.to_string());
    let results = r.result_count.map_or("-".to_string(), |n| n.to_string());
    let total = r.total_count.map_or("-".to_string(), |n| n.to_string());
    format!(
        "  {:<9} {:<36} {timing}  queries {queries:>2}  results {results:>5}  count {total:>8}  {}",
        r.variant,
        truncate(&r.label, 36),
        r.outcome()
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The samples of some requests, and the reply that represents them: the
/// first failure, else the last reply.
pub struct Measured {
    pub samples: Vec<f64>,
    pub reply: Option<Reply>,
    pub note: Option<String>,
}

/// `warmup` unmeasured rounds, then `reps` measured rounds over
/// `requests`. A timeout (or no answer) is not repeated: the run would
/// only wait for the same timeout again.
pub async fn measure<C: Client>(
    client: &C,
    requests: &[Request],
    warmup: u64,
    reps: u64,
    progress: &Progress,
) -> Measured {
    let hopeless = |r: &Reply| r.is_timeout() || r.status == 0;
    for _ in 0..warmup {
        for request in requests {
            let reply = client.send(request).await;
            progress.tick();
            if hopeless(&reply) {
                let what = if reply.is_timeout() { "timed out" } else { "got no answer" };
                return Measured {
                    samples: vec![reply.elapsed_ms()],
                    note: Some(format!("{what} in the warm-up (its time is the only sample): not repeated")),
                    reply: Some(reply),
                };
            }
        }
    }
    let mut samples = Vec::new();
    let mut failure: Option<Reply> = None;
    let mut last: Option<Reply> = None;
    let mut note = None;
    'reps: for rep in 1..=reps {
        for request in requests {
            let reply = client.send(request).await;
            progress.tick();
            samples.push(reply.elapsed_ms());
            let stop = hopeless(&reply);
            if !reply.is_success() && failure.is_none() {
                failure = Some(reply.clone());
            }
            last = Some(reply);
            if stop {
                note = Some(format!("stopped at repetition {rep} of {reps}: {}", failure_text(&failure)));
                break 'reps;
            }
        }
    }
    Measured { samples, reply: failure.or(last), note }
}

fn failure_text(reply: &Option<Reply>) -> String {
    reply.as_ref().and_then(|r| r.error.clone()).unwrap_or_default()
}

async fn measure_scenario<C: Client>(
    client: &C,
    context: &Context<'_>,
    variant: &str,
    scenario: &Scenario,
) -> ScenarioResult {
    let args = context.args;
    context.progress.message(scenario.label.clone());
    let measured = measure(client, &scenario.requests, args.warmup, args.reps, context.progress).await;
    let mut result = ScenarioResult {
        variant: variant.to_string(),
        scenario: scenario.id.clone(),
        group: scenario.group.clone(),
        label: scenario.label.clone(),
        via: client.via().to_string(),
        request: scenario.requests.iter().map(Request::path).collect::<Vec<_>>().join(" "),
        timing: Timing::of(&measured.samples),
        samples_ms: measured.samples,
        query_count: None,
        result_count: measured.reply.as_ref().and_then(Reply::result_count),
        total_count: measured.reply.as_ref().and_then(Reply::total_count),
        status: measured.reply.as_ref().map_or(0, |r| r.status),
        error: measured.reply.as_ref().and_then(|r| r.error.clone()),
        response_bytes: measured.reply.as_ref().map(|r| r.bytes as u64),
        plan: None,
        plan_error: None,
        note: measured.note,
    };
    if let ([Request::List(params)], false) = (scenario.requests.as_slice(), args.no_explain) {
        if result.error.as_deref() == Some(crate::client::TIMEOUT) {
            result.plan_error = Some("not explained: the request timed out".into());
        } else {
            context.progress.message(format!("{} (EXPLAIN ANALYZE)", scenario.label));
            match explain(context.admin, params).await {
                Ok(plan) => {
                    result.query_count = Some(plan.query_count);
                    result.plan = Some(plan);
                }
                Err(e) => result.plan_error = Some(format!("{e:#}")),
            }
        }
    }
    result
}

async fn explain(admin: &Admin, params: &Params) -> Result<PlanSummary> {
    PlanSummary::from_explain(&admin.explain(params).await?)
}

fn page_result(variant: &str, size: u64, mode: &str, selection: &str, page: Option<u64>, depth: u64) -> PageResult {
    PageResult {
        variant: variant.to_string(),
        page_size: size,
        mode: mode.to_string(),
        selection: selection.to_string(),
        page,
        depth,
        request: String::new(),
        timing: None,
        samples_ms: Vec::new(),
        result_count: None,
        total_count: None,
        status: 0,
        error: None,
        note: None,
    }
}

fn with_measured(mut row: PageResult, request: &Request, measured: Measured) -> PageResult {
    row.request = request.path();
    row.timing = Timing::of(&measured.samples);
    row.samples_ms = measured.samples;
    if let Some(reply) = &measured.reply {
        row.result_count = reply.result_count();
        row.total_count = reply.total_count();
        row.status = reply.status;
        row.error = reply.error.clone();
    }
    row.note = measured.note;
    row
}

async fn measure_pages<C: Client>(client: &C, context: &Context<'_>, variant: &str, out: &mut Collected) -> Result<()> {
    let args = context.args;
    let progress = context.progress;
    let (warmup, reps) = (args.warmup, args.page_reps());
    let first_page = out.pages.len();
    for (size, picks) in &context.picks {
        for pick in picks.iter().filter(|p| wanted_pick(context, p)) {
            progress.message(format!("page {} of size {size}", pick.page));
            let request =
                Request::List(Params::new(&[("page", &pick.page.to_string()), ("page_size", &size.to_string())]));
            let measured = measure(client, std::slice::from_ref(&request), warmup, reps, progress).await;
            let row = page_result(variant, *size, "page", pick.selection, Some(pick.page), pick.depth(*size));
            let row = with_measured(row, &request, measured);
            let (status, error) = (row.status, row.error.clone());
            out.pages.push(row);
            lost(status, &error, &format!("page {} of size {size} on {variant}", pick.page))?;
        }
    }
    if context.selection.cursor {
        let walk = walk(client, context, variant).await;
        if let Some(v) = out.variants.last_mut() {
            v.cursor_depth_reached = Some(walk.reached);
            v.cursor_walk = Some(walk.why.clone());
        }
        progress.line(format!(
            "  {variant:<9} cursor walk: {} hops of {WALK_PAGE_SIZE}, depth {} reached ({})",
            walk.hops.len(),
            walk.reached,
            walk.why
        ));
        let last_hop = walk.hops.last().map(|h| (h.status, h.error.clone()));
        out.pages.extend(walk.hops);
        if let Some((status, error)) = last_hop {
            lost(status, &error, &format!("the cursor walk on {variant}"))?;
        }
        for size in &args.page_sizes {
            for depth in &args.cursor_depths {
                let row = page_result(variant, *size, "cursor", "depth", None, *depth);
                let Some((_, token)) = walk.tokens.iter().find(|(d, _)| d == depth) else {
                    let mut row = row;
                    row.error = Some(format!("not reached: the walk stopped at depth {} ({})", walk.reached, walk.why));
                    out.pages.push(row);
                    continue;
                };
                progress.message(format!("cursor page at depth {depth}, size {size}"));
                let request = Request::List(Params::new(&[("cursor", token), ("page_size", &size.to_string())]));
                let measured = measure(client, std::slice::from_ref(&request), warmup, reps, progress).await;
                let row = with_measured(row, &request, measured);
                let (status, error) = (row.status, row.error.clone());
                out.pages.push(row);
                lost(status, &error, &format!("the cursor page at depth {depth} on {variant}"))?;
            }
        }
    }
    let pages = out.pages[first_page..].to_vec();
    for size in &args.page_sizes {
        for summary in page_summaries(variant, client.via(), *size, &pages) {
            progress.line(describe(&summary));
            out.results.push(summary);
        }
    }
    Ok(())
}

/// The cursors found at the wanted depths by following `next` links.
struct Walk {
    /// (depth, cursor); depth 0 is the empty cursor (the first page).
    tokens: Vec<(u64, String)>,
    hops: Vec<PageResult>,
    reached: u64,
    why: String,
}

/// Follows `next` links with pages of [`WALK_PAGE_SIZE`] from the first
/// cursor page, timing every hop, until the deepest wanted depth, the end
/// of the list, an error, or the time budget.
async fn walk<C: Client>(client: &C, context: &Context<'_>, variant: &str) -> Walk {
    let args = context.args;
    let deepest = args.cursor_depths.iter().copied().max().unwrap_or(0);
    let budget = Duration::from_secs(args.cursor_walk_budget);
    let started = Instant::now();
    let mut walk = Walk { tokens: vec![(0, String::new())], hops: Vec::new(), reached: 0, why: String::new() };
    let mut token = String::new();
    let size = WALK_PAGE_SIZE.to_string();
    walk.why = loop {
        if walk.reached >= deepest {
            break "reached the deepest depth".to_string();
        }
        if started.elapsed() > budget {
            break format!("time budget of {} s used", args.cursor_walk_budget);
        }
        context.progress.message(format!("cursor walk at depth {}", walk.reached));
        let request = Request::List(Params::new(&[("cursor", &token), ("page_size", &size)]));
        let reply = client.send(&request).await;
        let hop = walk.hops.len() as u64 + 1;
        let row = page_result(variant, WALK_PAGE_SIZE, "cursor_walk", "hop", Some(hop), walk.reached);
        let measured = Measured { samples: vec![reply.elapsed_ms()], reply: Some(reply.clone()), note: None };
        walk.hops.push(with_measured(row, &request, measured));
        if !reply.is_success() {
            break format!("hop {hop} failed: {}", reply.error.unwrap_or_default());
        }
        let rows = reply.result_count().unwrap_or(0);
        walk.reached += rows;
        match reply.next_cursor() {
            Some(next) if rows > 0 => {
                token = next;
                if args.cursor_depths.contains(&walk.reached) {
                    walk.tokens.push((walk.reached, token.clone()));
                }
            }
            _ => break "end of the list".to_string(),
        }
    };
    walk
}

/// The original's "pagination avg / max per page" line, per mode: the p50
/// of each page as one sample.
fn page_summaries(variant: &str, via: &str, size: u64, pages: &[PageResult]) -> Vec<ScenarioResult> {
    let mut summaries = Vec::new();
    type Wanted = fn(&PageResult) -> bool;
    let sets: [(&str, &str, Wanted); 2] = [
        ("pagination_selected_pages", "pages: first, middle, last, random", |p| {
            p.mode == "page" && p.selection != "depth"
        }),
        ("cursor_pages", "cursor pages at the depths", |p| p.mode == "cursor"),
    ];
    for (group, what, wanted) in sets {
        let rows: Vec<&PageResult> = pages.iter().filter(|p| p.page_size == size && wanted(p)).collect();
        if rows.is_empty() {
            continue;
        }
        let measured: Vec<&PageResult> = rows.iter().copied().filter(|p| p.timing.is_some()).collect();
        let samples: Vec<f64> = measured.iter().filter_map(|p| p.timing.map(|t| t.p50_ms)).collect();
        let failed = measured.iter().find(|p| p.error.is_some());
        let not_reached = rows.len() - measured.len();
        summaries.push(ScenarioResult {
            variant: variant.to_string(),
            scenario: format!("{group}:{size}"),
            group: group.to_string(),
            label: format!(
                "{} avg per page (size {size})",
                if group == "cursor_pages" { "cursor" } else { "pagination" }
            ),
            via: via.to_string(),
            request: format!("{} {what}, page_size={size}", measured.len()),
            timing: Timing::of(&samples),
            samples_ms: samples,
            query_count: None,
            result_count: measured.first().and_then(|p| p.result_count),
            total_count: rows.iter().find_map(|p| p.total_count),
            status: failed.map_or(if measured.is_empty() { 0 } else { 200 }, |p| p.status),
            error: failed.and_then(|p| p.error.clone()),
            response_bytes: None,
            plan: None,
            plan_error: None,
            note: Some(if not_reached > 0 {
                format!("p50 of each page as one sample; {not_reached} depth(s) not reached by the walk")
            } else {
                "p50 of each page as one sample (mean = the original's avg per page)".to_string()
            }),
        });
    }
    summaries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Timing;

    fn page(mode: &str, selection: &str, p50: Option<f64>, error: Option<&str>) -> PageResult {
        let mut row = page_result("trgm", 1000, mode, selection, Some(1), 0);
        row.timing = p50.and_then(|v| Timing::of(&[v]));
        row.status = if error.is_some() { 504 } else { 200 };
        row.error = error.map(str::to_string);
        row.total_count = Some(3000);
        row
    }

    #[test]
    fn page_summaries_per_mode() {
        let pages = vec![
            page("page", "first", Some(10.0), None),
            page("page", "random", Some(30.0), None),
            page("page", "depth", Some(1000.0), None),
            page("cursor", "depth", Some(2.0), None),
            page("cursor", "depth", None, Some("not reached")),
            page("cursor_walk", "hop", Some(5.0), None),
        ];
        let s = page_summaries("trgm", "sql", 1000, &pages);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].scenario, "pagination_selected_pages:1000");
        assert_eq!(s[0].samples_ms, [10.0, 30.0]);
        assert_eq!((s[0].timing.unwrap().mean_ms, s[0].status, s[0].total_count), (20.0, 200, Some(3000)));
        assert_eq!(s[1].scenario, "cursor_pages:1000");
        assert_eq!(s[1].samples_ms, [2.0]);
        assert!(s[1].note.as_deref().unwrap().contains("1 depth(s) not reached"));
        assert!(page_summaries("trgm", "sql", 50, &pages).is_empty());
        let failing = vec![page("page", "last", Some(30000.0), Some("TIMEOUT"))];
        let s = page_summaries("baseline", "http", 1000, &failing);
        assert_eq!((s[0].status, s[0].error.as_deref()), (504, Some("TIMEOUT")));
    }

    #[test]
    fn no_answer_stops_the_run() {
        assert!(lost(200, &None, "x").is_ok());
        assert!(lost(504, &Some("TIMEOUT".into()), "x").is_ok());
        let e = lost(0, &Some("connection closed".into()), "search on trgm").unwrap_err().to_string();
        assert_eq!(e, "no answer to search on trgm (connection closed): stopping the run");
    }

    #[test]
    fn variants_as_asked_or_all() {
        let info = VariantInfo {
            variant: "trgm".into(),
            available: vec!["baseline".into(), "indexed".into(), "trgm".into(), "full".into()],
            projection: "present".into(),
        };
        assert_eq!(choose_variants(&[], &info).unwrap(), info.available);
        let asked = vec!["full".to_string(), "trgm".to_string(), "full".to_string()];
        assert_eq!(choose_variants(&asked, &info).unwrap(), ["full", "trgm"]);
        let e = choose_variants(&["fast".to_string()], &info).unwrap_err().to_string();
        assert_eq!(e, "unknown variant 'fast'; crm.variant() lists: baseline, indexed, trgm, full (or active)");
        let active = vec!["active".to_string(), "trgm".to_string(), "full".to_string()];
        assert_eq!(choose_variants(&active, &info).unwrap(), ["trgm", "full"]);
        let custom = VariantInfo { variant: "custom".into(), ..info };
        assert_eq!(choose_variants(&["active".to_string()], &custom).unwrap(), ["custom"]);
    }
}
