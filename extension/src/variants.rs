//! Index variants (SPEC §2), defined once and switched at run time.
//!
//! - `baseline`: the schema's own keys and the foreign-key index, nothing else;
//! - `indexed`: SPEC's eight B-tree indexes on the application tables;
//! - `trgm`: `indexed` plus the projection (`projection.rs`) with its indexes:
//!   a B-tree per ordering field, trigram GIN indexes for the text columns
//!   with many values, and a trigram index on the dictionary that resolves
//!   the columns with few values. This is where the queries run, so this is
//!   where the trigram indexes are useful.
//!
//! The extension manages only objects whose names start with `crm_`. Which
//! variant is active is derived from what is present, never stored.

use std::collections::BTreeSet;

use crate::fields::{self, Table};
use crate::projection;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    Baseline,
    Indexed,
    Trgm,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Baseline, Variant::Indexed, Variant::Trgm];

    pub const fn name(self) -> &'static str {
        match self {
            Variant::Baseline => "baseline",
            Variant::Indexed => "indexed",
            Variant::Trgm => "trgm",
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
        self == Variant::Trgm
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
    /// The variants that include it.
    pub variants: Vec<Variant>,
}

impl IndexDef {
    fn new(table: &'static str, method: Method, columns: &[&'static str], variants: &[Variant]) -> Self {
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
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {}.{} USING {method} ({})",
            self.name,
            quote_ident(table_schema),
            self.table,
            columns.join(", ")
        )
    }

    pub fn on_projection(&self) -> bool {
        projection::TABLES.contains(&self.table)
    }
}

/// `DROP INDEX` of an index found in the catalog.
pub fn drop_index_sql(schema: &str, name: &str) -> String {
    format!("DROP INDEX IF EXISTS {}.{}", quote_ident(schema), quote_ident(name))
}

/// PostgreSQL's quote_ident for names read from the catalog.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub const MANAGED_PREFIX: &str = "crm_";

/// SPEC's `indexed` list, on the application tables.
fn spec_indexes() -> Vec<IndexDef> {
    use Method::Btree;
    use Variant::{Indexed, Trgm};
    let (appuser, address, relationship) = (Table::Appuser.name(), Table::Address.name(), Table::Relationship.name());
    let from_indexed = &[Indexed, Trgm];
    vec![
        IndexDef::new(appuser, Btree, &["created"], from_indexed),
        IndexDef::new(appuser, Btree, &["first_name", "last_name"], from_indexed),
        IndexDef::new(appuser, Btree, &["address_id", "last_name"], from_indexed),
        IndexDef::new(address, Btree, &["city"], from_indexed),
        IndexDef::new(address, Btree, &["country"], from_indexed),
        IndexDef::new(address, Btree, &["country", "city"], from_indexed),
        IndexDef::new(relationship, Btree, &["points"], from_indexed),
        IndexDef::new(relationship, Btree, &["last_activity"], from_indexed),
    ]
}

