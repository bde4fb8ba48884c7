//! Index variants (docs/compatibility.md, "Index variants"), defined once and switched at run time.
//!
//! - `baseline`: the schema's own keys and the foreign-key index, nothing else;
//! - `indexed`: the original's eight B-tree indexes on the application tables;
//! - `trgm`: the projection (`projection.rs`) with its indexes, and of the
//!   original's eight only the three on `address` (the address list reads
//!   the table); the five on `appuser` and `customer_relationship` serve
//!   reads of the joined tables, which no query makes once the projection
//!   is there, and each would cost every write an index insert (about 15%
//!   of an import's time). The projection's indexes:
//!   trigram GIN indexes for the text columns with many values and on the
//!   dictionary that resolves the columns with few values (this is where
//!   the queries run, so this is where trigram indexes serve), an index per
//!   column with few values that filters or searches, covering the default
//!   ordering so that counts and pages are index-only, and indexes for the
//!   orderings and filters of the original's benchmark scenarios (docs/compatibility.md);
//! - `full`: `trgm` plus an index for every other ordering field, so that
//!   any ordering is index-driven (more to build and to maintain).
//!
//! The extension manages only objects whose names start with `crm_`. Which
//! variant is active is derived from what is present, never stored.

use std::collections::BTreeSet;

use crate::fields::{self, Table};
use crate::objects::{self, quote_ident, MANAGED_PREFIX};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    Baseline,
    Indexed,
    Trgm,
    Full,
}

impl Variant {
    pub const ALL: [Variant; 4] = [Variant::Baseline, Variant::Indexed, Variant::Trgm, Variant::Full];

    pub const fn name(self) -> &'static str {
        match self {
            Variant::Baseline => "baseline",
            Variant::Indexed => "indexed",
            Variant::Trgm => "trgm",
            Variant::Full => "full",
        }
    }

    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name.trim())
    }

    pub fn names() -> Vec<&'static str> {
        Variant::ALL.iter().map(|v| v.name()).collect()
    }

    /// Whether the variant includes the projection (and queries read it).
    pub fn has_projection(self) -> bool {
        matches!(self, Variant::Trgm | Variant::Full)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Btree,
    /// GIN with pg_trgm's `gin_trgm_ops`: serves ILIKE '%…%' of 3+ characters.
    GinTrgm,
}

/// An index the extension creates and drops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub table: &'static str,
    pub method: Method,
    pub columns: Vec<&'static str>,
    /// Carried in the index (INCLUDE) for index-only scans.
    pub include: Vec<&'static str>,
    /// The variants that include it.
    pub variants: Vec<Variant>,
}

impl IndexDef {
    fn new(table: &'static str, method: Method, columns: &[&'static str], variants: &[Variant]) -> Self {
        Self::covering(table, method, columns, &[], variants)
    }

    fn covering(
        table: &'static str,
        method: Method,
        columns: &[&'static str],
        include: &[&'static str],
        variants: &[Variant],
    ) -> Self {
        let suffix = match method {
            Method::Btree => "",
            Method::GinTrgm => "_trgm",
        };
        let prefix = if table.starts_with(MANAGED_PREFIX) { "" } else { MANAGED_PREFIX };
        IndexDef {
            name: format!("{prefix}{table}_{}{suffix}", columns.join("_")),
            table,
            method,
            columns: columns.to_vec(),
            include: include.to_vec(),
            variants: variants.to_vec(),
        }
    }

    /// `CREATE INDEX …` on the table in `table_schema`; trigram operator
    /// classes are looked up in `trgm_schema` (where pg_trgm was installed).
    pub fn create_sql(&self, table_schema: &str, trgm_schema: &str) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| match self.method {
                Method::Btree => c.to_string(),
                Method::GinTrgm => format!("{c} {}.gin_trgm_ops", quote_ident(trgm_schema)),
            })
            .collect();
        let method = match self.method {
            Method::Btree => "btree",
            Method::GinTrgm => "gin",
        };
        let include =
            if self.include.is_empty() { String::new() } else { format!(" INCLUDE ({})", self.include.join(", ")) };
        // GIN gathers new entries in a pending list that every search reads
        // through until a vacuum merges it (4 MB by default): at 3M, after
        // 100,000 writes, a search for "paul" took 9.1 ms with 229 pages
        // pending and 4.6 ms once they were merged. A small list is merged
        // by the inserting writer instead.
        let with = match self.method {
            Method::Btree => "",
            Method::GinTrgm => " WITH (gin_pending_list_limit = 256)",
        };
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {}.{} USING {method} ({}){include}{with}",
            self.name,
            quote_ident(table_schema),
            self.table,
            columns.join(", ")
        )
    }

    /// `name|method|key columns|included columns`: what makes two indexes
    /// the same, so that a changed definition under an old name is rebuilt.
    /// `crm.variant()` builds the same string from the catalog.
    pub fn identity(&self) -> String {
        let method = match self.method {
            Method::Btree => "btree",
            Method::GinTrgm => "gin",
        };
        index_identity(&self.name, method, &self.columns.join(","), &self.include.join(","))
    }

    pub fn on_projection(&self) -> bool {
        objects::TABLES.contains(&self.table)
    }
}

