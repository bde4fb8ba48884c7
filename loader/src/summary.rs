//! What a load did and how long each part took, as a value for callers and
//! as the report the command prints.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::{HumanBytes, HumanCount};

use crate::ids::IdBlock;

/// Rows written into one table.
#[derive(Clone, Debug)]
pub struct TableSummary {
    pub table: &'static str,
    /// The ids of the rows written (`len` 0 when none).
    pub ids: IdBlock,
    /// Time spent in this table's COPY statements.
    pub copy_time: Duration,
    /// Bytes of the table with its indexes after the load.
    pub bytes: i64,
}

impl TableSummary {
    pub fn rows_per_second(&self) -> f64 {
        rate(self.ids.len, self.copy_time)
    }
}

/// Wall time of each phase.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// Generating and copying all rows (generation runs alongside the copy).
    pub copy: Duration,
    /// Rebuilding the primary keys, unique and foreign-key constraints and
    /// committing (`--truncate` only).
    pub constraints: Duration,
    /// Filling the variant's projection (trgm), while the application
    /// tables' indexes are built alongside.
    pub projection: Duration,
    /// Rebuilding the index variant's indexes.
    pub indexes: Duration,
    pub analyze: Duration,
    pub total: Duration,
}

#[derive(Clone, Debug)]
pub struct LoadSummary {
    pub tables: Vec<TableSummary>,
    pub seed: u64,
    pub now: DateTime<Utc>,
    pub truncated: bool,
    /// The index variant, the same before and after the load.
    pub variant: String,
    pub timings: Timings,
    pub database_bytes: i64,
}

impl LoadSummary {
    pub fn table(&self, name: &str) -> Option<&TableSummary> {
        self.tables.iter().find(|t| t.table == name)
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.ids.len).sum()
    }
}

fn rate(rows: u64, time: Duration) -> f64 {
    if time.is_zero() {
        0.0
    } else {
        rows as f64 / time.as_secs_f64()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {} rows in {} (seed {}, now {}, index variant {})",
            if self.truncated { "Replaced the data with" } else { "Appended" },
            HumanCount(self.total_rows()),
            secs(self.timings.total),
            self.seed,
            self.now.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.variant,
        )?;
        writeln!(f, "  {:<22} {:>10} {:>23} {:>9} {:>12} {:>10}", "table", "rows", "ids", "copy", "rows/s", "size")?;
        for t in &self.tables {
            let ids = if t.ids.len == 0 { "-".to_string() } else { format!("{}..{}", t.ids.first, t.ids.last()) };
            writeln!(
                f,
                "  {:<22} {:>10} {:>23} {:>9} {:>12} {:>10}",
                t.table,
                HumanCount(t.ids.len).to_string(),
                ids,
                secs(t.copy_time),
                HumanCount(t.rows_per_second().round() as u64).to_string(),
                HumanBytes(t.bytes.unsigned_abs()).to_string(),
            )?;
        }
        let tm = &self.timings;
        writeln!(
            f,
            "  phases: generate+copy {} ({} rows/s), constraints {}, projection {}, indexes {}, analyze {}",
            secs(tm.copy),
            HumanCount(rate(self.total_rows(), tm.copy).round() as u64),
            secs(tm.constraints),
            secs(tm.projection),
            secs(tm.indexes),
            secs(tm.analyze),
        )?;
        write!(f, "  database size {}", HumanBytes(self.database_bytes.unsigned_abs()))
    }
}
