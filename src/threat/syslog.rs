//! Plain syslog lines (RFC 3164 style, as in `/var/log/auth.log`) as [`Event`]s.
//!
//! `Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for …` gives the timestamp (the
//! format has no year, so the caller supplies one), the host (`LabSZ`), the program
//! (`sshd`, as `event_type` only if no extractor sets a better one — it is kept as the
//! `program` field) and the message after `: `. Who and from where are left to the rule
//! file's extractors, which know each program's message formats.
//!
//! Written by hand rather than with a syslog crate: only this header is needed, and it is a
//! dozen lines with chrono's parser.

use chrono::{NaiveDateTime, TimeZone, Utc};

use crate::profile::{Event, Field, FieldValue};

/// Parses one line (`line_no` 1-based). A line without a parseable header becomes an event
/// with the whole line as message and no timestamp; nothing is dropped.
pub fn event_from_line(line: &str, line_no: usize, year: i32) -> Event {
    let mut e = Event::new(0, line_no);
    e.message = line.to_string();
    // "Mmm dd hh:mm:ss" is 15 characters (day padded with a space).
    let Some(stamp) = line.get(..15) else {
        return e;
    };
    let parsed = NaiveDateTime::parse_from_str(&format!("{year} {stamp}"), "%Y %b %e %H:%M:%S");
    let Ok(naive) = parsed else {
        return e;
    };
    e.timestamp = Some(Utc.from_utc_datetime(&naive));
    let rest = line[15..].trim_start();
    let (host, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !host.is_empty() {
        e.host = Some(host.to_string());
    }
    split_program(&mut e, rest);
    e
}

/// `tag[pid]: text` → the `program` field and `text` as the message; anything else leaves
/// the event as it is.
fn split_program(e: &mut Event, text: &str) {
    if let Some((tag, msg)) = text.split_once(": ") {
        let program = tag.split('[').next().unwrap_or(tag);
        if !program.is_empty() && !program.contains(' ') {
            e.fields.push(Field {
                name: "program".into(),
                value: FieldValue::Category(program.to_string()),
            });
            e.message = msg.to_string();
        }
    }
}

/// A message without the syslog header, as log collectors store it (`sshd[42]: Failed
/// password for …`), with the host and time the document gives: the program tag becomes the
/// `program` field and the rest the message, as for a whole line.
pub fn event_from_message(message: &str, host: &str, at: Option<chrono::DateTime<Utc>>) -> Event {
    let mut e = Event::new(0, 0);
    e.message = message.to_string();
    e.timestamp = at;
    if !host.is_empty() {
        e.host = Some(host.to_string());
    }
    split_program(&mut e, message);
    e
}

/// Every line of a text (blank lines skipped, line numbers kept).
pub fn events_from_text(text: &str, year: i32) -> Vec<Event> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| event_from_line(l, i + 1, year))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_split_and_bad_lines_kept() {
        let e = event_from_line(
            "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
            3,
            2016,
        );
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2016-12-10T06:55:46+00:00"
        );
        assert_eq!(e.host.as_deref(), Some("LabSZ"));
        assert_eq!(e.message, "Invalid user webmaster from 173.234.31.186");
        assert_eq!(e.field("program").unwrap().as_text(), "sshd");
        assert_eq!(e.line, 3);
        let e = event_from_line("Dec  1 00:00:00 h kernel: x", 1, 2016);
        assert!(e.timestamp.is_some());
        for bad in [
            "",
            "garbage",
            "Foo 99 99:99:99 h x: y",
            "é".repeat(20).as_str(),
        ] {
            let e = event_from_line(bad, 1, 2016);
            assert!(e.timestamp.is_none());
            assert_eq!(e.message, bad);
        }
        assert_eq!(events_from_text("a\n\nb\n", 2016).len(), 2);
    }
}