pub fn index_identity(name: &str, method: &str, keys: &str, include: &str) -> String {
    format!("{name}|{method}|{keys}|{include}")
}

/// The name part of an identity.
pub fn identity_name(identity: &str) -> &str {
    identity.split('|').next().unwrap_or(identity)
}

/// `DROP INDEX` of an index found in the catalog.
pub fn drop_index_sql(schema: &str, name: &str) -> String {
    format!("DROP INDEX IF EXISTS {}.{}", quote_ident(schema), quote_ident(name))
}

/// The original's `indexed` list (docs/compatibility.md), on the application tables.
fn spec_indexes() -> Vec<IndexDef> {
    use Method::Btree;
    use Variant::{Indexed, Trgm};
    let (appuser, address, relationship) = (Table::Appuser.name(), Table::Address.name(), Table::Relationship.name());
    // Contacts are read from the projection in `trgm` and `full`: the
    // indexes on the tables it follows would only slow writes down there.
    let contact_reads = &[Indexed];
    let address_reads = &[Indexed, Trgm, Variant::Full];
    vec![
        IndexDef::new(appuser, Btree, &["created"], contact_reads),
        IndexDef::new(appuser, Btree, &["first_name", "last_name"], contact_reads),
        IndexDef::new(appuser, Btree, &["address_id", "last_name"], contact_reads),
        IndexDef::new(address, Btree, &["city"], address_reads),
        IndexDef::new(address, Btree, &["country"], address_reads),
        IndexDef::new(address, Btree, &["country", "city"], address_reads),
        IndexDef::new(relationship, Btree, &["points"], contact_reads),
        IndexDef::new(relationship, Btree, &["last_activity"], contact_reads),
    ]
}

/// The projection's indexes. Every ordering ends with the id (the
/// tie-breaker), so ordering indexes are (field, id), readable both ways.
fn projection_indexes() -> Vec<IndexDef> {
    use Method::{Btree, GinTrgm};
    let trgm = &[Variant::Trgm, Variant::Full];
    let flat = objects::FLAT;
    let default_order = fields::DEFAULT_ORDERING.column().output_key();
    let mut defs = vec![IndexDef::new(flat, Btree, &[default_order, "id"], trgm)];
    // The orderings of the original's benchmark scenarios (docs/compatibility.md).
    for key in ["points", "last_activity"] {
        defs.push(IndexDef::new(flat, Btree, &[key, "id"], trgm));
    }
    defs.push(IndexDef::new(flat, Btree, &["country", "city"], trgm));
    // The original's multi-filter scenarios (country, gender, points, ordered by
    // the default or by last activity), counted and paged index-only.
    defs.push(IndexDef::covering(
        flat,
        Btree,
        &["country", "gender", "points"],
        &["id", default_order, "last_activity"],
        trgm,
    ));
    // The triggers find a changed address's contacts through it.
    defs.push(IndexDef::new(flat, Btree, &["address_id"], trgm));
    // Text matched by pattern is answered by the postings (`postings.rs`),
    // which need no index. Columns with few values keep an index for
    // equality (exact lookups, and patterns resolved to the dictionary's
    // values while the postings are not built), index-only with the default
    // ordering; pattern-matched columns with many values one for exact
    // lookups (phone_number).
    for field in fields::FIELDS {
        let text_matched = field.searchable || field.lookups.contains(&fields::Lookup::Icontains);
        let exact_text =
            field.value_type() == fields::ValueType::Text && field.lookups.contains(&fields::Lookup::Exact);
        for column in field.columns {
            let key = column.output_key();
            let def = match (column.few_values, text_matched, exact_text) {
                (true, true, _) | (true, _, true) => {
                    IndexDef::covering(flat, Btree, &[key, "id"], &[default_order], trgm)
                }
                (false, true, true) => IndexDef::new(flat, Btree, &[key, "id"], trgm),
                _ => continue,
            };
            if !defs.iter().any(|d| d.name == def.name) {
                defs.push(def);
            }
        }
    }
    defs.push(IndexDef::new(objects::DICTIONARY, GinTrgm, &["value"], trgm));
    // full: every other ordering field (the id's is the primary key).
    for field in fields::ordering_fields().filter(|f| f.name != "id") {
        let key = field.column().output_key();
        if !defs.iter().any(|d| d.table == flat && d.method == Btree && d.columns == [key, "id"]) {
            defs.push(IndexDef::new(flat, Btree, &[key, "id"], &[Variant::Full]));
        }
    }
    defs
}

