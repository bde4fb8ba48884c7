//! What the API's integration tests share: an in-process server on an
//! ephemeral port, and a plain HTTP client.
#![allow(dead_code)]

#[path = "../../../tests/support/mod.rs"]
pub mod support;

use api::{db, AppState, Config};
use reqwest::StatusCode;
use serde_json::Value;

/// A running API and its base URL; stops when dropped.
pub struct Server {
    pub base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `database_url` with the given settings (environment names).
pub async fn start(database_url: &str, settings: &[(&str, &str)]) -> Server {
    let mut env: Vec<(String, String)> = vec![("DATABASE_URL".into(), database_url.into())];
    env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap();
    let pool = db::pool(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve(listener, AppState::new(pool, &config), async {
        let _ = rx.await;
    }));
    Server { base, shutdown: Some(tx) }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Status, content type and JSON body (Null when not JSON).
pub async fn get(url: &str) -> (StatusCode, String, Value) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = response.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, content_type, json)
}

#[allow(unused_imports)]
pub use support::setting;
