//! End-to-end quality on real labeled logs (the protocol of `lad eval`), in both modes:
//! `split` (train on the first half, score the second, learning online) and `self` (train on
//! the whole file and score it: the service's first pass over its training window).
//!
//! Thresholds sit a small margin under what `lad eval` measures today (BENCHMARKS.md), so a
//! regression in any detector or in the ensemble fails here.

use lad::ensemble::Rule;
use lad::eval::{evaluate, EvalReport, Mode};
use lad::model::ModelParams;
use lad::source::{read_records, FileFormat, Record};

fn sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

fn shared(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/loghub_2k")
        .join(name)
}

fn records(path: &std::path::Path, format: FileFormat) -> Vec<Record> {
    read_records(path, format, "message")
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .0
}

fn eval(records: &[Record], mode: Mode, params: &ModelParams) -> EvalReport {
    evaluate(records, mode, 0.5, params, None).expect("eval").0
}

#[test]
fn bgl_2k_split_and_self() {
    let r = records(&sample("BGL_2k.log"), FileFormat::Bgl);
    let split = eval(&r, Mode::Split, &ModelParams::default());
    assert_eq!((split.n_train, split.n_test), (1000, 1000));
    // Measured: F1 0.752, ROC-AUC 0.987, recall 1.0.
    assert!(split.f1 > 0.72, "split f1 {}", split.f1);
    assert!(split.roc_auc > 0.98, "split roc_auc {}", split.roc_auc);
    assert!(split.recall > 0.95, "split recall {}", split.recall);
    let own = eval(&r, Mode::SelfTrained, &ModelParams::default());
    assert_eq!((own.n_train, own.n_test), (2000, 2000));
    // Measured: F1 0.676, ROC-AUC 0.943 (the landed v1 engine: F1 0.00).
    assert!(own.f1 > 0.64, "self f1 {}", own.f1);
    assert!(own.roc_auc > 0.93, "self roc_auc {}", own.roc_auc);
    // The original LAD's rule on the same features: F1 0.05, ROC-AUC 0.60.
    let mut original = ModelParams::default();
    original.ensemble.rule = Rule::Original;
    let o = eval(&r, Mode::Split, &original);
    assert!(
        split.f1 > o.f1 + 0.2 && split.roc_auc > o.roc_auc,
        "ours {} / {}, original rule {} / {}",
        split.f1,
        split.roc_auc,
        o.f1,
        o.roc_auc
    );
}

#[test]
fn vector_detectors_are_deterministic_per_seed() {
    let r = records(&sample("BGL_2k.log"), FileFormat::Bgl);
    let mut p = ModelParams::default();
    p.ensemble.detectors =
        lad::detect::parse_detectors("template,params=0.25,lof=0.25,iforest=0.25")
            .expect("detectors");
    for seed in [1, 2] {
        p.seed = seed;
        let a = evaluate(&r, Mode::Split, 0.5, &p, None).expect("eval").1;
        let b = evaluate(&r, Mode::Split, 0.5, &p, None).expect("eval").1;
        assert_eq!(a, b, "seed {seed}: two runs differ");
        let q = eval(&r, Mode::Split, &p);
        assert!(
            q.f1 > 0.72 && q.roc_auc > 0.98,
            "seed {seed}: {} / {}",
            q.f1,
            q.roc_auc
        );
    }
}

#[test]
fn thunderbird_2k_flags_at_most_half_a_percent_in_both_modes() {
    let r = records(&sample("Thunderbird_2k.log"), FileFormat::Bgl);
    for mode in [Mode::Split, Mode::SelfTrained] {
        let e = eval(&r, mode, &ModelParams::default());
        assert!(
            e.flagged_rate <= 0.005,
            "{mode:?}: flagged_rate {}",
            e.flagged_rate
        );
    }
}

/// The unlabeled loghub files: flagged rates in both modes (the table in BENCHMARKS.md).
/// Measured maxima: Linux 3.5 % (split; `logrotate: ALERT exited abnormally`, 43 times),
/// Proxifier 3.6 % (split; `close, N bytes (X KB) sent …` lines whose optional parts change
/// their length, so each variant is a new kind), HPC 2.9 % (`temperature … critical`);
/// every other file ≤ 2 %.
#[test]
fn unlabeled_loghub_files_flag_little() {
    for (name, limit) in [
        ("Android_2k.log", 0.02),
        ("Apache_2k.log", 0.025),
        ("HDFS_2k.log", 0.02),
        ("HPC_2k.log", 0.035),
        ("Hadoop_2k.log", 0.02),
        ("HealthApp_2k.log", 0.02),
        ("Linux_2k.log", 0.04),
        ("Mac_2k.log", 0.02),
        ("OpenSSH_2k.log", 0.02),
        ("OpenStack_2k.log", 0.02),
        ("Proxifier_2k.log", 0.04),
        ("Spark_2k.log", 0.02),
        ("Windows_2k.log", 0.02),
        ("Zookeeper_2k.log", 0.02),
    ] {
        let r = records(&shared(name), FileFormat::Plain);
        for mode in [Mode::Split, Mode::SelfTrained] {
            let e = eval(&r, mode, &ModelParams::default());
            assert!(e.f1.is_nan(), "{name}: unlabeled, metrics must be null");
            assert!(
                e.flagged_rate <= limit,
                "{name} {mode:?}: flagged_rate {}",
                e.flagged_rate
            );
        }
    }
}
