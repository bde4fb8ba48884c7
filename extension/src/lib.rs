//! crm_contacts: the CRM contacts query language inside PostgreSQL.
//!
//! This file is the SQL edge: thin `#[pg_extern]` wrappers over `service`,
//! and the one place where errors become SQLSTATEs. Everything else is plain
//! Rust: `fields` (the language, defined once) → `params` (parse, validate)
//! → `sql` (build) → `db` (run through SPI) → `contact`/`page` (render).
//!
//! The extension owns no data. Its objects live in schema `crm`; the tables
//! are found through search_path, so it serves a database Django created.

use pgrx::datum::JsonB;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

mod address_list;
mod addresses;
mod contact;
mod cursor;
mod db;
mod error;
mod export;
mod fields;
mod group_source;
mod grouped;
mod import_rows;
mod imports;
mod json_text;
mod matching;
mod objects;
mod openapi;
mod page;
pub mod params;
mod plan;
mod postings;
mod postings_build;
mod postings_store;
mod projection;
mod service;
pub mod sql;
mod values;
mod variants;
mod write_body;
mod writes;

use error::ErrorClass;
use json_text::JsonText;
use service::Failure;

::pgrx::pg_module_magic!(name, version);

extension_sql!(
    r#"
COMMENT ON SCHEMA crm IS 'crm_contacts: contact queries (filters, ordering, search, pagination) and index variants';
GRANT USAGE ON SCHEMA crm TO PUBLIC;
"#,
    name = "schema_grants",
    bootstrap
);

/// Raises a failure as a PostgreSQL ERROR. Client errors carry the HTTP body
/// the API should send in DETAIL: 22023 → 400, P0002 → 404.
fn raise(failure: Failure) -> ! {
    let report = match &failure {
        Failure::Query(e) => {
            let code = match e.class() {
                ErrorClass::BadRequest => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                ErrorClass::NotFound => PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
                ErrorClass::PreconditionFailed => PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            };
            ErrorReport::new(code, e.to_string(), "crm_contacts").set_detail(e.body())
        }
        Failure::MissingTable(_) => {
            ErrorReport::new(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, failure.to_string(), "crm_contacts")
        }
        Failure::ForeignTables => {
            ErrorReport::new(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, failure.to_string(), "crm_contacts")
        }
        Failure::Spi(_) => {
            ErrorReport::new(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, failure.to_string(), "crm_contacts")
        }
    };
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

fn ok_or_raise<T>(result: Result<T, Failure>) -> T {
    result.unwrap_or_else(|failure| raise(failure))
}

/// One page of contacts as DRF's JSON: `{"count", "next", "previous",
/// "results"}`. `params` are the request's query parameters; `url` is the
/// request's absolute URL without query, used for `next`/`previous`.
#[pg_extern(stable, parallel_safe)]
fn contacts_page(params: default!(JsonB, "'{}'"), url: default!(Option<&str>, "NULL")) -> JsonText {
    JsonText(ok_or_raise(service::contacts_page(&params.0, url)))
}

/// What `crm.contacts_page(params)` runs: each statement with its
/// `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` plan, and the response size.
#[pg_extern(volatile)]
fn explain(params: default!(JsonB, "'{}'")) -> JsonText {
    JsonText(ok_or_raise(service::explain(&params.0)))
}

/// The same page as rows of `crm.contact`, for joins and COPY.
#[pg_extern(stable, parallel_safe, requires = ["contact_type"])]
fn contacts(params: default!(JsonB, "'{}'")) -> SetOfIterator<'static, pgrx::composite_type!('static, "contact")> {
    let rows = ok_or_raise(service::contacts_rows(&params.0));
    SetOfIterator::new(rows.into_iter().map(db::contact_tuple))
}

/// One contact as JSON; NULL when no contact has this id.
#[pg_extern(stable, parallel_safe)]
fn contact(id: i64) -> Option<JsonText> {
    ok_or_raise(service::contact(id)).map(JsonText)
}

/// Whether `id` is among the contacts a request's text conditions matched
/// (the postings' bitmap of the request being answered, in this backend).
/// Generated SQL uses it; elsewhere it is false.
#[pg_extern(stable, parallel_unsafe)]
fn _member(id: i64) -> bool {
    matching::is_member(id)
}

/// Rebuilds the postings (the text index of the projection) from the
/// projection, so that contacts written since are served by it again.
/// Blocks writes to the projection meanwhile. Returns what it wrote.
#[pg_extern(volatile)]
fn refresh_postings() -> JsonText {
    JsonText(ok_or_raise(service::refresh_postings()))
}

