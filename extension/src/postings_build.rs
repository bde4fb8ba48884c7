//! The pure part of a postings build (`postings_store::refresh`): the
//! projection's rows, in batches read by the backend, become the postings'
//! rows, serialized. No PostgreSQL call happens here, so it runs on a thread
//! of its own beside the backend that reads the rows and writes the
//! postings (two cores instead of one: the reading, the building and the
//! writing overlap).

use crate::fields::Column;
use crate::objects::FLAT;
use crate::postings::{self, Appender, Bitmap, ColumnPostings, Keyed, Kind, TextPairs};

/// What a build reads, per contact: each pattern column as stored and
/// lower-cased, each value column, each range column's sort key.
pub struct Layout {
    pub columns: Vec<Column>,
    pub value_columns: Vec<Column>,
    pub bucket_columns: Vec<Column>,
    /// Per pattern column, the prefix its grams skip
    /// (`ColumnPostings::with_prefix`).
    pub skipped: Vec<Option<String>>,
    /// Whether spans are cut (the database sorts text in byte order).
    pub spans: bool,
}

impl Layout {
    /// Text slots per row: two per pattern column, one per value column.
    pub fn text_slots(&self) -> usize {
        2 * self.columns.len() + self.value_columns.len()
    }

    /// The columns a row has after its id: `(texts, sort keys)`.
    pub fn row_shape(&self) -> (usize, usize) {
        (self.text_slots(), self.bucket_columns.len())
    }

    /// The rows, in id order: the id, the texts in slot order, the sort
    /// keys (`postings::sort_key_sql`).
    pub fn select_sql(&self, schema: &str) -> String {
        let mut select: Vec<String> = self.columns.iter().map(|c| format!("{0}, lower({0})", c.output_key())).collect();
        select.extend(self.value_columns.iter().map(|c| c.output_key().to_string()));
        select.extend(self.bucket_columns.iter().map(postings::sort_key_sql));
        format!("SELECT id, {} FROM {schema}.{FLAT} ORDER BY id", select.join(", "))
    }
}

/// Rows of the projection, in ascending id order, owned (they leave the
/// backend's memory): texts in one buffer, `(start, end)` per row and
/// slot (`Layout::text_slots`), `None` for NULL.
#[derive(Default)]
pub struct Batch {
    pub ids: Vec<u32>,
    bytes: Vec<u8>,
    texts: Vec<Option<(u32, u32)>>,
    pub keys: Vec<Option<i64>>,
}

impl Batch {
    /// Adds a row: its id, its texts in slot order, its sort keys.
    pub fn push<'a>(&mut self, id: u32, texts: impl IntoIterator<Item = Option<&'a str>>, keys: &[Option<i64>]) {
        self.ids.push(id);
        for text in texts {
            self.texts.push(text.map(|t| {
                let start = self.bytes.len() as u32;
                self.bytes.extend_from_slice(t.as_bytes());
                (start, self.bytes.len() as u32)
            }));
        }
        self.keys.extend_from_slice(keys);
    }

    fn text(&self, at: usize) -> Option<&str> {
        let (start, end) = self.texts[at]?;
        // Only whole texts were copied in.
        std::str::from_utf8(&self.bytes[start as usize..end as usize]).ok()
    }
}

/// Posting rows of one field and kind: `(key, bytes, n)`.
pub struct Output {
    pub field: &'static str,
    pub kind: Kind,
    pub rows: Vec<(String, Vec<u8>, i64)>,
}

impl Output {
    fn of(field: &'static str, kind: Kind, keyed: Vec<Keyed>) -> Output {
        let rows = keyed.into_iter().map(|(key, bitmap)| (key, postings::to_bytes(&bitmap), bitmap.len() as i64));
        Output { field, kind, rows: rows.collect() }
    }
}

/// The postings under construction, every column at once.
pub struct Builder {
    layout: Layout,
    built: Vec<ColumnPostings>,
    pairs: Vec<Option<TextPairs>>,
    keyed: Vec<Vec<(i64, u32)>>,
    nulls: Vec<Appender>,
    everyone: Appender,
}

