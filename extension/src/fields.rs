//! The query language, defined once.
//!
//! Every column the service reads, every filter parameter with its lookups,
//! every ordering field and every search field is declared here. Parsing,
//! validation, SQL generation, the output shape and the documentation
//! (`crm.query_language()`) all derive from these tables; nothing else in the
//! code base names a field.

/// The three application tables and the alias each has in generated SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Appuser,
    Address,
    Relationship,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Appuser, Table::Address, Table::Relationship];

    /// Table name as Django created it (docs/compatibility.md, "Schema").
    pub const fn name(self) -> &'static str {
        match self {
            Table::Appuser => "appuser",
            Table::Address => "address",
            Table::Relationship => "customer_relationship",
        }
    }

    /// Alias used in every generated query.
    pub const fn alias(self) -> &'static str {
        match self {
            Table::Appuser => "u",
            Table::Address => "a",
            Table::Relationship => "r",
        }
    }

    /// The LEFT JOIN that brings this table in, relative to `appuser u`.
    /// Both joins are at most one row per contact (address is many-to-one,
    /// the relationship is one-to-one), so they never multiply rows.
    pub const fn join(self) -> Option<&'static str> {
        match self {
            Table::Appuser => None,
            Table::Address => Some("LEFT JOIN address a ON a.id = u.address_id"),
            Table::Relationship => Some("LEFT JOIN customer_relationship r ON r.appuser_id = u.id"),
        }
    }
}

/// How a value of a column is typed, parsed, bound and rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// bigint; filter values are bound as int8.
    BigInt,
    /// integer; filter values are bound as int8 too (int4 = int8 is indexable).
    Int,
    /// varchar: bound as text.
    Text,
    /// timestamptz: rendered `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
    Timestamp,
    /// date: rendered `YYYY-MM-DD`.
    Date,
}

impl ValueType {
    /// SQL type name used in DDL of the output row type.
    pub const fn sql_type(self) -> &'static str {
        match self {
            ValueType::BigInt => "bigint",
            ValueType::Int => "integer",
            ValueType::Text => "text",
            ValueType::Timestamp => "timestamptz",
            ValueType::Date => "date",
        }
    }
}

/// A physical column of one of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub table: Table,
    pub name: &'static str,
    pub ty: ValueType,
    /// NULL is possible: either the column is nullable or its table is on the
    /// optional side of a LEFT JOIN.
    pub nullable: bool,
    /// Few distinct values compared to rows (names, streets, cities, …): a
    /// text pattern is first resolved against the column's distinct values
    /// (the projection's dictionary), then matched by equality on an index.
    pub few_values: bool,
}

impl Column {
    /// `alias.column`, e.g. `a.city`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.table.alias(), self.name)
    }

    /// The key of this column in the contact object, which is also its name
    /// in the projection (`a.city` → `city`, `r.created` → `relationship_created`).
    pub fn output_key(&self) -> &'static str {
        CONTACT.iter().find(|o| o.column == *self).map(|o| o.key).expect("every column is part of the contact")
    }
}

const fn col(table: Table, name: &'static str, ty: ValueType, nullable: bool) -> Column {
    Column { table, name, ty, nullable, few_values: false }
}

/// A text column with few distinct values (see `Column::few_values`).
const fn few(table: Table, name: &'static str, nullable: bool) -> Column {
    Column { table, name, ty: ValueType::Text, nullable, few_values: true }
}

use Table::{Address as A, Appuser as U, Relationship as R};
use ValueType::{BigInt, Date, Int, Text, Timestamp};

// Address and relationship columns are nullable from the contact's point of
// view: a contact may have neither.
pub const U_ID: Column = col(U, "id", BigInt, false);
pub const U_FIRST_NAME: Column = few(U, "first_name", false);
pub const U_LAST_NAME: Column = few(U, "last_name", false);
pub const U_GENDER: Column = col(U, "gender", Text, true);
pub const U_CUSTOMER_ID: Column = col(U, "customer_id", Text, false);
pub const U_PHONE_NUMBER: Column = col(U, "phone_number", Text, true);
pub const U_CREATED: Column = col(U, "created", Timestamp, false);
pub const U_BIRTHDAY: Column = col(U, "birthday", Date, true);
pub const U_LAST_UPDATED: Column = col(U, "last_updated", Timestamp, false);
pub const U_ADDRESS_ID: Column = col(U, "address_id", BigInt, true);
pub const A_STREET: Column = few(A, "street", true);
pub const A_STREET_NUMBER: Column = col(A, "street_number", Text, true);
pub const A_CITY_CODE: Column = few(A, "city_code", true);
pub const A_CITY: Column = few(A, "city", true);
pub const A_COUNTRY: Column = few(A, "country", true);
/// The address's own id: a key of the address resource, not of the contact.
pub const A_ID: Column = col(A, "id", BigInt, false);
pub const R_ID: Column = col(R, "id", BigInt, true);
pub const R_POINTS: Column = col(R, "points", Int, true);
pub const R_CREATED: Column = col(R, "created", Timestamp, true);
pub const R_LAST_ACTIVITY: Column = col(R, "last_activity", Timestamp, true);

