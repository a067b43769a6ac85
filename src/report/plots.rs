//! The report's plots, drawn with `plotters` into SVG strings.
//!
//! Only the SVG backend is used: text is written as SVG `<text>` (escaped by plotters) and
//! rendered by the browser; its layout uses the bundled font's metrics ([`super::font`]). Every plot is drawn inside
//! `catch_unwind`, so a bug in a plot costs that plot (the report says so), not the report.

use std::error::Error;
use std::panic::AssertUnwindSafe;

use chrono::DateTime;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{HostStats, ReportData, TemplateCount};

/// Normal points and bars.
pub(crate) const BLUE: RGBColor = RGBColor(0x4c, 0x78, 0xa8);
/// Flagged points, flagged bins, anomaly templates.
pub(crate) const RED: RGBColor = RGBColor(0xe4, 0x57, 0x56);
/// The threshold.
pub(crate) const ORANGE: RGBColor = RGBColor(0xf5, 0x85, 0x18);
const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// Width of every plot in SVG pixels (the page scales it down on narrow screens).
pub(crate) const WIDTH: u32 = 1040;
/// Above this many points the score plot shows per-bin maxima instead of every point.
pub(crate) const MAX_SCATTER: usize = 3000;
const BINS: usize = 700;
/// Bars shown by the per-host chart (the table lists all hosts).
pub(crate) const MAX_HOST_BARS: usize = 25;
const FONT: &str = "sans-serif";

type DrawResult = Result<(), Box<dyn Error>>;

/// Draws into a fresh SVG of `w`×`h`; an error or a panic becomes `Err(description)`.
fn svg(
    w: u32,
    h: u32,
    f: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<String, String> {
    super::font::register();
    let mut buf = String::new();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }));
    match outcome {
        Ok(Ok(())) => Ok(buf),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the plot could not be drawn (internal error)".into()),
    }
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 22).into_font().color(&TEXT)
}

fn label_style() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&TEXT)
}

fn desc_style() -> TextStyle<'static> {
    (FONT, 16).into_font().color(&TEXT)
}

/// Scores beyond this magnitude are drawn at it: keeps every axis span finite (lad's scores
/// are in [0, 1]; a report can be fed anything).
const SCORE_LIMIT: f64 = 1e6;

fn shown(score: f64) -> f64 {
    score.clamp(-SCORE_LIMIT, SCORE_LIMIT)
}

/// A non-empty range around `lo..hi` (plotters needs `lo < hi`).
fn widen(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite() && (hi - lo).is_finite()) {
        return (0.0, 1.0);
    }
    if hi > lo {
        (lo, hi)
    } else {
        (lo - pad, hi + pad)
    }
}

/// Normal scores and the highest flagged point in one slice of the x axis.
#[derive(Clone, Copy, Default)]
struct Slice {
    min: f64,
    max: f64,
    sum: f64,
    n: usize,
    flagged: Option<(f64, f64)>,
}

/// What the x axis of the score plot is.
pub(crate) enum XAxis {
    Time,
    Seq,
}

