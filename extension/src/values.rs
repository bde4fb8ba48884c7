//! Typed values: parsing what a client sends (Django's accepted formats and
//! error messages) and rendering what PostgreSQL returns (DRF's formats).
//!
//! Instants are carried as PostgreSQL stores them, so binding and reading
//! need no conversion: timestamps as microseconds since 2000-01-01 00:00 UTC,
//! dates as days since 2000-01-01.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
/// PostgreSQL's `infinity` / `-infinity` timestamps.
const PG_TIMESTAMP_INFINITY: i64 = i64::MAX;
const PG_TIMESTAMP_NEG_INFINITY: i64 = i64::MIN;
/// PostgreSQL's `infinity` / `-infinity` dates.
const PG_DATE_INFINITY: i32 = i32::MAX;
const PG_DATE_NEG_INFINITY: i32 = i32::MIN;

pub const MSG_NUMBER: &str = "Enter a number.";
pub const MSG_DATETIME: &str = "Enter a valid date/time.";
pub const MSG_DATE: &str = "Enter a valid date.";
pub const MSG_NULL_CHARACTER: &str = "Null characters are not allowed.";

fn pg_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date")
}

/// An integer as the client wrote it. Django accepts any number; values
/// beyond bigint cannot equal a column value but still bound a range, so
/// they are kept as a direction instead of being rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerLiteral {
    InRange(i64),
    AboveMax,
    BelowMin,
}

/// `[+-]digits`, surrounding whitespace allowed (Django strips it).
pub fn parse_integer(input: &str) -> Result<IntegerLiteral, &'static str> {
    let s = input.trim();
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MSG_NUMBER);
    }
    match s.parse::<i64>() {
        Ok(v) => Ok(IntegerLiteral::InRange(v)),
        Err(_) if negative => Ok(IntegerLiteral::BelowMin),
        Err(_) => Ok(IntegerLiteral::AboveMax),
    }
}

/// A strictly positive integer (page numbers, page sizes).
pub fn parse_positive(input: &str) -> Option<u64> {
    let s = input.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v > 0)
}

