//! The report in a real browser: headless Chromium renders the fixture report; the screenshot
//! must show the plots (series colours in at least four horizontal bands of the page), the DOM
//! must hold the four SVG plots and no script, and the browser console must stay silent.
//!
//! Needs `/usr/bin/chromium` (Debian: `apt-get install -y chromium chromium-driver`; another
//! binary via `LAD_CHROMIUM`, which also lets you try the skip: `LAD_CHROMIUM=/nonexistent`). Without it the test prints "skipped" and passes, unless `CI` is
//! set: then a missing browser fails the test, so CI really runs it.

mod report_fixture;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LAD_CHROMIUM") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

/// The browser, or `None` after printing why the test is skipped (outside CI only).
fn browser_or_skip() -> Option<PathBuf> {
    match chromium() {
        Some(p) => Some(p),
        None if in_ci() => panic!(
            "CI is set but /usr/bin/chromium is missing: apt-get install -y chromium chromium-driver"
        ),
        None => {
            // Straight to stderr, past the test harness's output capture, so it is seen.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: install chromium (apt-get install -y chromium chromium-driver) to run the browser test"
            );
            None
        }
    }
}

struct Run {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium with a fresh profile and the given extra arguments on `url`,
/// killed after two minutes.
fn run_chromium(bin: &Path, extra: &[String], url: &str) -> Run {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    Run { stdout, stderr }
}

/// Console output of the page (Chromium logs every console message, whatever its level, as
/// `CONSOLE`) and uncaught exceptions.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect()
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The screenshot as rows of RGB pixels.
fn decode_png(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        png::ColorType::GrayscaleAlpha => 2,
        _ => 1,
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &buf[y * info.line_size..y * info.line_size + w * channels];
        for x in 0..w {
            let p = &row[x * channels..x * channels + channels];
            px.push(if channels >= 3 {
                [p[0], p[1], p[2]]
            } else {
                [p[0], p[0], p[0]]
            });
        }
    }
    (w, h, px)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Background,
    Blue,
    Red,
    Orange,
    Other,
}

/// Classifies a pixel by the report's series colours (blue #4C78A8, also blended with white;
/// red #E45756; orange #F58518) and its backgrounds (#FFFFFF, #F6F7F9).
fn kind([r, g, b]: [u8; 3]) -> Kind {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    if r >= 240 && g >= 240 && b >= 240 {
        Kind::Background
    } else if b > r + 35 && b > g + 15 && b >= 120 {
        Kind::Blue
    } else if r > 200 && g < 120 && b < 120 && (g - b).abs() < 30 {
        Kind::Red
    } else if r > 220 && (110..=170).contains(&g) && b < 70 {
        Kind::Orange
    } else {
        Kind::Other
    }
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    lad::report::write_html(&report_fixture::fixture(), &page).unwrap();
    let url = file_url(&page);

    // 1. The DOM as the browser built it: four plots, no script, and not a word on the console.
    let dom = run_chromium(&bin, &["--dump-dom".into()], &url);
    assert!(
        dom.stdout.matches("<svg").count() >= 4,
        "plots in the DOM:\n{}",
        &dom.stdout[..dom.stdout.len().min(2000)]
    );
    for id in ["scores", "histogram", "hosts", "templates"] {
        assert!(
            dom.stdout.contains(&format!("data-plot=\"{id}\"")),
            "{id} in DOM"
        );
    }
    assert!(
        !dom.stdout.to_ascii_lowercase().contains("<script"),
        "no script in DOM"
    );
    assert!(
        dom.stdout.contains("&lt;script&gt;alert("),
        "hostile text kept as text"
    );
    let console = console_lines(&dom.stderr);
    assert!(console.is_empty(), "console messages: {console:#?}");

    // 2. The screenshot: the plots are drawn.
    let shot = dir.path().join("shot.png");
    let run = run_chromium(
        &bin,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,2400".into(),
        ],
        &url,
    );
    let console = console_lines(&run.stderr);
    assert!(console.is_empty(), "console messages: {console:#?}");
    if let Ok(keep) = std::env::var("LAD_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let (w, h, px) = decode_png(&shot);
    assert_eq!((w, h), (1200, 2400), "screenshot size");

    let mut totals = std::collections::HashMap::new();
    let mut colours = std::collections::HashSet::new();
    let band = 200;
    let mut plot_bands = Vec::new();
    for (b, rows) in px.chunks(w * band).enumerate() {
        let mut series = 0usize;
        let mut ink = 0usize;
        for &p in rows {
            let k = kind(p);
            *totals.entry(k).or_insert(0usize) += 1;
            colours.insert(p);
            if matches!(k, Kind::Blue | Kind::Red | Kind::Orange) {
                series += 1;
            }
            if k != Kind::Background {
                ink += 1;
            }
        }
        eprintln!(
            "band {b:2} (y {:4}..{:4}): series colour {:5.2} %, non-background {:5.2} %",
            b * band,
            (b + 1) * band,
            100.0 * series as f64 / rows.len() as f64,
            100.0 * ink as f64 / rows.len() as f64
        );
        // Text, tables and backgrounds stay below 0.05 %; a band crossing a plot has more.
        if series * 500 >= rows.len() {
            plot_bands.push(b);
        }
    }
    eprintln!(
        "pixel kinds: {totals:?}; {} distinct colours",
        colours.len()
    );
    assert!(
        plot_bands.len() >= 4,
        "plots (≥ 0.2 % series colour) in only {} bands: {plot_bands:?}",
        plot_bands.len()
    );
    let count = |k| totals.get(&k).copied().unwrap_or(0);
    assert!(count(Kind::Blue) >= 5_000, "blue points and bars");
    assert!(count(Kind::Red) >= 1_000, "red flagged points and bars");
    assert!(count(Kind::Orange) >= 300, "orange threshold lines");
    assert!(
        count(Kind::Background) < w * h * 95 / 100,
        "the page is not blank"
    );
    assert!(colours.len() >= 50, "{} distinct colours", colours.len());
}

/// The console check is not vacuous: a page that throws is caught.
#[test]
fn console_check_catches_a_failing_page() {
    let Some(bin) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><script>throw new Error('boom')</script></body></html>",
    )
    .unwrap();
    let run = run_chromium(&bin, &["--dump-dom".into()], &file_url(&page));
    let console = console_lines(&run.stderr);
    assert!(
        console
            .iter()
            .any(|l| l.contains("Uncaught") && l.contains("boom")),
        "expected the uncaught error on the console; stderr:\n{}",
        run.stderr
    );
}
