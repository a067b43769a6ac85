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
    results.insert(
        "peak_rss_mib".into(),
        serde_json::json!(lad::runtime::peak_rss_mib()),
    );
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(ExitCode::SUCCESS)
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
