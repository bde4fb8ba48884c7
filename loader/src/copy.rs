//! Writing rows with `COPY … FROM STDIN (FORMAT binary)`.
//!
//! Binary COPY is the fastest way into PostgreSQL from a client: no SQL to
//! parse per row and no text conversion of timestamps. Table names are
//! unqualified so rows land in the first schema of search_path that has them.

use std::pin::pin;

use anyhow::{Context, Result};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::generate::{Address, Contact, Relationship};

/// A row type and the table it is copied into; `N` is its column count, so
/// the values always match the columns.
pub trait CopyRow<const N: usize> {
    const TABLE: &'static str;
    const COLUMNS: [&'static str; N];
    const TYPES: [Type; N];
    fn values(&self) -> [&(dyn ToSql + Sync); N];
}

impl CopyRow<6> for Address {
    const TABLE: &'static str = "address";
    const COLUMNS: [&'static str; 6] = ["id", "street", "street_number", "city_code", "city", "country"];
    const TYPES: [Type; 6] = [Type::INT8, Type::VARCHAR, Type::VARCHAR, Type::VARCHAR, Type::VARCHAR, Type::VARCHAR];
    fn values(&self) -> [&(dyn ToSql + Sync); 6] {
        [&self.id, &self.street, &self.street_number, &self.city_code, &self.city, &self.country]
    }
}

impl CopyRow<10> for Contact {
    const TABLE: &'static str = "appuser";
    const COLUMNS: [&'static str; 10] = [
        "id",
        "first_name",
        "last_name",
        "gender",
        "customer_id",
        "phone_number",
        "created",
        "last_updated",
        "birthday",
        "address_id",
    ];
    const TYPES: [Type; 10] = [
        Type::INT8,
        Type::VARCHAR,
        Type::VARCHAR,
        Type::VARCHAR,
        Type::VARCHAR,
        Type::VARCHAR,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::DATE,
        Type::INT8,
    ];
    fn values(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.id,
            &self.first_name,
            &self.last_name,
            &self.gender,
            &self.customer_id,
            &self.phone_number,
            &self.created,
            &self.last_updated,
            &self.birthday,
            &self.address_id,
        ]
    }
}

impl CopyRow<5> for Relationship {
    const TABLE: &'static str = "customer_relationship";
    const COLUMNS: [&'static str; 5] = ["id", "appuser_id", "points", "created", "last_activity"];
    const TYPES: [Type; 5] = [Type::INT8, Type::INT8, Type::INT4, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ];
    fn values(&self) -> [&(dyn ToSql + Sync); 5] {
        [&self.id, &self.appuser_id, &self.points, &self.created, &self.last_activity]
    }
}

/// The COPY statement for a row type. `freeze` writes the rows already frozen
/// and marks their pages all-visible, sparing the first VACUUM a rewrite of
/// the whole table; PostgreSQL accepts it only when the table was truncated
/// (or created) in the same transaction.
pub fn copy_statement<const N: usize, T: CopyRow<N>>(freeze: bool) -> String {
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary{})",
        T::TABLE,
        T::COLUMNS.join(", "),
        if freeze { ", FREEZE" } else { "" }
    )
}

/// Copies `rows` in one COPY statement; returns the number of rows written.
pub async fn copy_rows<const N: usize, T: CopyRow<N>>(client: &Client, rows: &[T], freeze: bool) -> Result<u64> {
    let sink = client
        .copy_in(&copy_statement::<N, T>(freeze))
        .await
        .with_context(|| format!("cannot start COPY into {}", T::TABLE))?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &T::TYPES));
    for row in rows {
        writer.as_mut().write(&row.values()).await.with_context(|| format!("COPY into {} failed", T::TABLE))?;
    }
    writer.as_mut().finish().await.with_context(|| format!("COPY into {} failed", T::TABLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_every_column() {
        assert_eq!(
            copy_statement::<5, Relationship>(false),
            "COPY customer_relationship (id, appuser_id, points, created, last_activity) FROM STDIN (FORMAT binary)"
        );
        assert!(copy_statement::<6, Address>(true).ends_with("(FORMAT binary, FREEZE)"));
        assert!(copy_statement::<10, Contact>(false).starts_with("COPY appuser (id, first_name,"));
    }
}