/// Refreshes the postings when at least `min_dirty` contacts were written
/// since their snapshot and no refresh is running; NULL otherwise. Granted
/// to the API's role, which calls it in the background (runs as the
/// tables' owner).
#[pg_extern(volatile)]
fn refresh_stale_postings(min_dirty: default!(i64, 10000)) -> Option<JsonText> {
    ok_or_raise(service::refresh_stale_postings(min_dirty)).map(JsonText)
}

/// The OpenAPI 3 description of the HTTP API, generated from the query
/// language's field table (the API serves it at /api/schema/).
#[pg_extern(immutable, parallel_safe)]
fn openapi() -> JsonText {
    JsonText(openapi::document().to_string())
}

/// `{"total_contacts", "contacts_with_address", "contacts_with_relationship"}`.
#[pg_extern(stable, parallel_safe)]
fn stats() -> JsonText {
    JsonText(ok_or_raise(service::stats()))
}

/// The active index variant, derived from the indexes present, and every
/// index on the application tables.
#[pg_extern(stable)]
fn variant() -> JsonText {
    JsonText(ok_or_raise(service::variant()))
}

/// Switches to an index variant (baseline, indexed, trgm): creates and drops
/// the extension's objects; returns the report of `crm.variant()`. With
/// `build_indexes => false` the wanted indexes and the postings
/// (`crm.refresh_postings()`) are left to the caller (the loader builds them
/// over several connections at once).
#[pg_extern(volatile)]
fn use_variant(name: &str, build_indexes: default!(bool, true)) -> JsonText {
    JsonText(ok_or_raise(service::use_variant(name, build_indexes)))
}

/// Every contact a list request matches (its filters, search and
/// ordering; no page), as lines of `format`: `csv` (a header, then one row
/// per contact) or `ndjson` (one contact object per line). The matches are
/// read in keyset pages of 10,000 as the lines are consumed.
#[pg_extern(stable, parallel_unsafe)]
fn export_lines(params: default!(JsonB, "'{}'"), format: default!(&str, "'csv'")) -> SetOfIterator<'static, String> {
    let lines = ok_or_raise(export::Lines::new(&params.0, format));
    SetOfIterator::new(lines.map(ok_or_raise))
}

/// The same export as `crm.export_lines`, in pieces of about 256 kB of
/// whole lines, each line ending with its newline: concatenated, they are
/// the export's text. For clients that stream an export (the API does):
/// one value per ~1,000 lines costs less to send and to read than one
/// per line.
#[pg_extern(stable, parallel_unsafe)]
fn export_chunks(params: default!(JsonB, "'{}'"), format: default!(&str, "'csv'")) -> SetOfIterator<'static, String> {
    let chunks = ok_or_raise(export::Chunks::new(&params.0, format));
    SetOfIterator::new(chunks.map(ok_or_raise))
}

/// Creates a contact from a JSON body (the contact object's writable keys,
/// `address_id` or a new address's fields); returns it as reads render it.
/// Invalid bodies raise 22023 with DRF's `{"key": ["message"]}` in DETAIL.
#[pg_extern(volatile)]
fn create_contact(body: JsonB) -> JsonText {
    JsonText(ok_or_raise(writes::create_contact(&body.0)))
}

/// Changes the keys `body` gives (PATCH). `if_match`: the version tag
/// (`crm.etag`) the change was made from; when it is no longer the
/// contact's, nothing changes and 40001 is raised.
#[pg_extern(volatile)]
fn update_contact(id: i64, body: JsonB, if_match: default!(Option<&str>, "NULL")) -> JsonText {
    JsonText(ok_or_raise(writes::change_contact(id, &body.0, if_match, write_body::Mode::Update)))
}

/// Replaces the contact with what `body` says (PUT): keys left out are
/// reset. `if_match` as for `crm.update_contact`.
#[pg_extern(volatile)]
fn replace_contact(id: i64, body: JsonB, if_match: default!(Option<&str>, "NULL")) -> JsonText {
    JsonText(ok_or_raise(writes::change_contact(id, &body.0, if_match, write_body::Mode::Replace)))
}

/// Deletes the contact and its relationship. `if_match` as for `crm.update_contact`.
#[pg_extern(volatile)]
fn delete_contact(id: i64, if_match: default!(Option<&str>, "NULL")) {
    ok_or_raise(writes::delete_contact(id, if_match))
}

