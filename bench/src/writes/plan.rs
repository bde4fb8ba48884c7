//! What the write group does: which parts (`--scenarios writes` or
//! `writes:single|import|export`), how many requests and rows, and the
//! marker that tags every contact and address the bench creates.

use serde::{Deserialize, Serialize};

use crate::scenarios::Params;

/// The group's name in `--scenarios`; `writes:<part>` selects one part.
pub const GROUP: &str = "writes";
/// The parts, in the order they run.
pub const PARTS: [&str; 3] = ["single", "import", "export"];

/// Default `--writes`: creates, then as many PATCHes and DELETEs.
pub const DEFAULT_WRITES: u64 = 200;
/// Default `--import-rows`.
pub const DEFAULT_IMPORT_ROWS: u64 = 100_000;
/// `--import-rows` at most: the body is built in memory before the timed
/// upload (some 250 bytes a row), and the API refuses bodies over 1 GiB.
pub const MAX_IMPORT_ROWS: u64 = 3_000_000;

/// The parts of the write group a run measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteParts {
    /// Single creates, then PATCHes, then DELETEs of them.
    pub single: bool,
    /// One timed NDJSON import.
    pub import: bool,
    /// One timed CSV export, read as a stream.
    pub export: bool,
}

impl WriteParts {
    /// From `--scenarios` names: `writes` is every part, `writes:<part>`
    /// one of them; `all` is none (the group writes into the data set and
    /// costs minutes per variant at 3M contacts, so it is asked for by name).
    pub fn from_names(names: &[String]) -> WriteParts {
        let has = |part: &str| names.iter().any(|n| n == GROUP || *n == format!("{GROUP}:{part}"));
        WriteParts { single: has(PARTS[0]), import: has(PARTS[1]), export: has(PARTS[2]) }
    }

    /// `name` is the group or one of its parts.
    pub fn is_name(name: &str) -> bool {
        name == GROUP || PARTS.iter().any(|p| name == format!("{GROUP}:{p}"))
    }

    /// Every name `--scenarios` accepts for the group.
    pub fn names() -> Vec<String> {
        std::iter::once(GROUP.to_string()).chain(PARTS.iter().map(|p| format!("{GROUP}:{p}"))).collect()
    }

    pub fn any(&self) -> bool {
        self.single || self.import || self.export
    }

    /// The parts asked for, as `writes:<part>` (for the run's metadata).
    pub fn selected(&self) -> Vec<String> {
        let on = [self.single, self.import, self.export];
        PARTS.iter().zip(on).filter(|(_, on)| *on).map(|(p, _)| format!("{GROUP}:{p}")).collect()
    }

    /// Something is written (and must be deleted afterwards).
    pub fn writes_data(&self) -> bool {
        self.single || self.import
    }
}

/// The write group of a run, as recorded in the result file's `meta`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WritePlan {
    pub parts: WriteParts,
    /// Creates (then as many PATCHes and DELETEs) per variant.
    pub single_writes: u64,
    pub import_rows: u64,
    /// List parameters of the export (empty: the whole table).
    pub export_params: Params,
    pub seed: u64,
    /// Whether the cleanup vacuums (`--no-vacuum`: no); older result files
    /// always did.
    #[serde(default = "always")]
    pub vacuum: bool,
    /// Prefix of the last name of every contact and the street of every
    /// address the bench creates: the cleanup deletes by it.
    pub marker: String,
}

impl WritePlan {
    /// The export's query: `format=csv`, then the list parameters.
    pub fn export_path(&self) -> String {
        let mut params = Params::new(&[("format", "csv")]);
        params.0.extend(self.export_params.0.iter().cloned());
        format!("/api/contacts/export/?{}", params.query_string())
    }
}

fn always() -> bool {
    true
}

/// A marker unique to one run: letters and digits only, so that
/// `LIKE '<marker> %'` has no wildcard but its own, and no real name starts
/// with it: `BenchW20250101T120000P4242`.
pub fn marker(started_at: chrono::DateTime<chrono::Utc>, pid: u32) -> String {
    format!("BenchW{}P{pid}", started_at.format("%Y%m%dT%H%M%S"))
}

/// The `LIKE` pattern of the marked last names and streets.
pub fn like_pattern(marker: &str) -> String {
    debug_assert!(marker.chars().all(|c| c.is_ascii_alphanumeric()), "{marker}");
    format!("{marker} %")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parts_by_name() {
        let all = WriteParts { single: true, import: true, export: true };
        assert_eq!(WriteParts::from_names(&names(&["writes"])), all);
        assert_eq!(WriteParts::from_names(&names(&["search", "all"])), WriteParts::default(), "not in all");
        assert_eq!(WriteParts::from_names(&names(&["all", "writes"])), all);
        let some = WriteParts::from_names(&names(&["writes:single", "writes:export"]));
        assert_eq!(some, WriteParts { single: true, import: false, export: true });
        assert_eq!(some.selected(), ["writes:single", "writes:export"]);
        assert!(some.writes_data() && some.any());
        let export_only = WriteParts { export: true, ..Default::default() };
        assert!(!export_only.writes_data() && export_only.any());
        assert!(!WriteParts::default().any());
        assert!(WriteParts::is_name("writes:import") && WriteParts::is_name("writes"));
        assert!(!WriteParts::is_name("writes:delete") && !WriteParts::is_name("write"));
        assert_eq!(WriteParts::names(), ["writes", "writes:single", "writes:import", "writes:export"]);
    }

    #[test]
    fn marker_and_paths() {
        let at = chrono::Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
        let m = marker(at, 4242);
        assert_eq!(m, "BenchW20250101T120000P4242");
        assert_eq!(like_pattern(&m), "BenchW20250101T120000P4242 %");
        let plan = WritePlan {
            parts: WriteParts::default(),
            single_writes: 1,
            import_rows: 1,
            export_params: Params::from_query("address__country=United+Kingdom&ordering=id"),
            seed: 1,
            vacuum: true,
            marker: m,
        };
        assert_eq!(plan.export_path(), "/api/contacts/export/?format=csv&address__country=United+Kingdom&ordering=id");
        let whole = WritePlan { export_params: Params::default(), ..plan };
        assert_eq!(whole.export_path(), "/api/contacts/export/?format=csv");
    }
}
