//! Every contact a list request matches, as lines of CSV or NDJSON, for
//! `crm.export_lines` (a line per value) and `crm.export_chunks` (pieces
//! of many lines): the matches are walked in keyset pages of
//! `PAGE_ROWS` (each costs the same at any depth), one page in memory at a
//! time, so that an export of millions of rows stays flat in memory.

use serde_json::Value as Json;

use crate::contact::{self, Cell, ContactRow};
use crate::error::QueryError;
use crate::fields;
use crate::params::PageRequest;
use crate::service::{self, Failure};
use crate::values;

/// Rows read per page of the walk.
pub const PAGE_ROWS: u64 = 10_000;

/// The export's formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A header row of the 19 keys, then one row per contact (RFC 4180).
    Csv,
    /// One contact object per line, as reads render it.
    Ndjson,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format, QueryError> {
        match name {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            _ => Err(QueryError::parameter("format", "Select a valid choice: csv, ndjson.")),
        }
    }
}

/// The list parameters an export does not take: it returns every match.
pub const PAGING: [&str; 3] = [fields::PAGE, fields::PAGE_SIZE, fields::CURSOR];

/// The contacts of an export, read page by page as they are asked for.
pub struct Walk {
    request: service::ExportRequest,
    format: Format,
    header_due: bool,
    /// The cursor of the next page; `None` once the last page was read.
    next: Option<Option<String>>,
    rows: std::vec::IntoIter<ContactRow>,
}

impl Walk {
    /// Validates `params` (the list's, without paging) before any row is read.
    pub fn new(params: &Json, format: &str) -> Result<Walk, Failure> {
        let format = Format::parse(format)?;
        if let Some(paging) = params.as_object().and_then(|p| PAGING.iter().find(|k| p.contains_key(**k))) {
            return Err(QueryError::parameter(*paging, "An export returns every match: it takes no page.").into());
        }
        let request = service::export_request(params, PAGE_ROWS)?;
        Ok(Walk { request, format, header_due: format == Format::Csv, next: Some(None), rows: Vec::new().into_iter() })
    }

    /// Appends the next line (without its newline) to `out`; `false` at
    /// the end. After an error the walk is over: it yields nothing more.
    fn write_next(&mut self, out: &mut String) -> Result<bool, Failure> {
        let written = self.advance(out);
        if written.is_err() {
            self.next = None;
            self.rows = Vec::new().into_iter();
        }
        written
    }

    fn advance(&mut self, out: &mut String) -> Result<bool, Failure> {
        if self.header_due {
            self.header_due = false;
            out.push_str(&csv_header());
            return Ok(true);
        }
        loop {
            if let Some(row) = self.rows.next() {
                write_line(out, self.format, &row);
                return Ok(true);
            }
            let Some(cursor) = self.next.take() else { return Ok(false) };
            let (rows, next) = service::export_page(&self.request, PageRequest::Cursor(cursor))?;
            self.next = next.map(Some);
            self.rows = rows.into_iter();
        }
    }
}

/// The lines of an export, one per item (`crm.export_lines`).
pub struct Lines(Walk);

impl Lines {
    pub fn new(params: &Json, format: &str) -> Result<Lines, Failure> {
        Walk::new(params, format).map(Lines)
    }
}

impl Iterator for Lines {
    type Item = Result<String, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = String::with_capacity(400);
        match self.0.write_next(&mut line) {
            Ok(true) => Some(Ok(line)),
            Ok(false) => None,
            Err(failure) => Some(Err(failure)),
        }
    }
}

/// Bytes of text per piece of `Chunks` (a piece ends at the first line
/// end past it).
pub const CHUNK_BYTES: usize = 256 * 1024;

/// The text of an export in pieces of whole lines, each line with its
/// newline (`crm.export_chunks`): what a client that streams the export
/// reads. One value per ~1,000 lines instead of one per line spares the
/// executor, the wire protocol and the client a row each.
pub struct Chunks(Walk);

impl Chunks {
    pub fn new(params: &Json, format: &str) -> Result<Chunks, Failure> {
        Walk::new(params, format).map(Chunks)
    }
}

impl Iterator for Chunks {
    type Item = Result<String, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        let walk = &mut self.0;
        let mut chunk = String::with_capacity(CHUNK_BYTES + 4096);
        while chunk.len() < CHUNK_BYTES {
            match walk.write_next(&mut chunk) {
                Ok(true) => chunk.push('\n'),
                Ok(false) => break,
                Err(failure) => return Some(Err(failure)),
            }
        }
        (!chunk.is_empty()).then_some(Ok(chunk))
    }
}

/// The CSV header: the contact's keys in order.
pub fn csv_header() -> String {
    fields::CONTACT.iter().map(|f| f.key).collect::<Vec<_>>().join(",")
}

/// One contact as a line (without its newline).
#[cfg(test)]
fn line(format: Format, row: &ContactRow) -> String {
    let mut out = String::with_capacity(400);
    write_line(&mut out, format, row);
    out
}

/// One contact as a line (without its newline) appended to `out`.
fn write_line(out: &mut String, format: Format, row: &ContactRow) {
    match format {
        Format::Ndjson => contact::write_json(out, row),
        Format::Csv => {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_csv_cell(out, cell);
            }
        }
    }
}

/// A cell as the JSON shows it, quoted when it must be (RFC 4180); NULL is
/// an empty field, and an empty text is `""` to tell the two apart.
fn write_csv_cell(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => {}
        Cell::Int(v) => out.push_str(itoa::Buffer::new().format(*v)),
        Cell::Timestamp(t) => values::write_timestamp(out, *t),
        Cell::Date(d) => values::write_date(out, *d),
        Cell::Text(s) => {
            if s.is_empty() || s.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&s.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> ContactRow {
        let mut row = vec![Cell::Null; fields::CONTACT.len()];
        row[0] = Cell::Int(7);
        row[1] = Cell::Text(text.into());
        row[6] = Cell::Timestamp(0);
        row[7] = Cell::Date(0);
        row
    }

    #[test]
    fn csv_quotes_what_must_be_quoted_and_tells_null_from_empty() {
        assert!(csv_header().starts_with("id,first_name,last_name,gender,customer_id"));
        assert_eq!(csv_header().split(',').count(), 19);
        let plain = line(Format::Csv, &row("Zoë"));
        assert_eq!(plain, "7,Zoë,,,,,2000-01-01T00:00:00Z,2000-01-01,,,,,,,,,,,");
        assert!(line(Format::Csv, &row("O\"Neil, Jr\nX")).starts_with("7,\"O\"\"Neil, Jr\nX\","));
        assert!(line(Format::Csv, &row("")).starts_with("7,\"\","));
    }

    #[test]
    fn ndjson_lines_are_the_contact_objects() {
        let text = line(Format::Ndjson, &row("Zoë"));
        let object: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(object["first_name"], "Zoë");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn formats_are_csv_and_ndjson() {
        assert_eq!(Format::parse("csv").unwrap(), Format::Csv);
        assert_eq!(Format::parse("ndjson").unwrap(), Format::Ndjson);
        assert_eq!(Format::parse("xml").unwrap_err().body(), r#"{"format":["Select a valid choice: csv, ndjson."]}"#);
    }
}
