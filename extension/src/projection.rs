//! The projection: one flat row per contact, kept next to the application's
//! tables by triggers, so that every query of the language reads one table
//! whose indexes can drive any filter, ordering and count.
//!
//! Its columns are the contact object's (`fields::CONTACT`): a page is read
//! straight from it. Beside it, a dictionary of the distinct values of the
//! columns with few values (patterns are resolved there first) and a counter
//! of contacts (the unfiltered count needs no scan).
//!
//! Everything is created in the schema of the application's tables, with
//! fully qualified names, by `crm.use_variant` (variants that include it).
//! The trigger functions are plain PL/pgSQL: they do not depend on the
//! extension's library, and DROP EXTENSION leaves them working.

use crate::fields::{self, Table};
use crate::objects::{quote_ident, COUNTER, COUNTER_SLOTS, DICTIONARY, DIRTY, FLAT, POSTING, TABLES};
use crate::postings;
use crate::sql;

const REL_KEYS: [&str; 4] = ["relationship_id", "points", "relationship_created", "last_activity"];
const ADDRESS_KEYS: [&str; 5] = ["street", "street_number", "city_code", "city", "country"];

/// Names of the projection's objects qualified by the application's schema.
struct Names {
    schema: String,
}

impl Names {
    fn new(schema: &str) -> Self {
        Names { schema: quote_ident(schema) }
    }
    fn q(&self, name: &str) -> String {
        format!("{}.{name}", self.schema)
    }
}

/// The projection's autovacuum settings (see `create_tables`).
const FLAT_AUTOVACUUM: &str = "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000, \
     autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000, \
     autovacuum_analyze_scale_factor = 0.02";

fn flat_columns() -> Vec<&'static str> {
    fields::CONTACT.iter().map(|o| o.key).collect()
}

/// The tables, without the primary keys of the projection and the
/// dictionary: `primary_keys` adds them once they are filled (one sorted
/// build beats millions of insertions into a B-tree).
fn create_tables(n: &Names) -> Vec<String> {
    let columns: Vec<String> =
        fields::CONTACT.iter().map(|o| format!("{} {}", o.key, o.column.ty.sql_type())).collect();
    vec![
        // Reads are index-only scans, which read the heap for every page
        // a write has touched until a vacuum marks it all-visible again:
        // autovacuum runs after 10,000 changed or inserted rows, not after
        // a fifth of the table (600,000 at 3M) as by default.
        format!("CREATE TABLE {} ({}) WITH ({FLAT_AUTOVACUUM})", n.q(FLAT), columns.join(", ")),
        // Insert-only: vacuumed after 10,000 new values (it merges the
        // trigram index's pending list too).
        format!(
            "CREATE TABLE {} (field text NOT NULL, value text NOT NULL) \
             WITH (autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000)",
            n.q(DICTIONARY)
        ),
        // Every write updates a slot: pages with room for HOT updates, and
        // an autovacuum that does not wait for a fifth of the table to die.
        format!(
            "CREATE TABLE {} (slot integer PRIMARY KEY, n bigint NOT NULL, \
             with_address bigint NOT NULL, with_relationship bigint NOT NULL) \
             WITH (fillfactor = 10, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 200)",
            n.q(COUNTER)
        ),
    ]
    .into_iter()
    .chain(postings::create_tables_sql(&n.schema))
    .collect()
}

fn primary_keys(n: &Names) -> Vec<String> {
    vec![
        format!("ALTER TABLE {} ADD PRIMARY KEY (id)", n.q(FLAT)),
        format!("ALTER TABLE {} ADD PRIMARY KEY (field, value)", n.q(DICTIONARY)),
    ]
}

/// The columns whose values go to the dictionary.
fn dictionary_columns() -> Vec<&'static fields::Column> {
    let mut columns: Vec<&'static fields::Column> = Vec::new();
    for field in fields::FIELDS {
        for column in field.columns.iter().filter(|c| c.few_values) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
    columns
}

/// The dictionary's keys: the projection's names of `dictionary_columns`.
pub fn dictionary_keys() -> Vec<&'static str> {
    dictionary_columns().into_iter().map(|c| c.output_key()).collect()
}

