//! `lad bench`: training time, scoring throughput and peak memory, on a real labeled sample
//! and on a generated 250k-line log (~50 templates plus injected rare lines).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use lad::model::Model;
use lad::rng::SplitMix64;
use lad::source::{read_records, FileFormat};

use super::ModelOpts;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A BGL-format sample (e.g. ../shared/data/loghub_2k/BGL_2k.log).
    #[arg(long)]
    pub bgl: Option<PathBuf>,
    /// Lines of the generated log (0 skips it).
    #[arg(long, default_value_t = 250_000)]
    pub generated_lines: usize,
    /// Memory of a fleet: train this many models (one per host, high-cardinality generated
    /// logs of `--per-host` lines each) and hold them all, as `lad run` does.
    #[arg(long, default_value_t = 0)]
    pub hosts: usize,
    /// Training messages per host for `--hosts`.
    #[arg(long, default_value_t = 100_000)]
    pub per_host: usize,
    /// Session detector: fit on this many sessions resampled (seeded) from
    /// `--sessions-file`, score a stream of as many through the sessionizer, and hold
    /// `--open-sessions` open at once (0 skips it).
    #[arg(long, default_value_t = 0)]
    pub sessions: usize,
    /// Sessions JSONL to resample (`session`, `label`, `events`).
    #[arg(
        long,
        default_value = "../shared/data/sessions/hdfs_100k_sessions_train.jsonl"
    )]
    pub sessions_file: PathBuf,
    /// Open sessions held at once for the memory measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub open_sessions: usize,
    /// Parsing throughput of a structured profile on this file, one thread (with
    /// `--parse-profile`; repeated until at least 2 s of work).
    #[arg(long)]
    pub parse_file: Option<PathBuf>,
    /// The profile for `--parse-file`.
    #[arg(long, default_value = "json", value_parser = |s: &str| s.parse::<lad::profile::ProfileKind>())]
    pub parse_profile: lad::profile::ProfileKind,
    #[command(flatten)]
    pub opts: ModelOpts,
}

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let params = a.opts.params()?;
    let mut results = serde_json::Map::new();
    if let Some(path) = &a.bgl {
        let (records, _) = read_records(path, FileFormat::Bgl, "message")?;
        let msgs: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
        let half = msgs.len() / 2;
        results.insert(
            "bgl".into(),
            measure(&msgs[..half], &msgs[half..], &params)?,
        );
    }
    if a.generated_lines > 0 {
        // Train on one generated log, score another (other seed) whose rare lines are new.
        let train = generate(a.generated_lines, 7, &RARE[..2]);
        let test = generate(a.generated_lines, 8, &RARE[2..]);
        let train: Vec<&str> = train.iter().map(String::as_str).collect();
        let test_msgs: Vec<&str> = test.iter().map(String::as_str).collect();
        let mut m = measure(&train, &test_msgs, &params)?;
        let model = Model::fit(&train[..train.len().min(20_000)], &params)?;
        let injected: Vec<&str> = test_msgs
            .iter()
            .copied()
            .filter(|l| !l.starts_with("host"))
            .collect();
        let caught = model
            .score(&injected)
            .iter()
            .filter(|s| s.is_anomaly)
            .count();
        m["injected_rare_lines"] = serde_json::json!(injected.len());
        m["injected_flagged_by_20k_line_model"] = serde_json::json!(caught);
        results.insert("generated".into(), m);
    }
    if a.generated_lines > 0 {
        // High cardinality: every line also carries a word from a 100k-word vocabulary that the
        // masking keeps, so there are ~100k distinct templates and words.
        let train = high_cardinality(a.generated_lines, 9);
        let test = high_cardinality(a.generated_lines, 10);
        let train: Vec<&str> = train.iter().map(String::as_str).collect();
        let test: Vec<&str> = test.iter().map(String::as_str).collect();
        results.insert(
            "generated_high_cardinality".into(),
            measure(&train, &test, &params)?,
        );
    }
    if a.hosts > 0 {
        let t0 = Instant::now();
        let mut models = Vec::new();
        for h in 0..a.hosts {
            let lines = high_cardinality(a.per_host, 100 + h as u64);
            models.push(Model::fit(&lines, &params)?);
        }
        results.insert(
            "fleet".into(),
            serde_json::json!({
                "hosts": a.hosts,
                "training_messages_per_host": a.per_host,
                "templates_per_host": models.iter().map(|m| m.info().templates).collect::<Vec<_>>(),
                "train_seconds_total": t0.elapsed().as_secs_f64(),
                "peak_rss_mib_with_all_models_loaded": lad::runtime::peak_rss_mib(),
            }),
        );
    }
    if let Some(path) = &a.parse_file {
        let bytes = std::fs::read(path)?;
        let profile = lad::profile::Profile::new(a.parse_profile, Default::default());
        let (events, stats) = profile.parse_bytes(&bytes);
        let t0 = Instant::now();
        let mut reps = 0u64;
        while t0.elapsed().as_secs_f64() < 2.0 {
            std::hint::black_box(profile.parse_bytes(&bytes));
            reps += 1;
        }
        let s = t0.elapsed().as_secs_f64();
        results.insert(
            "parse".into(),
            serde_json::json!({
                "file": path.display().to_string(),
                "profile": a.parse_profile.name(),
                "bytes": bytes.len(),
                "events": events.len(),
                "lines_skipped": stats.skipped,
                "repetitions": reps,
                "events_per_second": (events.len() as u64 * reps) as f64 / s.max(1e-9),
                "megabytes_per_second": (bytes.len() as u64 * reps) as f64 / s.max(1e-9) / 1e6,
            }),
        );
    }
    if a.sessions > 0 {
        results.insert(
            "sessions".into(),
            bench_sessions(&a.sessions_file, a.sessions, a.open_sessions)?,
        );
    }
    results.insert(
        "peak_rss_mib".into(),
        serde_json::json!(lad::runtime::peak_rss_mib()),
    );
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(ExitCode::SUCCESS)
}