/// Anomaly score over time (or over `seq`), with the threshold line.
/// Returns the SVG and a note on how points were drawn.
pub(crate) fn score_over_time(data: &ReportData) -> (Result<String, String>, String) {
    let axis = if !data.points.is_empty() && data.points.iter().all(|p| p.time.is_some()) {
        XAxis::Time
    } else {
        XAxis::Seq
    };
    let mut pts: Vec<(f64, f64, bool)> = data
        .points
        .iter()
        .filter(|p| p.score.is_finite())
        .map(|p| {
            let x = match (&axis, p.time) {
                (XAxis::Time, Some(t)) => {
                    t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1000.0
                }
                _ => p.seq as f64,
            };
            (x, shown(p.score), p.is_anomaly)
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (x0, x1) = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => widen(
            a.0,
            b.0,
            if matches!(axis, XAxis::Time) {
                60.0
            } else {
                1.0
            },
        ),
        _ => (0.0, 1.0),
    };
    let smin = pts.iter().map(|p| p.1).fold(0.0_f64, f64::min);
    let smax = pts.iter().map(|p| p.1).fold(1.0_f64, f64::max);
    let (y0, y1) = widen(smin, smax, 0.5);
    // A little room so that points on the edges are drawn whole.
    let (y0, y1) = (y0 - 0.02 * (y1 - y0), y1 + 0.03 * (y1 - y0));

    // Points to draw: all of them, or a summary per slice of the x axis.
    let summary = pts.len() > MAX_SCATTER;
    let mut slices = vec![Slice::default(); if summary { BINS } else { 0 }];
    if summary {
        for &(x, y, flagged) in &pts {
            let b = (((x - x0) / (x1 - x0)) * BINS as f64) as usize;
            let s = &mut slices[b.min(BINS - 1)];
            if flagged {
                if s.flagged.is_none_or(|q| y > q.1) {
                    s.flagged = Some((x, y));
                }
            } else {
                if s.n == 0 || y < s.min {
                    s.min = y;
                }
                if s.n == 0 || y > s.max {
                    s.max = y;
                }
                s.sum += y;
                s.n += 1;
            }
        }
    }
    let note = if summary {
        format!(
            "{} points, in {BINS} slices of the x axis: the band spans each slice's normal scores, \
             the line is their mean, red dots are each slice's highest flagged score",
            super::html::thousands(pts.len())
        )
    } else {
        format!("{} points", super::html::thousands(pts.len()))
    };

    let threshold = data.threshold;
    let span = x1 - x0;
    let result =
        svg(WIDTH, 380, |root| {
            let x_desc = match axis {
                XAxis::Time => "time (UTC)",
                XAxis::Seq => "line number",
            };
            let caption = match axis {
                XAxis::Time => "Anomaly score over time",
                XAxis::Seq => "Anomaly score by line number",
            };
            let mut chart = ChartBuilder::on(root)
                .caption(caption, caption_style())
                .margin(12)
                .margin_right(32)
                .x_label_area_size(48)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            let fmt_x = |x: &f64| match axis {
                XAxis::Time => time_label(*x, span),
                XAxis::Seq => format!("{x:.0}"),
            };
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("anomaly score")
                .x_labels(8)
                .y_labels(6)
                .x_label_formatter(&fmt_x)
                .y_label_formatter(&|y| format!("{y:.1}"))
                .label_style(label_style())
                .axis_desc_style(desc_style())
                .max_light_lines(2)
                .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
                .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
                .draw()?;
            let bin_width = (x1 - x0) / BINS as f64;
            let min_height = (y1 - y0) * 0.004;
            chart.draw_series(slices.iter().enumerate().filter(|(_, s)| s.n > 0).map(
                |(i, s)| {
                    let left = x0 + i as f64 * bin_width;
                    Rectangle::new(
                        [
                            (left, s.min - min_height),
                            (left + bin_width, s.max + min_height),
                        ],
                        BLUE.mix(0.3).filled(),
                    )
                },
            ))?;
            chart.draw_series(LineSeries::new(
                slices
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.n > 0)
                    .map(|(i, s)| (x0 + (i as f64 + 0.5) * bin_width, s.sum / s.n as f64)),
                BLUE.stroke_width(2),
            ))?;
            if !summary {
                chart.draw_series(
                    pts.iter()
                        .filter(|p| !p.2)
                        .map(|&(x, y, _)| Circle::new((x, y), 2, BLUE.mix(0.55).filled())),
                )?;
            }
            if threshold.is_finite() && threshold >= y0 && threshold <= y1 {
                chart.draw_series(DashedLineSeries::new(
                    [(x0, threshold), (x1, threshold)],
                    8,
                    5,
                    ORANGE.stroke_width(2),
                ))?;
            }
            let flagged: Box<dyn Iterator<Item = (f64, f64)>> = if summary {
                Box::new(slices.iter().filter_map(|s| s.flagged))
            } else {
                Box::new(pts.iter().filter(|p| p.2).map(|&(x, y, _)| (x, y)))
            };
            chart.draw_series(flagged.map(|(x, y)| Circle::new((x, y), 3, RED.filled())))?;
            Ok(())
        });
    (result, note)
}

/// An x-axis label for a Unix time in seconds; precision by the span shown.
fn time_label(secs: f64, span: f64) -> String {
    let Some(t) = DateTime::from_timestamp(secs.floor() as i64, 0) else {
        return String::new();
    };
    let fmt = if span <= 3.0 * 3600.0 {
        "%H:%M:%S"
    } else if span <= 3.0 * 86_400.0 {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    };
    t.format(fmt).to_string()
}