/// The first fill of the dictionary, from the application's tables rather
/// than the projection: an address's values are read once, not once per
/// contact living there. The dictionary may hold values no contact has (it
/// only ever grows): a pattern resolves to them and equality then finds no
/// row, so what matters is only that it holds every value the projection has.
fn dictionary_fill(n: &Names) -> String {
    let selects: Vec<String> = dictionary_columns()
        .into_iter()
        .map(|c| {
            format!(
                "SELECT DISTINCT '{}', {} FROM {} WHERE {} IS NOT NULL",
                c.output_key(),
                c.name,
                n.q(c.table.name()),
                c.name
            )
        })
        .collect();
    format!("INSERT INTO {} (field, value) {}", n.q(DICTIONARY), selects.join(" UNION ALL "))
}

/// How `joined_contacts` finds each contact's address.
#[derive(Clone, Copy)]
enum AddressLookup {
    /// The planner's choice: a hash join over the whole address table is
    /// right when every contact is joined (the projection's first fill).
    Join,
    /// One index probe per contact: for a trigger's transition table, whose
    /// address ids the planner has no statistics for. It hashed all
    /// 300,000 addresses for every 20,000-row batch of an import (223 ms of
    /// the batch's ~3.7 s at 3M) where the probes take a few tens of ms.
    PerRow,
}

/// `SELECT <contact columns> FROM <rows> u LEFT JOIN address … LEFT JOIN …`
/// where `rows` is the appuser table or a transition table of it.
fn joined_contacts(n: &Names, appuser_rows: &str, lookup: AddressLookup) -> String {
    let address = n.q(Table::Address.name());
    // OFFSET 0 keeps the subquery a subquery: it is not flattened into a join
    // the planner would hash again.
    let address = match lookup {
        AddressLookup::Join => format!("LEFT JOIN {address} a ON a.id = u.address_id"),
        AddressLookup::PerRow => {
            format!("LEFT JOIN LATERAL (SELECT * FROM {address} WHERE id = u.address_id OFFSET 0) a ON true")
        }
    };
    format!(
        "SELECT {} FROM {appuser_rows} u {address} LEFT JOIN {} r ON r.appuser_id = u.id",
        sql::contact_select_list(),
        n.q(Table::Relationship.name())
    )
}

fn insert_from(n: &Names, appuser_rows: &str, lookup: AddressLookup) -> String {
    format!("INSERT INTO {} ({}) {}", n.q(FLAT), flat_columns().join(", "), joined_contacts(n, appuser_rows, lookup))
}

fn upsert_from(n: &Names, appuser_rows: &str) -> String {
    let updates: Vec<String> =
        flat_columns().iter().filter(|c| **c != "id").map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    let insert = insert_from(n, appuser_rows, AddressLookup::PerRow);
    format!("{insert} ON CONFLICT (id) DO UPDATE SET {}", updates.join(", "))
}

fn set_from(keys: &[&str], source_columns: &[&str], alias: &str) -> String {
    keys.iter().zip(source_columns).map(|(k, c)| format!("{k} = {alias}.{c}")).collect::<Vec<_>>().join(", ")
}

/// The rows of the projection whose `keys` differ from the source's: an
/// update that would change nothing is not made (imports and single writes
/// write a contact with its relationship in one statement, so the
/// projection row the contact's trigger writes is already complete).
fn differs_from(keys: &[&str], source_columns: &[&str], alias: &str) -> String {
    let source: Vec<String> = source_columns.iter().map(|c| format!("{alias}.{c}")).collect();
    let target: Vec<String> = keys.iter().map(|k| format!("f.{k}")).collect();
    format!("({}) IS DISTINCT FROM ({})", target.join(", "), source.join(", "))
}

fn set_null(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("{k} = NULL")).collect::<Vec<_>>().join(", ")
}

/// A statement-level trigger with its PL/pgSQL function. Transition tables
/// make bulk writes (COPY, multi-row INSERT) cost one statement, not one per row.
struct Trigger {
    name: String,
    table: &'static str,
    event: &'static str,
    transition: &'static str,
    body: Vec<String>,
}

impl Trigger {
    fn function_name(&self) -> String {
        format!("{}_{}", self.name, self.table)
    }