/// Current resident memory (Linux `VmRSS`), in MiB; 0 where unavailable.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Issue 11's session targets: fit on `n` sessions, the scoring rate of a stream of events
/// through the sessionizer and the model, and the memory of `open` open sessions.
fn bench_sessions(
    file: &std::path::Path,
    n: usize,
    open: usize,
) -> anyhow::Result<serde_json::Value> {
    use lad::session::{
        read_sessions_jsonl, SessionModel, SessionParams, Sessionizer, SessionizerParams,
    };
    let (real, _) = read_sessions_jsonl(file)?;
    anyhow::ensure!(!real.is_empty(), "no sessions in {}", file.display());
    let mut rng = SplitMix64::new(11);
    let pick: Vec<&[String]> = (0..n)
        .map(|_| {
            real[(rng.next_u64() % real.len() as u64) as usize]
                .events
                .as_slice()
        })
        .collect();
    let params = SessionParams::default();
    let t0 = Instant::now();
    let model = SessionModel::fit(&pick, &params)?;
    let fit_s = t0.elapsed().as_secs_f64();

    // A stream: sessions interleaved 64 at a time, one event every millisecond, each key
    // closing after a 1 s idle time-out; every closed session is scored.
    let mut sz: Sessionizer<u32> = Sessionizer::new(SessionizerParams {
        idle_timeout_ms: Some(1000),
        ..SessionizerParams::default()
    })?;
    let mut events = 0u64;
    let mut flagged = 0usize;
    let mut scored = 0usize;
    let mut t_ms = 0i64;
    let t1 = Instant::now();
    for (g, group) in pick.chunks(64).enumerate() {
        let longest = group.iter().map(|s| s.len()).max().unwrap_or(0);
        for i in 0..longest {
            for (j, s) in group.iter().enumerate() {
                let Some(e) = s.get(i) else { continue };
                let key = format!("blk_{g}_{j}");
                t_ms += 1;
                events += 1;
                for c in sz.push_keys(&[key.as_str()], Some(t_ms), model.event_id(e)) {
                    scored += 1;
                    flagged += usize::from(model.score_ids(&c.events).is_anomaly);
                }
            }
        }
    }
    for c in sz.flush() {
        scored += 1;
        flagged += usize::from(model.score_ids(&c.events).is_anomaly);
    }
    let stream_s = t1.elapsed().as_secs_f64();

    // Memory: `open` sessions open at once (two events each, no time-out), then closed and
    // scored at the end of input.
    let before = rss_mib();
    let mut sz: Sessionizer<u32> = Sessionizer::new(SessionizerParams {
        idle_timeout_ms: None,
        max_open_sessions: open.max(1),
        ..SessionizerParams::default()
    })?;
    let ids: Vec<u32> = real[0].events.iter().map(|e| model.event_id(e)).collect();
    let t2 = Instant::now();
    for k in 0..open {
        let key = format!("blk_{k}");
        for &id in ids.iter().take(2) {
            sz.push_keys(&[key.as_str()], None, id);
        }
    }
    let open_now = sz.open_sessions();
    let held = rss_mib() - before;
    let closed = sz.flush();
    let open_flagged = closed
        .iter()
        .filter(|c| model.score_ids(&c.events).is_anomaly)
        .count();
    let open_s = t2.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "fit_sessions": n,
        "fit_seconds": fit_s,
        "stream_events": events,
        "stream_sessions_scored": scored,
        "stream_sessions_flagged": flagged,
        "stream_seconds": stream_s,
        "stream_events_per_second": events as f64 / stream_s.max(1e-9),
        "open_sessions": open_now,
        "open_sessions_rss_mib": held,
        "bytes_per_open_session": held * 1024.0 * 1024.0 / open_now.max(1) as f64,
        "open_sessions_closed_and_scored": closed.len(),
        "open_sessions_flagged": open_flagged,
        "open_sessions_seconds": open_s,
    }))
}

