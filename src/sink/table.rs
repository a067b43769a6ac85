//! The top anomalies as a plain-text table for the terminal.

/// One row of the table.
pub struct Row<'a> {
    pub score: f64,
    pub location: String,
    pub reason: String,
    pub message: &'a str,
}

/// Renders rows (already sorted) with aligned columns; long messages keep their start and
/// their end (where most log lines say what happened), cut in the middle to `width` chars.
pub fn render(rows: &[Row<'_>], width: usize) -> String {
    let loc_w = rows
        .iter()
        .map(|r| r.location.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let why_w = rows
        .iter()
        .map(|r| r.reason.chars().count())
        .max()
        .unwrap_or(3)
        .clamp(3, 72);
    let mut out = format!(
        "{:>6}  {:<loc_w$}  {:<why_w$}  MESSAGE\n",
        "SCORE", "WHERE", "WHY"
    );
    for r in rows {
        let msg = shorten(r.message, width);
        let why: String = r.reason.chars().take(why_w).collect();
        out.push_str(&format!(
            "{:>6.3}  {:<loc_w$}  {:<why_w$}  {}\n",
            r.score, r.location, why, msg
        ));
    }
    out
}

/// Control characters removed; if longer than `width`, the first quarter and the last part
/// joined by `…`.
pub fn shorten(message: &str, width: usize) -> String {
    let chars: Vec<char> = message.chars().filter(|c| !c.is_control()).collect();
    if chars.len() <= width || width < 8 {
        return chars.into_iter().take(width.max(1)).collect();
    }
    let head = width / 4;
    let tail = width - head - 1;
    let mut s: String = chars[..head].iter().collect();
    s.push('…');
    s.extend(&chars[chars.len() - tail..]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_in_the_middle_and_strips_control_chars() {
        assert_eq!(shorten("abc\u{7}def", 20), "abcdef");
        let s = shorten(&format!("{}END", "x".repeat(200)), 40);
        assert_eq!(s.chars().count(), 40);
        assert!(s.ends_with("END") && s.contains('…'));
        let t = render(
            &[Row {
                score: 0.9,
                location: "f:1".into(),
                reason: "new".into(),
                message: "hello",
            }],
            80,
        );
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .contains("0.900  f:1   new  hello"),
            "{t}"
        );
    }
}
