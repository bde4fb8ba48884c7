//! The plan summary of one request, from `crm.explain(params)`: one entry
//! per statement the extension ran, each with its
//! `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` output.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One statement of a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementPlan {
    /// What the statement does: `presence` (is the projection there),
    /// `resolve` (dictionary lookup), `counter`, `count`, `probe` (count and
    /// page in one pass) or `page`.
    pub kind: String,
    pub execution_ms: f64,
    pub planning_ms: f64,
    /// Rows the statement returned.
    pub rows: u64,
    /// Shared buffers found in the cache / read from the operating system.
    pub shared_hit: u64,
    pub shared_read: u64,
    /// Temporary-file blocks (sorts or hashes that spilled), read + written.
    pub temp_blocks: u64,
    /// Tables read by sequential scans.
    pub seq_scans: Vec<String>,
    /// Indexes scanned, in plan order.
    pub indexes: Vec<String>,
}

/// The plan of a whole request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// The request's database query count: the function call itself plus
    /// every statement it ran.
    pub query_count: u32,
    pub statements: Vec<StatementPlan>,
    pub execution_ms: f64,
    pub planning_ms: f64,
    pub shared_hit: u64,
    pub shared_read: u64,
    pub temp_blocks: u64,
    pub seq_scans: Vec<String>,
    pub indexes: Vec<String>,
    pub response_bytes: u64,
}

fn number(node: &Json, key: &str) -> f64 {
    node.get(key).and_then(Json::as_f64).unwrap_or(0.0)
}

fn count(node: &Json, key: &str) -> u64 {
    node.get(key).and_then(Json::as_u64).unwrap_or(0)
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|i| i == item) {
        list.push(item.to_string());
    }
}

/// Every node of a plan tree (InitPlans and SubPlans are children too).
fn walk(node: &Json, visit: &mut impl FnMut(&Json)) {
    visit(node);
    for child in node.get("Plans").and_then(Json::as_array).into_iter().flatten() {
        walk(child, visit);
    }
}

/// Names what a statement of the extension does, from its SQL.
pub fn statement_kind(sql: &str) -> &'static str {
    let s = sql.trim_start();
    if s.contains("to_regclass") {
        "presence"
    } else if s.contains("crm_dictionary") {
        "resolve"
    } else if s.starts_with("SELECT sum(n)") {
        "counter"
    } else if s.contains("c.matched") {
        "probe"
    } else if s.starts_with("SELECT count(") {
        "count"
    } else {
        "page"
    }
}

impl StatementPlan {
    /// From one `{"sql", "plan"}` entry of `crm.explain`.
    pub fn from_entry(entry: &Json) -> Result<StatementPlan> {
        let sql = entry.get("sql").and_then(Json::as_str).unwrap_or_default();
        // FORMAT JSON gives an array of one object.
        let explained = match entry.get("plan") {
            Some(Json::Array(items)) => items.first(),
            Some(other @ Json::Object(_)) => Some(other),
            _ => None,
        }
        .context("a statement of crm.explain has no plan")?;
        let root = explained.get("Plan").context("an EXPLAIN output has no Plan")?;
        let mut plan = StatementPlan {
            kind: statement_kind(sql).to_string(),
            execution_ms: number(explained, "Execution Time"),
            planning_ms: number(explained, "Planning Time"),
            rows: (number(root, "Actual Rows") * number(root, "Actual Loops").max(1.0)).round() as u64,
            // A node's buffers include its children's.
            shared_hit: count(root, "Shared Hit Blocks"),
            shared_read: count(root, "Shared Read Blocks"),
            temp_blocks: count(root, "Temp Read Blocks") + count(root, "Temp Written Blocks"),
            seq_scans: Vec::new(),
            indexes: Vec::new(),
        };
        walk(root, &mut |node| {
            let node_type = node.get("Node Type").and_then(Json::as_str).unwrap_or_default();
            if node_type == "Seq Scan" {
                if let Some(relation) = node.get("Relation Name").and_then(Json::as_str) {
                    push_unique(&mut plan.seq_scans, relation);
                }
            }
            if let Some(index) = node.get("Index Name").and_then(Json::as_str) {
                push_unique(&mut plan.indexes, index);
            }
        });
        Ok(plan)
    }

