//! Index variants (SPEC §2), defined once and switched at run time.
//!
//! The extension manages only indexes whose names start with `crm_`; the
//! primary keys, unique constraints and the foreign-key index belong to the
//! schema and make up the baseline. Which variant is active is derived from
//! the indexes present, never stored.

use std::collections::BTreeSet;

use crate::fields::{self, Lookup, Table};

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
    pub table: Table,
    pub method: Method,
    pub columns: Vec<&'static str>,
    /// The variants that include it.
    pub variants: Vec<Variant>,
}

impl IndexDef {
    fn new(table: Table, method: Method, columns: &[&'static str], variants: &[Variant]) -> Self {
        let suffix = match method {
            Method::Btree => "",
            Method::GinTrgm => "_trgm",
        };
        IndexDef {
            name: format!("crm_{}_{}{suffix}", table.name(), columns.join("_")),
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
            self.table.name(),
            columns.join(", ")
        )
    }

    pub fn drop_sql(&self, table_schema: &str) -> String {
        format!("DROP INDEX IF EXISTS {}.{}", quote_ident(table_schema), self.name)
    }
}

/// PostgreSQL's quote_ident for names read from the catalog.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub const MANAGED_PREFIX: &str = "crm_";

/// Every index the extension manages, with the variants it belongs to.
pub fn managed_indexes() -> Vec<IndexDef> {
    use Method::{Btree, GinTrgm};
    use Table::{Address, Appuser, Relationship};
    use Variant::{Indexed, Trgm};
    let from_indexed = &[Indexed, Trgm];
    let mut defs = vec![
        IndexDef::new(Appuser, Btree, &["created"], from_indexed),
        IndexDef::new(Appuser, Btree, &["first_name", "last_name"], from_indexed),
        IndexDef::new(Appuser, Btree, &["address_id", "last_name"], from_indexed),
        IndexDef::new(Address, Btree, &["city"], from_indexed),
        IndexDef::new(Address, Btree, &["country"], from_indexed),
        IndexDef::new(Address, Btree, &["country", "city"], from_indexed),
        IndexDef::new(Relationship, Btree, &["points"], from_indexed),
        IndexDef::new(Relationship, Btree, &["last_activity"], from_indexed),
    ];
    // trgm: a trigram index on every text column filtered with icontains or
    // searched, derived from the query language.
    let mut trigram_columns = Vec::new();
    for field in fields::FIELDS {
        for column in field.columns {
            let wanted = field.searchable || field.lookups.contains(&Lookup::Icontains);
            if wanted && !trigram_columns.contains(column) {
                trigram_columns.push(*column);
            }
        }
    }
    defs.extend(trigram_columns.iter().map(|c| IndexDef::new(c.table, GinTrgm, &[c.name], &[Trgm])));
    defs
}

/// What to drop and create to go from the managed indexes present to a variant.
pub fn plan_switch(target: Variant, present: &BTreeSet<String>) -> (Vec<IndexDef>, Vec<IndexDef>) {
    let (wanted, unwanted): (Vec<_>, Vec<_>) =
        managed_indexes().into_iter().partition(|d| d.variants.contains(&target));
    let to_drop = unwanted.into_iter().filter(|d| present.contains(&d.name)).collect();
    let to_create = wanted.into_iter().filter(|d| !present.contains(&d.name)).collect();
    (to_drop, to_create)
}

/// The variant whose managed indexes are exactly those present, if any.
pub fn identify(present: &BTreeSet<String>) -> Option<Variant> {
    let managed: BTreeSet<String> = managed_indexes().into_iter().map(|d| d.name).collect();
    let present_managed: BTreeSet<&String> = present.iter().filter(|n| managed.contains(*n)).collect();
    Variant::ALL.into_iter().find(|v| {
        let wanted: BTreeSet<String> =
            managed_indexes().into_iter().filter(|d| d.variants.contains(v)).map(|d| d.name).collect();
        wanted.iter().collect::<BTreeSet<_>>() == present_managed
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
            [
                "crm_appuser_first_name_trgm",
                "crm_appuser_last_name_trgm",
                "crm_appuser_customer_id_trgm",
                "crm_appuser_phone_number_trgm",
                "crm_address_street_trgm",
                "crm_address_city_trgm",
                "crm_address_city_code_trgm",
                "crm_address_country_trgm",
            ]
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
        let trgm = defs.iter().find(|d| d.name == "crm_address_city_trgm").unwrap();
        assert_eq!(
            trgm.create_sql("my\"schema", "ext"),
            "CREATE INDEX IF NOT EXISTS crm_address_city_trgm ON \"my\"\"schema\".address USING gin (city \"ext\".gin_trgm_ops)"
        );
        assert_eq!(trgm.drop_sql("public"), "DROP INDEX IF EXISTS \"public\".crm_address_city_trgm");
    }

    #[test]
    fn switching_plans_only_the_difference() {
        let (drop, create) = plan_switch(Variant::Trgm, &present(Variant::Indexed));
        assert!(drop.is_empty());
        assert_eq!(create.len(), 8);
        let (drop, create) = plan_switch(Variant::Baseline, &present(Variant::Trgm));
        assert_eq!(drop.len(), 16);
        assert!(create.is_empty());
        let (drop, create) = plan_switch(Variant::Trgm, &present(Variant::Trgm));
        assert!(drop.is_empty() && create.is_empty());
    }

    #[test]
    fn the_active_variant_is_derived_from_present_indexes() {
        for v in Variant::ALL {
            let mut p = present(v);
            p.insert("appuser_pkey".into());
            assert_eq!(identify(&p), Some(v));
        }
        let mut partial = present(Variant::Indexed);
        partial.insert("crm_address_city_trgm".into());
        assert_eq!(identify(&partial), None);
        assert_eq!(Variant::from_name("trgm"), Some(Variant::Trgm));
        assert_eq!(Variant::from_name("fast"), None);
    }
}
