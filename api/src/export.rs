//! `GET /api/contacts/export/`: every contact a list request matches, as
//! CSV or NDJSON, streamed. The text comes from `crm.export_chunks` (pieces
//! of whole lines), read through a portal inside one REPEATABLE READ
//! transaction (one snapshot for the whole export), and each piece is sent
//! as it arrives:
//! memory stays at a few chunks whatever the size. A client that leaves
//! stops the reading at the next chunk, and the transaction rolls back.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::query;
use crate::routes::AppState;

/// Pieces (about 256 kB each) per fetch from the portal.
const CHUNKS_PER_FETCH: i32 = 2;
/// Chunks in flight between the database and the client.
const CHUNKS_BUFFERED: usize = 4;

/// In the select list, not in FROM: a function scan would store every line
/// before returning the first, a set-returning function in the select list
/// is asked for its values as they are fetched.
const EXPORT_SQL: &str = "SELECT crm.export_chunks($1::jsonb, $2::text)";

type Chunk = Result<Bytes, tokio_postgres::Error>;

/// The format: `format=csv|ndjson`, else from `Accept`, else CSV.
fn format(params: &mut Value, headers: &HeaderMap) -> String {
    if let Some(given) = params.as_object_mut().and_then(|p| p.remove("format")) {
        // Given twice (an array): the extension refuses it, naming `format`.
        return given.as_str().map(str::to_string).unwrap_or_else(|| given.to_string());
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("application/x-ndjson") || accept.contains("application/jsonl") {
        "ndjson".into()
    } else {
        "csv".into()
    }
}

pub async fn export(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, ApiError> {
    let mut params = query::to_json(uri.query())?;
    let format = format(&mut params, &headers);
    let (sender, mut receiver) = mpsc::channel::<Chunk>(CHUNKS_BUFFERED);
    let session = state.pool.clone();
    tokio::spawn(read_lines(session, params, format.clone(), sender));
    // The first chunk decides: bad parameters are a 400 before any byte.
    let first = match receiver.recv().await {
        Some(Ok(first)) => first,
        Some(Err(error)) => return Err(error.into()),
        None => {
            return Err(ApiError::Status(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                crate::error::detail_body("The export stopped."),
            ))
        }
    };
    let rest = futures_util::stream::unfold(receiver, |mut receiver| async {
        let chunk = receiver.recv().await?;
        Some((chunk.map_err(std::io::Error::other), receiver))
    });
    // Fused: a body may be polled again after its end (the compression
    // layer does), which an unfolded stream does not allow.
    let lines = futures_util::stream::once(async { Ok::<_, std::io::Error>(first) }).chain(rest).fuse();
    let body = Body::from_stream(lines);
    let (content_type, extension) =
        if format == "ndjson" { ("application/x-ndjson", "ndjson") } else { ("text/csv; charset=utf-8", "csv") };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"contacts.{extension}\"");
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ASCII"));
    Ok(response)
}

/// Reads the export's lines chunk by chunk and sends each one; stops when
/// the receiver is gone (the client left) or at the end. The first message
/// is always sent: a chunk (possibly empty) or the error that prevented it.
async fn read_lines(pool: Pool, params: Value, format: String, sender: mpsc::Sender<Chunk>) {
    let mut session = match pool.get().await {
        Ok(session) => session,
        Err(error) => {
            tracing::warn!(%error, "export: no connection");
            drop(sender);
            return;
        }
    };
    let result: Result<(), tokio_postgres::Error> = async {
        let transaction = session
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let statement = transaction.prepare_cached(EXPORT_SQL).await?;
        let portal = transaction.bind(&statement, &[&params, &format]).await?;
        loop {
            let rows = transaction.query_portal(&portal, CHUNKS_PER_FETCH).await?;
            let done = rows.len() < CHUNKS_PER_FETCH as usize;
            // Each piece ends with its newline.
            let pieces: Vec<&str> = rows.iter().map(|row| row.get::<_, &str>(0)).collect();
            let chunk = pieces.concat();
            if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                tracing::info!("client went away: export stopped");
                return Ok(());
            }
            if done {
                return Ok(());
            }
        }
    }
    .await;
    if let Err(error) = result {
        let _ = sender.send(Err(error)).await;
    }
}