    /// `count: 225.1ms rows=1 hit=603451 read=0 SEQ(appuser) [appuser_address_id]`
    pub fn compact(&self) -> String {
        let mut s = format!(
            "{}: {}ms rows={} hit={} read={}",
            self.kind,
            crate::format::ms(self.execution_ms),
            self.rows,
            self.shared_hit,
            self.shared_read
        );
        if self.temp_blocks > 0 {
            s.push_str(&format!(" temp={}", self.temp_blocks));
        }
        if !self.seq_scans.is_empty() {
            s.push_str(&format!(" SEQ({})", self.seq_scans.join(",")));
        }
        let indexes: Vec<String> = self.indexes.iter().map(|i| short_index_name(i)).collect();
        s.push_str(&format!(" [{}]", if indexes.is_empty() { "-".to_string() } else { indexes.join(", ") }));
        s
    }
}

/// The projection's indexes are long-named: `crm_contact_flat_created_id`
/// reads as `f.created_id`.
pub fn short_index_name(name: &str) -> String {
    match name.strip_prefix("crm_contact_flat_") {
        Some(rest) => format!("f.{rest}"),
        None => name.to_string(),
    }
}

impl PlanSummary {
    /// From the JSON `crm.explain(params)` returns.
    pub fn from_explain(explain: &Json) -> Result<PlanSummary> {
        let Some(entries) = explain.get("statements").and_then(Json::as_array) else {
            bail!("crm.explain returned no statements: {explain}");
        };
        let statements = entries.iter().map(StatementPlan::from_entry).collect::<Result<Vec<_>>>()?;
        let mut summary = PlanSummary {
            query_count: statements.len() as u32 + 1,
            execution_ms: statements.iter().map(|s| s.execution_ms).sum(),
            planning_ms: statements.iter().map(|s| s.planning_ms).sum(),
            shared_hit: statements.iter().map(|s| s.shared_hit).sum(),
            shared_read: statements.iter().map(|s| s.shared_read).sum(),
            temp_blocks: statements.iter().map(|s| s.temp_blocks).sum(),
            seq_scans: Vec::new(),
            indexes: Vec::new(),
            response_bytes: count(explain, "response_bytes"),
            statements,
        };
        for statement in &summary.statements {
            for relation in &statement.seq_scans {
                push_unique(&mut summary.seq_scans, relation);
            }
            for index in &statement.indexes {
                push_unique(&mut summary.indexes, index);
            }
        }
        Ok(summary)
    }

