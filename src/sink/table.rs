//! The top anomalies as a plain-text table for the terminal.

/// One row of the table.
pub struct Row<'a> {
    pub score: f64,
    pub location: String,
    pub reason: String,
    pub message: &'a str,
}

/// Renders rows (already sorted) with aligned columns; messages are cut to `width` chars.
pub fn render(rows: &[Row<'_>], width: usize) -> String {
    let loc_w = rows.iter().map(|r| r.location.len()).max().unwrap_or(4).max(4);
    let why_w = rows.iter().map(|r| r.reason.chars().count()).max().unwrap_or(3).clamp(3, 40);
    let mut out = format!("{:>6}  {:<loc_w$}  {:<why_w$}  MESSAGE\n", "SCORE", "WHERE", "WHY");
    for r in rows {
        let msg: String = r.message.chars().filter(|c| !c.is_control()).take(width).collect();
        let why: String = r.reason.chars().take(why_w).collect();
        out.push_str(&format!("{:>6.3}  {:<loc_w$}  {:<why_w$}  {}\n", r.score, r.location, why, msg));
    }
    out
}
