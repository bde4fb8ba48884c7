//! Contact writes through SPI: validate the body (`write_body`), check
//! what only the database knows (the contact, its version, the linked
//! address), then run the statements of `sql::write`. A write is one
//! statement's work for the caller: it happens whole or not at all.

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::Value as Json;

use crate::db;
use crate::error::QueryError;
use crate::objects::quote_ident;
use crate::service::Failure;
use crate::sql::{write as statements, SqlQuery};
use crate::write_body::{self, ContactWrite, Mode};

/// The tag of a contact's current version, as `crm.etag(crm.contact(id))`
/// renders it (the one definition, in SQL: `lib.rs`).
const CURRENT_TAG: &str = "SELECT crm.etag(crm.contact($1))";

/// `crm.create_contact(body)`: the new contact's JSON.
pub fn create_contact(body: &Json) -> Result<String, Failure> {
    let write = write_body::parse(body, Mode::Create)?;
    in_tables_schema(|client| {
        check_linked_address(client, &write)?;
        let address_id = insert_new_address(client, &write)?;
        // The contact and its relationship, in one statement.
        let id = returning_id(client, &statements::insert_contact(&write, address_id))?;
        written(client, id)
    })
}

/// `crm.update_contact` (`Mode::Update`) and `crm.replace_contact`
/// (`Mode::Replace`): the contact's JSON after the write.
pub fn change_contact(id: i64, body: &Json, if_match: Option<&str>, mode: Mode) -> Result<String, Failure> {
    in_tables_schema(|client| {
        // A missing contact is a 404 before the body's 400, as DRF answers.
        lock_current(client, id, if_match)?;
        let write = write_body::parse(body, mode)?;
        check_linked_address(client, &write)?;
        let address_id = insert_new_address(client, &write)?;
        // The contact and its relationship, in one statement.
        run(client, &statements::update_contact(id, &write, address_id))?;
        written(client, id)
    })
}

/// `crm.delete_contact(id, if_match)`.
pub fn delete_contact(id: i64, if_match: Option<&str>) -> Result<(), Failure> {
    in_tables_schema(|client| {
        lock_current(client, id, if_match)?;
        run(client, &statements::delete_contact(id))
    })
}

/// The schema of the `appuser` the caller's search_path finds, when the
/// function's owner (the write functions are SECURITY DEFINER) owns it.
/// Every name is qualified: nothing here may run the caller's objects.
const OWNED_TABLES_SCHEMA: &str = "SELECT n.nspname::text FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     WHERE c.oid OPERATOR(pg_catalog.=) $1 \
       AND c.relowner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r \
                                              WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)";

