//! `POST /api/contacts/import/`: contacts in bulk, as CSV (a header row of
//! keys, then a row per contact) or NDJSON (an object per line), streamed
//! into PostgreSQL and written by `crm.import_contacts`.
//!
//! The body is never held whole: a blocking task reads it as it arrives and
//! turns each row into a line of COPY's text format, `(line, body)`, where
//! body is the row's JSON object (a CSV row becomes an object of its
//! non-empty cells); the lines go through `COPY … FROM STDIN` into a
//! temporary table of the import's transaction, and the extension validates
//! and writes them in one call. Nothing here knows a field: the rows are
//! judged by the extension, as single creates are. A body that is not
//! well-formed (not UTF-8, a CSV row of the wrong width) is refused whole,
//! whatever `on_error` says. The transaction commits only after the
//! extension's report: a client that leaves, or a server that dies, before
//! that leaves nothing behind.

use std::io::{BufRead, BufReader, Read};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use futures_util::{SinkExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{detail_body, json_response, ApiError};
use crate::routes::AppState;
use crate::{db, query};

/// The largest import body (bytes): 1 GiB, some 3 million contacts.
pub const MAX_IMPORT_BYTES: u64 = 1 << 30;
/// Bytes of COPY data per message to PostgreSQL.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks in flight between the body's reader and PostgreSQL.
const CHUNKS_BUFFERED: usize = 4;
/// An import's statements may take longer than a read's: its COPY lasts as
/// long as the upload, its write as long as the rows need.
const IMPORT_STATEMENT_TIMEOUT: &str = "10min";

const STAGING_SQL: &str = "CREATE TEMP TABLE crm_import (line bigint, body text) ON COMMIT DROP";
const COPY_SQL: &str = "COPY crm_import (line, body) FROM STDIN";
const IMPORT_SQL: &str = "SELECT crm.import_contacts('crm_import', $1::text)::text";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// The body's format from its Content-Type; 415 for anything else.
fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let (media_type, essence) = crate::writes::media_type(headers);
    match essence.as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Ok(Format::Ndjson)
        }
        _ => Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail_body(&format!(
                "Unsupported media type \"{media_type}\" in request: send text/csv or application/x-ndjson."
            )),
        )),
    }
}

/// Why a body cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("Line {0} is not valid UTF-8.")]
    NotUtf8(u64),
    #[error("Line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("The CSV header names \"{0}\" twice.")]
    DuplicateColumn(String),
    #[error("The request body is larger than {MAX_IMPORT_BYTES} bytes.")]
    TooLarge,
    #[error("The request body could not be read.")]
    Read(#[source] std::io::Error),
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> ApiError {
        let status = match error {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::Status(status, detail_body(&error.to_string()))
    }
}

type Chunk = Result<Bytes, BodyError>;

pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let format = format(&headers)?;
    let params = query::to_json(uri.query())?;
    let on_error = match params.get("on_error") {
        None => "abort".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        // Given twice: the extension refuses it by name.
        Some(other) => other.to_string(),
    };
    // A client that leaves drops this future: the guard then cancels the
    // statement running and closes the session (the transaction with it).
    let mut running = db::RunningQuery::new(state.pool.get().await?);
    let result = copy_and_import(running.session(), format, &on_error, body).await;
    running.finish();
    Ok(json_response(StatusCode::OK, result?))
}

