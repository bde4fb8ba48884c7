//! `workload_charts_<ts>.png`: per variant, every request of the pass as a
//! dot on a log axis, one row per class (red: errors, grey: pages past the
//! end), with the class's p50, p90 and p99 marked; under it, in load mode,
//! the answers per second.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::request::Class;
use super::results::{Latency, LoadResult, Outcome, WorkloadResults, WorkloadRun};
use crate::charts::{draw_error, fonts, log_range, row_label, FONT};
use crate::format::{ms, thousands};

const OK: RGBColor = RGBColor(31, 119, 180);
const PAGE_PAST_END: RGBColor = RGBColor(150, 150, 150);
const ERROR: RGBColor = RGBColor(214, 39, 40);
const P90: RGBColor = RGBColor(255, 127, 14);
const P99: RGBColor = RGBColor(148, 103, 189);

const STRIP_ROW: usize = 70;

/// A percentile tick: its color, width and value.
type Mark = (RGBColor, u32, fn(&Latency) -> f64);
const LOAD_PANEL: usize = 300;

/// A fixed jitter in -0.3..0.3 per request, so that dots of one class
/// spread over their row the same way on every drawing.
fn jitter(seq: usize) -> f64 {
    let h = (seq as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (h as f64 / (1u64 << 24) as f64 - 0.5) * 0.6
}

/// The classes of a run (from the pass, else from the load), with their
/// latency summary.
fn rows(run: &WorkloadRun) -> Vec<(Class, Option<Latency>)> {
    Class::ALL
        .iter()
        .filter_map(|c| {
            let from_pass = run.summaries.iter().find(|s| s.class == c.id()).map(|s| s.latency);
            let from_load = || run.load.as_ref()?.classes.iter().find(|l| l.class == c.id()).map(|l| l.latency);
            from_pass.or_else(from_load).map(|l| (*c, l))
        })
        .collect()
}

fn color(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Ok => OK,
        Outcome::InvalidPage => PAGE_PAST_END,
        _ => ERROR,
    }
}

fn strip_panel(area: &DrawingArea<BitMapBackend, Shift>, run: &WorkloadRun, range: (f64, f64)) -> Result<()> {
    let classes = rows(run);
    let n = classes.len().max(1);
    let labels: Vec<String> = classes.iter().map(|(c, l)| format!("{c} ({})", l.map_or(0, |l| l.n))).collect();
    let (lo, hi) = range;
    let what = if run.records.is_empty() {
        "load: percentiles per class"
    } else {
        "every request of the pass (blue: 2xx, grey: page past the end, red: error)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("variant {} — {what}; ticks: p50 black, p90 orange, p99 purple; ms, log scale", run.variant),
            (FONT, 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(190)
        .build_cartesian_2d((lo..hi).log_scale(), -0.5f64..(n as f64 - 0.5))
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2)
        .y_label_formatter(&|y| row_label(&labels, *y))
        .x_label_formatter(&|x| ms(*x))
        .x_desc("ms")
        .label_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    let row_of = |class: Class| classes.iter().position(|(c, _)| *c == class).map(|i| (n - 1 - i) as f64);
    // The legend is in the caption: a box would hide dots.
    for outcome in [Outcome::Ok, Outcome::InvalidPage, Outcome::Error] {
        let c = color(outcome);
        let dots: Vec<(f64, f64)> = run
            .records
            .iter()
            .filter(|r| r.outcome == outcome && r.latency_ms > 0.0)
            .filter_map(|r| row_of(r.class).map(|y| (r.latency_ms, y + jitter(r.seq))))
            .collect();
        chart.draw_series(dots.iter().map(|p| Circle::new(*p, 3, c.mix(0.55).filled()))).map_err(draw_error)?;
    }
    let marks: [Mark; 3] = [(BLACK, 4, |l| l.p50_ms), (P90, 3, |l| l.p90_ms), (P99, 3, |l| l.p99_ms)];
    for (c, width, value) in marks {
        let ticks: Vec<(f64, f64)> =
            classes.iter().filter_map(|(class, l)| Some((value(l.as_ref()?), row_of(*class)?))).collect();
        chart
            .draw_series(
                ticks
                    .iter()
                    .map(|(x, y)| PathElement::new(vec![(*x, y - 0.38), (*x, y + 0.38)], c.stroke_width(width))),
            )
            .map_err(draw_error)?;
    }
    let text = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Bottom));
    let notes = classes.iter().filter_map(|(class, l)| {
        let l = l.as_ref()?;
        let note = format!("p50 {} · p90 {} · p99 {} · max {}", ms(l.p50_ms), ms(l.p90_ms), ms(l.p99_ms), ms(l.max_ms));
        Some(Text::new(note, (hi / 1.05, row_of(*class)? + 0.48), text.clone()))
    });
    chart.draw_series(notes).map_err(draw_error)?;
    Ok(())
}

