//! The crm-contacts bulk loader: fills `address`, `appuser` and
//! `customer_relationship` with the original's synthetic dataset (docs/compatibility.md, "Data"),
//! reproducibly from a seed, with binary COPY.
//!
//! - [`generate`]: rows as pure functions of (seed, reference time, id);
//! - [`ids`]: id blocks and the customer id permutation;
//! - [`copy`]: the binary COPY writer;
//! - [`schema`]: the schema DDL, checks, constraints, identity sequences;
//! - [`indexes`]: the index variant around a load, parallel finishing steps;
//! - [`load`](mod@load): the orchestration, [`load()`](fn@load) being the programmatic entry point;
//! - [`cli`]: the command line.

pub mod cli;
pub mod copy;
pub mod db;
pub mod generate;
pub mod ids;
pub mod indexes;
pub mod load;
pub mod progress;
pub mod schema;
pub mod summary;

pub use load::{load, load_until, Interrupted, LoadConfig};
pub use schema::{create_schema, SCHEMA_SQL};
pub use summary::{LoadSummary, TableSummary, Timings};