/// The projection's indexes, derived from the query language: one per
/// ordering field (completed by the id, the tie-breaker of every ordering),
/// equality indexes for the searched columns with few values, trigram
/// indexes for the text columns with many values that are searched or
/// filtered with icontains, and the dictionary's trigram index.
fn projection_indexes() -> Vec<IndexDef> {
    use Method::{Btree, GinTrgm};
    let trgm = &[Variant::Trgm];
    let flat = projection::FLAT;
    let mut defs: Vec<IndexDef> =
        fields::ordering_fields().map(|f| IndexDef::new(flat, Btree, &[f.column().output_key(), "id"], trgm)).collect();
    // SPEC §5's `ordering=address__country,address__city,…`.
    defs.push(IndexDef::new(flat, Btree, &["country", "city"], trgm));
    // The triggers find a changed address's contacts through it.
    defs.push(IndexDef::new(flat, Btree, &["address_id"], trgm));
    let mut seen: Vec<&str> = defs.iter().map(|d| d.columns[0]).collect();
    for field in fields::FIELDS {
        let text_matched = field.searchable || field.lookups.contains(&fields::Lookup::Icontains);
        for column in field.columns.iter().filter(|_| text_matched) {
            let key = column.output_key();
            if column.few_values && !seen.contains(&key) {
                defs.push(IndexDef::new(flat, Btree, &[key], trgm));
                seen.push(key);
            } else if !column.few_values && !defs.iter().any(|d| d.method == GinTrgm && d.columns[0] == key) {
                defs.push(IndexDef::new(flat, GinTrgm, &[key], trgm));
            }
        }
    }
    defs.push(IndexDef::new(projection::DICTIONARY, GinTrgm, &["value"], trgm));
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

/// The steps from what is present (the managed indexes, see
/// `crm.variant()`, and the projection or not) to exactly the target.
pub fn plan_switch(target: Variant, present: &BTreeSet<String>, projection_present: bool) -> SwitchPlan {
    let wanted: Vec<IndexDef> = managed_indexes().into_iter().filter(|d| d.variants.contains(&target)).collect();
    let drop_projection = projection_present && !target.has_projection();
    let create_projection = !projection_present && target.has_projection();
    SwitchPlan {
        drop_projection,
        create_projection,
        drop_indexes: present.iter().filter(|name| !wanted.iter().any(|d| &&d.name == name)).cloned().collect(),
        // A new projection comes without indexes.
        create_indexes: wanted
            .into_iter()
            .filter(|d| !present.contains(&d.name) || (create_projection && d.on_projection()))
            .collect(),
    }
}

/// The variant whose managed objects are exactly those present, if any.
pub fn identify(present: &BTreeSet<String>, projection_present: bool) -> Option<Variant> {
    Variant::ALL.into_iter().find(|v| {
        let wanted: BTreeSet<String> =
            managed_indexes().into_iter().filter(|d| d.variants.contains(v)).map(|d| d.name).collect();
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
        managed_indexes().into_iter().filter(|d| d.variants.contains(&variant)).map(|d| d.name).collect()
    }

    #[test]
    fn variants_are_nested_as_the_spec_says() {
        assert!(present(Variant::Baseline).is_empty());
        assert_eq!(present(Variant::Indexed).len(), 8);
        assert!(present(Variant::Indexed).is_subset(&present(Variant::Trgm)));
        let trgm: Vec<_> = managed_indexes().into_iter().filter(|d| d.method == Method::GinTrgm).collect();
        assert_eq!(
            names(&trgm),
            ["crm_contact_flat_customer_id_trgm", "crm_contact_flat_phone_number_trgm", "crm_dictionary_value_trgm"]
        );
    }

    #[test]
    fn every_ordering_field_has_an_index_ending_with_the_id() {
        let trgm = present(Variant::Trgm);
        for field in fields::ordering_fields() {
            let name = format!("crm_contact_flat_{}_id", field.column().output_key());
            assert!(trgm.contains(&name), "{name}");
        }
        assert!(trgm.contains("crm_contact_flat_street"));
        assert!(trgm.contains("crm_contact_flat_country_city"));
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
        let trgm = defs.iter().find(|d| d.name == "crm_contact_flat_phone_number_trgm").unwrap();
        assert_eq!(
            trgm.create_sql("my\"schema", "ext"),
            "CREATE INDEX IF NOT EXISTS crm_contact_flat_phone_number_trgm ON \"my\"\"schema\".crm_contact_flat USING gin (phone_number \"ext\".gin_trgm_ops)"
        );
        assert_eq!(drop_index_sql("public", "crm_x"), "DROP INDEX IF EXISTS \"public\".\"crm_x\"");
    }

    #[test]
    fn switching_plans_only_the_difference() {
        let plan = plan_switch(Variant::Trgm, &present(Variant::Indexed), false);
        assert!(plan.create_projection && !plan.drop_projection && plan.drop_indexes.is_empty());
        assert!(plan.create_indexes.iter().all(|d| d.on_projection()));
        let plan = plan_switch(Variant::Baseline, &present(Variant::Trgm), true);
        assert!(plan.drop_projection);
        assert_eq!(plan.drop_indexes.len(), present(Variant::Trgm).len());
        assert!(plan.create_indexes.is_empty());
        // Indexes of an older version are dropped too.
        let mut old = present(Variant::Indexed);
        old.insert("crm_appuser_first_name_trgm".into());
        assert_eq!(plan_switch(Variant::Indexed, &old, false).drop_indexes, ["crm_appuser_first_name_trgm"]);
        assert_eq!(plan_switch(Variant::Trgm, &present(Variant::Trgm), true), SwitchPlan::default());
        // A projection dropped by hand is rebuilt with all its indexes.
        let plan = plan_switch(Variant::Trgm, &present(Variant::Indexed), false);
        assert_eq!(plan.create_indexes.len(), present(Variant::Trgm).len() - 8);
    }

    #[test]
    fn the_active_variant_is_derived_from_what_is_present() {
        for v in Variant::ALL {
            assert_eq!(identify(&present(v), v.has_projection()), Some(v));
        }
        assert_eq!(identify(&present(Variant::Indexed), true), None);
        let mut partial = present(Variant::Indexed);
        partial.insert("crm_contact_flat_points_id".into());
        assert_eq!(identify(&partial, false), None);
        assert_eq!(Variant::from_name("trgm"), Some(Variant::Trgm));
        assert_eq!(Variant::from_name("fast"), None);
    }
}
