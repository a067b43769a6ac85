//! `lad detect`: file mode.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lad::model::Model;
use lad::sink::{ndjson, table};
use lad::source::{read_records, FileFormat, Record};

use super::events::{read_events, summary, ProfileOpts};
use super::{progress, show, ModelOpts};

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Log files to score.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Train on this file instead of the first half of the input.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FileFormat::Plain)]
    pub format: FileFormat,
    /// Field holding the message in NDJSON input.
    #[arg(long, default_value = "message")]
    pub message_field: String,
    /// Where to write one NDJSON record per scored line (`-` for stdout).
    #[arg(long, short, default_value = "lad-detect.ndjson")]
    pub output: PathBuf,
    /// How many of the top anomalies to print.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Use a saved model instead of training.
    #[arg(long, conflicts_with = "train")]
    pub model: Option<PathBuf>,
    /// Save the trained model into this directory.
    #[arg(long)]
    pub save_model: Option<PathBuf>,
    /// Also write a self-contained HTML report with plots to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Structured events: train on the first N days and score the rest (default: the first
    /// half of the time span).
    #[arg(long)]
    pub baseline_days: Option<u32>,
    /// Structured events: also score sessions, the events of one user (or host, host+user,
    /// source_ip) in time order cut by `--session-timeout`, with the session detectors
    /// (fitted on the baseline's sessions). One NDJSON record per session goes to
    /// `--sessions-output`.
    #[arg(long, value_parser = |s: &str| s.parse::<lad::model::entity::EntityKey>())]
    pub sessions: Option<lad::model::entity::EntityKey>,
    /// Seconds without an event that close a session.
    #[arg(long, default_value_t = 1800.0)]
    pub session_timeout: f64,
    /// Where the session records go.
    #[arg(long, default_value = "lad-sessions.ndjson")]
    pub sessions_output: PathBuf,
    /// Lines: also run the threat layer (`shipped`, or a rule file's path): burst detectors
    /// and threat rules fitted on the training lines, fed every line in order; the line
    /// score and the threat finding become one verdict, and every anomaly's record gets
    /// `lad_threat` and `lad_severity`. Times come from RFC 3164 syslog headers.
    #[arg(long)]
    pub threat_rules: Option<String>,
    /// Year of syslog timestamps for `--threat-rules` (the format has none).
    #[arg(long, default_value_t = 2000)]
    pub year: i32,
    #[command(flatten)]
    pub profile: ProfileOpts,
    #[command(flatten)]
    pub opts: ModelOpts,
}

/// The threat layer's verdicts on the input lines, in order (`--threat-rules`): fitted on
/// the training lines (`train`: indices into `inputs`), then the stream restarted and every
/// line observed in order, as the service replays its backlog.
fn threat_verdicts(
    spec: &str,
    year: i32,
    inputs: &[(String, Record)],
    train: std::ops::Range<usize>,
    scores: &mut [lad::model::Score],
) -> anyhow::Result<Vec<lad::threat::triage::Triage>> {
    use lad::threat::{syslog::event_from_line, RuleFile, ThreatEngine, ThreatParams};
    let rules = if spec == "shipped" {
        RuleFile::shipped()
    } else {
        RuleFile::load(std::path::Path::new(spec))
            .with_context(|| format!("--threat-rules {spec}"))?
    };
    let mut engine = ThreatEngine::new(&rules, ThreatParams::default())?;
    let events: Vec<_> = inputs
        .iter()
        .map(|(_, r)| event_from_line(&r.message, r.line, year))
        .collect();
    engine.fit(&events[train]);
    engine.restart_stream();
    Ok(events
        .iter()
        .zip(scores.iter_mut())
        .map(|(e, s)| {
            let finding = engine.observe(e);
            let t = lad::threat::triage::triage(s, Some(&finding));
            s.is_anomaly = t.is_anomaly;
            s.anomaly_score = t.anomaly_score;
            t
        })
        .collect())
}