    /// The statements that do the work (the projection presence check is
    /// left out), `; `-separated.
    pub fn compact(&self) -> String {
        self.statements
            .iter()
            .filter(|s| s.kind != "presence")
            .map(StatementPlan::compact)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(node_type: &str, extra: Json, children: Vec<Json>) -> Json {
        let mut n = json!({"Node Type": node_type, "Actual Rows": 1, "Actual Loops": 1});
        for (k, v) in extra.as_object().unwrap() {
            n[k] = v.clone();
        }
        if !children.is_empty() {
            n["Plans"] = Json::Array(children);
        }
        n
    }

    /// The shape crm.explain returns (abridged EXPLAIN JSON of PostgreSQL 15).
    fn sample() -> Json {
        let presence = json!([{"Plan": node("Result", json!({"Shared Hit Blocks": 6}), vec![]),
                               "Planning Time": 0.007, "Execution Time": 0.06}]);
        let count = json!([{"Plan": node("Aggregate", json!({"Shared Hit Blocks": 603451, "Shared Read Blocks": 12}), vec![
            node("Hash Join", json!({}), vec![
                node("Seq Scan", json!({"Relation Name": "appuser", "Alias": "u"}), vec![]),
                node("Hash", json!({}), vec![
                    node("Index Only Scan", json!({"Index Name": "appuser_address_id", "Relation Name": "appuser"}), vec![]),
                ]),
            ]),
        ]), "Planning Time": 0.5, "Execution Time": 225.1}]);
        let page = json!([{"Plan": node("Limit", json!({"Actual Rows": 50, "Shared Hit Blocks": 53,
                "Temp Read Blocks": 3, "Temp Written Blocks": 4}), vec![
            node("Index Scan", json!({"Index Name": "crm_contact_flat_created_id", "Relation Name": "crm_contact_flat"}), vec![
                node("Seq Scan", json!({"Relation Name": "appuser", "Parent Relationship": "SubPlan"}), vec![]),
            ]),
        ]), "Planning Time": 0.1, "Execution Time": 0.6}]);
        json!({"response_bytes": 26421, "statements": [
            {"sql": "SELECT to_regclass('crm_contact_flat') IS NOT NULL", "plan": presence},
            {"sql": "SELECT count(*) FROM appuser u LEFT JOIN address a ON a.id = u.address_id", "plan": count},
            {"sql": "SELECT f.id, f.first_name FROM crm_contact_flat f ORDER BY f.created DESC LIMIT $1", "plan": page},
        ]})
    }

    #[test]
    fn summary_from_a_sample_explain() {
        let s = PlanSummary::from_explain(&sample()).unwrap();
        assert_eq!(s.query_count, 4);
        assert_eq!(s.statements.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["presence", "count", "page"]);
        let count = &s.statements[1];
        assert_eq!((count.rows, count.shared_hit, count.shared_read), (1, 603451, 12));
        assert_eq!(count.seq_scans, ["appuser"]);
        assert_eq!(count.indexes, ["appuser_address_id"]);
        assert_eq!(s.statements[2].rows, 50);
        assert_eq!(s.statements[2].temp_blocks, 7);
        assert_eq!(s.seq_scans, ["appuser"]);
        assert_eq!(s.indexes, ["appuser_address_id", "crm_contact_flat_created_id"]);
        assert_eq!(s.shared_hit, 6 + 603451 + 53);
        assert!((s.execution_ms - 225.76).abs() < 1e-9);
        assert_eq!(s.response_bytes, 26421);
        assert_eq!(
            s.compact(),
            "count: 225ms rows=1 hit=603451 read=12 SEQ(appuser) [appuser_address_id]; \
             page: 0.60ms rows=50 hit=53 read=0 temp=7 SEQ(appuser) [f.created_id]"
        );
    }

    #[test]
    fn statement_kinds() {
        assert_eq!(statement_kind("SELECT field, value FROM (SELECT … FROM crm_dictionary WHERE …) d"), "resolve");
        assert_eq!(statement_kind("SELECT sum(n)::bigint FROM crm_contact_count"), "counter");
        assert_eq!(statement_kind("WITH m AS MATERIALIZED (…) SELECT c.matched, x.* FROM …"), "probe");
        assert_eq!(statement_kind("SELECT count(*) FROM (SELECT f.id FROM crm_contact_flat f) m"), "count");
        assert_eq!(statement_kind("SELECT u.id AS id FROM appuser u ORDER BY u.created DESC"), "page");
    }

    #[test]
    fn malformed_explain_is_an_error() {
        assert!(PlanSummary::from_explain(&json!({"response_bytes": 1})).is_err());
        assert!(PlanSummary::from_explain(&json!({"statements": [{"sql": "x", "plan": []}]})).is_err());
        let empty = PlanSummary::from_explain(&json!({"statements": []})).unwrap();
        assert_eq!((empty.query_count, empty.compact()), (1, String::new()));
    }
}