/// A small cursor over ASCII input used by the date/time grammar.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner { bytes: s.as_bytes(), pos: 0 }
    }

    /// Between `min` and `max` ASCII digits, as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        while self.pos < self.bytes.len() && self.pos - start < max && self.bytes[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        if self.pos - start < min {
            return None;
        }
        std::str::from_utf8(&self.bytes[start..self.pos]).ok()?.parse().ok()
    }

    /// The digits consumed by the last `digits` call started at `start`.
    fn consumed_since(&self, start: usize) -> usize {
        self.pos - start
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, set: &[u8]) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        if set.contains(&b) {
            self.pos += 1;
            Some(b)
        } else {
            None
        }
    }

    fn skip_whitespace(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// `YYYY-M[M]-D[D]`, validated as a calendar date.
fn scan_date(sc: &mut Scanner) -> Option<NaiveDate> {
    let year = sc.digits(4, 4)?;
    if !sc.eat(b'-') {
        return None;
    }
    let month = sc.digits(1, 2)?;
    if !sc.eat(b'-') {
        return None;
    }
    let day = sc.digits(1, 2)?;
    if year == 0 {
        return None; // Python's date starts at year 1
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// `HH:MM[:SS[.ffffff]]`; up to 12 fraction digits, the first 6 kept (Django).
fn scan_time(sc: &mut Scanner) -> Option<NaiveTime> {
    let hour = sc.digits(1, 2)?;
    if !sc.eat(b':') {
        return None;
    }
    let minute = sc.digits(1, 2)?;
    let mut second = 0;
    let mut micros = 0;
    if sc.eat(b':') {
        second = sc.digits(1, 2)?;
        if sc.eat_any(b".,").is_some() {
            let start = sc.pos;
            let fraction = sc.digits(1, 6)?;
            let width = sc.consumed_since(start);
            micros = fraction * 10u32.pow(6 - width as u32);
            let _ignored_beyond_micros = sc.digits(0, 6);
        }
    }
    NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
}

/// `Z` or `±HH[[:]MM]`, as an offset in seconds east of UTC.
fn scan_offset(sc: &mut Scanner) -> Option<Option<i32>> {
    if sc.eat(b'Z') {
        return Some(Some(0));
    }
    let sign = match sc.eat_any(b"+-") {
        Some(b'-') => -1,
        Some(_) => 1,
        None => return Some(None),
    };
    let hours = sc.digits(2, 2)? as i32;
    let colon = sc.eat(b':');
    let minutes = if !colon && sc.at_end() { 0 } else { sc.digits(2, 2)? as i32 };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(Some(sign * (hours * 3600 + minutes * 60)))
}

/// A timestamp as Django's DateTimeField accepts it: ISO 8601 with `T` or a
/// space, optional seconds and fraction, optional offset (`Z`, `+00`,
/// `+02:00`, `+0200`), or a date alone meaning midnight. Values without an
/// offset are UTC (the original's TIME_ZONE). Returns PostgreSQL micros.
pub fn parse_timestamp(input: &str) -> Result<i64, &'static str> {
    let mut sc = Scanner::new(input.trim());
    let date = scan_date(&mut sc).ok_or(MSG_DATETIME)?;
    let (time, offset_seconds) = if sc.at_end() {
        (NaiveTime::MIN, 0)
    } else {
        sc.eat_any(b"T ").ok_or(MSG_DATETIME)?;
        let time = scan_time(&mut sc).ok_or(MSG_DATETIME)?;
        sc.skip_whitespace();
        let offset = scan_offset(&mut sc).ok_or(MSG_DATETIME)?;
        (time, offset.unwrap_or(0))
    };
    if !sc.at_end() {
        return Err(MSG_DATETIME);
    }
    let utc = NaiveDateTime::new(date, time) - Duration::seconds(offset_seconds as i64);
    let since_pg_epoch = utc - pg_epoch().and_time(NaiveTime::MIN);
    since_pg_epoch.num_microseconds().ok_or(MSG_DATETIME)
}

/// A date as `YYYY-MM-DD` (month and day may have one digit), validated
/// against the calendar: `2024-02-30` is an error. Returns PostgreSQL days.
pub fn parse_date(input: &str) -> Result<i32, &'static str> {
    let mut sc = Scanner::new(input.trim());
    let date = scan_date(&mut sc).ok_or(MSG_DATE)?;
    if !sc.at_end() {
        return Err(MSG_DATE);
    }
    Ok((date - pg_epoch()).num_days() as i32)
}

/// DRF's rendering of a timestamptz appended to `out`: ISO 8601 in UTC with
/// a `Z` suffix and microseconds only when non-zero. No intermediate
/// strings: it runs four times per contact of every page.
pub fn write_timestamp(out: &mut String, pg_micros: i64) {
    use std::fmt::Write;
    match pg_micros {
        PG_TIMESTAMP_INFINITY => return out.push_str("infinity"),
        PG_TIMESTAMP_NEG_INFINITY => return out.push_str("-infinity"),
        _ => {}
    }
    let unix = pg_micros.saturating_add(PG_EPOCH_UNIX_MICROS);
    let Some(t) = DateTime::from_timestamp_micros(unix) else {
        return out.push_str("infinity");
    };
    let (date, time) = (t.date_naive(), t.time());
    if (0..=9999).contains(&date.year()) {
        push_digits(out, date.year() as u32, 4);
        for (separator, value) in
            [('-', date.month()), ('-', date.day()), ('T', time.hour()), (':', time.minute()), (':', time.second())]
        {
            out.push(separator);
            push_digits(out, value, 2);
        }
    } else {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            date.year(),
            date.month(),
            date.day(),
            time.hour(),
            time.minute(),
            time.second()
        );
    }
    let micros = t.timestamp_subsec_micros();
    if micros != 0 {
        out.push('.');
        push_digits(out, micros, 6);
    }
    out.push('Z');
}

/// `value` in decimal, zero-padded to `width` digits (it has no more):
/// by hand, as `{:02}` goes through the formatter's padding machinery,
/// and this runs for seven numbers of every timestamp of every row read.
fn push_digits(out: &mut String, mut value: u32, width: usize) {
    let mut digits = [b'0'; 6];
    for digit in digits[..width].iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.push_str(std::str::from_utf8(&digits[..width]).expect("ASCII digits"));
}

/// A date as `YYYY-MM-DD`.
pub fn format_date(pg_days: i32) -> String {
    let mut out = String::with_capacity(10);
    write_date(&mut out, pg_days);
    out
}

