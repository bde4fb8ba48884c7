//! Addresses through SPI: the list (`address_list` plans it), one address,
//! and its writes. An address is shared by its contacts: changing it
//! changes what every one of them reads (the projection follows through
//! the tables' triggers), deleting it leaves them without an address (the
//! schema's ON DELETE SET NULL).

use pgrx::prelude::*;
use serde_json::Value as Json;

use crate::address_list;
use crate::db;
use crate::error::QueryError;
use crate::page::{self, CountField};
use crate::params;
use crate::service::Failure;
use crate::sql::write as statements;
use crate::write_body::{self, Mode};
use crate::writes::{self, Versioned};

const CURRENT_TAG: &str = "SELECT crm.etag(crm.address($1))";

const ADDRESS: Versioned =
    Versioned { lock: statements::lock_address, tag: CURRENT_TAG, missing: QueryError::NoSuchAddress };

/// `crm.addresses_page(params, url)`: DRF's page of addresses.
pub fn addresses_page(params: &Json, url: Option<&str>) -> Result<String, Failure> {
    let raw = params::normalize(params)?;
    let query = address_list::parse(&raw)?;
    Spi::connect(|client| {
        let count = db::count(client, &address_list::count_query(&query))?;
        let window = page::resolve(&query.page, count, query.page_size)?;
        let q = address_list::page_query(&query, window.offset);
        let mut rows = Vec::new();
        for row in db::select(client, q.text.as_str(), None, &db::datums(&q))? {
            rows.extend(row.get::<String>(1)?);
        }
        let (next, previous) = page::links(&window, url, &raw);
        Ok(page::json_page(CountField::Value(count), &next, &previous, &rows))
    })
}

/// `crm.address(id)`: the address as JSON, or `None`.
pub fn address(id: i64) -> Result<Option<String>, Failure> {
    let q = address_list::detail_query(id);
    Spi::connect(|client| {
        let rows = db::select(client, q.text.as_str(), Some(1), &db::datums(&q))?;
        Ok(if rows.is_empty() { None } else { rows.first().get_one()? })
    })
}

/// `crm.create_address(body)`: the new address's JSON.
pub fn create_address(body: &Json) -> Result<String, Failure> {
    let columns = write_body::parse_address(body, Mode::Create)?;
    writes::in_tables_schema(|client| {
        let id = writes::returning_id(client, &statements::insert_address(&columns))?;
        written(client, id)
    })
}

/// `crm.update_address` (`Mode::Update`) and `crm.replace_address`
/// (`Mode::Replace`): the address's JSON after the write.
pub fn change_address(id: i64, body: &Json, if_match: Option<&str>, mode: Mode) -> Result<String, Failure> {
    writes::in_tables_schema(|client| {
        writes::lock_version(client, &ADDRESS, id, if_match)?;
        let columns = write_body::parse_address(body, mode)?;
        if let Some(q) = statements::update_address(id, &columns) {
            writes::run(client, &q)?;
        }
        written(client, id)
    })
}

/// `crm.delete_address(id, if_match)`.
pub fn delete_address(id: i64, if_match: Option<&str>) -> Result<(), Failure> {
    writes::in_tables_schema(|client| {
        writes::lock_version(client, &ADDRESS, id, if_match)?;
        writes::run(client, &statements::delete_address(id))
    })
}

fn written(client: &mut pgrx::spi::SpiClient<'_>, id: i64) -> Result<String, Failure> {
    let q = address_list::detail_query(id);
    let address: Option<String> = client.update(q.text.as_str(), Some(1), &db::datums(&q))?.first().get_one()?;
    Ok(address.expect("the address was just written"))
}