/// One key of the `<contact>` JSON object (docs/compatibility.md, "HTTP API"), in output order.
#[derive(Clone, Copy, Debug)]
pub struct OutputField {
    pub key: &'static str,
    pub column: Column,
    /// Whether and how a write body may set it (`write_body.rs`).
    pub write: Write,
}

/// How a key of the contact object is written. The rules are the tables'
/// (sql/schema.sql): NOT NULL without a default is required when its row
/// is created, varchar(n) is a maximum length; a test compares them with
/// the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Set by the database (ids, timestamps, the generated customer id).
    ReadOnly,
    Writable {
        /// Must be given when its row is created (or replaced).
        required: bool,
        /// `null` is accepted.
        nullable: bool,
        /// varchar(n): at most n characters.
        max_length: Option<usize>,
        /// The only values accepted, when not empty.
        choices: &'static [&'static str],
    },
}

const fn out(key: &'static str, column: Column) -> OutputField {
    OutputField { key, column, write: Write::ReadOnly }
}

const fn writable(key: &'static str, column: Column, required: bool, nullable: bool, max_length: usize) -> OutputField {
    let max_length = if max_length == 0 { None } else { Some(max_length) };
    OutputField { key, column, write: Write::Writable { required, nullable, max_length, choices: &[] } }
}

/// Gender's choices, as the original's model declares them.
pub const GENDERS: &[&str] = &["M", "F", "O"];

/// The contact object: exactly these keys, in this order.
pub const CONTACT: [OutputField; 19] = [
    out("id", U_ID),
    writable("first_name", U_FIRST_NAME, true, false, 100),
    writable("last_name", U_LAST_NAME, true, false, 100),
    OutputField {
        key: "gender",
        column: U_GENDER,
        write: Write::Writable { required: false, nullable: true, max_length: Some(1), choices: GENDERS },
    },
    out("customer_id", U_CUSTOMER_ID),
    writable("phone_number", U_PHONE_NUMBER, false, true, 20),
    out("created", U_CREATED),
    writable("birthday", U_BIRTHDAY, false, true, 0),
    out("last_updated", U_LAST_UPDATED),
    writable("address_id", U_ADDRESS_ID, false, true, 0),
    // An address's fields create a new address (all of them required);
    // address_id links an existing one.
    writable("street", A_STREET, true, false, 255),
    writable("street_number", A_STREET_NUMBER, true, false, 50),
    writable("city_code", A_CITY_CODE, true, false, 20),
    writable("city", A_CITY, true, false, 100),
    writable("country", A_COUNTRY, true, false, 100),
    out("relationship_id", R_ID),
    // The relationship is created with the contact: points default to 0,
    // the last activity to the time of the write.
    writable("points", R_POINTS, false, false, 0),
    out("relationship_created", R_CREATED),
    writable("last_activity", R_LAST_ACTIVITY, false, false, 0),
];

/// Filter lookups, as in Django's `field__lookup=value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lookup {
    Exact,
    Icontains,
    Gte,
    Lte,
    Gt,
    Lt,
}

impl Lookup {
    pub const ALL: [Lookup; 6] = [Lookup::Exact, Lookup::Icontains, Lookup::Gte, Lookup::Lte, Lookup::Gt, Lookup::Lt];

    pub const fn name(self) -> &'static str {
        match self {
            Lookup::Exact => "exact",
            Lookup::Icontains => "icontains",
            Lookup::Gte => "gte",
            Lookup::Lte => "lte",
            Lookup::Gt => "gt",
            Lookup::Lt => "lt",
        }
    }

    pub fn from_name(name: &str) -> Option<Lookup> {
        Lookup::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// A public field of the query language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Name in the URL: `first_name`, `address__city`, `relationship__points`.
    pub name: &'static str,
    /// The columns it reads. One for ordinary fields; `name` reads two and
    /// matches when any of them does.
    pub columns: &'static [Column],
    /// Allowed lookups; empty when the field cannot be filtered on.
    pub lookups: &'static [Lookup],
    pub orderable: bool,
    pub searchable: bool,
}