/// Every index the extension manages, with the variants it belongs to.
pub fn managed_indexes() -> Vec<IndexDef> {
    let mut defs = spec_indexes();
    defs.extend(projection_indexes());
    defs
}

/// What a variant switch does, in order.
#[derive(Debug, Default, PartialEq)]
pub struct SwitchPlan {
    pub drop_projection: bool,
    pub create_projection: bool,
    /// Managed indexes present but not wanted, including any left by an
    /// older version of the extension.
    pub drop_indexes: Vec<String>,
    pub create_indexes: Vec<IndexDef>,
}

/// The steps from what is present (the identities of the managed indexes,
/// see `IndexDef::identity`, and the projection or not) to exactly the target.
pub fn plan_switch(target: Variant, present: &BTreeSet<String>, projection_present: bool) -> SwitchPlan {
    let wanted: Vec<IndexDef> = managed_indexes().into_iter().filter(|d| d.variants.contains(&target)).collect();
    let wanted_identities: BTreeSet<String> = wanted.iter().map(IndexDef::identity).collect();
    let drop_projection = projection_present && !target.has_projection();
    let create_projection = !projection_present && target.has_projection();
    SwitchPlan {
        drop_projection,
        create_projection,
        drop_indexes: present
            .iter()
            .filter(|identity| !wanted_identities.contains(*identity))
            .map(|identity| identity_name(identity).to_string())
            // A dropped projection takes its indexes with it.
            .filter(|name| !(drop_projection && objects::TABLES.iter().any(|t| name.starts_with(t))))
            .collect(),
        // A new projection comes without indexes.
        create_indexes: wanted
            .into_iter()
            .filter(|d| !present.contains(&d.identity()) || (create_projection && d.on_projection()))
            .collect(),
    }
}