    fn create(&self, n: &Names) -> Vec<String> {
        let body: String = self.body.iter().map(|s| format!("    {s};\n")).collect();
        vec![
            format!(
                "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $crm$\nBEGIN\n{body}    RETURN NULL;\nEND\n$crm$",
                n.q(&self.function_name())
            ),
            format!(
                "CREATE TRIGGER {} AFTER {} ON {} {} FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                self.name,
                self.event,
                n.q(self.table),
                self.transition,
                n.q(&self.function_name())
            ),
        ]
    }

    fn drop_trigger(&self, n: &Names) -> String {
        format!("DROP TRIGGER IF EXISTS {} ON {}", self.name, n.q(self.table))
    }

    fn drop_function(&self, n: &Names) -> String {
        format!("DROP FUNCTION IF EXISTS {}()", n.q(&self.function_name()))
    }
}

const NEW: &str = "REFERENCING NEW TABLE AS new_rows";
const OLD: &str = "REFERENCING OLD TABLE AS old_rows";
const OLD_NEW: &str = "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows";

fn triggers(n: &Names) -> Vec<Trigger> {
    let flat = n.q(FLAT);
    let counter = n.q(COUNTER);
    let appuser = Table::Appuser.name();
    let address = Table::Address.name();
    let relationship = Table::Relationship.name();
    let rel_source = ["id", "points", "created", "last_activity"];
    let address_source = ["street", "street_number", "city_code", "city", "country"];
    let dictionary_insert = |rows: &str| {
        let selects: Vec<String> =
            dictionary_keys().iter().map(|k| format!("SELECT '{k}', {k} FROM {rows} WHERE {k} IS NOT NULL")).collect();
        format!(
            "INSERT INTO {} (field, value) SELECT DISTINCT * FROM ({}) v ON CONFLICT DO NOTHING",
            n.q(DICTIONARY),
            selects.join(" UNION ALL ")
        )
    };
    // Adds what `plus` has and `minus` had: contacts, with an address, with
    // a relationship (the counts `crm.stats()` reports).
    let bump = |plus: Option<&str>, minus: Option<&str>| {
        let counts = |rows: Option<&str>| match rows {
            Some(rows) => format!("(SELECT count(*), count(address_id), count(relationship_id) FROM {rows})"),
            None => "(SELECT 0::bigint, 0::bigint, 0::bigint)".to_string(),
        };
        format!(
            "UPDATE {counter} c SET n = c.n + p.n - m.n, with_address = c.with_address + p.a - m.a, \
             with_relationship = c.with_relationship + p.r - m.r \
             FROM {} p(n, a, r), {} m(n, a, r) WHERE c.slot = pg_backend_pid() % {COUNTER_SLOTS}",
            counts(plus),
            counts(minus)
        )
    };
    let t = |name: &str, table: &'static str, event: &'static str, transition: &'static str, body: Vec<String>| {
        Trigger { name: name.to_string(), table, event, transition, body }
    };
    vec![
        // appuser → projection rows
        // A new contact has no projection row yet (a deleted one's went with
        // it): a plain insert, without the upsert's probe per row.
        t("crm_flat_insert", appuser, "INSERT", NEW, vec![insert_from(n, "new_rows", AddressLookup::PerRow)]),
        t(
            "crm_flat_update",
            appuser,
            "UPDATE",
            OLD_NEW,
            vec![
                format!("DELETE FROM {flat} WHERE id IN (SELECT id FROM old_rows EXCEPT SELECT id FROM new_rows)"),
                upsert_from(n, "new_rows"),
            ],
        ),
        t("crm_flat_delete", appuser, "DELETE", OLD, vec![format!("DELETE FROM {flat} f USING old_rows o WHERE f.id = o.id")]),
        t("crm_flat_truncate", appuser, "TRUNCATE", "", vec![format!("TRUNCATE {flat}")]),
        // address → the address columns of its contacts (a deleted address
        // reaches the projection through ON DELETE SET NULL on appuser)
        t(
            "crm_flat_update",
            address,
            "UPDATE",
            NEW,
            vec![format!(
                "UPDATE {flat} f SET {} FROM new_rows a WHERE f.address_id = a.id",
                set_from(&ADDRESS_KEYS, &address_source, "a")
            )],
        ),
        // relationship → the relationship columns of its contact
        t(
            "crm_flat_insert",
            relationship,
            "INSERT",
            NEW,
            vec![format!(
                "UPDATE {flat} f SET {} FROM new_rows r WHERE f.id = r.appuser_id AND {}",
                set_from(&REL_KEYS, &rel_source, "r"),
                differs_from(&REL_KEYS, &rel_source, "r")
            )],
        ),
        t(
            "crm_flat_update",
            relationship,
            "UPDATE",
            OLD_NEW,
            vec![
                format!(
                    "UPDATE {flat} SET {} WHERE id IN (SELECT appuser_id FROM old_rows EXCEPT SELECT appuser_id FROM new_rows)",
                    set_null(&REL_KEYS)
                ),
                // Skips the rows the contact's own trigger already wrote
                // (a write of a contact with its relationship is one statement).
                format!(
                    "UPDATE {flat} f SET {} FROM new_rows r WHERE f.id = r.appuser_id AND {}",
                    set_from(&REL_KEYS, &rel_source, "r"),
                    differs_from(&REL_KEYS, &rel_source, "r")
                ),
            ],
        ),
        t(
            "crm_flat_delete",
            relationship,
            "DELETE",
            OLD,
            vec![format!("UPDATE {flat} f SET {} FROM old_rows o WHERE f.id = o.appuser_id", set_null(&REL_KEYS))],
        ),
        t(
            "crm_flat_truncate",
            relationship,
            "TRUNCATE",
            "",
            vec![format!("UPDATE {flat} SET {} WHERE relationship_id IS NOT NULL", set_null(&REL_KEYS))],
        ),
        // projection → counter, dictionary and the postings' dirty set
        t(
            "crm_count_insert",
            FLAT,
            "INSERT",
            NEW,
            vec![
                bump(Some("new_rows"), None),
                dictionary_insert("new_rows"),
                postings::mark_dirty_sql(&n.schema, "new_rows"),
            ],
        ),
        t(
            "crm_count_update",
            FLAT,
            "UPDATE",
            OLD_NEW,
            vec![
                bump(Some("new_rows"), Some("old_rows")),
                dictionary_insert("new_rows"),
                postings::mark_changed_dirty_sql(&n.schema),
            ],
        ),
        t(
            "crm_count_delete",
            FLAT,
            "DELETE",
            OLD,
            vec![bump(None, Some("old_rows")), postings::mark_dirty_sql(&n.schema, "old_rows")],
        ),
        t(
            "crm_count_truncate",
            FLAT,
            "TRUNCATE",
            "",
            vec![
                format!("UPDATE {counter} SET n = 0, with_address = 0, with_relationship = 0"),
                format!("TRUNCATE {}, {}", n.q(POSTING), n.q(DIRTY)),
            ],
        ),
    ]
}