impl Field {
    /// The single column of an ordinary field.
    pub fn column(&self) -> Column {
        self.columns[0]
    }

    pub fn value_type(&self) -> ValueType {
        self.columns[0].ty
    }

    /// `name` takes no lookup suffix: `name=x` means icontains on any column.
    pub fn is_multi_column(&self) -> bool {
        self.columns.len() > 1
    }

    /// The parameter names this field accepts: `field` for exact (or the
    /// multi-column match), `field__lookup` for every other lookup.
    pub fn parameter_names(&self) -> Vec<String> {
        if self.is_multi_column() {
            return vec![self.name.to_string()];
        }
        self.lookups
            .iter()
            .map(|l| match l {
                Lookup::Exact => self.name.to_string(),
                other => format!("{}__{}", self.name, other.name()),
            })
            .collect()
    }
}

use Lookup::{Exact, Gt, Gte, Icontains, Lt, Lte};

const EXACT: &[Lookup] = &[Exact];
const ICONTAINS: &[Lookup] = &[Icontains];
const TEXT_LOOKUPS: &[Lookup] = &[Exact, Icontains];
const RANGE: &[Lookup] = &[Exact, Gte, Lte, Gt, Lt];
const DATE_RANGE: &[Lookup] = &[Exact, Gte, Lte];

const fn field(
    name: &'static str,
    columns: &'static [Column],
    lookups: &'static [Lookup],
    orderable: bool,
    searchable: bool,
) -> Field {
    Field { name, columns, lookups, orderable, searchable }
}

/// Every field of the query language (docs/compatibility.md, "HTTP API": filters, ordering, search).
pub const FIELDS: &[Field] = &[
    //     name                          columns             lookups       order  search
    field("id", &[U_ID], EXACT, true, false),
    field("first_name", &[U_FIRST_NAME], ICONTAINS, true, true),
    field("last_name", &[U_LAST_NAME], ICONTAINS, true, true),
    field("gender", &[U_GENDER], EXACT, true, false),
    field("customer_id", &[U_CUSTOMER_ID], ICONTAINS, true, true),
    field("phone_number", &[U_PHONE_NUMBER], TEXT_LOOKUPS, true, true),
    field("created", &[U_CREATED], RANGE, true, false),
    field("birthday", &[U_BIRTHDAY], DATE_RANGE, true, false),
    field("last_updated", &[U_LAST_UPDATED], RANGE, true, false),
    // address__id is the contact's own foreign key: no join needed.
    field("address__id", &[U_ADDRESS_ID], EXACT, false, false),
    field("address__street", &[A_STREET], TEXT_LOOKUPS, false, true),
    field("address__city", &[A_CITY], TEXT_LOOKUPS, true, true),
    field("address__city_code", &[A_CITY_CODE], TEXT_LOOKUPS, true, false),
    field("address__country", &[A_COUNTRY], TEXT_LOOKUPS, true, true),
    field("relationship__points", &[R_POINTS], RANGE, true, false),
    field("relationship__created", &[R_CREATED], RANGE, true, false),
    field("relationship__last_activity", &[R_LAST_ACTIVITY], RANGE, true, false),
    // name=x: first_name icontains x OR last_name icontains x.
    field("name", &[U_FIRST_NAME, U_LAST_NAME], ICONTAINS, false, false),
];

/// The ordering when none is requested: newest first (the original's).
pub const DEFAULT_ORDERING: DefaultOrdering = DefaultOrdering { field: "created", descending: true };

pub struct DefaultOrdering {
    pub field: &'static str,
    pub descending: bool,
}

impl DefaultOrdering {
    pub fn column(&self) -> Column {
        field_by_name(self.field).expect("the default ordering is a field").column()
    }
}

/// Query parameters that are not filters.
pub const PAGE: &str = "page";
pub const PAGE_SIZE: &str = "page_size";
pub const ORDERING: &str = "ordering";
pub const SEARCH: &str = "search";
/// Keyset pagination: `cursor=` (empty) starts it, `next`/`previous` links
/// carry the opaque position.
pub const CURSOR: &str = "cursor";
/// DRF's renderer switch (`?format=json`); accepted and ignored.
pub const FORMAT: &str = "format";
/// How the page's `count` is computed (`params::CountMode`); the API also
/// takes it from `Prefer: count=…`.
pub const COUNT: &str = "count";
pub const CONTROL_PARAMETERS: [&str; 7] = [PAGE, PAGE_SIZE, ORDERING, SEARCH, CURSOR, FORMAT, COUNT];