/// The variant whose managed objects are exactly those present, if any.
pub fn identify(present: &BTreeSet<String>, projection_present: bool) -> Option<Variant> {
    Variant::ALL.into_iter().find(|v| {
        let wanted: BTreeSet<String> =
            managed_indexes().into_iter().filter(|d| d.variants.contains(v)).map(|d| d.identity()).collect();
        v.has_projection() == projection_present && &wanted == present
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(defs: &[IndexDef]) -> Vec<&str> {
        defs.iter().map(|d| d.name.as_str()).collect()
    }

    fn present(variant: Variant) -> BTreeSet<String> {
        managed_indexes().into_iter().filter(|d| d.variants.contains(&variant)).map(|d| d.identity()).collect()
    }

    fn present_names(variant: Variant) -> BTreeSet<String> {
        present(variant).iter().map(|i| identity_name(i).to_string()).collect()
    }

    #[test]
    fn variants_nest_but_the_projection_replaces_the_contact_indexes() {
        assert!(present(Variant::Baseline).is_empty());
        assert_eq!(present(Variant::Indexed).len(), 8);
        // Of the original's indexes, the projection variants keep those of
        // the table they still read (addresses).
        let kept: BTreeSet<String> =
            present_names(Variant::Indexed).intersection(&present_names(Variant::Trgm)).cloned().collect();
        assert_eq!(
            kept,
            ["crm_address_city", "crm_address_country", "crm_address_country_city"].map(String::from).into()
        );
        assert!(present(Variant::Trgm).is_subset(&present(Variant::Full)));
        // Patterns are answered by the postings: only the dictionary keeps
        // a trigram index (it resolves long patterns to values).
        let trgm: Vec<_> = managed_indexes().into_iter().filter(|d| d.method == Method::GinTrgm).collect();
        assert_eq!(names(&trgm), ["crm_dictionary_value_trgm"]);
    }

    #[test]
    fn full_has_an_index_for_every_ordering_and_trgm_for_the_scenarios() {
        let full = present_names(Variant::Full);
        for field in fields::ordering_fields().filter(|f| f.name != "id") {
            let name = format!("crm_contact_flat_{}_id", field.column().output_key());
            assert!(full.contains(&name), "{name}");
        }
        let trgm = present_names(Variant::Trgm);
        assert!(trgm.is_subset(&full));
        for name in [
            "crm_contact_flat_created_id",
            "crm_contact_flat_points_id",
            "crm_contact_flat_last_activity_id",
            "crm_contact_flat_country_city",
            "crm_contact_flat_country_gender_points",
            "crm_contact_flat_first_name_id",
            "crm_contact_flat_street_id",
            "crm_contact_flat_address_id",
        ] {
            assert!(trgm.contains(name), "{name}");
        }
        assert!(!trgm.contains("crm_contact_flat_birthday_id"));
    }

    #[test]
    fn pattern_indexes_cover_the_default_ordering() {
        let defs = managed_indexes();
        let first = defs.iter().find(|d| d.name == "crm_contact_flat_first_name_id").unwrap();
        assert_eq!(
            first.create_sql("s", "x"),
            "CREATE INDEX IF NOT EXISTS crm_contact_flat_first_name_id ON \"s\".crm_contact_flat USING btree (first_name, id) INCLUDE (created)"
        );
    }

    #[test]
    fn index_names_fit_postgres_identifiers() {
        for d in managed_indexes() {
            assert!(d.name.len() <= 63 && d.name.starts_with(MANAGED_PREFIX), "{}", d.name);
        }
    }

    #[test]
    fn ddl() {
        let defs = managed_indexes();
        assert_eq!(
            defs[1].create_sql("public", "public"),
            "CREATE INDEX IF NOT EXISTS crm_appuser_first_name_last_name ON \"public\".appuser USING btree (first_name, last_name)"
        );
        let trgm = defs.iter().find(|d| d.name == "crm_dictionary_value_trgm").unwrap();
        assert_eq!(
            trgm.create_sql("my\"schema", "ext"),
            "CREATE INDEX IF NOT EXISTS crm_dictionary_value_trgm ON \"my\"\"schema\".crm_dictionary USING gin (value \"ext\".gin_trgm_ops) WITH (gin_pending_list_limit = 256)"
        );
        assert_eq!(drop_index_sql("public", "crm_x"), "DROP INDEX IF EXISTS \"public\".\"crm_x\"");
    }

    #[test]
    fn switching_plans_only_the_difference() {
        let plan = plan_switch(Variant::Trgm, &present(Variant::Indexed), false);
        assert!(plan.create_projection && !plan.drop_projection);
        assert!(plan.create_indexes.iter().all(|d| d.on_projection()));
        assert_eq!(
            plan.drop_indexes,
            [
                "crm_appuser_address_id_last_name",
                "crm_appuser_created",
                "crm_appuser_first_name_last_name",
                "crm_customer_relationship_last_activity",
                "crm_customer_relationship_points"
            ],
            "contacts are read from the projection"
        );
        let plan = plan_switch(Variant::Baseline, &present(Variant::Trgm), true);
        assert!(plan.drop_projection);
        assert_eq!(plan.drop_indexes.len(), 3, "the projection's indexes go with it: {:?}", plan.drop_indexes);
        assert!(plan.create_indexes.is_empty());
        // Indexes of an older version are dropped too, and one whose
        // definition changed is rebuilt.
        let mut old = present(Variant::Indexed);
        old.insert("crm_appuser_first_name_trgm|gin|first_name|".into());
        assert_eq!(plan_switch(Variant::Indexed, &old, false).drop_indexes, ["crm_appuser_first_name_trgm"]);
        let mut changed = present(Variant::Trgm);
        changed.remove("crm_contact_flat_first_name_id|btree|first_name,id|created");
        changed.insert("crm_contact_flat_first_name_id|btree|first_name,id|".into());
        let plan = plan_switch(Variant::Trgm, &changed, true);
        assert_eq!(plan.drop_indexes, ["crm_contact_flat_first_name_id"]);
        assert_eq!(names(&plan.create_indexes), ["crm_contact_flat_first_name_id"]);
        assert_eq!(plan_switch(Variant::Trgm, &present(Variant::Trgm), true), SwitchPlan::default());
        // A projection dropped by hand is rebuilt with all its indexes.
        let plan = plan_switch(Variant::Trgm, &present(Variant::Indexed), false);
        assert_eq!(plan.create_indexes.len(), present(Variant::Trgm).len() - 3);
    }

    #[test]
    fn the_active_variant_is_derived_from_what_is_present() {
        for v in Variant::ALL {
            assert_eq!(identify(&present(v), v.has_projection()), Some(v));
        }
        assert_eq!(identify(&present(Variant::Indexed), true), None);
        let mut partial = present(Variant::Indexed);
        partial.insert("crm_contact_flat_points_id|btree|points,id|".into());
        assert_eq!(identify(&partial, false), None);
        assert_eq!(Variant::from_name("trgm"), Some(Variant::Trgm));
        assert_eq!(Variant::from_name("fast"), None);
    }
}
