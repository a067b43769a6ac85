//! The HTML around the plots: header, tables, embedded CSS. Everything from the data is
//! escaped with [`escape`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::plots;
use super::{ReportData, TOP_TEMPLATES};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (except tab/newline) are invalid in HTML text.
            c if c.is_control() && c != '\t' && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Text shown in a table cell: control characters gone, long text cut in the middle.
fn cell(s: &str, width: usize) -> String {
    escape(&crate::sink::table::shorten(s, width))
}

pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

fn score(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.3}")
    } else {
        "–".into()
    }
}

const CSS: &str = r#"
:root { --fg:#222; --muted:#666; --line:#e3e3e3; --bg:#f6f7f9; --card:#fff; --blue:#4c78a8; --red:#e45756; --orange:#f58518; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1100px; margin:0 auto; padding:24px 20px 40px; }
h1 { font-size:24px; margin:0 0 4px; word-break:break-word; }
h2 { font-size:18px; margin:0 0 10px; }
.meta { color:var(--muted); margin:0 0 16px; }
.stats { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:10px; margin:0 0 20px; }
.stats div { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.stats dt { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.stats dd { margin:2px 0 0; font-size:22px; font-weight:600; }
.stats .flag dd { color:#c03b3a; }
.stats .span { grid-column:span 2; }
.stats .span dd { font-size:15px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin:0 0 18px; }
figure { margin:0; }
figure svg { display:block; width:100%; height:auto; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:4px; }
.sw { display:inline-block; width:10px; height:10px; border-radius:50%; margin:0 4px 0 10px; vertical-align:baseline; }
.sw.normal { background:var(--blue); opacity:.6; } .sw.flagged { background:var(--red); }
.sw.threshold { background:none; border-top:2px dashed var(--orange); border-radius:0; width:18px; height:0; vertical-align:middle; }
.error { color:#b00020; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.num { white-space:nowrap; }
.scroll { overflow-x:auto; }
code, .msg { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; overflow-wrap:anywhere; }
td.nowrap { white-space:nowrap; }
.msg { color:#444; }
.note { color:var(--muted); font-size:12.5px; }
footer { color:var(--muted); font-size:12px; margin-top:24px; }
"#;

/// The whole document.
pub(super) fn render(data: &ReportData) -> String {
    let summary = data.summary();
    let hosts = data.host_stats();
    let top = data.top_templates(TOP_TEMPLATES);
    let file_mode = data.points.iter().all(|p| p.time.is_none());
    let host_word = if file_mode { "file" } else { "host" };
    let title = if data.title.trim().is_empty() {
        "lad anomaly report".to_string()
    } else {
        data.title.clone()
    };

    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"lad {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&title)
    );

    // Header and summary.
    let _ = write!(
        h,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">Generated {} UTC by lad {}</p>\n<dl class=\"stats\">\n",
        escape(&title),
        data.generated_at.format("%Y-%m-%d %H:%M:%S"),
        env!("CARGO_PKG_VERSION")
    );
    let threshold = if data.threshold.is_finite() {
        format!("{:.2}", data.threshold)
    } else {
        "–".into()
    };
    let stats = [
        ("", "Messages", thousands(summary.messages)),
        ("flag", "Flagged", thousands(summary.flagged)),
        (
            "flag",
            "Flagged rate",
            format!("{:.2} %", 100.0 * summary.flagged_rate),
        ),
        ("", "Threshold", threshold),
        (
            "",
            if file_mode { "Files" } else { "Hosts" },
            thousands(summary.hosts),
        ),
    ];
    for (class, k, v) in stats {
        let _ = writeln!(h, "<div class=\"{class}\"><dt>{k}</dt><dd>{v}</dd></div>");
    }
    if let (Some(a), Some(b)) = (summary.first, summary.last) {
        let _ = writeln!(
            h,
            "<div class=\"span\"><dt>Time span (UTC)</dt><dd>{} –<br>{}</dd></div>",
            a.format("%Y-%m-%d %H:%M:%S"),
            b.format("%Y-%m-%d %H:%M:%S")
        );
    }
    h.push_str("</dl>\n");
    if summary.non_finite_scores > 0 {
        let _ = writeln!(
            h,
            "<p class=\"note\">{} points have no finite score and are not drawn.</p>",
            summary.non_finite_scores
        );
    }
    h.push_str("</header>\n");

    // Plots.
    if data.points.is_empty() {
        h.push_str("<section class=\"card\"><p>No messages to report.</p></section>\n");
    } else {
        let (scores_svg, scores_note) = plots::score_over_time(data);
        let legend = "<span class=\"sw normal\"></span>normal<span class=\"sw flagged\"></span>flagged<span class=\"sw threshold\"></span>threshold";
        figure(
            &mut h,
            "scores",
            scores_svg,
            &format!("{legend} · {}", escape(&scores_note)),
        );
        figure(
            &mut h,
            "histogram",
            plots::histogram(data),
            "Bars at or above the threshold in red; the dashed line is the threshold.",
        );
        let hosts_note = if hosts.len() > plots::MAX_HOST_BARS {
            format!(
                "The {} {host_word}s with the highest flagged rate of {}; all are in the table below.",
                plots::MAX_HOST_BARS,
                hosts.len()
            )
        } else {
            format!("Share of each {host_word}'s messages that were flagged.")
        };
        figure(
            &mut h,
            "hosts",
            plots::host_rates(&hosts, file_mode),
            &hosts_note,
        );
        if top.is_empty() {
            h.push_str(
                "<section class=\"card\" data-plot=\"templates\"><h2>Top anomaly templates</h2><p>No message was flagged.</p></section>\n",
            );
        } else {
            figure(
                &mut h,
                "templates",
                plots::templates(&top),
                "Flagged messages grouped by masked template (numbers, ids, paths … replaced by placeholders); numbered as in the table below.",
            );
        }
    }

    // Templates table.
    if !top.is_empty() {
        h.push_str(
            "<section class=\"card\">\n<h2>Top anomaly templates</h2>\n<table class=\"templates\">\n\
             <thead><tr><th class=\"num\">#</th><th>Template</th><th class=\"num\">Flagged</th>\
             <th class=\"num\">Hosts</th><th class=\"num\">Max score</th><th>Example (highest score)</th></tr></thead>\n<tbody>\n",
        );
        for (i, t) in top.iter().enumerate() {
            let template = if t.template.is_empty() {
                "(no tokens)".to_string()
            } else {
                cell(&t.template, 300)
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"msg\">{}</td></tr>",
                i + 1,
                template,
                thousands(t.count),
                thousands(t.hosts),
                score(t.max_score),
                cell(&t.example, 300)
            );
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }

    // Per-host table.
    if !hosts.is_empty() {
        const MAX_ROWS: usize = 500;
        let _ = write!(
            h,
            "<section class=\"card\">\n<h2>{}</h2>\n<table class=\"hosts\">\n<thead><tr><th>{}</th>\
             <th class=\"num\">Messages</th><th class=\"num\">Flagged</th><th class=\"num\">Flagged rate</th>\
             <th class=\"num\">Max score</th></tr></thead>\n<tbody>\n",
            if file_mode { "Input files" } else { "Hosts" },
            host_word
        );
        for s in hosts.iter().take(MAX_ROWS) {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{:.2} %</td><td class=\"num\">{}</td></tr>",
                cell(&s.host, 200),
                thousands(s.messages),
                thousands(s.flagged),
                100.0 * s.flagged_rate,
                score(s.max_score)
            );
        }
        h.push_str("</tbody>\n</table>\n");
        if hosts.len() > MAX_ROWS {
            let _ = writeln!(
                h,
                "<p class=\"note\">{} more not shown.</p>",
                hosts.len() - MAX_ROWS
            );
        }
        h.push_str("</section>\n");
    }

    // Fleet events.
    if !data.fleet_events.is_empty() {
        h.push_str(
            "<section class=\"card\">\n<h2>Fleet events</h2>\n<p class=\"note\">The same new kind of message on many hosts: one incident.</p>\n<table class=\"fleet\">\n<thead><tr><th>kind</th><th>hosts</th><th>messages</th><th>first seen</th><th>last seen</th></tr></thead>\n<tbody>\n",
        );
        let t = |x: &Option<DateTime<Utc>>| {
            x.map_or_else(
                || "-".to_string(),
                |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
            )
        };
        for e in &data.fleet_events {
            h.push_str(&format!(
                "<tr><td><code>{}</code> <span class=\"note\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&e.template),
                escape(&e.collection),
                e.hosts,
                e.count,
                t(&e.first_seen),
                t(&e.last_seen)
            ));
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }

    // Threat types.
    if !data.threats.is_empty() {
        h.push_str(
            "<section class=\"card\">\n<h2>Threats</h2>\n<p class=\"note\">Anomalies by the threat layer's type and severity.</p>\n<table class=\"threats\">\n<thead><tr><th>threat</th><th>severity</th><th class=\"num\">anomalies</th><th>example</th></tr></thead>\n<tbody>\n",
        );
        for t in &data.threats {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>\n",
                escape(&t.threat),
                escape(&t.severity),
                t.count,
                escape(&t.example)
            ));
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }

    // Models.
    h.push_str("<section class=\"card\">\n<h2>Models</h2>\n");
    if data.models.is_empty() {
        h.push_str("<p class=\"note\">No model facts were given.</p>\n");
    } else {
        h.push_str(
            "<div class=\"scroll\"><table class=\"models\">\n<thead><tr><th>Host</th><th>Version</th><th>Trained at (UTC)</th>\
             <th class=\"num\">Training messages</th><th class=\"num\">Message kinds</th>\
             <th class=\"num\">Vocabulary</th><th>Detectors</th><th class=\"num\">Contamination</th>\
             <th class=\"num\">Train seconds</th></tr></thead>\n<tbody>\n",
        );
        for (host, m) in &data.models {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"nowrap\"><code>{}</code></td><td class=\"nowrap\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{:.2}</td></tr>",
                cell(host, 200),
                cell(&m.version, 80),
                m.trained_at.format("%Y-%m-%d %H:%M:%S"),
                thousands(usize::try_from(m.training_messages).unwrap_or(usize::MAX)),
                thousands(m.templates),
                thousands(m.vocabulary),
                cell(
                    &format!(
                        "{} ({})",
                        m.detectors
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                        m.params.ensemble.preset.name()
                    ),
                    200
                ),
                m.params.ensemble.contamination,
                m.train_seconds
            );
        }
        h.push_str("</tbody>\n</table></div>\n");
    }
    h.push_str("</section>\n");

    h.push_str(
        "<footer>Scores are in [0, 1]; a message is flagged when its score reaches the threshold. \
         This file is self-contained: it loads nothing and runs no scripts.</footer>\n</main>\n</body>\n</html>\n",
    );
    h
}

/// One plot card: the SVG, or what went wrong, and a caption.
fn figure(h: &mut String, id: &str, svg: Result<String, String>, caption_html: &str) {
    let _ = write!(h, "<section class=\"card\">\n<figure data-plot=\"{id}\">\n");
    match svg {
        Ok(s) => {
            // Inline SVG in HTML needs no namespace declaration; keep the plot accessible.
            let s = s.replacen(
                " xmlns=\"http://www.w3.org/2000/svg\"",
                &format!(" role=\"img\" aria-label=\"{id} plot\""),
                1,
            );
            h.push_str(&s);
        }
        Err(e) => {
            let _ = write!(
                h,
                "<p class=\"error\">This plot could not be drawn: {}</p>",
                escape(&e)
            );
        }
    }
    let _ = write!(
        h,
        "\n<figcaption>{caption_html}</figcaption>\n</figure>\n</section>\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"\u{7}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;\u{fffd}"
        );
        assert_eq!(thousands(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(thousands(12), "12");
    }
}
