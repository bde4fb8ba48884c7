//! The command line.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::scenarios::{Params, DEFAULT_CURSOR_DEPTHS, WALK_PAGE_SIZE};
use crate::writes::plan::{DEFAULT_IMPORT_ROWS, DEFAULT_WRITES, MAX_IMPORT_ROWS};
use crate::writes::WriteParts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Via {
    /// GET requests to the running API.
    Http,
    /// crm.contacts_page() & co. on a database session: no HTTP.
    Sql,
}

/// Measures crm-contacts the way the original's benchmark did (docs/compatibility.md, "Benchmark")
/// over every index variant in one run, and beyond: plans, query counts,
/// page-number against cursor pagination, HTTP against SQL.
#[derive(Clone, Debug, Parser)]
#[command(name = "bench", version)]
pub struct Args {
    /// Through the HTTP API (default) or straight through the SQL function.
    #[arg(long, value_enum, default_value_t = Via::Http)]
    pub via: Via,

    /// The running API (`cargo run --release -p api`).
    #[arg(long, env = "API_URL", default_value = "http://127.0.0.1:8000")]
    pub api_url: String,

    /// Seconds to wait for the API to answer before giving up (for a
    /// freshly started API).
    #[arg(long, default_value_t = 0)]
    pub api_wait: u64,

    /// Bearer token for the API, when it requires one (API_TOKENS).
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// The database the API serves (also read from .env): the bench switches
    /// its index variants, reads its sample values and plans. Needs the
    /// tables' owner (crm_owner).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Index variants to measure, in this order [default: every variant
    /// crm.variant() lists]; `active`: the one active at the start, without
    /// switching. The variant active at the start is restored.
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,

    /// Scenarios: ids, groups (e.g. sort_by_attribute), `pagination`,
    /// `cursor` or `all` [default: all]; the write group only by name:
    /// `writes` (writes:single, writes:import, writes:export), HTTP only.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,

    /// Write group: single creates per variant, then as many PATCHes and
    /// DELETEs of them [default: 200].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub writes: Option<u64>,

    /// Write group: the cleanup deletes what the bench wrote without the
    /// VACUUM that follows it, so that reads measured afterwards see the
    /// tables as autovacuum leaves them (reads after writes).
    #[arg(long)]
    pub no_vacuum: bool,

    /// Write group: contacts of the timed NDJSON import [default: 100000].
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u64).range(1..=MAX_IMPORT_ROWS))]
    pub import_rows: Option<u64>,

    /// Write group: list parameters of the timed CSV export, form-encoded
    /// (e.g. `address__country=Norway&ordering=id`) [default: none, the
    /// whole table].
    #[arg(long, value_name = "QUERY")]
    pub export_params: Option<String>,

    /// Measured repetitions per scenario (after the warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub reps: u64,

    /// Unmeasured requests before the repetitions.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,

    /// Repetitions per sampled page [default: --reps].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub page_reps: Option<u64>,

    /// Page sizes of the pagination sampling (1..=1000).
    #[arg(long, value_delimiter = ',', default_values_t = [1000u64, 50])]
    pub page_sizes: Vec<u64>,

    /// Random pages per page size, besides first, middle and last.
    #[arg(long, default_value_t = 10)]
    pub random_pages: usize,

    /// Depths (rows before the page, multiples of 1000) where cursor pages
    /// and page-number pages are compared.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_CURSOR_DEPTHS)]
    pub cursor_depths: Vec<u64>,

    /// Seconds the walk along `next` links may take per variant to reach
    /// the cursor depths (deeper ones are reported as not reached).
    #[arg(long, default_value_t = 120)]
    pub cursor_walk_budget: u64,

    /// Random contacts of the detail scenario.
    #[arg(long, default_value_t = 3)]
    pub detail_ids: usize,

    /// Seed of the sample values and random pages.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Statement timeout (ms) of the measuring session with --via sql; the
    /// API has its own (DB_STATEMENT_TIMEOUT, also 30 s by default).
    #[arg(long, default_value_t = 30_000)]
    pub statement_timeout: u64,

    /// Where the result files go.
    #[arg(long, default_value = "benchmark_results")]
    pub out_dir: PathBuf,

    /// Do not draw the PNG charts.
    #[arg(long)]
    pub no_charts: bool,

    /// Write no files (console table only).
    #[arg(long)]
    pub no_export: bool,

    /// Do not collect plans with crm.explain (no query counts then).
    #[arg(long)]
    pub no_explain: bool,

    /// No progress output.
    #[arg(long)]
    pub quiet: bool,

    /// Randomized workload: draw N requests from the data (seeded by
    /// --seed) in classes (icontains, search, name, range, exact, combined,
    /// search_filters, deep_page, cursor) and send each once, on the active
    /// variant (or each of --variants). Alone, no scenario runs; with
    /// --scenarios, the scenarios run first.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "workload_replay")]
    pub workload: Option<u64>,

    /// Re-send exactly the requests of an earlier workload_<ts>.json (e.g.
    /// drawn on 1M contacts, replayed on 3M), then compare the two files
    /// with `bench compare-workloads`.
    #[arg(long, value_name = "FILE.json")]
    pub workload_replay: Option<PathBuf>,

    /// Load mode of the workload: this many concurrent clients send
    /// requests drawn at random from it for --duration seconds (instead of
    /// the sequential pass).
    #[arg(long, value_name = "C", requires = "duration", value_parser = clap::value_parser!(u64).range(1..=MAX_CLIENTS))]
    pub clients: Option<u64>,

    /// Seconds of the load mode.
    #[arg(long, value_name = "SECS", requires = "clients", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,

    /// Cancellation check of the workload (HTTP): K requests per class are
    /// dropped after 50 ms, and the time until their query stops running
    /// in the database is measured.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub cancel_check: Option<u64>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Load mode clients at most (each holds a connection).
