//! `RETRAIN_SCHEDULE`: a 6-field cron expression (with seconds), evaluated in UTC.
//!
//! Parsed with `croner`, the parser tokio-cron-scheduler itself uses, with the same
//! settings, so an expression we accept is one the scheduler accepts. Keeping the parsed
//! form lets start-up ask "when was the last scheduled retrain?" to decide whether a model
//! on disk is still fresh.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// A validated retrain schedule.
#[derive(Clone)]
pub struct RetrainSchedule {
    text: String,
    cron: Cron,
}

impl std::fmt::Debug for RetrainSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RetrainSchedule({:?})", self.text)
    }
}

impl RetrainSchedule {
    /// Parses `sec min hour day-of-month month day-of-week`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let fields = text.split_whitespace().count();
        if fields != 6 {
            return Err(format!("{fields} fields"));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            text: text.to_string(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The latest scheduled time at or before `now`, if the schedule ever fired.
    pub fn previous(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    /// The next scheduled time after `now`.
    pub fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}