/// One page of addresses as DRF's JSON. `params`: `street`, `city_code`,
/// `city`, `country` (exact, or `…__icontains`), `search`, `ordering`,
/// `page`, `page_size`; `url` as for `crm.contacts_page`.
#[pg_extern(stable, parallel_safe)]
fn addresses_page(params: default!(JsonB, "'{}'"), url: default!(Option<&str>, "NULL")) -> JsonText {
    JsonText(ok_or_raise(addresses::addresses_page(&params.0, url)))
}

/// One address as JSON; NULL when no address has this id.
#[pg_extern(stable, parallel_safe)]
fn address(id: i64) -> Option<JsonText> {
    ok_or_raise(addresses::address(id)).map(JsonText)
}

/// Creates an address from a JSON body (its five fields, all required).
#[pg_extern(volatile)]
fn create_address(body: JsonB) -> JsonText {
    JsonText(ok_or_raise(addresses::create_address(&body.0)))
}

/// Changes the keys `body` gives; every contact living there sees the
/// change. `if_match` as for `crm.update_contact`, with `crm.etag(crm.address(id))`.
#[pg_extern(volatile)]
fn update_address(id: i64, body: JsonB, if_match: default!(Option<&str>, "NULL")) -> JsonText {
    JsonText(ok_or_raise(addresses::change_address(id, &body.0, if_match, write_body::Mode::Update)))
}

/// Replaces the address with what `body` says (PUT).
#[pg_extern(volatile)]
fn replace_address(id: i64, body: JsonB, if_match: default!(Option<&str>, "NULL")) -> JsonText {
    JsonText(ok_or_raise(addresses::change_address(id, &body.0, if_match, write_body::Mode::Replace)))
}

/// Deletes the address; its contacts remain, without an address.
#[pg_extern(volatile)]
fn delete_address(id: i64, if_match: default!(Option<&str>, "NULL")) {
    ok_or_raise(addresses::delete_address(id, if_match))
}

/// Imports contacts from the rows of `source` (a table or view: a COPY's
/// staging table, say), each validated as `crm.create_contact` would, and
/// written by set-based inserts. A column `body` (json, jsonb or text)
/// holds a row's JSON object, or else the row's columns are its keys; a
/// column `line` numbers the rows in the report. `on_error`: `abort`
/// (default: any invalid row raises 22023 with the report and nothing is
/// written) or `skip` (the valid rows are written). Returns the report:
/// `{"created", "failed", "errors_truncated", "errors": [{"line", "errors"}]}`.
#[pg_extern(
    volatile,
    sql = r#"
CREATE FUNCTION "import_contacts"(source regclass, on_error text DEFAULT 'abort') RETURNS json
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'import_contacts_wrapper';
"#
)]
fn import_contacts(source: pg_sys::Oid, on_error: &str) -> JsonText {
    JsonText(ok_or_raise(imports::import_contacts(source, on_error)))
}

extension_sql!(
    r#"
-- A contact's version tag: its JSON as reads render it, hashed. Every
-- write changes last_updated, so every write changes the tag.
CREATE FUNCTION crm.etag(contact json) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN '"' || md5(contact::text) || '"';

-- The writes run as the tables' owner (the function's owner, see
-- scripts/setup.sh), for the roles granted them: nobody else, and no role
-- needs to write the tables directly. They pin search_path themselves, to
-- the schema of the tables (writes.rs). crm.import_contacts reads its
-- source as its caller and writes as its owner (imports.rs): it is not
-- SECURITY DEFINER, but revoked all the same. The write functions are the
-- ones revoked from PUBLIC; set-up finds them so.
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p
             WHERE p.pronamespace = 'crm'::regnamespace
               AND p.proname IN ('create_contact', 'update_contact', 'replace_contact', 'delete_contact',
                                 'create_address', 'update_address', 'replace_address', 'delete_address',
                                 'refresh_stale_postings', 'import_contacts')
    LOOP
        IF f::text NOT LIKE '%import_contacts%' THEN
            EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER', f);
        END IF;
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
"#,
    name = "write_functions",
    requires = [
        create_contact,
        update_contact,
        replace_contact,
        delete_contact,
        create_address,
        update_address,
        replace_address,
        delete_address,
        refresh_stale_postings,
        import_contacts
    ]
);

/// Creates `crm.contact`, the row type of `crm.contacts()`, from the output
/// table in `fields`. Called once by the install script, then dropped.
#[pg_extern(volatile)]
fn _create_contact_type() {
    ok_or_raise(Spi::run(&contact::create_type_sql("crm.contact")).map_err(Failure::from));
}

extension_sql!(
    r#"
SELECT crm._create_contact_type();
DROP FUNCTION crm._create_contact_type();
"#,
    name = "contact_type",
    requires = [_create_contact_type]
);