pub fn field_by_name(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

pub fn ordering_fields() -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(|f| f.orderable)
}

pub fn search_columns() -> impl Iterator<Item = Column> {
    FIELDS.iter().filter(|f| f.searchable).map(|f| f.column())
}

/// Every filter parameter name, in table order.
pub fn filter_parameter_names() -> Vec<String> {
    FIELDS.iter().flat_map(|f| f.parameter_names()).collect()
}

/// One key of the address resource (`/api/addresses/`), in output order:
/// the address's id, then the contact's address keys (`CONTACT`, whose
/// write rules they share), and what the address list does with each.
#[derive(Clone, Copy, Debug)]
pub struct AddressKey {
    pub key: &'static str,
    pub column: Column,
    /// `key=value` (exact) and `key__icontains=value` filters.
    pub filter: bool,
    /// Searched by `search` (as the original's admin searched addresses).
    pub search: bool,
    pub orderable: bool,
}

const fn address_key(key: &'static str, column: Column, filter: bool, search: bool) -> AddressKey {
    AddressKey { key, column, filter, search, orderable: true }
}

pub const ADDRESS: [AddressKey; 6] = [
    address_key("id", A_ID, false, false),
    address_key("street", A_STREET, true, true),
    AddressKey { orderable: false, ..address_key("street_number", A_STREET_NUMBER, false, false) },
    address_key("city_code", A_CITY_CODE, true, true),
    address_key("city", A_CITY, true, true),
    address_key("country", A_COUNTRY, true, true),
];

/// The write rule of an address key: the contact's key of the same column.
pub fn address_write_rule(key: &AddressKey) -> Write {
    CONTACT.iter().find(|f| f.column == key.column).map_or(Write::ReadOnly, |f| f.write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn field_names_are_unique() {
        let names: HashSet<_> = FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FIELDS.len());
    }

    #[test]
    fn filter_parameters_match_the_spec_table() {
        let params = filter_parameter_names();
        for p in [
            "id",
            "first_name__icontains",
            "gender",
            "phone_number",
            "phone_number__icontains",
            "created__lt",
            "birthday__lte",
            "address__id",
            "address__city_code__icontains",
            "relationship__last_activity__gt",
            "name",
        ] {
            assert!(params.iter().any(|x| x == p), "{p} missing");
        }
        assert!(!params.iter().any(|x| x == "first_name"), "first_name has no exact lookup");
        assert!(!params.iter().any(|x| x == "birthday__gt"));
        // The original's 17 fields with their lookups, plus name.
        assert_eq!(params.len(), 1 + 1 + 1 + 1 + 1 + 2 + 5 + 3 + 5 + 1 + 2 + 2 + 2 + 2 + 5 + 5 + 5 + 1);
    }

    #[test]
    fn ordering_and_search_fields_match_the_spec() {
        let ordering: Vec<_> = ordering_fields().map(|f| f.name).collect();
        assert_eq!(
            ordering,
            [
                "id",
                "first_name",
                "last_name",
                "gender",
                "customer_id",
                "phone_number",
                "created",
                "birthday",
                "last_updated",
                "address__city",
                "address__city_code",
                "address__country",
                "relationship__points",
                "relationship__created",
                "relationship__last_activity"
            ]
        );
        let search: Vec<_> = search_columns().map(|c| c.qualified()).collect();
        assert_eq!(
            search,
            ["u.first_name", "u.last_name", "u.customer_id", "u.phone_number", "a.street", "a.city", "a.country"]
        );
    }

    #[test]
    fn every_column_has_an_output_key() {
        assert_eq!(R_CREATED.output_key(), "relationship_created");
        assert_eq!(A_CITY.output_key(), "city");
        for f in FIELDS {
            for c in f.columns {
                c.output_key();
            }
        }
    }

    #[test]
    fn contact_keys_are_in_spec_order() {
        let keys: Vec<_> = CONTACT.iter().map(|o| o.key).collect();
        assert_eq!(
            keys.join(","),
            "id,first_name,last_name,gender,customer_id,phone_number,created,birthday,last_updated,\
             address_id,street,street_number,city_code,city,country,relationship_id,points,\
             relationship_created,last_activity"
        );
    }
}