fn load_panel(area: &DrawingArea<BitMapBackend, Shift>, variant: &str, load: &LoadResult) -> Result<()> {
    let top = load.per_second.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
    let seconds = load.per_second.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "variant {variant} — load: {} clients, {:.0} requests/s; answers per second",
                load.clients, load.requests_per_s
            ),
            (FONT, 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(190)
        .build_cartesian_2d(0f64..seconds, 0f64..top)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("s")
        .y_desc("answers")
        .y_labels((top as usize).clamp(2, 10))
        .y_label_formatter(&|y| thousands(y.round() as u64))
        .label_style((FONT, 14))
        .draw()
        .map_err(draw_error)?;
    let points: Vec<(f64, f64)> =
        load.per_second.iter().enumerate().map(|(i, n)| (i as f64 + 0.5, *n as f64)).collect();
    chart.draw_series(LineSeries::new(points.clone(), OK.stroke_width(2))).map_err(draw_error)?;
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, OK.filled()))).map_err(draw_error)?;
    Ok(())
}

/// Every latency drawn, for one shared axis.
fn latencies(r: &WorkloadResults) -> Vec<f64> {
    let mut all: Vec<f64> = r.runs.iter().flat_map(|run| run.records.iter().map(|x| x.latency_ms)).collect();
    for load in r.runs.iter().filter_map(|run| run.load.as_ref()) {
        all.extend(load.classes.iter().filter_map(|c| c.latency).flat_map(|l| [l.p50_ms, l.max_ms]));
    }
    all
}

pub fn workload_chart(path: &Path, r: &WorkloadResults) -> Result<()> {
    fonts()?;
    let heights: Vec<(usize, usize)> = r
        .runs
        .iter()
        .map(|run| (110 + rows(run).len().max(1) * STRIP_ROW, if run.load.is_some() { LOAD_PANEL } else { 0 }))
        .collect();
    let total: usize = 60 + heights.iter().map(|(s, l)| s + l).sum::<usize>();
    let root = BitMapBackend::new(path, (1800, total.max(400) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let title = format!(
        "crm-contacts randomized workload — {} requests, {} contacts, via {}, {}",
        r.requests.len(),
        thousands(r.meta.dataset.total_contacts),
        r.meta.via,
        r.meta.timestamp
    );
    let mut rest = root.titled(&title, (FONT, 26)).map_err(draw_error)?;
    let (lo, hi) = log_range(latencies(r).into_iter(), 0.1);
    let range = (lo, hi * 6.0);
    for (run, (strip, load)) in r.runs.iter().zip(heights) {
        let (panel, below) = rest.split_vertically(strip as u32);
        strip_panel(&panel, run, range)?;
        rest = below;
        if let Some(result) = &run.load {
            let (panel, below) = rest.split_vertically(load as u32);
            load_panel(&panel, &run.variant, result)?;
            rest = below;
        }
    }
    root.present().map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::export::tests::sample_results;

    #[test]
    fn the_chart_is_a_png() {
        let dir = std::env::temp_dir().join(format!("bench-workload-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.png");
        let mut r = sample_results();
        workload_chart(&path, &r).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        // A load-only run: percentiles from the load.
        r.runs[0].records.clear();
        r.runs[0].summaries.clear();
        assert_eq!(rows(&r.runs[0]).len(), 1);
        workload_chart(&path, &r).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!((0..1000).map(jitter).all(|j| (-0.3..0.3).contains(&j)));
    }
}
