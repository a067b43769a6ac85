//! The HTML report: structure of a report rendered from a fixture (plots drawn, template counts,
//! escaping, self-contained), and `lad detect --report` / `lad report` end to end.

mod report_fixture;

use std::process::Command;

use lad::profile::Tokenizer;
use lad::report::{render_html, ReportData, ReportPoint};
use report_fixture::{fixture, GROUPS, HOSTILE, HOSTS};

const BLUE: &str = "#4C78A8";
const RED: &str = "#E45756";
const ORANGE: &str = "#F58518";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The `<figure data-plot="id">` element.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure data-plot=\"{id}\">"))
        .unwrap_or_else(|| panic!("no figure {id}"));
    let end = html[start..].find("</figure>").expect("figure closed") + start;
    &html[start..end]
}

/// Every tag of the document as `(name, text from < to >)`. Since data is escaped, every `<`
/// in the document must start a tag.
fn tags(html: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let mut rest = html;
    let mut offset = 0;
    while let Some(i) = rest.find('<') {
        let at = offset + i;
        let end = html[at..]
            .find('>')
            .map(|e| at + e + 1)
            .expect("tag closed");
        let name: String = html[at + 1..]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect::<String>()
            .to_ascii_lowercase();
        out.push((name, &html[at..end]));
        offset = end;
        rest = &html[end..];
    }
    out
}

