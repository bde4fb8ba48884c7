//! Connections to the database, and cancelling what they run.
//!
//! Every connection the loader opens registers its cancel token, so that an
//! interrupt can stop the server-side work at once: dropping a client only
//! closes its socket, which a backend busy in a long statement (an index
//! build, a constraint check) notices when that statement ends.

use std::str::FromStr;
use std::sync::Mutex;

use anyhow::{anyhow, Context, Result};
use tokio_postgres::config::Host;
use tokio_postgres::{CancelToken, Client, Config, NoTls};

pub struct Database {
    config: Config,
    cancel_tokens: Mutex<Vec<CancelToken>>,
}

impl Database {
    /// Parses a connection string (URL or key=value form) without connecting.
    pub fn new(url: &str) -> Result<Self> {
        // The parser's message never echoes the string, which may hold a password.
        let config = Config::from_str(url).map_err(|e| anyhow!("invalid database URL: {e}"))?;
        Ok(Database { config, cancel_tokens: Mutex::new(Vec::new()) })
    }

    /// Where the connection goes, for messages: never the password.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "database {} on {}:{} as {}",
            self.config.get_dbname().unwrap_or("(default)"),
            if hosts.is_empty() { "localhost".into() } else { hosts.join(",") },
            port,
            self.config.get_user().unwrap_or("(default user)")
        )
    }

    /// Opens a connection; its driver runs on the runtime until the client
    /// is dropped.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) =
            self.config.connect(NoTls).await.with_context(|| format!("cannot connect to {}", self.describe()))?;
        // An error here also fails the client's pending call, which reports it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.cancel_tokens.lock().unwrap_or_else(|e| e.into_inner()).push(client.cancel_token());
        Ok(client)
    }

    /// Asks the server to cancel whatever each connection is running.
    pub async fn cancel_all(&self) {
        let tokens = std::mem::take(&mut *self.cancel_tokens.lock().unwrap_or_else(|e| e.into_inner()));
        for token in tokens {
            // Best effort: a connection that is already gone has nothing to cancel.
            let _ = token.cancel_query(NoTls).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_hide_the_password() {
        let db = Database::new("postgres://me:secret@db.local:5433/crm").unwrap();
        assert_eq!(db.describe(), "database crm on db.local:5433 as me");
        assert!(Database::new("postgres://me:secret@[bad").is_err_and(|e| !e.to_string().contains("secret")));
    }
}
