//! PNG charts (plotters, bitmap backend, the bundled DejaVu Sans font so
//! that no system font library is needed):
//! - `benchmark_charts_<ts>.png`: p50 per scenario and variant (log scale,
//!   with the original's figure marked), and the speed-up over baseline;
//! - `benchmark_queries_<ts>.png`: per scenario the database query count
//!   of a request (the original's 2 marked), every measured sample (the
//!   distribution of the times), and p50 against the query count;
//! - `pagination_charts_page_size_<n>_<ts>.png`: page latency against
//!   depth, page numbers against cursors, one panel per variant.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::format::{factor, ms, thousands};
use crate::original;
use crate::results::{PageResult, RunResults};
use crate::scenarios::WALK_PAGE_SIZE;

const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
pub(crate) const FONT: &str = "sans-serif";

/// Registers the bundled font under the family names plotters asks for.
pub(crate) fn fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|family| plotters::style::register_font(family, FontStyle::Normal, FONT_BYTES).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the bundled font cannot be loaded"))
    }
}

/// A color per variant, the same in every chart.
pub fn variant_color(variant: &str, index: usize) -> RGBColor {
    match variant {
        "baseline" => RGBColor(214, 39, 40),
        "indexed" => RGBColor(255, 127, 14),
        "trgm" => RGBColor(31, 119, 180),
        "full" => RGBColor(44, 160, 44),
        _ => [RGBColor(148, 103, 189), RGBColor(140, 86, 75), RGBColor(227, 119, 194)][index % 3],
    }
}

pub(crate) fn draw_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e}")
}

/// The label of row `y` (rows are numbered bottom-up, labels top-down).
pub(crate) fn row_label(labels: &[String], y: f64) -> String {
    let row = y.round();
    if (y - row).abs() > 0.01 || row < 0.0 || row as usize >= labels.len() {
        return String::new();
    }
    labels[labels.len() - 1 - row as usize].clone()
}

/// A log axis range around the values, with room for the labels
/// (`empty` × 1..100 without values).
pub(crate) fn log_range(values: impl Iterator<Item = f64>, empty: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (empty, empty * 100.0);
    }
    (lo / 2.0, (hi * 4.0).max(lo * 10.0))
}

