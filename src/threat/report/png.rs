//! `anomaly_dashboard.png`: the JSON pipeline's four-plot dashboard, headless.
//!
//! Drawn with plotters' bitmap backend into an RGB buffer and encoded with `png` (no
//! `image` crate, no system fonts: text uses the bundled font, [`crate::report::font`]).
//! Panels: anomaly score over time (anomalies red; above 3,000 points, the highest score per
//! pixel column of each kind), score histogram (bins from 0.5 red), anomalies by threat type,
//! and the users with the most anomalies (source addresses, then hosts, when events have no
//! users). Drawing happens inside `catch_unwind`: a plotting bug is an error, not a crash.

use std::error::Error;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{write_file, Row, Summary};
use crate::threat::ThreatError;

pub const WIDTH: u32 = 1600;
pub const HEIGHT: u32 = 1000;
const MAX_POINTS: usize = 3000;
const BLUE: RGBColor = RGBColor(0x4c, 0x78, 0xa8);
const RED: RGBColor = RGBColor(0xe4, 0x57, 0x56);
const ORANGE: RGBColor = RGBColor(0xf5, 0x85, 0x18);
const FONT: &str = crate::report::font::FAMILY;

type DrawResult = Result<(), Box<dyn Error>>;

/// The PNG bytes of the dashboard for `rows`.
pub fn render(rows: &[Row<'_>]) -> Result<Vec<u8>, ThreatError> {
    crate::report::font::register();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let drawn = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root, rows).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }));
    match drawn {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ThreatError::Report(format!("dashboard: {e}"))),
        Err(_) => {
            return Err(ThreatError::Report(
                "dashboard: internal plotting error".into(),
            ))
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| ThreatError::Report(format!("dashboard PNG: {e}")))?;
        w.write_image_data(&buf)
            .map_err(|e| ThreatError::Report(format!("dashboard PNG: {e}")))?;
    }
    Ok(out)
}