/// Rows of `<table class="{class}">` as lists of cell HTML.
fn table_rows(html: &str, class: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no table {class}"));
    let end = html[start..].find("</table>").expect("table closed") + start;
    let body = &html[start..end];
    let body = &body[body.find("<tbody>").expect("tbody")..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').expect("td") + 1..];
                    c[..c.find("</td>").expect("td closed")].to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn fixture_report_has_four_drawn_plots() {
    let html = render_html(&fixture());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(
        html.matches("<svg ").count() >= 4,
        "at least four plots: {}",
        html.matches("<svg ").count()
    );
    for id in ["scores", "histogram", "hosts", "templates"] {
        let f = figure(&html, id);
        assert_eq!(f.matches("<svg ").count(), 1, "{id}: one svg");
        assert!(f.contains("</svg>"), "{id}: svg closed");
        // Axis and title text, axis lines.
        assert!(f.matches("<text").count() >= 5, "{id}: labels");
        assert!(f.matches("<polyline").count() >= 2, "{id}: axes");
    }

    // Score plot: every point drawn, the 26 flagged ones in red, the threshold in orange.
    let scores = figure(&html, "scores");
    let circles = scores.matches("<circle").count();
    assert_eq!(circles, 600, "one circle per point");
    let red = scores
        .split("<circle")
        .filter(|c| c.split('>').next().unwrap_or("").contains(RED))
        .count();
    assert_eq!(red, 26, "flagged points in red");
    assert!(
        scores.contains(&format!("stroke=\"{ORANGE}\"")),
        "threshold"
    );
    assert!(scores.contains("Anomaly score over time"));
    assert!(scores.contains("time (UTC)") && scores.contains("anomaly score"));

    // Histogram: blue bars below the threshold, red above, the threshold line.
    let hist = figure(&html, "histogram");
    let bars = |f: &str, colour: &str| {
        f.split("<rect")
            .skip(1)
            .filter(|r| r.split('>').next().unwrap_or("").contains(colour))
            .count()
    };
    assert!(bars(hist, BLUE) >= 5, "blue histogram bars");
    assert!(bars(hist, RED) >= 2, "red histogram bars");
    assert!(hist.contains(&format!("stroke=\"{ORANGE}\"")));
    assert!(hist.contains("messages (log scale)"));

    // One bar per host, one per template; hostile host name escaped by plotters.
    let hosts = figure(&html, "hosts");
    assert_eq!(bars(hosts, BLUE), 3, "one bar per host");
    assert!(hosts.contains("Flagged rate per host"));
    assert!(hosts.contains("cache&lt;b&gt;&amp;&quot;&apos;"));
    let templates = figure(&html, "templates");
    assert_eq!(bars(templates, RED), 4, "one bar per template");
    for n in ["12", "7", "5", "2"] {
        assert!(
            templates.contains(&format!(">\n{n}\n</text>"))
                || templates.contains(&format!(">{n}<")),
            "bar annotated with {n}"
        );
    }
}

#[test]
fn fixture_report_counts_templates_and_hosts() {
    let data = fixture();
    let html = render_html(&data);

    // Summary.
    for s in [
        "<dt>Messages</dt><dd>600</dd>",
        "<dt>Flagged</dt><dd>26</dd>",
        "<dt>Flagged rate</dt><dd>4.33 %</dd>",
        "<dt>Threshold</dt><dd>0.78</dd>",
        "<dt>Hosts</dt><dd>3</dd>",
        "2026-03-14 08:00:00 –<br>2026-03-14 17:59:00",
    ] {
        assert!(html.contains(s), "summary has {s}");
    }

    // Top templates: one row per group, most frequent first, with the masked template.
    let rows = table_rows(&html, "templates");
    assert_eq!(rows.len(), GROUPS.len());
    for (i, ((text, count), row)) in GROUPS.iter().zip(&rows).enumerate() {
        let members: Vec<String> = (0..*count)
            .map(|k| text.replace("{}", &(k * 7 + 3).to_string()))
            .collect();
        let template = Tokenizer::Masked.tokens(&members[0]).join(" ");
        assert!(
            members
                .iter()
                .all(|m| Tokenizer::Masked.tokens(m).join(" ") == template),
            "fixture group {i} shares one template"
        );
        assert_eq!(row[0], (i + 1).to_string());
        assert_eq!(
            row[1],
            format!("<code>{}</code>", escape(&template)),
            "row {i}"
        );
        assert_eq!(row[2], count.to_string(), "count of {template}");
        assert_eq!(
            row[3],
            if *count >= 3 { "3" } else { "2" },
            "hosts of row {i}"
        );
        assert!(
            members.iter().any(|m| row[5] == escape(m)),
            "example of row {i}"
        );
    }
    // The same counts through the library API.
    let top = data.top_templates(10);
    assert_eq!(
        top.iter().map(|t| t.count).collect::<Vec<_>>(),
        vec![12, 7, 5, 2]
    );

    // Hosts table: 200 messages each, hostile name escaped.
    let hosts = table_rows(&html, "hosts");
    assert_eq!(hosts.len(), 3);
    for row in &hosts {
        assert_eq!(row[1], "200");
    }
    let names: Vec<&str> = hosts.iter().map(|r| r[0].as_str()).collect();
    for h in HOSTS {
        assert!(
            names.contains(&format!("<code>{}</code>", escape(h)).as_str()),
            "{h}"
        );
    }
    let flagged: usize = hosts.iter().map(|r| r[2].parse::<usize>().unwrap()).sum();
    assert_eq!(flagged, 26);

    // Models table: one row per host with its facts.
    let models = table_rows(&html, "models");
    assert_eq!(models.len(), 3);
    assert_eq!(models[0][1], "<code>m2-0000000000000000</code>");
    assert_eq!(models[0][3], "25\u{202f}000");
    assert_eq!(models[0][4], "140");
    assert_eq!(models[0][6], "template, params (ops)");
    assert_eq!(models[0][7], "0.005");
}

#[test]
fn report_is_escaped_and_self_contained() {
    let html = render_html(&fixture());
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no script element");
    assert!(!lower.contains("<img"), "no img element");
    assert!(
        (0..5).any(|k| html.contains(&escape(&HOSTILE.replace("{}", &(k * 7 + 3).to_string())))),
        "hostile message shown as text"
    );
    assert!(html
        .contains("<title>Nightly report &lt;for&gt; &quot;ops&quot; &amp; &#39;sec&#39;</title>"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));

    // Every `<` starts one of the tags the report uses; no tag loads anything.
    let allowed = [
        "!doctype",
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "header",
        "h1",
        "h2",
        "p",
        "dl",
        "div",
        "dt",
        "dd",
        "br",
        "section",
        "figure",
        "figcaption",
        "svg",
        "rect",
        "circle",
        "polyline",
        "polygon",
        "line",
        "path",
        "text",
        "g",
        "span",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "code",
        "footer",
    ];
    let all = tags(&html);
    assert!(all.len() > 1000);
    for (name, text) in &all {
        assert!(allowed.contains(&name.as_str()), "unexpected tag {text}");
        let t = text.to_ascii_lowercase();
        for bad in ["src=", "href=", "http:", "https:", "url(", "//", " on"] {
            if bad == "//" && name == "!doctype" {
                continue;
            }
            assert!(
                !t.contains(bad),
                "tag loads or runs something ({bad}): {text}"
            );
        }
    }
    let style = &html[html.find("<style>").unwrap()..html.find("</style>").unwrap()];
    for bad in ["url(", "@import", "http"] {
        assert!(!style.contains(bad), "style has {bad}");
    }
}

#[test]
fn file_mode_points_use_line_numbers_and_big_inputs_stay_small() {
    // No times: x axis is the line number; 50k points are drawn as per-slice maxima.
    let points: Vec<ReportPoint> = (0..50_000)
        .map(|i| ReportPoint {
            host: format!("logs/part-{}.log", i % 2),
            time: None,
            seq: i / 2 + 1,
            score: if i % 997 == 0 {
                0.9
            } else {
                (i % 100) as f64 / 200.0
            },
            is_anomaly: i % 997 == 0,
            message: if i % 997 == 0 {
                format!("error {i} in module x")
            } else {
                String::new()
            },
        })
        .collect();
    let data = ReportData {
        title: "files".into(),
        generated_at: chrono::Utc::now(),
        threshold: 0.78,
        points,
        models: vec![],
        fleet_events: Vec::new(),
        threats: Vec::new(),
    };
    let html = render_html(&data);
    let scores = figure(&html, "scores");
    assert!(scores.contains("Anomaly score by line number") && scores.contains("line number"));
    assert!(scores.matches("<circle").count() <= 2 * 700);
    assert!(html.len() < 1_000_000, "report size {}", html.len());
    assert!(html.contains("Flagged rate per input file"));
    assert!(html.contains("<dt>Files</dt><dd>2</dd>"));
    let rows = table_rows(&html, "templates");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][2], "51");
}

