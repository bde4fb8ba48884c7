//! `crm-api`: reads the configuration, opens the pool and serves.

use anyhow::Context;
use api::config::LogFormat;
use api::{db, AppState, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("crm-api: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    dotenvy::dotenv().ok();
    let config = Config::from_env()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    let pool = db::pool(&config)?;
    // Start even when the database is down: requests get 503 until it is back.
    if let Err(error) = db::ping(&pool).await {
        tracing::warn!(%error, "database not reachable yet");
    }
    let (address, narrowed) = config.listen_address();
    if let Some(why) = &narrowed {
        tracing::warn!("{why}");
    } else if config.tokens.is_empty() {
        tracing::warn!("API_TOKENS is not set: no authentication (loopback only)");
    }
    let listener =
        tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(
        authentication = if config.tokens.is_empty() { "off" } else { "bearer tokens" },
        "serving http://{}/api/contacts/",
        listener.local_addr()?
    );
    if config.postings_refresh_after > 0 {
        let (pool, every, after) = (pool.clone(), config.postings_refresh_every, config.postings_refresh_after);
        tokio::spawn(api::refresher::run(pool, every, after));
    }
    let state = AppState::new(pool, &config);
    api::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