pub const MAX_CLIENTS: u64 = 256;

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Compares two workload result files request by request (matched by
    /// query string): the ratio B/A of latency, its median and p90, and
    /// the 10 largest ratios. Needs no database.
    CompareWorkloads {
        /// The earlier run (e.g. on 1M contacts).
        a: PathBuf,
        /// The later run (e.g. a --workload-replay of A on 3M contacts).
        b: PathBuf,
    },
}

impl Args {
    pub fn validate(&self) -> Result<()> {
        if self.command.is_some() {
            return Ok(());
        }
        if self.database_url.as_deref().is_none_or(str::is_empty) {
            bail!("DATABASE_URL is not set: pass --database-url or run scripts/setup.sh, which writes .env");
        }
        if let Some(bad) = self.page_sizes.iter().find(|s| !(1..=1000).contains(*s)) {
            bail!("--page-sizes: {bad} is outside 1..=1000 (the API's maximum page size)");
        }
        if self.page_sizes.is_empty() {
            bail!("--page-sizes: give at least one page size");
        }
        if let Some(bad) = self.cursor_depths.iter().find(|d| *d % WALK_PAGE_SIZE != 0) {
            bail!("--cursor-depths: {bad} is not a multiple of {WALK_PAGE_SIZE} (the walk's page size)");
        }
        if self.statement_timeout == 0 {
            bail!("--statement-timeout must be positive");
        }
        self.validate_writes()?;
        self.validate_workload()
    }

    fn validate_writes(&self) -> Result<()> {
        let parts = self.write_parts();
        let sized = [
            (self.writes.is_some(), "--writes", parts.single),
            (self.import_rows.is_some(), "--import-rows", parts.import),
            (self.export_params.is_some(), "--export-params", parts.export),
        ];
        for (given, flag, selected) in sized {
            if given && !selected {
                bail!("{flag} belongs to the write group: add writes (or its part) to --scenarios");
            }
        }
        if parts.any() && self.via != Via::Http {
            bail!("the write group (--scenarios writes) goes through the API: it needs --via http");
        }
        if let Some(key) = self.export_params().0.iter().map(|(k, _)| k.as_str()).find(|k| *k == "format") {
            bail!("--export-params: {key} is set by the bench (the export is CSV)");
        }
        Ok(())
    }

    /// The write group's parts asked for in --scenarios.
    pub fn write_parts(&self) -> WriteParts {
        WriteParts::from_names(&self.scenarios)
    }

    pub fn single_writes(&self) -> u64 {
        self.writes.unwrap_or(DEFAULT_WRITES)
    }

    pub fn import_rows(&self) -> u64 {
        self.import_rows.unwrap_or(DEFAULT_IMPORT_ROWS)
    }

    pub fn export_params(&self) -> Params {
        Params::from_query(self.export_params.as_deref().unwrap_or_default().trim_start_matches('?'))
    }

    fn validate_workload(&self) -> Result<()> {
        if !self.workload_mode() {
            for (given, flag) in
                [(self.clients.is_some(), "--clients"), (self.cancel_check.is_some(), "--cancel-check")]
            {
                if given {
                    bail!("{flag} belongs to the workload: add --workload N or --workload-replay FILE");
                }
            }
        }
        if self.cancel_check.is_some() && self.via != Via::Http {
            bail!("--cancel-check drops HTTP requests: it needs --via http");
        }
        Ok(())
    }

    /// A workload is asked for (generated or replayed).
    pub fn workload_mode(&self) -> bool {
        self.workload.is_some() || self.workload_replay.is_some()
    }

    /// The original's scenarios run: unless only a workload is asked for.
    pub fn scenarios_mode(&self) -> bool {
        !self.workload_mode() || !self.scenarios.is_empty()
    }

    pub fn page_reps(&self) -> u64 {
        self.page_reps.unwrap_or(self.reps)
    }

    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let mut all = vec!["bench", "--database-url", "postgres://u@h/db"];
        all.extend_from_slice(args);
        Args::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults_are_the_originals() {
        let a = parse(&[]);
        assert_eq!((a.via, a.reps, a.warmup, a.page_reps()), (Via::Http, 5, 1, 5));
        assert_eq!(a.page_sizes, [1000, 50]);
        assert_eq!(a.random_pages, 10);
        assert_eq!(a.statement_timeout, 30_000);
        assert!(a.variants.is_empty() && a.scenarios.is_empty());
        assert!(a.validate().is_ok());
    }