/// `lad detect --report` on the bundled BGL sample, then `lad report` from its NDJSON: both
/// reports agree with the NDJSON on messages and flags.
#[test]
fn detect_and_report_commands_write_reports() {
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("scores.ndjson");
    let html_path = dir.path().join("out.html");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/BGL_2k.log");
    let out = Command::new(env!("CARGO_BIN_EXE_lad"))
        .args([
            "detect", sample, "--format", "bgl", "--top", "1", "--output",
        ])
        .arg(&ndjson)
        .arg("--report")
        .arg(&html_path)
        .arg("--save-model")
        .arg(dir.path().join("model"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("report written to"));

    let records: Vec<serde_json::Value> = std::fs::read_to_string(&ndjson)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flagged = records.iter().filter(|r| r["is_anomaly"] == 1).count();
    assert_eq!(records.len(), 2000);
    assert!(flagged > 0);

    let check = |html: &str| {
        assert!(html.contains("<dt>Messages</dt><dd>2\u{202f}000</dd>"));
        assert!(html.contains(&format!("<dt>Flagged</dt><dd>{flagged}</dd>")));
        assert!(html.matches("<svg ").count() >= 4);
        let counted: usize = table_rows(html, "templates")
            .iter()
            .map(|r| r[2].parse::<usize>().unwrap())
            .sum();
        assert!(counted > 0 && counted <= flagged);
        assert!(html.contains("Anomaly score by line number"));
    };
    let html = std::fs::read_to_string(&html_path).unwrap();
    check(&html);
    assert_eq!(table_rows(&html, "models").len(), 1);

    let again = dir.path().join("again.html");
    let out = Command::new(env!("CARGO_BIN_EXE_lad"))
        .arg("report")
        .arg(&ndjson)
        .arg("--output")
        .arg(&again)
        .arg("--model")
        .arg(dir.path().join("model"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html2 = std::fs::read_to_string(&again).unwrap();
    check(&html2);
    // Same model facts, same template table.
    let version = lad::report::read_model_info(&dir.path().join("model"))
        .unwrap()
        .version;
    for h in [&html, &html2] {
        let models = table_rows(h, "models");
        assert_eq!(models.len(), 1);
        assert_eq!(models[0][1], format!("<code>{version}</code>"));
    }
    assert_eq!(
        table_rows(&html, "templates"),
        table_rows(&html2, "templates")
    );
}

/// Hostile numbers and strings: extreme scores and positions, times at the ends of the
/// calendar, empty and huge strings. The report still renders every plot, quickly.
#[test]
fn extreme_values_do_not_break_the_report() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        render_extremes();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("rendering extreme values takes over 120 s")
        }
        Err(e) => panic!("rendering extreme values failed: {e}"),
    }
}

fn render_extremes() {
    use chrono::{DateTime, Utc};
    let huge = format!("{}<b>{}", "x".repeat(1 << 20), "é".repeat(1000));
    let scores = [
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        1e308,
        -1e-308,
        0.5,
        f64::NAN,
        f64::INFINITY,
    ];
    let times = [
        Some(DateTime::<Utc>::MIN_UTC),
        Some(DateTime::<Utc>::MAX_UTC),
        Some(DateTime::<Utc>::UNIX_EPOCH),
    ];
    for (round, time_sets) in [&times[..], &[None]].iter().enumerate() {
        let points: Vec<ReportPoint> = scores
            .iter()
            .enumerate()
            .flat_map(|(i, &score)| {
                time_sets.iter().map(move |&time| ReportPoint {
                    host: if i % 2 == 0 {
                        String::new()
                    } else {
                        "\u{0}\u{7}h\u{202e}".into()
                    },
                    time,
                    seq: if i % 3 == 0 { usize::MAX } else { i },
                    score,
                    is_anomaly: i % 2 == 0,
                    message: String::new(),
                })
            })
            .chain(std::iter::once(ReportPoint {
                host: huge.clone(),
                time: time_sets[0],
                seq: 0,
                score: 0.9,
                is_anomaly: true,
                message: huge.clone(),
            }))
            .collect();
        for threshold in [0.78, f64::NAN, -f64::MAX, f64::INFINITY] {
            let data = ReportData {
                title: huge.clone(),
                generated_at: chrono::Utc::now(),
                threshold,
                points: points.clone(),
                models: vec![],
                fleet_events: Vec::new(),
                threats: Vec::new(),
            };
            let html = render_html(&data);
            assert!(html.ends_with("</html>\n"), "round {round}");
            assert_eq!(
                html.matches("<svg ").count(),
                4,
                "round {round}, threshold {threshold}"
            );
            assert!(!html.contains("could not be drawn"), "round {round}");
            assert!(!html.contains("<b>"), "escaped");
            assert!(html.len() < 8_000_000, "{}", html.len());
        }
    }
}