/// `benchmark_charts_<ts>.png`.
pub fn scenario_chart(path: &Path, run: &RunResults) -> Result<()> {
    fonts()?;
    let variants = run.variants();
    let rows: Vec<(String, String)> =
        run.scenario_ids().into_iter().filter(|(id, _)| !id.starts_with("cursor_pages")).collect();
    let labels: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
    let n = rows.len().max(1);
    let slot = 0.8 / variants.len().max(1) as f64;
    let height = (170 + n * (variants.len().max(1) * 17 + 22)) as u32;
    let root = BitMapBackend::new(path, (2000, height.max(500))).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let title = format!(
        "crm-contacts: p50 per scenario — {} contacts, via {}, {} reps, {}",
        thousands(run.meta.dataset.total_contacts),
        run.meta.via,
        run.meta.reps,
        run.meta.timestamp
    );
    let root = root.titled(&title, (FONT, 28)).map_err(draw_error)?;
    let (left, right) = root.split_horizontally(1150);
    // The y position of variant `j`'s bar in row `i` (first row on top).
    let bar_y = |i: usize, j: usize| (n - 1 - i) as f64 + 0.4 - slot * (j as f64 + 0.5);

    // Left: p50 per variant, the original's figure as a black tick.
    let p50s = rows.iter().flat_map(|(id, _)| variants.iter().filter_map(|v| run.result(v, id)?.headline()));
    let originals = rows.iter().filter_map(|(id, _)| original::figures(id)).flatten();
    let (lo, hi) = log_range(p50s.chain(originals), 0.1);
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "p50 ms (pagination: avg per page), log scale; black tick: the original (docs/compatibility.md)",
            (FONT, 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(290)
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
    let value_style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let error_style =
        TextStyle::from((FONT, 13).into_font()).color(&RGBColor(200, 0, 0)).pos(Pos::new(HPos::Left, VPos::Center));
    for (j, variant) in variants.iter().enumerate() {
        let color = variant_color(variant, j);
        let bars: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (id, _))| run.result(variant, id)?.headline().map(|p| (p, bar_y(i, j))))
            .collect();
        chart
            .draw_series(
                bars.iter()
                    .map(|(p, y)| Rectangle::new([(lo, y - slot * 0.42), (*p, y + slot * 0.42)], color.filled())),
            )
            .map_err(draw_error)?
            .label(variant.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
        let texts = rows.iter().enumerate().filter_map(|(i, (id, _))| {
            let r = run.result(variant, id)?;
            let y = bar_y(i, j);
            let x = r.headline().unwrap_or(lo) * 1.08;
            Some(match &r.error {
                Some(e) => Text::new(
                    if e == "TIMEOUT" { e.clone() } else { format!("ERR {}", r.status) },
                    (x, y),
                    error_style.clone(),
                ),
                None => Text::new(ms(r.headline().unwrap_or(f64::NAN)), (x, y), value_style.clone()),
            })
        });
        chart.draw_series(texts).map_err(draw_error)?;
        let ticks: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (id, _))| original::figure(id, variant).map(|f| (f, bar_y(i, j))))
            .collect();
        chart
            .draw_series(ticks.iter().map(|(f, y)| {
                PathElement::new(vec![(*f, y - slot * 0.5), (*f, y + slot * 0.5)], BLACK.stroke_width(3))
            }))
            .map_err(draw_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 16))
        .draw()
        .map_err(draw_error)?;

    // Right: speed-up over baseline (this run's, else the original's).
    let measured_baseline = variants.iter().any(|v| v == "baseline");
    let reference = |id: &str| -> Option<f64> {
        if measured_baseline {
            run.result("baseline", id).filter(|r| r.is_success()).and_then(|r| r.headline())
        } else {
            original::figure(id, "baseline")
        }
    };
    let others: Vec<(usize, &String)> = variants.iter().enumerate().filter(|(_, v)| *v != "baseline").collect();
    let mut speedups: Vec<(usize, usize, f64)> = Vec::new();
    for (i, (id, _)) in rows.iter().enumerate() {
        for (j, v) in &others {
            let ours = run.result(v, id).filter(|r| r.is_success()).and_then(|r| r.headline());
            if let (Some(reference), Some(ours)) = (reference(id), ours) {
                if ours > 0.0 {
                    speedups.push((i, *j, reference / ours));
                }
            }
        }
    }
    let (slo, shi) = log_range(speedups.iter().map(|s| s.2), 0.5);
    let caption = if measured_baseline {
        "speed-up over baseline (this run), log scale"
    } else {
        "speed-up over the original's baseline (docs/compatibility.md), log scale"
    };
    let mut chart = ChartBuilder::on(&right)
        .caption(caption, (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(10)
        .build_cartesian_2d((slo.min(0.5)..shi.max(4.0)).log_scale(), -0.5f64..(n as f64 - 0.5))
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| factor(*x))
        .x_desc("times faster")
        .label_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    for (j, variant) in &others {
        let color = variant_color(variant, *j);
        let mine: Vec<(f64, f64)> =
            speedups.iter().filter(|s| s.1 == *j).map(|(i, j, f)| (*f, bar_y(*i, *j))).collect();
        chart
            .draw_series(
                mine.iter()
                    .map(|(f, y)| Rectangle::new([(1.0, y - slot * 0.42), (*f, y + slot * 0.42)], color.filled())),
            )
            .map_err(draw_error)?;
        chart
            .draw_series(mine.iter().map(|(f, y)| Text::new(factor(*f), (f.max(1.0) * 1.08, *y), value_style.clone())))
            .map_err(draw_error)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(1.0, -0.5), (1.0, n as f64 - 0.5)], BLACK.stroke_width(2))))
        .map_err(draw_error)?;
    if others.is_empty() || speedups.is_empty() {
        let note = TextStyle::from((FONT, 18).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        right
            .draw(&Text::new("no speed-up to show: no other variant measured against a reference", (425, 300), note))
            .map_err(draw_error)?;
    }
    root.present().map_err(draw_error)?;
    Ok(())
}

