//! Log files: plain lines, BGL/Thunderbird lines with a label field, NDJSON, HDFS.
//!
//! Lines are split on any line break (`\n`, `\r\n`, bare `\r`) and decoded as UTF-8 with
//! invalid bytes replaced, so no input can stop a run. Lines that cannot give a message
//! (blank lines, NDJSON lines that are not objects with a string message) are returned as
//! [`Skipped`] with their line number and reason, never silently dropped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Input formats of `lad detect` and `lad eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Every line is a message.
    #[default]
    Plain,
    /// Loghub BGL/Thunderbird: the first field is the alert label (`-` = normal), the rest the
    /// message. The model never sees the label.
    Bgl,
    /// One JSON object per line; the message is the `message` field (see `message_field`).
    Ndjson,
    /// HDFS DataNode/NameNode lines; labels come per block (`blk_…`) from a CSV.
    Hdfs,
    /// Sessions, one JSON object a line (`session`, `label`, `events`): `lad eval` only.
    Sessions,
}

/// One record read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number in its file.
    pub line: usize,
    pub message: String,
    /// Ground truth when the format carries it (BGL label field).
    pub label: Option<bool>,
    /// HDFS block ids mentioned in the line.
    pub blocks: Vec<String>,
}

/// A line that gave no message, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads every record of `path` in `format`.
pub fn read_records(
    path: &Path,
    format: FileFormat,
    message_field: &str,
) -> Result<(Vec<Record>, Vec<Skipped>), SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_records(&bytes, format, message_field))
}

/// Parses records from raw bytes (see [`read_records`]).
pub fn parse_records(
    bytes: &[u8],
    format: FileFormat,
    message_field: &str,
) -> (Vec<Record>, Vec<Skipped>) {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in split_lines(bytes).enumerate() {
        let line = i + 1;
        let text = String::from_utf8_lossy(raw);
        if text.trim().is_empty() {
            skipped.push(Skipped {
                line,
                reason: "blank line".into(),
            });
            continue;
        }
        match parse_line(&text, format, message_field) {
            Ok((message, label)) => {
                let blocks = if format == FileFormat::Hdfs {
                    block_ids(&message)
                } else {
                    Vec::new()
                };
                records.push(Record {
                    line,
                    message,
                    label,
                    blocks,
                });
            }
            Err(reason) => skipped.push(Skipped { line, reason }),
        }
    }
    (records, skipped)
}

fn parse_line(
    text: &str,
    format: FileFormat,
    message_field: &str,
) -> Result<(String, Option<bool>), String> {
    match format {
        FileFormat::Plain | FileFormat::Hdfs | FileFormat::Sessions => Ok((text.to_string(), None)),
        FileFormat::Bgl => {
            let t = text.trim_start();
            let (label, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            Ok((rest.trim_start().to_string(), Some(label != "-")))
        }
        FileFormat::Ndjson => {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
            match v.get(message_field) {
                Some(serde_json::Value::String(s)) => Ok((s.clone(), None)),
                Some(_) => Err(format!("field '{message_field}' is not a string")),
                None => Err(format!("no field '{message_field}'")),
            }
        }
    }
}

/// Splits on `\n`, `\r\n` and bare `\r`.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        let line = &rest[..end];
        let mut next = end;
        if next < rest.len() {
            next += if rest[next] == b'\r' && rest.get(next + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
        }
        rest = &rest[next..];
        Some(line)
    })
}

/// `blk_…` ids in an HDFS line (with the optional minus sign), in order, de-duplicated.
pub fn block_ids(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut s = message;
    while let Some(pos) = s.find("blk_") {
        let tail = &s[pos + 4..];
        let len = tail
            .char_indices()
            .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && c == '-'))
            .count();
        if len > 0 && tail[..len].bytes().any(|b| b.is_ascii_digit()) {
            let id = format!("blk_{}", &tail[..len]);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        s = &tail[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_any_line_break_and_keeps_line_numbers() {
        let (r, s) = parse_records(b"a\r\nb\rc\n\n\xffd", FileFormat::Plain, "message");
        assert_eq!(
            r.iter()
                .map(|x| (x.line, x.message.as_str()))
                .collect::<Vec<_>>(),
            [(1, "a"), (2, "b"), (3, "c"), (5, "\u{fffd}d")]
        );
        assert_eq!(
            s,
            [Skipped {
                line: 4,
                reason: "blank line".into()
            }]
        );
    }

    #[test]
    fn bgl_label_is_stripped_from_the_message() {
        let (r, _) = parse_records(
            b"- 1 ok line\nKERNDTLB 2 bad line\n",
            FileFormat::Bgl,
            "message",
        );
        assert_eq!(r[0].message, "1 ok line");
        assert_eq!(r[0].label, Some(false));
        assert_eq!(r[1].message, "2 bad line");
        assert_eq!(r[1].label, Some(true));
    }

    #[test]
    fn ndjson_bad_lines_are_skipped_with_reason() {
        let (r, s) = parse_records(
            b"{\"message\":\"hi\"}\n{oops\n{\"message\":3}\n{}\n",
            FileFormat::Ndjson,
            "message",
        );
        assert_eq!(r.len(), 1);
        assert_eq!(s.iter().map(|x| x.line).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(s[1].reason.contains("not a string"));
    }

    #[test]
    fn hdfs_block_ids() {
        assert_eq!(
            block_ids("Receiving block blk_-1608999687919862906 src: blk_7 blk_ blk_-"),
            ["blk_-1608999687919862906", "blk_7"]
        );
    }
}