/// A date as `YYYY-MM-DD` appended to `out` (without `format`'s parsing
/// of a pattern: it runs for every contact of a page or an export).
pub fn write_date(out: &mut String, pg_days: i32) {
    use std::fmt::Write;
    match pg_days {
        PG_DATE_INFINITY => return out.push_str("infinity"),
        PG_DATE_NEG_INFINITY => return out.push_str("-infinity"),
        _ => {}
    }
    match pg_epoch().checked_add_signed(Duration::days(pg_days as i64)) {
        // As chrono's `%Y` writes years: a sign outside 0000–9999.
        Some(d) if (0..=9999).contains(&d.year()) => {
            push_digits(out, d.year() as u32, 4);
            out.push('-');
            push_digits(out, d.month(), 2);
            out.push('-');
            push_digits(out, d.day(), 2);
        }
        Some(d) => {
            let _ = write!(out, "{:+05}-{:02}-{:02}", d.year(), d.month(), d.day());
        }
        None => out.push_str("infinity"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_timestamp(pg_micros: i64) -> String {
        let mut out = String::new();
        write_timestamp(&mut out, pg_micros);
        out
    }

    fn ts(s: &str) -> String {
        format_timestamp(parse_timestamp(s).unwrap())
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer("42"), Ok(IntegerLiteral::InRange(42)));
        assert_eq!(parse_integer(" -7 "), Ok(IntegerLiteral::InRange(-7)));
        assert_eq!(parse_integer("+5"), Ok(IntegerLiteral::InRange(5)));
        assert_eq!(parse_integer("99999999999999999999"), Ok(IntegerLiteral::AboveMax));
        assert_eq!(parse_integer("-99999999999999999999"), Ok(IntegerLiteral::BelowMin));
        for bad in ["", "abc", "1.5", "1e3", "--1", "1 2", "0x10", "+", "٣"] {
            assert_eq!(parse_integer(bad), Err(MSG_NUMBER), "{bad:?}");
        }
    }

    #[test]
    fn positive_integers() {
        assert_eq!(parse_positive("3"), Some(3));
        assert_eq!(parse_positive("0"), None);
        assert_eq!(parse_positive("-1"), None);
        assert_eq!(parse_positive("x"), None);
        assert_eq!(parse_positive("99999999999999999999999"), None);
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        assert_eq!(ts("2024-05-01"), "2024-05-01T00:00:00Z");
        assert_eq!(ts("2024-05-01T12:34"), "2024-05-01T12:34:00Z");
        assert_eq!(ts("2024-05-01 12:34:56"), "2024-05-01T12:34:56Z");
        assert_eq!(ts("2024-05-01T12:34:56.5"), "2024-05-01T12:34:56.500000Z");
        assert_eq!(ts("2024-05-01T12:34:56,123456789"), "2024-05-01T12:34:56.123456Z");
        assert_eq!(ts("2024-05-01T12:34:56Z"), "2024-05-01T12:34:56Z");
        assert_eq!(ts("2024-05-01T12:34:56+00"), "2024-05-01T12:34:56Z");
        assert_eq!(ts("2024-05-01T12:34:56+02:00"), "2024-05-01T10:34:56Z");
        assert_eq!(ts("2024-05-01T12:34:56-0130"), "2024-05-01T14:04:56Z");
        assert_eq!(ts("2024-05-01T00:30:00+01:00"), "2024-04-30T23:30:00Z");
        assert_eq!(ts(" 2024-5-1 1:2 "), "2024-05-01T01:02:00Z");
    }

    #[test]
    fn invalid_timestamps() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "2024-05-01T25:00",
            "2024-05-01T12",
            "2024-05-01T12:00:00+2",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01X12:00",
            "2024-05-01T12:00:00Zjunk",
            "0000-01-01",
            "2024-05-01T12:00:60",
            "2024-05-01T12:00:00+02:",
        ] {
            assert_eq!(parse_timestamp(bad), Err(MSG_DATETIME), "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2000-01-01"), Ok(0));
        assert_eq!(parse_date("2000-01-02"), Ok(1));
        assert_eq!(parse_date("1999-12-31"), Ok(-1));
        assert_eq!(format_date(parse_date("2024-02-29").unwrap()), "2024-02-29");
        for bad in ["2024-02-30", "2023-02-29", "24-01-01", "2024-01-01T00:00", "", "2024/01/01"] {
            assert_eq!(parse_date(bad), Err(MSG_DATE), "{bad:?}");
        }
    }

    #[test]
    fn rendering_matches_drf() {
        assert_eq!(format_timestamp(0), "2000-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1), "2000-01-01T00:00:00.000001Z");
        assert_eq!(format_timestamp(-1), "1999-12-31T23:59:59.999999Z");
        assert_eq!(format_timestamp(i64::MAX), "infinity");
        assert_eq!(format_date(-1), "1999-12-31");
        // The years chrono's `%Y` writes with a sign.
        for days in [-730_120 - 400, -730_120 + 400, 2_932_897 + 10, 50_000_000] {
            let date = pg_epoch() + Duration::days(days as i64);
            assert_eq!(format_date(days), date.format("%Y-%m-%d").to_string(), "{days}");
        }
        assert_eq!(format_date(i32::MIN), "-infinity");
    }

    #[test]
    fn digits_written_by_hand_agree_with_chrono() {
        // From year 0 to 9999 in uneven steps, every field's digits vary.
        let (first, last) = (-730_485_i64 * 86_400_000_000, 2_921_939_i64 * 86_400_000_000);
        let step = 7_777_777_777_777_i64 + 123_457;
        for micros in (first..last).step_by(step as usize).chain([0, 59_999_999, 86_399_999_999]) {
            let t = DateTime::from_timestamp_micros(micros + PG_EPOCH_UNIX_MICROS).unwrap();
            let pattern = if micros % 1_000_000 == 0 { "%Y-%m-%dT%H:%M:%SZ" } else { "%Y-%m-%dT%H:%M:%S%.6fZ" };
            assert_eq!(format_timestamp(micros), t.format(pattern).to_string(), "{micros}");
            let days = micros.div_euclid(86_400_000_000) as i32;
            assert_eq!(format_date(days), t.format("%Y-%m-%d").to_string(), "{days}");
        }
    }
}