impl Builder {
    pub fn new(layout: Layout) -> Self {
        let span_columns = postings::span_columns();
        let mut built: Vec<ColumnPostings> = layout
            .skipped
            .iter()
            .map(|prefix| prefix.clone().map_or_else(ColumnPostings::default, ColumnPostings::with_prefix))
            .collect();
        built.extend(layout.value_columns.iter().map(|_| ColumnPostings::default()));
        let pairs = layout
            .columns
            .iter()
            .map(|c| (layout.spans && !c.few_values && span_columns.contains(c)).then(TextPairs::default))
            .collect();
        let all = layout.columns.len() + layout.value_columns.len() + layout.bucket_columns.len();
        Builder {
            keyed: layout.bucket_columns.iter().map(|_| Vec::new()).collect(),
            nulls: vec![Appender::default(); all],
            everyone: Appender::default(),
            built,
            pairs,
            layout,
        }
    }

    pub fn add(&mut self, batch: &Batch) {
        let (columns, values) = (self.layout.columns.len(), self.layout.value_columns.len());
        let slots = self.layout.text_slots();
        let ranges = self.layout.bucket_columns.len();
        for (row, &id) in batch.ids.iter().enumerate() {
            self.everyone.push(id);
            let text = |slot: usize| batch.text(row * slots + slot);
            for (i, column) in self.layout.columns.iter().enumerate() {
                match (text(2 * i), text(2 * i + 1)) {
                    (Some(value), Some(lowered)) => {
                        if let Some(pairs) = &mut self.pairs[i] {
                            pairs.push(value, id);
                        }
                        self.built[i].add(id, value, lowered, column.few_values);
                    }
                    _ => self.nulls[i].push(id),
                }
            }
            for i in 0..values {
                match text(2 * columns + i) {
                    Some(value) => self.built[columns + i].add_value(id, value),
                    None => self.nulls[columns + i].push(id),
                }
            }
            for (i, pairs) in self.keyed.iter_mut().enumerate() {
                match batch.keys[row * ranges + i] {
                    Some(key) => pairs.push((key, id)),
                    None => self.nulls[columns + values + i].push(id),
                }
            }
        }
    }