pub fn run(a: DetectArgs) -> anyhow::Result<ExitCode> {
    if let Some(kind) = a.profile.profile {
        return run_events(kind, &a);
    }
    let mut inputs: Vec<(String, Record)> = Vec::new();
    let mut skipped = 0usize;
    for f in &a.files {
        let (records, skips) = read_records(f, a.format, &a.message_field)?;
        for s in &skips {
            tracing::debug!(file = %show(f), line = s.line, reason = %s.reason, "line skipped");
        }
        skipped += skips.len();
        inputs.extend(records.into_iter().map(|r| (show(f), r)));
    }
    if inputs.is_empty() {
        anyhow::bail!(
            "no messages in {:?} ({skipped} lines skipped): nothing to score",
            a.files
        );
    }

    let model = if let Some(dir) = &a.model {
        Model::load(dir)?
    } else {
        let train: Vec<String> = match &a.train {
            Some(t) => read_records(t, a.format, &a.message_field)?
                .0
                .into_iter()
                .map(|r| r.message)
                .collect(),
            None => inputs[..inputs.len().div_ceil(2)]
                .iter()
                .map(|(_, r)| r.message.clone())
                .collect(),
        };
        let what = a
            .train
            .as_ref()
            .map_or_else(|| "the first half of the input".to_string(), |t| show(t));
        eprintln!("training on {} messages from {what}", train.len());
        let (bar, mut cb) = progress::training_bar();
        let model = Model::fit_with_progress(&train, &a.opts.params()?, &mut cb)?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        model
    };
    if let Some(dir) = &a.save_model {
        model
            .save(dir)
            .with_context(|| format!("saving the model to {}", show(dir)))?;
        eprintln!("model {} saved to {}", model.version(), show(dir));
    }

    // Lines the model was trained on are scored as they are; every later line is scored and
    // then remembered (online novelty memory), as the service does with new documents.
    let messages: Vec<&str> = inputs.iter().map(|(_, r)| r.message.as_str()).collect();
    let trained_on = if a.model.is_none() && a.train.is_none() {
        messages.len().div_ceil(2)
    } else {
        0
    };
    let mut scores = model.score(&messages[..trained_on]);
    scores.extend(model.score_and_learn(&messages[trained_on..]));
    let triaged = match &a.threat_rules {
        Some(spec) => {
            let train = if trained_on > 0 {
                0..trained_on
            } else {
                0..inputs.len()
            };
            Some(threat_verdicts(spec, a.year, &inputs, train, &mut scores)?)
        }
        None => None,
    };

    let mut out: Box<dyn Write> = if a.output.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(
            File::create(&a.output).with_context(|| format!("creating {}", show(&a.output)))?,
        ))
    };
    for (i, ((file, r), s)) in inputs.iter().zip(&scores).enumerate() {
        let t = triaged.as_ref().and_then(|v| v.get(i));
        let mut reason = s.is_anomaly.then(|| model.reason(&r.message, s));
        if let (Some(reason), Some(t)) = (reason.as_mut(), t) {
            reason.threat.clone_from(&t.threat_reason);
        }
        let threat = ndjson::ThreatFields {
            threat: t.and_then(|t| t.threat_type.as_ref()).map(|k| k.as_str()),
            severity: t.and_then(|t| t.severity).map(|s| s.as_str()),
        };
        ndjson::write_record(
            &mut out,
            file,
            r.line,
            &r.message,
            s,
            reason.as_ref(),
            threat,
        )?;
    }
    out.flush()?;
    drop(out);
    if let Some(path) = &a.report {
        let label = match (&a.model, &a.train) {
            (Some(dir), _) => show(dir),
            (None, Some(t)) => format!("trained on {}", show(t)),
            (None, None) => "trained on the first half of the input".to_string(),
        };
        let data = super::report::from_detect(
            &a.files,
            &inputs,
            &scores,
            &model,
            label,
            triaged.as_deref(),
        );
        super::report::write(&data, path)?;
    }

    let mut order: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].is_anomaly)
        .collect();
    order.sort_by(|&x, &y| {
        scores[y]
            .anomaly_score
            .total_cmp(&scores[x].anomaly_score)
            .then(x.cmp(&y))
    });
    let flagged = order.len();
    let rows: Vec<table::Row<'_>> = order
        .iter()
        .take(a.top)
        .map(|&i| table::Row {
            score: scores[i].anomaly_score,
            location: format!(
                "{}:{}",
                inputs[i].0.rsplit('/').next().unwrap_or(""),
                inputs[i].1.line
            ),
            reason: scores[i].signals.explain(),
            message: &inputs[i].1.message,
        })
        .collect();
    if a.output.as_os_str() != "-" {
        print!("{}", table::render(&rows, 110));
        println!(
            "\n{flagged} of {} messages flagged ({:.2} %), {skipped} lines skipped; model {}; all scores in {}",
            scores.len(),
            100.0 * flagged as f64 / scores.len() as f64,
            model.version(),
            show(&a.output)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `lad detect --profile …`: structured events, one model per entity.
fn run_events(kind: lad::profile::ProfileKind, a: &DetectArgs) -> anyhow::Result<ExitCode> {
    use lad::eval::events::Baseline;
    use lad::model::entity::EntityModels;
    let (events, stats) = read_events(kind, &a.profile, &a.files)?;
    eprintln!("{}", summary(&stats));
    anyhow::ensure!(
        !events.is_empty(),
        "no events in {:?}: nothing to score",
        a.files
    );
    let (models, first_new) = if let Some(dir) = &a.model {
        (EntityModels::load(dir)?, 0)
    } else if let Some(t) = &a.train {
        let (train, _) = read_events(kind, &a.profile, std::slice::from_ref(t))?;
        eprintln!("training on {} events from {}", train.len(), show(t));
        (
            EntityModels::fit(&train, &a.opts.params()?, &a.profile.entity_params())?,
            0,
        )
    } else {
        let b = a.baseline_days.map_or(Baseline::HalfTime, Baseline::Days);
        let cut = lad::eval::events::baseline_end(&events, b)
            .unwrap_or((events.len().div_ceil(2), String::new()));
        let n = cut.0.clamp(1, events.len());
        eprintln!(
            "training on the {n} events before {}",
            if cut.1.is_empty() {
                "the middle"
            } else {
                &cut.1
            }
        );
        (
            EntityModels::fit(&events[..n], &a.opts.params()?, &a.profile.entity_params())?,
            n,
        )
    };
    if let Some(key) = a.sessions {
        write_sessions(&events, first_new, key, a)?;
    }
    if let Some(dir) = &a.save_model {
        models
            .save(dir)
            .with_context(|| format!("saving the models to {}", show(dir)))?;
        eprintln!("models saved to {}", show(dir));
    }
    let scores: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| models.score(e, i >= first_new))
        .collect();
    let mut out: Box<dyn Write> = if a.output.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(
            File::create(&a.output).with_context(|| format!("creating {}", show(&a.output)))?,
        ))
    };
    for (e, s) in events.iter().zip(&scores) {
        let reason = s
            .score
            .is_anomaly
            .then(|| {
                models
                    .model(&s.model)
                    .map(|m| m.reason(&e.message, &s.score))
            })
            .flatten();
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "file": stats.files.get(e.file).map(|p| show(p)), "line": e.line,
                "timestamp": e.timestamp, "entity": s.entity, "model": s.model,
                "fallback": s.fallback, "control": s.control,
                "message": e.message, "is_anomaly": u8::from(s.score.is_anomaly),
                "anomaly_score": s.score.anomaly_score, "reason": s.score.signals.explain(),
                "lad_reason": reason, "signals": s.score.signals,
            }),
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let mut order: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].score.is_anomaly)
        .collect();
    order.sort_by(|&x, &y| {
        scores[y]
            .score
            .anomaly_score
            .total_cmp(&scores[x].score.anomaly_score)
            .then(x.cmp(&y))
    });
    let rows: Vec<table::Row<'_>> = order
        .iter()
        .take(a.top)
        .map(|&i| table::Row {
            score: scores[i].score.anomaly_score,
            location: format!("{}:{}", scores[i].entity, events[i].line),
            reason: scores[i].score.signals.explain(),
            message: &events[i].message,
        })
        .collect();
    if a.output.as_os_str() != "-" {
        print!("{}", table::render(&rows, 110));
        println!(
            "\n{} of {} events flagged ({:.2} %); {} entities with their own model; all scores in {}",
            order.len(),
            scores.len(),
            100.0 * order.len() as f64 / scores.len() as f64,
            models.entities().count(),
            show(&a.output)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--sessions KEY`: the events' sessions, fitted on the baseline's and scored on the rest,
/// one NDJSON record each.
fn write_sessions(
    events: &[lad::profile::Event],
    first_new: usize,
    key: lad::model::entity::EntityKey,
    a: &DetectArgs,
) -> anyhow::Result<()> {
    use lad::session::events::score_event_sessions;
    let timeout = (a.session_timeout > 0.0).then_some((a.session_timeout * 1000.0) as i64);
    let params = lad::session::SessionParams::default();
    let (_, scored) = score_event_sessions(events, first_new, key, timeout, &params)
        .context("fitting the session model (--sessions)")?;
    let mut out = BufWriter::new(
        File::create(&a.sessions_output)
            .with_context(|| format!("creating {}", show(&a.sessions_output)))?,
    );
    for s in &scored {
        let first = &events[s.events[0]];
        let last = &events[s.events[s.events.len() - 1]];
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "session": s.key, "events": s.events.len(),
                "first_line": first.line, "last_line": last.line,
                "start": first.timestamp, "end": last.timestamp,
                "is_anomaly": u8::from(s.score.is_anomaly),
                "session_score": s.score.score,
                "worst_line": s.worst.map(|i| events[i].line),
                "worst_event": s.worst_token,
                "signals": s.score.signals,
            }),
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let flagged = scored.iter().filter(|s| s.score.is_anomaly).count();
    eprintln!(
        "{flagged} of {} sessions flagged (key {key:?}, time-out {} s); sessions in {}",
        scored.len(),
        a.session_timeout,
        show(&a.sessions_output)
    );
    Ok(())
}
