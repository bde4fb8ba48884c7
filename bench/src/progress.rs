//! Progress on stderr: a bar on a terminal, and plain lines always (so a
//! log of a run says what happened).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix:>9} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress { bar, quiet }
    }

    /// A new stage of `requests` requests.
    pub fn stage(&self, prefix: &str, requests: u64) {
        self.bar.set_prefix(prefix.to_string());
        self.bar.set_length(requests);
        self.bar.set_position(0);
    }

    pub fn message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    pub fn tick(&self) {
        self.bar.inc(1);
    }

    /// A line above the bar.
    pub fn line(&self, line: impl AsRef<str>) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{}", line.as_ref()));
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