/// The import's transaction: the staging table, the COPY of the body's
/// rows, the extension's call, the commit; the report.
async fn copy_and_import(
    session: &mut deadpool_postgres::Object,
    format: Format,
    on_error: &str,
    body: Body,
) -> Result<String, ApiError> {
    let transaction = session.transaction().await?;
    transaction.batch_execute(&format!("SET LOCAL statement_timeout = '{IMPORT_STATEMENT_TIMEOUT}'")).await?;
    transaction.batch_execute(STAGING_SQL).await?;
    // On the empty table: `on_error` and the caller's right to import are
    // checked before the body is read.
    transaction.query_one(IMPORT_SQL, &[&on_error]).await?;

    let (sender, mut receiver) = mpsc::channel::<Chunk>(CHUNKS_BUFFERED);
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    tokio::task::spawn_blocking(move || {
        if let Err(error) = encode(format, reader, &sender) {
            let _ = sender.blocking_send(Err(error));
        }
    });
    let sink = transaction.copy_in::<_, Bytes>(COPY_SQL).await?;
    futures_util::pin_mut!(sink);
    // Returning early drops the sink (the COPY fails) and the transaction
    // (it rolls back): nothing of a refused body stays.
    while let Some(chunk) = receiver.recv().await {
        sink.send(chunk?).await?;
    }
    sink.as_mut().finish().await?;
    let report: String = transaction.query_one(IMPORT_SQL, &[&on_error]).await?.get(0);
    transaction.commit().await?;
    Ok(report)
}

/// Reads the body's rows and sends them as COPY text, `CHUNK_BYTES` at a
/// time. Stops quietly when the receiver is gone (the import failed).
fn encode(format: Format, reader: impl Read, sender: &mpsc::Sender<Chunk>) -> Result<(), BodyError> {
    let mut out = CopyChunks { buffer: Vec::with_capacity(CHUNK_BYTES), sender };
    let reader = Counted { inner: reader, read: 0 };
    match format {
        Format::Ndjson => ndjson_rows(reader, &mut out)?,
        Format::Csv => csv_rows(reader, &mut out)?,
    }
    out.flush();
    Ok(())
}

/// A reader that refuses to read past `MAX_IMPORT_BYTES`.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > MAX_IMPORT_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "import too large"));
        }
        Ok(n)
    }
}

fn read_error(error: std::io::Error) -> BodyError {
    if error.kind() == std::io::ErrorKind::FileTooLarge {
        BodyError::TooLarge
    } else {
        BodyError::Read(error)
    }
}

struct CopyChunks<'a> {
    buffer: Vec<u8>,
    sender: &'a mpsc::Sender<Chunk>,
}

impl CopyChunks<'_> {
    fn row(&mut self, line: u64, body: &[u8]) {
        copy_row(&mut self.buffer, line, body);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES)));
            // A receiver gone means the import already failed: nothing to do.
            let _ = self.sender.blocking_send(Ok(chunk));
        }
    }
}

/// One row of COPY's text format: the line number, a tab, the body with
/// COPY's escapes (backslash, tab, newline, carriage return). A NUL byte,
/// which text cannot hold, becomes the JSON escape `\u0000`: invalid JSON
/// outside a string, a string with NUL inside one, which the extension
/// refuses by key.
pub fn copy_row(out: &mut Vec<u8>, line: u64, body: &[u8]) {
    out.extend_from_slice(line.to_string().as_bytes());
    out.push(b'\t');
    for &byte in body {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\\\u0000"),
            _ => out.push(byte),
        }
    }
    out.push(b'\n');
}

/// NDJSON: one JSON text per line; blank lines are skipped.
fn ndjson_rows(reader: impl Read, out: &mut CopyChunks<'_>) -> Result<(), BodyError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if std::str::from_utf8(text).is_err() {
            return Err(BodyError::NotUtf8(number));
        }
        out.row(number, text);
    }
}

