//! Progress bars on stderr: one per table (rows, rate, ETA) and one per
//! finishing step (index builds, ANALYZE). Disabled, every bar is hidden, so
//! the loading code never checks whether progress is shown.

use std::fmt::Write;

use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

pub struct Progress {
    multi: Option<MultiProgress>,
}

const ROWS_TEMPLATE: &str =
    "{prefix:>21.bold} [{bar:32.cyan/blue}] {human_pos:>9}/{human_len:9} {rate:>13} ETA {eta:>3} {elapsed:>4}";
const STEPS_TEMPLATE: &str = "{prefix:>21.bold} [{bar:32.cyan/blue}] {pos:>9}/{len:9} {elapsed:>4} {wide_msg}";

/// Whole rows per second (indicatif's `per_sec` reads a width as precision).
fn rate(state: &ProgressState, out: &mut dyn Write) {
    let _ = write!(out, "{}/s", HumanCount(state.per_sec() as u64));
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Progress { multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())) }
    }

    fn add(&self, prefix: &str, len: u64, template: &str) -> ProgressBar {
        let Some(multi) = &self.multi else { return ProgressBar::hidden() };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", rate)
            .progress_chars("=> ");
        multi.add(ProgressBar::new(len).with_style(style).with_prefix(prefix.to_string()))
    }

    /// Rows written into `table`, out of `len`.
    pub fn rows(&self, table: &str, len: u64) -> ProgressBar {
        self.add(table, len, ROWS_TEMPLATE)
    }

    /// Statements of a finishing step; the message names the one running.
    pub fn steps(&self, what: &str, len: u64) -> ProgressBar {
        self.add(what, len, STEPS_TEMPLATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert!(ProgressStyle::with_template(ROWS_TEMPLATE).is_ok());
        assert!(ProgressStyle::with_template(STEPS_TEMPLATE).is_ok());
        assert!(Progress::new(false).rows("appuser", 10).is_hidden());
    }
}