/// Histogram of scores (log count scale); bins at or above the threshold in red.
pub(crate) fn histogram(data: &ReportData) -> Result<String, String> {
    const N: usize = 20;
    let scores: Vec<f64> = data
        .points
        .iter()
        .map(|p| p.score)
        .filter(|s| s.is_finite())
        .map(shown)
        .collect();
    let lo = scores.iter().copied().fold(0.0_f64, f64::min);
    let hi = scores.iter().copied().fold(1.0_f64, f64::max);
    let (lo, hi) = widen(lo, hi, 0.5);
    let width = (hi - lo) / N as f64;
    let mut counts = [0usize; N];
    for s in &scores {
        counts[(((s - lo) / width) as usize).min(N - 1)] += 1;
    }
    let ymax = (counts.iter().copied().max().unwrap_or(0) as f64 * 2.0).max(10.0);
    let threshold = data.threshold;
    svg(WIDTH, 340, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Score histogram", caption_style())
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, (0.8_f64..ymax).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("anomaly score")
            .y_desc("messages (log scale)")
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(label_style())
            .axis_desc_style(desc_style())
            .disable_x_mesh()
            .max_light_lines(2)
            .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .draw()?;
        let gap = width * 0.08;
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(i, &c)| {
                    let b0 = lo + i as f64 * width;
                    let colour = if threshold.is_finite() && b0 + width / 2.0 >= threshold {
                        RED
                    } else {
                        BLUE
                    };
                    Rectangle::new(
                        [(b0 + gap, 0.8), (b0 + width - gap, c as f64)],
                        colour.filled(),
                    )
                }),
        )?;
        if threshold.is_finite() && threshold >= lo && threshold <= hi {
            chart.draw_series(DashedLineSeries::new(
                [(threshold, 0.8), (threshold, ymax)],
                8,
                5,
                ORANGE.stroke_width(2),
            ))?;
        }
        Ok(())
    })
}

/// Flagged rate per host (per input file in file mode), highest first.
pub(crate) fn host_rates(hosts: &[HostStats], file_mode: bool) -> Result<String, String> {
    let shown = &hosts[..hosts.len().min(MAX_HOST_BARS)];
    let bars: Vec<Bar> = shown
        .iter()
        .map(|h| Bar {
            label: h.host.clone(),
            value: 100.0 * h.flagged_rate,
            note: format!(
                "{:.2} %  ({} of {})",
                100.0 * h.flagged_rate,
                h.flagged,
                h.messages
            ),
        })
        .collect();
    let title = if file_mode {
        "Flagged rate per input file"
    } else {
        "Flagged rate per host"
    };
    hbars(title, "flagged messages (%)", &bars, BLUE, true)
}

/// The most frequent anomaly templates (numbered like the table below the chart).
pub(crate) fn templates(top: &[TemplateCount]) -> Result<String, String> {
    let bars: Vec<Bar> = top
        .iter()
        .enumerate()
        .map(|(i, t)| Bar {
            label: format!("#{} {}", i + 1, t.template),
            value: t.count as f64,
            note: t.count.to_string(),
        })
        .collect();
    hbars(
        "Top anomaly templates",
        "flagged messages",
        &bars,
        RED,
        false,
    )
}

struct Bar {
    label: String,
    value: f64,
    note: String,
}

const MAX_LABEL_CHARS: usize = 42;

/// Horizontal bars, first bar on top, each annotated at its end.
fn hbars(
    title: &str,
    x_desc: &str,
    bars: &[Bar],
    colour: RGBColor,
    percent: bool,
) -> Result<String, String> {
    let n = bars.len().max(1);
    let labels: Vec<String> = bars
        .iter()
        .map(|b| crate::sink::table::shorten(&b.label, MAX_LABEL_CHARS))
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
    let label_area = (longest as u32 * 7 + 16).clamp(80, 330);
    let height = (90 + 28 * n as u32).max(200);
    let vmax = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let xmax = if vmax > 0.0 { vmax * 1.35 } else { 1.0 };
    svg(WIDTH, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, caption_style())
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0.0..xmax, (0..n).into_segmented())?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => {
                labels.get(n - 1 - i).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_labels(n)
            .x_labels(8)
            .y_label_formatter(&label_of)
            .x_label_formatter(&|x| {
                if percent {
                    format!("{x:.1}")
                } else {
                    format!("{x:.0}")
                }
            })
            .label_style(label_style())
            .axis_desc_style(desc_style())
            .disable_y_mesh()
            .max_light_lines(2)
            .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .draw()?;
        chart.draw_series(
            Histogram::horizontal(&chart)
                .style(colour.filled())
                .margin(5)
                .data(bars.iter().enumerate().map(|(i, b)| {
                    (
                        n - 1 - i,
                        if b.value.is_finite() {
                            b.value.max(0.0)
                        } else {
                            0.0
                        },
                    )
                })),
        )?;
        let note_style = label_style().pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = if b.value.is_finite() {
                b.value.max(0.0)
            } else {
                0.0
            };
            Text::new(
                b.note.clone(),
                (x + xmax * 0.01, SegmentValue::CenterOf(n - 1 - i)),
                note_style.clone(),
            )
        }))?;
        Ok(())
    })
}