/// Creates and fills the projection, then installs the triggers that keep
/// it current. Run inside one transaction with the application tables
/// locked against writes (see `lock_sql`), so no write slips between.
pub fn create_sql(schema: &str) -> Vec<String> {
    let n = Names::new(schema);
    let mut statements = create_tables(&n);
    statements.push(insert_from(&n, &n.q(Table::Appuser.name()), AddressLookup::Join));
    statements.push(dictionary_fill(&n));
    statements.extend(primary_keys(&n));
    statements.push(format!(
        "INSERT INTO {} (slot, n, with_address, with_relationship) \
         SELECT s, CASE WHEN s = 0 THEN t.n ELSE 0 END, CASE WHEN s = 0 THEN t.a ELSE 0 END, \
                CASE WHEN s = 0 THEN t.r ELSE 0 END \
         FROM generate_series(0, {}) s, \
              (SELECT count(*), count(address_id), count(relationship_id) FROM {}) t(n, a, r)",
        n.q(COUNTER),
        COUNTER_SLOTS - 1,
        n.q(FLAT)
    ));
    statements.extend(triggers(&n).iter().flat_map(|t| t.create(&n)));
    statements
}

/// Marks a freshly built projection with the current fingerprint.
pub fn mark_sql(schema: &str) -> String {
    format!("COMMENT ON TABLE {} IS '{}'", Names::new(schema).q(FLAT), fingerprint())
}