/// Runs a write with search_path pinned to the schema of the tables it
/// writes (then `public`, where pg_trgm lives, and `pg_temp` last), and
/// puts the caller's search_path back afterwards. The write functions run
/// as the tables' owner: pinning the path keeps the caller's own functions
/// and operators out of them, and checking the owner keeps a table of the
/// caller's, found first, from being written (and its triggers run) with
/// the owner's rights. On an error the transaction (or savepoint) rolls the
/// setting back.
pub(crate) fn in_tables_schema<T>(f: impl FnOnce(&mut SpiClient<'_>) -> Result<T, Failure>) -> Result<T, Failure> {
    Spi::connect_mut(|client| pinned_to_tables_schema(client, f))
}

/// `in_tables_schema` on a connection already open.
pub fn pinned_to_tables_schema<T>(
    client: &mut SpiClient<'_>,
    f: impl FnOnce(&mut SpiClient<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    // Resolved like any unqualified name, without running SQL.
    // SAFETY: a NUL-terminated name; the lookup raises no error.
    let relid = unsafe { pg_sys::RelnameGetRelid(c"appuser".as_ptr()) };
    if relid == pg_sys::InvalidOid {
        return Err(Failure::MissingTable("appuser"));
    }
    {
        let owned = client.update(OWNED_TABLES_SCHEMA, Some(1), &[relid.into()])?;
        let schema: Option<String> = if owned.is_empty() { None } else { owned.first().get_one()? };
        let schema = schema.ok_or(Failure::ForeignTables)?;
        let previous: Option<String> =
            client.update("SELECT pg_catalog.current_setting('search_path')", Some(1), &[])?.first().get_one()?;
        let pinned = if schema == "public" {
            "public, pg_temp".to_string()
        } else {
            format!("{}, public, pg_temp", quote_ident(&schema))
        };
        set_search_path(client, &pinned)?;
        let result = f(client)?;
        set_search_path(client, previous.as_deref().unwrap_or_default())?;
        Ok(result)
    }
}

fn set_search_path(client: &mut SpiClient<'_>, path: &str) -> Result<(), Failure> {
    client.update("SELECT pg_catalog.set_config('search_path', $1, true)", Some(1), &[path.into()])?;
    Ok(())
}

/// What is locked and versioned: a contact, an address.
pub(crate) struct Versioned {
    pub lock: fn(i64) -> SqlQuery,
    /// The SQL of its current tag, from its id (`$1`).
    pub tag: &'static str,
    pub missing: QueryError,
}

const CONTACT: Versioned =
    Versioned { lock: statements::lock_contact, tag: CURRENT_TAG, missing: QueryError::NoSuchContact };

fn lock_current(client: &mut SpiClient<'_>, id: i64, if_match: Option<&str>) -> Result<(), Failure> {
    lock_version(client, &CONTACT, id, if_match)
}

/// Locks the row, then compares its version with `if_match`. The lock
/// makes concurrent writers of one row take turns; the version is read
/// after it, so the second of two writers with the same tag sees the
/// first one's write and fails.
pub(crate) fn lock_version(
    client: &mut SpiClient<'_>,
    what: &Versioned,
    id: i64,
    if_match: Option<&str>,
) -> Result<(), Failure> {
    let lock = (what.lock)(id);
    let locked = client.update(lock.text.as_str(), Some(1), &db::datums(&lock))?;
    if locked.is_empty() {
        return Err(what.missing.clone().into());
    }
    if let Some(header) = if_match {
        let current: Option<String> = client.update(what.tag, Some(1), &[id.into()])?.first().get_one()?;
        if !if_match_allows(header, current.as_deref().unwrap_or_default()) {
            return Err(QueryError::StaleVersion.into());
        }
    }
    Ok(())
}

/// Whether an If-Match header value (`*`, or a list of tags, weak or
/// strong) admits the current tag. Tags compare strongly (RFC 9110 §13.1.1):
/// a weak tag never matches.
pub fn if_match_allows(header: &str, current: &str) -> bool {
    let header = header.trim();
    if header == "*" {
        return true;
    }
    header.split(',').map(str::trim).any(|tag| !tag.starts_with("W/") && tag == current)
}

/// An `address_id` must name an address: DRF's message on the key.
fn check_linked_address(client: &mut SpiClient<'_>, write: &ContactWrite) -> Result<(), Failure> {
    let Some(address) = write.linked_address() else { return Ok(()) };
    let q = statements::address_exists(address);
    let exists: Option<bool> = client.update(q.text.as_str(), Some(1), &db::datums(&q))?.first().get_one()?;
    if exists != Some(true) {
        return Err(QueryError::parameter("address_id", write_body::no_such_address(address)).into());
    }
    Ok(())
}

/// The address the body describes, created; its id.
fn insert_new_address(client: &mut SpiClient<'_>, write: &ContactWrite) -> Result<Option<i64>, Failure> {
    match &write.new_address {
        Some(columns) => Ok(Some(returning_id(client, &statements::insert_address(columns))?)),
        None => Ok(None),
    }
}

pub(crate) fn returning_id(client: &mut SpiClient<'_>, q: &SqlQuery) -> Result<i64, Failure> {
    // No row limit: an INSERT stopped at its first row never reaches the
    // end of its statement, so its statement-level triggers (which keep
    // the projection) would not fire.
    let id: Option<i64> = client.update(q.text.as_str(), None, &db::datums(q))?.first().get_one()?;
    Ok(id.expect("INSERT … RETURNING id returns the id"))
}

pub(crate) fn run(client: &mut SpiClient<'_>, q: &SqlQuery) -> Result<(), Failure> {
    client.update(q.text.as_str(), None, &db::datums(q))?;
    Ok(())
}

/// The contact as reads render it, after its write.
fn written(client: &mut SpiClient<'_>, id: i64) -> Result<String, Failure> {
    let contact: Option<String> =
        client.update("SELECT crm.contact($1)::text", Some(1), &[id.into()])?.first().get_one()?;
    Ok(contact.expect("the contact was just written"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strong_tags_and_accepts_any_with_a_star() {
        let current = "\"abc\"";
        assert!(if_match_allows("\"abc\"", current));
        assert!(if_match_allows(" \"x\", \"abc\" ", current));
        assert!(if_match_allows("*", current));
        assert!(!if_match_allows("\"abd\"", current));
        assert!(!if_match_allows("W/\"abc\"", current), "a weak tag never matches");
        assert!(!if_match_allows("", current));
    }
}