/// CSV: a header row of keys, then one contact per row; an empty cell is a
/// key not given (the field's default), as COPY reads an empty CSV cell.
fn csv_rows(reader: impl Read, out: &mut CopyChunks<'_>) -> Result<(), BodyError> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let csv_error = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(io) => read_error(io),
            _ => unreachable!(),
        },
        _ => BodyError::Csv { line: e.position().map_or(0, |p| p.line()), message: e.to_string() },
    };
    let header = csv.byte_headers().map_err(csv_error)?.clone();
    let mut keys = Vec::with_capacity(header.len());
    for key in header.iter() {
        let key = std::str::from_utf8(key).map_err(|_| BodyError::NotUtf8(1))?.trim().to_string();
        if keys.contains(&key) {
            return Err(BodyError::DuplicateColumn(key));
        }
        keys.push(key);
    }
    let mut record = csv::ByteRecord::new();
    let mut json = Vec::new();
    while csv.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != keys.len() {
            let message = format!("the row has {} fields, the header {}.", record.len(), keys.len());
            return Err(BodyError::Csv { line, message });
        }
        let mut object = serde_json::Map::new();
        for (key, cell) in keys.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let cell = std::str::from_utf8(cell).map_err(|_| BodyError::NotUtf8(line))?;
            object.insert(key.clone(), serde_json::Value::String(cell.to_string()));
        }
        json.clear();
        serde_json::to_writer(&mut json, &object).expect("a map of strings serializes");
        out.row(line, &json);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: Format, body: &str) -> Result<String, BodyError> {
        let (sender, mut receiver) = mpsc::channel(1024);
        encode(format, body.as_bytes(), &sender)?;
        drop(sender);
        let mut out = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            out.extend_from_slice(&chunk.unwrap());
        }
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn copy_rows_escape_what_copy_text_reads_specially() {
        let mut out = Vec::new();
        copy_row(&mut out, 7, b"{\"a\":\"x\\\"y\"}\t\r\n\0");
        assert_eq!(out, b"7\t{\"a\":\"x\\\\\"y\"}\\t\\r\\n\\\\u0000\n");
    }

    #[test]
    fn ndjson_lines_keep_their_numbers_and_blank_lines_are_skipped() {
        let copy = rows(Format::Ndjson, "{\"a\": 1}\r\n\n  \n{\"b\": \"\\\\\"}\nnot json").unwrap();
        assert_eq!(copy, "1\t{\"a\": 1}\n4\t{\"b\": \"\\\\\\\\\"}\n5\tnot json\n");
        assert!(rows(Format::Ndjson, "{}\n{\"a\": \"\u{e9}\"}\n").is_ok());
        let mut invalid = b"{}\n{\"a\": \"".to_vec();
        invalid.extend_from_slice(&[0xff, b'"', b'}']);
        let (sender, _receiver) = mpsc::channel(16);
        let error = encode(Format::Ndjson, &invalid[..], &sender).unwrap_err();
        assert_eq!(error.to_string(), "Line 2 is not valid UTF-8.");
    }

    #[test]
    fn csv_rows_become_objects_of_their_non_empty_cells() {
        let copy =
            rows(Format::Csv, "first_name,last_name,gender\nAnn,\"Lee, \"\"Jr\"\"\",\n\"Multi\nLine\",B,M\n").unwrap();
        assert_eq!(
            copy,
            "2\t{\"first_name\":\"Ann\",\"last_name\":\"Lee, \\\\\"Jr\\\\\"\"}\n\
             3\t{\"first_name\":\"Multi\\\\nLine\",\"last_name\":\"B\",\"gender\":\"M\"}\n"
        );
    }

    #[test]
    fn a_malformed_csv_is_refused_whole_with_its_line() {
        let error = rows(Format::Csv, "a,b\n1,2\n1,2,3\n").unwrap_err();
        assert_eq!(error.to_string(), "Line 3: the row has 3 fields, the header 2.");
        let error = rows(Format::Csv, "a,b,a\n1,2,3\n").unwrap_err();
        assert_eq!(error.to_string(), "The CSV header names \"a\" twice.");
    }

    #[test]
    fn only_csv_and_ndjson_are_accepted() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::CONTENT_TYPE, ct.parse().unwrap());
            format(&h)
        };
        assert_eq!(with("text/csv; charset=utf-8").unwrap(), Format::Csv);
        assert_eq!(with("application/x-ndjson").unwrap(), Format::Ndjson);
        let (status, _) = with("application/json").unwrap_err().status_and_body();
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