/// A fingerprint of the projection's definition, kept as the comment of its
/// table: a projection built by another version of the extension is rebuilt
/// by `crm.use_variant` rather than trusted. (FNV-1a: stable across builds.)
pub fn fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for statement in create_sql("s") {
        for byte in statement.bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("crm_contacts projection {hash:016x}")
}

/// Blocks writes to the application tables until the transaction ends.
/// SHARE, the mode of CREATE INDEX, lets index builds on the same tables run
/// while the projection fills (the loader does that); only creating the
/// triggers at the end waits for a build in progress.
pub fn lock_sql(schema: &str) -> String {
    let n = Names::new(schema);
    let tables: Vec<String> = Table::ALL.iter().map(|t| n.q(t.name())).collect();
    format!("LOCK TABLE {} IN SHARE MODE", tables.join(", "))
}

/// Removes triggers, tables and functions, in that order (so that nothing
/// cascades).
pub fn drop_sql(schema: &str) -> Vec<String> {
    let n = Names::new(schema);
    let triggers = triggers(&n);
    let mut statements: Vec<String> =
        triggers.iter().filter(|t| !TABLES.contains(&t.table)).map(|t| t.drop_trigger(&n)).collect();
    statements.extend(TABLES.iter().map(|t| format!("DROP TABLE IF EXISTS {}", n.q(t))));
    statements.extend(triggers.iter().map(|t| t.drop_function(&n)));
    statements
}

/// `ANALYZE` of the projection's tables, after a build.
pub fn analyze_sql(schema: &str) -> String {
    let n = Names::new(schema);
    format!("ANALYZE {}, {}", n.q(FLAT), n.q(DICTIONARY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_has_the_contact_columns() {
        let create = create_sql("public");
        assert!(create[0].starts_with("CREATE TABLE \"public\".crm_contact_flat (id bigint, first_name text,"));
        assert!(create[0].ends_with(&format!(") WITH ({FLAT_AUTOVACUUM})")), "{}", create[0]);
        assert!(create[0].contains("points integer, relationship_created timestamptz, last_activity timestamptz)"));
    }

    #[test]
    fn dictionary_columns_come_from_the_field_table() {
        assert_eq!(dictionary_keys(), ["first_name", "last_name", "street", "city", "city_code", "country"]);
    }

    #[test]
    fn the_dictionary_is_filled_from_each_columns_own_table() {
        let fill = dictionary_fill(&Names::new("s"));
        assert!(fill.contains("SELECT DISTINCT 'city', city FROM \"s\".address WHERE city IS NOT NULL"), "{fill}");
        assert!(fill.contains("SELECT DISTINCT 'first_name', first_name FROM \"s\".appuser"), "{fill}");
        assert!(!fill.contains(FLAT), "{fill}");
    }

    #[test]
    fn every_trigger_has_a_function_and_every_name_is_qualified() {
        let create = create_sql("s");
        let triggers = create.iter().filter(|s| s.starts_with("CREATE TRIGGER")).count();
        let functions = create.iter().filter(|s| s.starts_with("CREATE FUNCTION")).count();
        assert_eq!(triggers, 13);
        assert_eq!(functions, 13);
        for statement in &create {
            for table in ["appuser", "address", "customer_relationship", FLAT, DICTIONARY, COUNTER] {
                for keyword in ["FROM ", "JOIN ", "INTO ", "UPDATE ", "ON ", "TRUNCATE "] {
                    assert!(!statement.contains(&format!("{keyword}{table} ")), "unqualified {table}: {statement}");
                }
            }
        }
        assert_eq!(drop_sql("s").len(), 9 + TABLES.len() + 13);
    }

    #[test]
    fn relationship_changes_update_only_relationship_columns() {
        let create = create_sql("s");
        let f = create.iter().find(|s| s.contains("crm_flat_insert_customer_relationship() RETURNS")).unwrap();
        assert!(f.contains("SET relationship_id = r.id, points = r.points, relationship_created = r.created, last_activity = r.last_activity"), "{f}");
    }
}
