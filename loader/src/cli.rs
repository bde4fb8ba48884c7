//! The command line: arguments, signals, and one-line errors with an exit
//! code (1 failure, 2 bad arguments, 130 interrupted) instead of panics.

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;

use crate::db::Database;
use crate::ids::MAX_CONTACT_ID;
use crate::load::{default_jobs, load_until, start_of_day, Interrupted, LoadConfig};

/// Fills address, appuser and customer_relationship with the synthetic CRM
/// dataset (N contacts, N/10 addresses, one relationship per contact).
#[derive(Debug, Parser)]
#[command(name = "loader", version)]
pub struct Cli {
    /// PostgreSQL connection URL; the tables are those of the first schema
    /// of its search_path.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Contacts to add, each with one relationship; addresses are a tenth.
    #[arg(long, default_value_t = LoadConfig::DEFAULT_COUNT,
          value_parser = clap::value_parser!(u64).range(1..=MAX_CONTACT_ID as u64))]
    pub count: u64,

    /// Rows per COPY, per progress step and (when appending) per transaction.
    #[arg(long, default_value_t = LoadConfig::DEFAULT_BATCH_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,

    /// Seed of the generator: the same seed and --now give the same rows.
    #[arg(long, default_value_t = LoadConfig::DEFAULT_SEED)]
    pub seed: u64,

    /// Reference instant of generated dates (RFC 3339, or YYYY-MM-DD for
    /// midnight UTC) [default: today, 00:00 UTC].
    #[arg(long, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Replace all rows (ids restart at 1) instead of appending.
    #[arg(long)]
    pub truncate: bool,

    /// No progress bars (they are also off when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Connections that build indexes and run ANALYZE after the load.
    #[arg(long, default_value_t = default_jobs() as u64, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub index_jobs: u64,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| start_of_day(d.and_time(chrono::NaiveTime::MIN).and_utc()))
        .map_err(|_| "expected RFC 3339 (2025-06-01T00:00:00Z) or a date (2025-06-01)".to_string())
}

impl Cli {
    pub fn into_config(self) -> Result<LoadConfig, String> {
        // An empty DATABASE_URL= line means no URL, not the libpq defaults.
        let database_url = self
            .database_url
            .filter(|url| !url.trim().is_empty())
            .ok_or("no database: set DATABASE_URL (in the environment or .env) or pass --database-url")?;
        Ok(LoadConfig {
            database_url,
            count: self.count,
            batch_size: self.batch_size,
            seed: self.seed,
            now: self.now.unwrap_or_else(|| start_of_day(Utc::now())),
            truncate: self.truncate,
            show_progress: !self.no_progress,
            index_jobs: self.index_jobs as usize,
        })
    }
}

/// Clap's multi-line report (message, usage, hint) as one line.
fn one_line_usage_error(e: &clap::Error) -> String {
    e.render()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error chain on one line (server errors carry DETAIL/HINT lines).
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").split('\n').map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM; never if they cannot be watched.
async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => return,
                Some(()) = terminate.recv() => return,
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs the command; returns its exit code.
pub async fn main() -> ExitCode {
    // .env supplies DATABASE_URL when the environment has none.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("loader: error: cannot read .env: {e}");
            return ExitCode::from(2);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            eprintln!("loader: {}", one_line_usage_error(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("loader: error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Ok(db) = Database::new(&config.database_url) {
        eprintln!(
            "loader: {} {} contacts into {} (seed {}, now {})",
            if config.truncate { "replacing the data with" } else { "appending" },
            config.count,
            db.describe(),
            config.seed,
            config.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    match load_until(&config, interrupt()).await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("loader: {}", one_line(&e));
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("loader: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("loader").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_a_config() {
        let cli = parse(&[
            "--database-url=postgres://x@h/db",
            "--count=20",
            "--batch-size=5",
            "--seed=9",
            "--now=2025-06-01",
            "--truncate",
            "--no-progress",
        ])
        .unwrap();
        let config = cli.into_config().unwrap();
        assert!(parse(&["--database-url="]).unwrap().into_config().is_err());
        assert_eq!((config.count, config.batch_size, config.seed), (20, 5, 9));
        assert_eq!(config.now, Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap());
        assert!(config.truncate && !config.show_progress);
    }

    #[test]
    fn bad_values_are_refused_in_one_line() {
        for args in [&["--count=0"][..], &["--count=abc"], &["--batch-size=0"], &["--now=yesterday"], &["--bogus"]] {
            let e = parse(args).unwrap_err();
            let line = one_line_usage_error(&e);
            assert!(line.starts_with("error: ") && !line.contains('\n'), "{args:?}: {line}");
        }
    }

    #[test]
    fn reference_times() {
        let t = parse_now("2025-06-01T12:30:00+02:00").unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2025, 6, 1, 10, 30, 0).unwrap());
        assert!(parse_now("2025-02-30").is_err());
    }

    #[test]
    fn errors_fit_on_one_line() {
        let e = anyhow::anyhow!("ERROR: boom\nDETAIL: why").context("COPY into appuser failed");
        assert_eq!(one_line(&e), "COPY into appuser failed: ERROR: boom DETAIL: why");
    }
}