/// The rows of the per-scenario charts: every scenario, the pagination
/// summaries included, the cursor summaries left out (the pagination
/// chart has them).
fn scenario_rows(run: &RunResults) -> Vec<(String, String)> {
    run.scenario_ids().into_iter().filter(|(id, _)| !id.starts_with("cursor_pages")).collect()
}

/// `benchmark_queries_<ts>.png`: what the original's chart showed besides
/// the times (the query count per test, time against query count, the
/// spread of the times), per variant.
pub fn queries_chart(path: &Path, run: &RunResults) -> Result<()> {
    fonts()?;
    let variants = run.variants();
    let rows = scenario_rows(run);
    let labels: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
    let n = rows.len().max(1);
    let slot = 0.8 / variants.len().max(1) as f64;
    let height = (170 + n * (variants.len().max(1) * 17 + 22)) as u32;
    let root = BitMapBackend::new(path, (2400, height.max(600))).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let title = format!(
        "crm-contacts: database queries and the spread of the times — {} contacts, via {}, {} reps, {}",
        thousands(run.meta.dataset.total_contacts),
        run.meta.via,
        run.meta.reps,
        run.meta.timestamp
    );
    let root = root.titled(&title, (FONT, 28)).map_err(draw_error)?;
    let (left, rest) = root.split_horizontally(760);
    let (middle, right) = rest.split_horizontally(1000);
    let bar_y = |i: usize, j: usize| (n - 1 - i) as f64 + 0.4 - slot * (j as f64 + 0.5);
    let query_count = |variant: &str, id: &str| run.result(variant, id).and_then(|r| r.query_count);

    // Left: queries per request; the original's (always 2) as a black tick.
    let most = rows.iter().flat_map(|(id, _)| variants.iter().filter_map(|v| query_count(v, id))).max().unwrap_or(0);
    let top = (most.max(original::QUERIES_PER_REQUEST) + 1) as f64;
    let mut chart = ChartBuilder::on(&left)
        .caption("database queries per request; black tick: the original's", (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(290)
        .build_cartesian_2d(0f64..top, -0.5f64..(n as f64 - 0.5))
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2)
        .y_label_formatter(&|y| row_label(&labels, *y))
        .x_labels(top as usize + 1)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("queries")
        .label_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    let value_style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (j, variant) in variants.iter().enumerate() {
        let color = variant_color(variant, j);
        let bars: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (id, _))| query_count(variant, id).map(|q| (q as f64, bar_y(i, j))))
            .collect();
        chart
            .draw_series(
                bars.iter()
                    .map(|(q, y)| Rectangle::new([(0.0, y - slot * 0.42), (*q, y + slot * 0.42)], color.filled())),
            )
            .map_err(draw_error)?
            .label(variant.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
        chart
            .draw_series(bars.iter().map(|(q, y)| Text::new(format!("{q:.0}"), (q + 0.05, *y), value_style.clone())))
            .map_err(draw_error)?;
    }
    let theirs = original::QUERIES_PER_REQUEST as f64;
    let with_figures: Vec<f64> = rows
        .iter()
        .enumerate()
        .filter(|(_, (id, _))| original::figures(id).is_some())
        .map(|(i, _)| (n - 1 - i) as f64)
        .collect();
    chart
        .draw_series(
            with_figures
                .iter()
                .map(|y| PathElement::new(vec![(theirs, y - 0.45), (theirs, y + 0.45)], BLACK.stroke_width(3))),
        )
        .map_err(draw_error)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 16))
        .draw()
        .map_err(draw_error)?;

    // Middle: every measured sample (pagination rows: each page's p50),
    // the p50 as a black tick.
    let samples = rows.iter().flat_map(|(id, _)| {
        variants.iter().filter_map(|v| run.result(v, id)).flat_map(|r| r.samples_ms.iter().copied())
    });
    let (lo, hi) = log_range(samples, 0.1);
    let mut chart = ChartBuilder::on(&middle)
        .caption("every measured sample, ms, log scale (black: p50)", (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(10)
        .build_cartesian_2d((lo..hi).log_scale(), -0.5f64..(n as f64 - 0.5))
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| ms(*x))
        .x_desc("ms")
        .label_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    for (j, variant) in variants.iter().enumerate() {
        let color = variant_color(variant, j);
        let mine: Vec<(usize, &crate::results::ScenarioResult)> =
            rows.iter().enumerate().filter_map(|(i, (id, _))| Some((i, run.result(variant, id)?))).collect();
        let dots: Vec<(f64, f64)> = mine
            .iter()
            .flat_map(|(i, r)| {
                let y = bar_y(*i, j);
                r.samples_ms.iter().enumerate().map(move |(k, s)| (*s, y + slot * 0.3 * (((k % 5) as f64) / 2.0 - 1.0)))
            })
            .filter(|(s, _)| *s > 0.0)
            .collect();
        chart.draw_series(dots.iter().map(|p| Circle::new(*p, 3, color.mix(0.6).filled()))).map_err(draw_error)?;
        let ticks: Vec<(f64, f64)> = mine.iter().filter_map(|(i, r)| r.p50().map(|p| (p, bar_y(*i, j)))).collect();
        chart
            .draw_series(ticks.iter().map(|(p, y)| {
                PathElement::new(vec![(*p, y - slot * 0.5), (*p, y + slot * 0.5)], BLACK.stroke_width(2))
            }))
            .map_err(draw_error)?;
    }

    // Right: p50 against the query count, one point per scenario and
    // variant; the original's figures at its 2 queries.
    let points: Vec<(usize, f64, f64)> = variants
        .iter()
        .enumerate()
        .flat_map(|(j, v)| {
            rows.iter().filter_map(move |(id, _)| {
                let r = run.result(v, id).filter(|r| r.is_success())?;
                Some((j, r.query_count? as f64, r.p50()?))
            })
        })
        .collect();
    let originals: Vec<f64> = rows.iter().filter_map(|(id, _)| original::figures(id)).flatten().collect();
    let (ylo, yhi) = log_range(points.iter().map(|p| p.2).chain(originals.iter().copied()), 0.1);
    let mut chart = ChartBuilder::on(&right)
        .caption("p50 against queries per request", (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..top, (ylo..yhi).log_scale())
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_labels(top as usize + 1)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| ms(*y))
        .x_desc("queries per request")
        .y_desc("p50 ms (log scale)")
        .label_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    for (j, variant) in variants.iter().enumerate() {
        let color = variant_color(variant, j);
        let mine: Vec<(f64, f64)> =
            points.iter().filter(|p| p.0 == j).map(|p| (p.1 + (j as f64 - 1.5) * 0.06, p.2)).collect();
        chart.draw_series(mine.iter().map(|p| Circle::new(*p, 5, color.filled()))).map_err(draw_error)?;
    }
    chart
        .draw_series(originals.iter().map(|f| Cross::new((theirs, *f), 6, BLACK.stroke_width(2))))
        .map_err(draw_error)?
        .label("the original (every request: 2 queries)")
        .legend(|(x, y)| Cross::new((x + 8, y), 5, BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_error)?;
    root.present().map_err(draw_error)?;
    Ok(())
}

/// Where a page is on the x axis: the rows up to its end (depth + page
/// size), so that the first page is not at 0 on a log axis.
fn page_end(p: &PageResult) -> f64 {
    (p.depth + p.page_size) as f64
}

/// (end of the page, p50) of the measured pages of a mode, by depth.
fn series(pages: &[&PageResult], mode: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = pages
        .iter()
        .filter(|p| p.mode == mode && p.error.is_none())
        .filter_map(|p| p.timing.map(|t| (page_end(p), t.p50_ms)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// `pagination_charts_page_size_<n>_<ts>.png`.
pub fn pagination_chart(path: &Path, run: &RunResults, page_size: u64) -> Result<()> {
    fonts()?;
    let variants = run.variants();
    let pages: Vec<&PageResult> = run.pages.iter().filter(|p| p.page_size == page_size).collect();
    let columns = variants.len().clamp(1, 2);
    let panel_rows = variants.len().div_ceil(2).max(1);
    let root = BitMapBackend::new(path, (1800, (90 + panel_rows * 560) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let title = format!(
        "Page latency against depth, page_size {page_size}: page numbers (red) vs cursors (blue) — {} contacts, via {}",
        thousands(run.meta.dataset.total_contacts),
        run.meta.via
    );
    let root = root.titled(&title, (FONT, 26)).map_err(draw_error)?;
    let panels = root.split_evenly((panel_rows, columns));
    let total = run.meta.dataset.total_contacts.max(1) as f64;
    let all_p50 = pages.iter().filter_map(|p| p.timing.map(|t| t.p50_ms));
    let (lo, hi) = log_range(all_p50, 0.1);
    let page_color = RGBColor(214, 39, 40);
    let cursor_color = RGBColor(31, 119, 180);
    for (variant, panel) in variants.iter().zip(panels.iter()) {
        let mine: Vec<&PageResult> = pages.iter().copied().filter(|p| p.variant == *variant).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("variant {variant}"), (FONT, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((page_size as f64 * 0.7..total * 1.5).log_scale(), (lo..hi).log_scale())
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc("rows up to the end of the page: depth + page size (log scale)")
            .y_desc("p50 ms (log scale)")
            .x_label_formatter(&|x| thousands(x.round() as u64))
            .y_label_formatter(&|y| ms(*y))
            .label_style((FONT, 14))
            .draw()
            .map_err(draw_error)?;
        if page_size == WALK_PAGE_SIZE {
            let hops = series(&mine, "cursor_walk");
            chart
                .draw_series(hops.iter().map(|p| Circle::new(*p, 2, cursor_color.mix(0.35).filled())))
                .map_err(draw_error)?
                .label("cursor walk: every hop (one sample)")
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, cursor_color.mix(0.35).filled()));
        }
        for (mode, color, label) in [
            ("page", page_color, "page number (?page=)"),
            ("cursor", cursor_color, "cursor (?cursor=) at the same depths"),
        ] {
            let points = series(&mine, mode);
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(draw_error)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3)));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 5, color.filled()))).map_err(draw_error)?;
        }
        let failed: Vec<(f64, f64)> = mine
            .iter()
            .filter(|p| p.error.is_some() && p.timing.is_some())
            .filter_map(|p| p.timing.map(|t| (page_end(p), t.p50_ms)))
            .collect();
        if !failed.is_empty() {
            chart
                .draw_series(failed.iter().map(|p| Cross::new(*p, 7, RGBColor(0, 0, 0).stroke_width(2))))
                .map_err(draw_error)?
                .label("failed (TIMEOUT or error)")
                .legend(|(x, y)| Cross::new((x + 8, y), 5, BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FONT, 14))
            .draw()
            .map_err(draw_error)?;
    }
    root.present().map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample_run;

    #[test]
    fn labels_and_ranges() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(row_label(&labels, 2.0), "a");
        assert_eq!(row_label(&labels, 0.0), "c");
        assert_eq!(row_label(&labels, 0.5), "");
        assert_eq!(row_label(&labels, 3.0), "");
        let (lo, hi) = log_range([0.4, 30000.0, f64::NAN, 0.0].into_iter(), 0.1);
        assert_eq!((lo, hi), (0.2, 120000.0));
        assert_eq!(log_range(std::iter::empty(), 0.1), (0.1, 10.0));
    }

    #[test]
    fn charts_are_png_files() {
        let run = sample_run();
        let dir = std::env::temp_dir().join(format!("bench-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let scenarios = dir.join("s.png");
        scenario_chart(&scenarios, &run).unwrap();
        let pages = dir.join("p.png");
        pagination_chart(&pages, &run, 1000).unwrap();
        let queries = dir.join("q.png");
        queries_chart(&queries, &run).unwrap();
        for path in [&scenarios, &pages, &queries] {
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
            assert!(bytes.len() > 10_000, "{} is {} bytes", path.display(), bytes.len());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