pub fn write(path: &Path, rows: &[Row<'_>]) -> Result<(), ThreatError> {
    write_file(path, &render(rows)?)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rows: &[Row<'_>]) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let summary = Summary::of(rows);
    let title = format!(
        "lad threat dashboard: {} anomalies in {} events",
        summary.anomalies, summary.events
    );
    let root = root.titled(&title, (FONT, 30))?;
    let panels = root.split_evenly((2, 2));
    scores_over_time(&panels[0], rows)?;
    histogram(&panels[1], rows)?;
    let threats: Vec<(String, usize)> = {
        let mut v: Vec<(String, usize)> = summary.by_threat.clone().into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    bars(&panels[2], "Anomalies by threat type", &threats, RED)?;
    let (label, top) = if !summary.top_users.is_empty() {
        ("Top anomalous users", &summary.top_users)
    } else if !summary.top_source_ips.is_empty() {
        ("Top anomalous source addresses", &summary.top_source_ips)
    } else {
        ("Top anomalous hosts", &summary.top_hosts)
    };
    bars(&panels[3], label, top, BLUE)?;
    Ok(())
}

/// `(x, score, anomaly)`: x in hours since the first timed event, or the row index.
fn points(rows: &[Row<'_>]) -> (Vec<(f64, f64, bool)>, String) {
    let t0 = rows.iter().filter_map(|r| r.event.timestamp).min();
    let timed = t0.is_some() && rows.iter().all(|r| r.event.timestamp.is_some());
    let pts: Vec<(f64, f64, bool)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.finding.score.is_finite())
        .map(|(i, r)| {
            let x = match (timed, r.event.timestamp, t0) {
                (true, Some(t), Some(t0)) => (t - t0).num_milliseconds() as f64 / 3_600_000.0,
                _ => i as f64,
            };
            (x, r.finding.score.clamp(0.0, 1.0), r.finding.is_anomaly)
        })
        .collect();
    let label = match (timed, t0) {
        (true, Some(t0)) => format!("hours since {}", t0.format("%Y-%m-%d %H:%M UTC")),
        _ => "event".to_string(),
    };
    (thin(pts), label)
}

/// Above [`MAX_POINTS`], the highest normal and the highest anomalous score per slice of x.
fn thin(pts: Vec<(f64, f64, bool)>) -> Vec<(f64, f64, bool)> {
    if pts.len() <= MAX_POINTS {
        return pts;
    }
    let (lo, hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
    let bins = MAX_POINTS / 2;
    let width = ((hi - lo) / bins as f64).max(f64::MIN_POSITIVE);
    let mut best: Vec<[Option<(f64, f64)>; 2]> = vec![[None, None]; bins + 1];
    for (x, y, a) in pts {
        let b = (((x - lo) / width) as usize).min(bins);
        let slot = &mut best[b][a as usize];
        if slot.is_none_or(|(_, by)| y > by) {
            *slot = Some((x, y));
        }
    }
    best.into_iter()
        .flat_map(|[n, a]| {
            n.map(|(x, y)| (x, y, false))
                .into_iter()
                .chain(a.map(|(x, y)| (x, y, true)))
        })
        .collect()
}

fn scores_over_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[Row<'_>],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (pts, xlabel) = points(rows);
    let (lo, hi) = pts
        .iter()
        .fold((0.0f64, 1.0f64), |(l, h), p| (l.min(p.0), h.max(p.0)));
    let mut chart = ChartBuilder::on(area)
        .caption("Anomaly score over time", (FONT, 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(lo..hi.max(lo + 1e-9), 0.0f64..1.0)?;
    chart
        .configure_mesh()
        .x_desc(xlabel)
        .y_desc("score")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()?;
    chart.draw_series(
        pts.iter()
            .filter(|p| !p.2)
            .map(|&(x, y, _)| Circle::new((x, y), 2, BLUE.mix(0.6).filled())),
    )?;
    chart.draw_series(
        pts.iter()
            .filter(|p| p.2)
            .map(|&(x, y, _)| Circle::new((x, y), 3, RED.filled())),
    )?;
    chart.draw_series(LineSeries::new(
        [(lo, 0.5), (hi, 0.5)],
        ORANGE.stroke_width(2),
    ))?;
    Ok(())
}

fn histogram<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, rows: &[Row<'_>]) -> DrawResult
where
    DB::ErrorType: 'static,
{
    const BINS: usize = 20;
    let mut counts = [0u64; BINS];
    for r in rows.iter().filter(|r| r.finding.score.is_finite()) {
        let b = ((r.finding.score.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    // Log scale: one flood must not flatten every other bin.
    let mut chart = ChartBuilder::on(area)
        .caption("Score histogram (log count)", (FONT, 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0f64..1.0, (0.5f64..(top as f64 * 2.0)).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("score")
        .y_desc("events")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()?;
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let x0 = i as f64 / BINS as f64;
                let color = if x0 >= 0.5 { RED } else { BLUE };
                Rectangle::new(
                    [
                        (x0 + 0.002, 0.5),
                        (x0 + 1.0 / BINS as f64 - 0.002, c as f64),
                    ],
                    color.filled(),
                )
            }),
    )?;
    Ok(())
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    items: &[(String, usize)],
    color: RGBColor,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if items.is_empty() {
        area.draw(&Text::new(
            format!("{title}: none"),
            (40, 40),
            (FONT, 22).into_font(),
        ))?;
        return Ok(());
    }
    let n = items.len();
    let max = items.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1) as f64;
    let names: Vec<String> = items
        .iter()
        .map(|(s, _)| {
            if s.chars().count() > 28 {
                let mut t: String = s.chars().take(27).collect();
                t.push('…');
                t
            } else {
                s.clone()
            }
        })
        .collect();
    // Bars top-down in the order given: bar i sits in segment n-1-i (plotters' segmented
    // range 0..n has the segments 0, …, n; the top one stays empty).
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d(0.0f64..max * 1.15, (0..n as i32).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(j) if (*j as usize) < n => {
                names.get(n - 1 - *j as usize).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .x_labels((max as usize).clamp(2, 10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("anomalies")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()?;
    chart.draw_series(items.iter().enumerate().map(|(i, (_, c))| {
        let j = (n - 1 - i) as i32;
        let mut r = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(j)),
                (*c as f64, SegmentValue::Exact(j + 1)),
            ],
            color.filled(),
        );
        r.set_margin(6, 6, 0, 0);
        r
    }))?;
    chart.draw_series(items.iter().enumerate().map(|(i, (_, c))| {
        let j = (n - 1 - i) as i32;
        Text::new(
            format!(" {c}"),
            (*c as f64, SegmentValue::CenterOf(j)),
            (FONT, 15).into_font(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn dashboard_is_drawn_with_plots_and_text() {
        let (ev, f) = testdata::rows();
        let rows = testdata::pair(&ev, &f);
        let bytes = render(&rows).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h, px) = decode(&bytes);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        let pixels: Vec<&[u8]> = px.chunks(3).collect();
        let white = pixels.iter().filter(|p| p == &&[255, 255, 255]).count();
        let red = pixels
            .iter()
            .filter(|p| p[0] > 200 && p[1] < 120 && p[2] < 120)
            .count();
        let dark = pixels
            .iter()
            .filter(|p| p[0] < 90 && p[1] < 90 && p[2] < 90)
            .count();
        // Mostly background, but bars, points and text are there.
        assert!(white > pixels.len() / 2, "{white}");
        assert!(red > 2000, "red bars and points: {red}");
        assert!(dark > 2000, "axes and text: {dark}");
        // Each quadrant has ink.
        for (qx, qy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let ink = (0..HEIGHT / 2)
                .flat_map(|y| (0..WIDTH / 2).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let i = (((qy * HEIGHT / 2 + y) * WIDTH) + qx * WIDTH / 2 + x) as usize * 3;
                    px[i..i + 3] != [255, 255, 255]
                })
                .count();
            assert!(ink > 5000, "quadrant ({qx},{qy}) is blank: {ink}");
        }
    }

    #[test]
    fn empty_and_untimed_inputs_still_draw() {
        assert!(render(&[]).is_ok());
        let (mut ev, f) = testdata::rows();
        for e in &mut ev {
            e.timestamp = None;
        }
        let rows = testdata::pair(&ev, &f);
        assert!(render(&rows).is_ok());
        let many: Vec<Row> = (0..20_000).map(|i| rows[i % rows.len()]).collect();
        assert!(render(&many).is_ok());
    }
}
