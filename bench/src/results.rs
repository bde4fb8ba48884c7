//! What a run produces, as exported to JSON (and flattened to CSV).

use serde::{Deserialize, Serialize};

use crate::db::{Dataset, Switch};
use crate::plan::PlanSummary;
use crate::scenarios::SampleValues;
use crate::stats::Timing;
use crate::writes::{Cleanup, WritePlan, WriteResult};

/// One scenario on one variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub variant: String,
    pub scenario: String,
    /// The original's test name.
    pub group: String,
    pub label: String,
    /// `http` or `sql`.
    pub via: String,
    /// The API path(s) requested.
    pub request: String,
    /// Over the measured repetitions (warm-up excluded).
    pub timing: Option<Timing>,
    pub samples_ms: Vec<f64>,
    /// Database queries of one request (from crm.explain: its statements
    /// plus the call itself); unknown for detail and stats.
    pub query_count: Option<u32>,
    pub result_count: Option<u64>,
    pub total_count: Option<u64>,
    /// The HTTP status (the first failure's, if any repetition failed).
    pub status: u16,
    /// `TIMEOUT`, or what failed.
    pub error: Option<String>,
    pub response_bytes: Option<u64>,
    pub plan: Option<PlanSummary>,
    pub plan_error: Option<String>,
    pub note: Option<String>,
}

impl ScenarioResult {
    pub fn p50(&self) -> Option<f64> {
        self.timing.map(|t| t.p50_ms)
    }

    /// The pagination summaries (one sample per page) whose headline is
    /// the mean, as the original's "avg per page".
    pub fn is_page_summary(&self) -> bool {
        matches!(self.group.as_str(), "pagination_selected_pages" | "cursor_pages")
    }

    /// The figure tables and charts show: the p50, or for the pagination
    /// summaries the average of the pages' p50.
    pub fn headline(&self) -> Option<f64> {
        self.timing.map(|t| if self.is_page_summary() { t.mean_ms } else { t.p50_ms })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status) && self.error.is_none()
    }

    /// `200`, `TIMEOUT`, `HTTP 404: …` shortened, for tables.
    pub fn outcome(&self) -> String {
        match &self.error {
            None => self.status.to_string(),
            Some(e) if e.len() > 40 => format!("{}…", e.chars().take(40).collect::<String>()),
            Some(e) => e.clone(),
        }
    }
}

/// One sampled page on one variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageResult {
    pub variant: String,
    pub page_size: u64,
    /// `page` (page number), `cursor` (keyset, reached at `depth`) or
    /// `cursor_walk` (one timed hop of the walk that finds the cursors).
    pub mode: String,
    /// `first`, `middle`, `last`, `random`, `depth` or `hop`.
    pub selection: String,
    pub page: Option<u64>,
    /// Rows before the page.
    pub depth: u64,
    pub request: String,
    pub timing: Option<Timing>,
    pub samples_ms: Vec<f64>,
    pub result_count: Option<u64>,
    pub total_count: Option<u64>,
    pub status: u16,
    pub error: Option<String>,
    pub note: Option<String>,
}

/// One variant of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantRun {
    pub name: String,
    pub projection: String,
    /// `None` when the variant was already active.
    pub switch: Option<Switch>,
    /// How deep the cursor walk got, and why it stopped.
    pub cursor_depth_reached: Option<u64>,
    pub cursor_walk: Option<String>,
    /// What the write group's cleanup deleted on this variant.
    #[serde(default)]
    pub writes_cleanup: Option<Cleanup>,
}

/// The machine the bench ran on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
}

impl Machine {
    pub fn this() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The `<ts>` of the file names.
    pub timestamp: String,
    pub started_at: String,
    pub finished_at: String,
    pub via: String,
    pub target: String,
    pub database: String,
    pub dataset: Dataset,
    pub samples: SampleValues,
    pub reps: usize,
    pub warmup: usize,
    pub page_reps: usize,
    pub seed: u64,
    pub statement_timeout_ms: u64,
    pub page_sizes: Vec<u64>,
    pub random_pages: usize,
    pub cursor_depths: Vec<u64>,
    pub cursor_walk_budget_s: u64,
    pub explain: bool,
    pub scenarios: Vec<String>,
    /// The write group, when it ran.
    #[serde(default)]
    pub writes: Option<WritePlan>,
    pub variants: Vec<VariantRun>,
    pub initial_variant: String,
    pub final_variant: String,
    /// Why the run stopped early, when it did (the results are partial).
    pub incomplete: Option<String>,
    pub machine: Machine,
    pub bench_version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub meta: RunMeta,
    pub results: Vec<ScenarioResult>,
    pub pages: Vec<PageResult>,
    /// The write group: per variant, one per operation.
    #[serde(default)]
    pub writes: Vec<WriteResult>,
}

impl RunResults {
    /// Variants in run order.
    pub fn variants(&self) -> Vec<String> {
        self.meta.variants.iter().map(|v| v.name.clone()).collect()
    }

    /// Scenario ids in first-seen order.
    pub fn scenario_ids(&self) -> Vec<(String, String)> {
        let mut ids: Vec<(String, String)> = Vec::new();
        for r in &self.results {
            if !ids.iter().any(|(id, _)| *id == r.scenario) {
                ids.push((r.scenario.clone(), r.label.clone()));
            }
        }
        ids
    }

    pub fn result(&self, variant: &str, scenario: &str) -> Option<&ScenarioResult> {
        self.results.iter().find(|r| r.variant == variant && r.scenario == scenario)
    }

    pub fn write(&self, variant: &str, operation: &str) -> Option<&WriteResult> {
        self.writes.iter().find(|w| w.variant == variant && w.operation == operation)
    }

    /// The page sizes that have pages.
    pub fn page_sizes(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = self.meta.page_sizes.clone();
        sizes.retain(|s| self.pages.iter().any(|p| p.page_size == *s));
        sizes
    }
}
