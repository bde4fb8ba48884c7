//! Bound values: a query's text with its arguments, and the binder through
//! which every client value becomes an argument and its placeholder (`$n`).

/// A bound parameter, typed as PostgreSQL will receive it.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int8(i64),
    Int8Array(Vec<i64>),
    Text(String),
    TextArray(Vec<String>),
    /// A text array whose elements may be NULL (the columns of an import).
    NullableTextArray(Vec<Option<String>>),
    /// Microseconds since 2000-01-01 UTC.
    Timestamptz(i64),
    /// Days since 2000-01-01.
    Date(i32),
}

/// SQL text with its arguments. The text depends only on the shape of the
/// request (which filters, which ordering), never on values.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlQuery {
    pub text: String,
    pub args: Vec<Arg>,
}

/// Accumulates arguments and hands out their placeholders.
#[derive(Default)]
pub struct Binder {
    pub(super) args: Vec<Arg>,
}

impl Binder {
    /// The query of `text` with the values bound so far.
    pub fn finish(self, text: String) -> SqlQuery {
        SqlQuery { text, args: self.args }
    }

    pub fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
}
