//! Names of the database objects the extension creates beside the
//! application's tables, and how names are quoted. A leaf module: the
//! projection, the variants and the SQL builders all name these objects, so
//! the names live here and none of those modules imports another for them.

/// The projection: one row per contact with the contact object's columns.
pub const FLAT: &str = "crm_contact_flat";
/// The distinct values of the columns with few values.
pub const DICTIONARY: &str = "crm_dictionary";
/// The number of contacts, in slots (see `COUNTER_SLOTS`).
pub const COUNTER: &str = "crm_contact_count";
/// Writers add to the counter row of their backend's slot, so concurrent
/// transactions rarely wait for each other and never deadlock (each touches
/// one row); readers sum the slots.
pub const COUNTER_SLOTS: u32 = 64;

/// The postings of the projection's text (`postings`): `(field, kind, key) → bits`.
pub const POSTING: &str = "crm_posting";
/// Contacts written since the postings were built.
pub const DIRTY: &str = "crm_posting_dirty";

/// Every table of the projection, for dropping and reporting.
pub const TABLES: [&str; 5] = [FLAT, DICTIONARY, COUNTER, POSTING, DIRTY];

/// The extension manages only objects whose names start with this.
pub const MANAGED_PREFIX: &str = "crm_";

/// PostgreSQL's quote_ident for names read from the catalog.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
