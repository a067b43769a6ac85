//! Options and helpers for structured inputs (`--profile json|wazuh|audit|osquery`), shared
//! by `lad detect` and `lad eval`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lad::model::entity::{Controls, EntityKey, EntityParams};
use lad::profile::{Event, Profile, ProfileKind, ProfileOptions, ProfileStats};

#[derive(Args, Debug, Clone)]
pub struct ProfileOpts {
    /// Read structured events: json (aliases for timestamp, user, source_ip, …), wazuh
    /// (alerts.json), audit (raw auditd lines), osquery (results log). Without it, lines.
    #[arg(long, value_parser = |s: &str| s.parse::<ProfileKind>())]
    pub profile: Option<ProfileKind>,
    /// Field holding the ground truth (removed before the model sees the event).
    #[arg(long)]
    pub label_field: Option<String>,
    /// json profile: override where a part is found, e.g. `user=log.user.name,actor`
    /// (repeatable; parts: timestamp, host, user, source_ip, session, event_type, action,
    /// message, command, path, extra).
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    /// Read each event from this field of the record (`log` in the Panther test files).
    #[arg(long)]
    pub unwrap: Option<String>,
    /// Where the host comes from (dotted paths, first usable wins), e.g. `agent.ip`.
    #[arg(long, value_delimiter = ',')]
    pub host_field: Vec<String>,
    /// Wazuh: append the raw log line (`full_log`) to the rule description.
    #[arg(long)]
    pub wazuh_full_log: bool,
    /// One model per: host (default), user, host+user, source_ip, global.
    #[arg(long, default_value = "host", value_parser = |s: &str| s.parse::<EntityKey>())]
    pub entity: EntityKey,
    /// An entity with fewer training events is scored by its fallback model.
    #[arg(long, default_value_t = 50)]
    pub min_entity_events: usize,
    /// Never flag events of these users (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub ignore_users: Vec<String>,
    /// Never flag events whose path matches these globs (or starts with them).
    #[arg(long, value_delimiter = ',')]
    pub ignore_files: Vec<String>,
    /// Always flag events whose path matches (or contains) these.
    #[arg(long, value_delimiter = ',')]
    pub abuse_files: Vec<String>,
}

impl ProfileOpts {
    pub fn options(&self) -> anyhow::Result<ProfileOptions> {
        let mut o = ProfileOptions {
            label_field: self.label_field.clone(),
            unwrap_field: self.unwrap.clone(),
            wazuh_full_log: self.wazuh_full_log,
            ..ProfileOptions::default()
        };
        if !self.host_field.is_empty() {
            o.host_paths = Some(self.host_field.clone());
        }
        for a in &self.aliases {
            o.aliases
                .set_from_spec(a)
                .map_err(|e| anyhow::anyhow!("--alias {a}: {e}"))?;
        }
        Ok(o)
    }

    pub fn entity_params(&self) -> EntityParams {
        EntityParams {
            key: self.entity,
            min_events: self.min_entity_events.max(1),
            controls: Controls {
                ignore_users: self.ignore_users.clone(),
                ignore_files: self.ignore_files.clone(),
                abuse_files: self.abuse_files.clone(),
            },
        }
    }
}

/// Reads every input (files or directories) with the profile; events sorted by time
/// (stable: events without a time keep their place after the timed ones of their file).
pub fn read_events(
    kind: ProfileKind,
    opts: &ProfileOpts,
    inputs: &[PathBuf],
) -> anyhow::Result<(Vec<Event>, ProfileStats)> {
    let profile = Profile::new(kind, opts.options()?);
    let mut events = Vec::new();
    let mut stats = ProfileStats::default();
    for (i, p) in inputs.iter().enumerate() {
        let (evs, st) = profile
            .parse_path(p)
            .with_context(|| format!("reading {} as {kind}", p.display()))?;
        let base = stats.files.len();
        let files = st.files.clone();
        stats.merge(st, base);
        stats.files.extend(files);
        let _ = i;
        events.extend(evs.into_iter().map(|mut e| {
            e.file += base;
            e
        }));
    }
    events.sort_by_key(|e| e.timestamp);
    Ok((events, stats))
}

/// A one-line summary of what the profile read (to stderr).
pub fn summary(stats: &ProfileStats) -> String {
    let mut s = format!(
        "{} events from {} lines, {} skipped",
        stats.events, stats.lines, stats.skipped
    );
    if !stats.skip_reasons.is_empty() {
        let reasons: Vec<String> = stats
            .skip_reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        s.push_str(&format!(" ({})", reasons.join(", ")));
    }
    let missing: u64 = stats.missing.values().sum();
    let unknown: u64 = stats.unknown.values().sum();
    if missing + unknown > 0 {
        s.push_str(&format!(
            "; {missing} missing and {unknown} unknown field values"
        ));
    }
    s
}