    #[test]
    fn lists_and_checks() {
        let a = parse(&["--variants", "trgm,full", "--via", "sql", "--reps", "2", "--scenarios", "search,cursor"]);
        assert_eq!(a.variants, ["trgm", "full"]);
        assert_eq!(a.scenarios, ["search", "cursor"]);
        assert_eq!((a.via, a.reps), (Via::Sql, 2));
        assert!(parse(&["--page-sizes", "2000"]).validate().is_err());
        assert!(parse(&["--cursor-depths", "0,1500"]).validate().is_err());
        assert!(Args::try_parse_from(["bench", "--reps", "0"]).is_err());
        let no_url = Args::try_parse_from(["bench", "--database-url", ""]).unwrap();
        assert!(no_url.validate().unwrap_err().to_string().contains("DATABASE_URL"));
    }

    #[test]
    fn workload_flags() {
        let a = parse(&["--workload", "500", "--seed", "7", "--via", "sql"]);
        assert_eq!((a.workload, a.seed, a.workload_mode(), a.scenarios_mode()), (Some(500), 7, true, false));
        assert!(a.validate().is_ok());
        assert!(parse(&["--workload", "5", "--scenarios", "search"]).scenarios_mode());
        assert!(parse(&[]).scenarios_mode() && !parse(&[]).workload_mode());
        let replay = parse(&["--workload-replay", "w.json", "--clients", "4", "--duration", "10"]);
        assert_eq!((replay.clients, replay.duration, replay.workload_replay.is_some()), (Some(4), Some(10), true));
        assert!(replay.validate().is_ok());
        let cancel = parse(&["--workload", "50", "--cancel-check", "2"]);
        assert!(cancel.validate().is_ok());
        let e = parse(&["--workload", "50", "--cancel-check", "2", "--via", "sql"]).validate().unwrap_err();
        assert!(e.to_string().contains("needs --via http"), "{e}");
        let e = parse(&["--clients", "2", "--duration", "5"]).validate().unwrap_err();
        assert!(e.to_string().starts_with("--clients belongs to the workload"), "{e}");
        let refused = |args: &[&str]| {
            let mut all = vec!["bench", "--database-url", "postgres://u@h/db"];
            all.extend_from_slice(args);
            Args::try_parse_from(all).is_err()
        };
        assert!(refused(&["--workload", "0"]));
        assert!(refused(&["--workload", "5", "--workload-replay", "w.json"]));
        assert!(refused(&["--workload", "5", "--clients", "2"]), "--clients needs --duration");
        assert!(refused(&["--workload", "5", "--duration", "2"]), "--duration needs --clients");
        assert!(refused(&["--workload", "5", "--clients", "1000", "--duration", "2"]));
        assert!(refused(&["--workload", "5", "--cancel-check", "0"]));
    }

    #[test]
    fn write_group_flags() {
        let a = parse(&["--scenarios", "writes", "--variants", "active"]);
        assert!(a.validate().is_ok());
        assert_eq!((a.single_writes(), a.import_rows(), a.export_params()), (200, 100_000, Params::default()));
        let a = parse(&[
            "--scenarios",
            "search,writes",
            "--writes",
            "20",
            "--import-rows",
            "2000",
            "--export-params",
            "?address__country=Norway&ordering=id",
        ]);
        assert!(a.validate().is_ok());
        assert_eq!((a.single_writes(), a.import_rows()), (20, 2000));
        assert_eq!(a.export_params(), Params::new(&[("address__country", "Norway"), ("ordering", "id")]));
        let e = parse(&["--writes", "5"]).validate().unwrap_err().to_string();
        assert_eq!(e, "--writes belongs to the write group: add writes (or its part) to --scenarios");
        let e = parse(&["--scenarios", "writes:single", "--import-rows", "5"]).validate().unwrap_err().to_string();
        assert!(e.starts_with("--import-rows belongs to the write group"), "{e}");
        let e = parse(&["--scenarios", "writes", "--via", "sql"]).validate().unwrap_err().to_string();
        assert!(e.contains("needs --via http"), "{e}");
        let e = parse(&["--scenarios", "writes", "--export-params", "format=ndjson"]).validate().unwrap_err();
        assert!(e.to_string().contains("format is set by the bench"), "{e}");
        let refused = |args: &[&str]| {
            let mut all = vec!["bench", "--database-url", "postgres://u@h/db", "--scenarios", "writes"];
            all.extend_from_slice(args);
            Args::try_parse_from(all).is_err()
        };
        assert!(refused(&["--writes", "0"]) && refused(&["--import-rows", "0"]));
        assert!(refused(&["--import-rows", "3000001"]));
    }

    #[test]
    fn compare_workloads_needs_no_database() {
        let a = Args::try_parse_from(["bench", "compare-workloads", "a.json", "b.json"]).unwrap();
        assert_eq!(a.command, Some(Command::CompareWorkloads { a: "a.json".into(), b: "b.json".into() }));
        assert!(a.validate().is_ok());
        assert!(Args::try_parse_from(["bench", "compare-workloads", "a.json"]).is_err());
    }
}
