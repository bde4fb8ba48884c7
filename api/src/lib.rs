//! crm-contacts HTTP API: a thin axum server in front of the crm_contacts
//! PostgreSQL extension. It parses the request, forwards the query
//! parameters to the extension's functions and returns their JSON; it knows
//! nothing about fields, filters or orderings.

pub mod addresses;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod export;
pub mod import;
pub mod observe;
pub mod options;
pub mod prefer;
pub mod query;
pub mod refresher;
pub mod routes;
pub mod writes;

pub use config::Config;
pub use routes::{router, AppState};

/// Serves on an already bound listener until `shutdown` resolves, finishing
/// in-flight requests first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