    /// Every posting, column by column, handed to `emit` as soon as made;
    /// stops early when `emit` returns false (the reader has gone).
    pub fn finish(self, mut emit: impl FnMut(Output) -> bool) {
        let Builder { layout, built, mut pairs, keyed, nulls, everyone } = self;
        let span_columns = postings::span_columns();
        let text_columns = layout.columns.iter().chain(&layout.value_columns);
        for (i, (column, postings)) in text_columns.zip(built).enumerate() {
            let field = column.output_key();
            if let Some(prefix) = postings.common_prefix().filter(|p| !p.is_empty()) {
                if !emit(Output::of(field, Kind::Prefix, vec![(prefix.to_string(), Bitmap::new())])) {
                    return;
                }
            }
            let finished = postings.finish(layout.spans && span_columns.contains(column));
            let spans = pairs.get_mut(i).and_then(Option::take).map(TextPairs::spans).or(finished.spans);
            for (kind, keyed) in
                [(Kind::Span, spans), (Kind::Value, Some(finished.values)), (Kind::Gram, Some(finished.grams))]
            {
                if !emit(Output::of(field, kind, keyed.unwrap_or_default())) {
                    return;
                }
            }
        }
        for (column, pairs) in layout.bucket_columns.iter().zip(keyed) {
            let buckets = postings::buckets_of(pairs).into_iter().map(|(lo, ids)| (lo.to_string(), ids)).collect();
            if !emit(Output::of(column.output_key(), Kind::Bucket, buckets)) {
                return;
            }
        }
        // Every contact: the ids the pass read.
        if !emit(Output::of("", Kind::All, vec![(String::new(), everyone.finish())])) {
            return;
        }
        // The contacts without a value of each column the groups divide or
        // split. (The groups also split an undivided nullable column in
        // two: its NULLs and the rest, `grouped::GroupKey::Present`.)
        let all = layout.columns.iter().chain(&layout.value_columns).chain(&layout.bucket_columns);
        for (column, ids) in all.zip(nulls) {
            if !column.nullable && postings::group_kind(column).is_none() {
                continue;
            }
            if !emit(Output::of(column.output_key(), Kind::Null, vec![(String::new(), ids.finish())])) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields;

    fn layout() -> Layout {
        Layout {
            columns: vec![fields::U_FIRST_NAME, fields::U_CUSTOMER_ID],
            value_columns: vec![fields::U_GENDER],
            bucket_columns: vec![fields::U_BIRTHDAY],
            skipped: vec![None, Some("cust-".to_string())],
            spans: true,
        }
    }

    fn rows(outputs: &[Output], field: &str, kind: Kind) -> Vec<(String, Vec<u32>)> {
        let found = outputs.iter().filter(|o| o.field == field && o.kind == kind);
        let rows = found.flat_map(|o| o.rows.iter());
        rows.map(|(k, bytes, n)| {
            let ids: Vec<u32> = postings::from_bytes(bytes).expect("a bitmap").iter().collect();
            assert_eq!(ids.len() as i64, *n);
            (k.clone(), ids)
        })
        .collect()
    }

    #[test]
    fn batches_become_every_kind_of_posting() {
        let mut builder = Builder::new(layout());
        let mut batch = Batch::default();
        batch.push(1, [Some("Anna"), Some("anna"), Some("CUST-0A"), Some("cust-0a"), Some("F")], &[Some(5)]);
        batch.push(2, [None, None, Some("CUST-1B"), Some("cust-1b"), None], &[None]);
        builder.add(&batch);
        let mut batch = Batch::default();
        batch.push(7, [Some("Ann"), Some("ann"), Some("CUST-0C"), Some("cust-0c"), Some("F")], &[Some(-3)]);
        builder.add(&batch);
        let mut outputs = Vec::new();
        builder.finish(|o| {
            outputs.push(o);
            true
        });
        let gram = |field: &str, g: &str| {
            rows(&outputs, field, Kind::Gram).into_iter().find(|(k, _)| k == g).map(|(_, ids)| ids)
        };
        assert_eq!(gram("first_name", "nn"), Some(vec![1, 7]));
        assert_eq!(gram("first_name", "nna"), Some(vec![1]));
        assert_eq!(gram("customer_id", "\u{1}0"), Some(vec![1, 7]), "grams skip the prefix");
        assert_eq!(gram("customer_id", "ust"), None);
        assert_eq!(rows(&outputs, "customer_id", Kind::Prefix), [("cust-".to_string(), vec![])]);
        assert_eq!(rows(&outputs, "gender", Kind::Value), [("F".to_string(), vec![1, 7])]);
        assert_eq!(rows(&outputs, "gender", Kind::Null), [(String::new(), vec![2])]);
        assert_eq!(rows(&outputs, "first_name", Kind::Null), [(String::new(), vec![2])]);
        assert_eq!(rows(&outputs, "", Kind::All), [(String::new(), vec![1, 2, 7])]);
        let birthdays = rows(&outputs, "birthday", Kind::Bucket);
        assert_eq!(birthdays, [("-3".to_string(), vec![7]), ("5".to_string(), vec![1])]);
        assert_eq!(rows(&outputs, "birthday", Kind::Null), [(String::new(), vec![2])]);
        let spans: Vec<String> = rows(&outputs, "customer_id", Kind::Span).into_iter().map(|(k, _)| k).collect();
        assert_eq!(spans, ["CUST-0A", "CUST-0C", "CUST-1B"]);
    }

    #[test]
    fn a_reader_that_leaves_stops_the_build() {
        let mut builder = Builder::new(layout());
        let mut batch = Batch::default();
        batch.push(1, [Some("A"), Some("a"), Some("CUST-0A"), Some("cust-0a"), Some("F")], &[Some(5)]);
        builder.add(&batch);
        let mut emitted = 0;
        builder.finish(|_| {
            emitted += 1;
            false
        });
        assert_eq!(emitted, 1);
    }
}
