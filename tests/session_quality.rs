//! Session detector quality on real HDFS data (the protocol of `lad::session::eval`).
//!
//! Thresholds sit a small margin under what the evaluation measures today, so a regression in
//! either detector, the calibration or the sessionizer fails here. The targets for the
//! sessions file (F1 ≥ 0.95, ROC-AUC ≥ 0.99) are above what the data allows: more than half of
//! its anomalous sessions are event-for-event identical to normal ones. The first test measures
//! that ceiling, the second holds the detector to 90 % of it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lad::session::{
    evaluate_hdfs_lines, evaluate_sessions, hdfs_sessions, read_block_labels, read_sessions_jsonl,
    EvalMode, LabeledSession, SessionModel, SessionParams, SessionizerParams,
};

fn data(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    assert!(p.exists(), "shared data file missing: {}", p.display());
    p
}

fn sessions() -> Vec<LabeledSession> {
    let (s, skipped) =
        read_sessions_jsonl(&data("sessions/hdfs_100k_sessions_train.jsonl")).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(s.len(), 6352);
    s
}

/// Best F1 any detector can reach on the second half: anomalous sessions whose event list also
/// occurs as a normal session there are indistinguishable from it.
fn ceiling_f1(test: &[LabeledSession]) -> f64 {
    let normal: HashSet<&[String]> = test
        .iter()
        .filter(|s| s.label == Some(false))
        .map(|s| s.events.as_slice())
        .collect();
    let anomalous: Vec<&LabeledSession> = test.iter().filter(|s| s.label == Some(true)).collect();
    let separable = anomalous
        .iter()
        .filter(|s| !normal.contains(s.events.as_slice()))
        .count() as f64;
    2.0 * separable / (2.0 * separable + (anomalous.len() as f64 - separable))
}

#[test]
fn the_sessions_file_caps_f1_near_0_65() {
    let s = sessions();
    let ceiling = ceiling_f1(&s[s.len() / 2..]);
    assert!((0.60..0.70).contains(&ceiling), "ceiling {ceiling}");
}

#[test]
fn hdfs_sessions_split_and_self() {
    let s = sessions();
    let ceiling = ceiling_f1(&s[s.len() / 2..]);
    let p = SessionParams::default();
    let r = evaluate_sessions(&s, EvalMode::Split, &p).unwrap();
    assert_eq!((r.n_train, r.n_test, r.n_test_anomalous), (3176, 3176, 137));
    // Measured: F1 0.616 (P 0.88, R 0.47), ROC-AUC 0.769, PR-AUC 0.48, flagged 2.3 %.
    assert!(
        r.f1 > 0.9 * ceiling && r.f1 > 0.58,
        "split f1 {} ceiling {ceiling}",
        r.f1
    );
    assert!(r.roc_auc > 0.74, "split roc_auc {}", r.roc_auc);
    assert!(r.precision > 0.8, "split precision {}", r.precision);
    assert!(
        (0.01..0.04).contains(&r.flagged_rate),
        "flagged {}",
        r.flagged_rate
    );
    assert!(r.train_seconds < 20.0);
    if !cfg!(debug_assertions) {
        assert!(
            r.events_per_second > 100_000.0,
            "{} events/s",
            r.events_per_second
        );
    }
    let r = evaluate_sessions(&s, EvalMode::SelfFit, &p).unwrap();
    assert_eq!((r.n_train, r.n_test), (6352, 6352));
    // Measured: F1 0.646 (P 0.96, R 0.48), ROC-AUC 0.734.
    assert!(r.f1 > 0.60, "self f1 {}", r.f1);
    assert!(r.roc_auc > 0.71, "self roc_auc {}", r.roc_auc);
    assert!((r.train_flagged_rate - 0.02).abs() < 0.005);
}

#[test]
fn hdfs_5k_raw_lines_block_level() {
    let log = std::fs::read_to_string(data("HDFS_5k.log")).unwrap();
    let labels = read_block_labels(&data("HDFS_100k_block_labels.csv")).unwrap();
    let sz = SessionizerParams::default();
    let p = SessionParams::default();

    // Whole blocks, the first half of them (in order of first appearance) trains: the
    // protocol of the sessions file. Measured: F1 0.833, ROC-AUC 1.000 (7 of 55 anomalous).
    let blocks = hdfs_sessions(&log, &labels, &sz).unwrap();
    assert_eq!(blocks.len(), 110);
    assert_eq!(blocks.iter().filter(|b| b.label == Some(true)).count(), 10);
    let r = evaluate_sessions(&blocks, EvalMode::Split, &p).unwrap();
    assert!(r.f1 >= 0.75 && r.roc_auc > 0.97, "block split {r:?}");

    // Self mode at the defaults: the Q-statistic flags the blocks outside the PCA normal
    // subspace whatever the contamination (10 of 110 blocks are anomalous, the default
    // contamination is 0.02). Measured: F1 0.842 (P 0.89, R 0.80), ROC-AUC 0.988; without
    // the Q-statistic F1 was 0.167. Also with the contamination set to the file's share.
    let r = evaluate_hdfs_lines(&log, &labels, EvalMode::SelfFit, &p, &sz).unwrap();
    assert_eq!((r.n_test, r.n_test_anomalous), (110, 10));
    assert!(r.f1 >= 0.78 && r.roc_auc > 0.95, "self {r:?}");
    let own_share = SessionParams {
        contamination: 0.09,
        ..Default::default()
    };
    let r = evaluate_hdfs_lines(&log, &labels, EvalMode::SelfFit, &own_share, &sz).unwrap();
    assert!(r.f1 > 0.75 && r.roc_auc > 0.95, "self at 0.09 {r:?}");

    // Line split: the model sees only the first half of the lines, so every block's later
    // life (serving, deletion) is new to it and most blocks are flagged. Measured: ROC-AUC
    // 0.798, F1 0.136. Held here only to what it is, so a change shows.
    let r = evaluate_hdfs_lines(&log, &labels, EvalMode::Split, &p, &sz).unwrap();
    assert_eq!((r.n_test, r.n_test_anomalous), (110, 10));
    assert!(r.roc_auc > 0.55 && r.recall >= 0.7, "line split {r:?}");
}

#[test]
fn fit_is_deterministic_and_a_saved_model_scores_the_same() {
    let s = sessions();
    let train: Vec<&[String]> = s.iter().map(|x| x.events.as_slice()).collect();
    let t = Instant::now();
    let a = SessionModel::fit(&train, &SessionParams::default()).unwrap();
    assert!(t.elapsed().as_secs_f64() < 20.0);
    let b = SessionModel::fit(&train, &SessionParams::default()).unwrap();
    let json = a.to_json().unwrap();
    assert_eq!(json, b.to_json().unwrap());
    let back = SessionModel::from_json(&json).unwrap();
    for x in s.iter().step_by(7) {
        assert_eq!(a.score(&x.events), back.score(&x.events));
    }
}