fn measure(
    train: &[&str],
    test: &[&str],
    params: &lad::model::ModelParams,
) -> anyhow::Result<serde_json::Value> {
    let t0 = Instant::now();
    let model = Model::fit(train, params)?;
    let train_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let first = model.score(test);
    let cold_s = t1.elapsed().as_secs_f64();
    // Warm: the template cache is filled; repeat until at least ~1 s of work for a stable rate.
    let reps = ((1.0 / cold_s.max(1e-6)).ceil() as usize).clamp(1, 200);
    let t2 = Instant::now();
    let mut flagged = 0;
    for _ in 0..reps {
        flagged = model.score(test).iter().filter(|s| s.is_anomaly).count();
    }
    let warm_s = t2.elapsed().as_secs_f64() / reps as f64;
    Ok(serde_json::json!({
        "train_messages": train.len(),
        "templates": model.info().templates,
        "distinct_sequences": model.info().distinct_sequences,
        "train_seconds": train_s,
        "score_messages": test.len(),
        "score_seconds_cold": cold_s,
        "messages_per_second_cold": test.len() as f64 / cold_s.max(1e-9),
        "messages_per_second_warm": test.len() as f64 / warm_s.max(1e-9),
        "flagged": flagged,
        "first_pass_flagged": first.iter().filter(|s| s.is_anomaly).count(),
        "peak_rss_mib_so_far": lad::runtime::peak_rss_mib(),
    }))
}

/// The generated log with one word from a 100k-word vocabulary appended to every line.
fn high_cardinality(n: usize, seed: u64) -> Vec<String> {
    let mut r = SplitMix64::new(seed);
    generate(n, seed, &[])
        .into_iter()
        .map(|l| format!("{l} tag {}", made_up_word(r.below(100_000))))
        .collect()
}

/// A pronounceable letters-only word for index `i` (no digits, so masking keeps it).
fn made_up_word(mut i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "po", "qu", "de", "fi", "go", "hu",
        "ja",
    ];
    let mut w = String::new();
    loop {
        w.push_str(SYL[i % 16]);
        i /= 16;
        if i == 0 {
            return w;
        }
    }
}

/// Rare lines injected into generated logs.
const RARE: [&str; 5] = [
    "usb 1-1: new high-speed USB device number {} using xhci_hcd",
    "sshd[{}]: Accepted password for root from 203.0.113.7 port 4242 ssh2",
    "kernel: Out of memory: Kill process {} (java) score 900 or sacrifice child; oom killed",
    "EXT4-fs error (device sda1): ext4_find_entry:1455: inode #{}: comm nginx: reading directory lblock 0",
    "systemd[1]: Failed to start Journal Service; watchdog timeout after {} s",
];

/// A syslog-like log: 50 templates with volatile fields, and 1 line in 5,000 from `rare`.
pub fn generate(n: usize, seed: u64, rare: &[&str]) -> Vec<String> {
    const VERBS: [&str; 10] = [
        "opened", "closed", "started", "stopped", "accepted", "sent", "received", "updated",
        "checked", "rotated",
    ];
    const NOUNS: [&str; 5] = ["session", "connection", "job", "file", "lease"];
    let mut r = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let num = r.next_u64() % 100_000;
            if i % 5000 == 2500 && !rare.is_empty() {
                return rare[r.below(rare.len())].replace("{}", &num.to_string());
            }
            let t = r.below(50);
            format!(
                "host{} app{}[{}]: {} {} for user u{} from 10.0.{}.{} in {} ms",
                t % 3,
                t % 7,
                num,
                NOUNS[t % 5],
                VERBS[t / 5],
                r.below(40),
                r.below(255),
                r.below(255),
                r.below(900)
            )
        })
        .collect()
}
