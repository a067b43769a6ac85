//! Feedback that sticks (file mode): a message marked normal stops being flagged, messages of
//! its kind follow it, unrelated ones are still flagged, and the mark survives a retrain into
//! the same model directory and a reload.

use chrono::Utc;
use lad::model::feedback::{self, FeedbackEntry, Verdict};
use lad::model::{Model, ModelParams};

fn corpus() -> Vec<String> {
    (0..2000)
        .map(|i| match i % 3 {
            0 => format!(
                "sshd[{}]: session opened for user u{} by (uid=0)",
                1000 + i,
                i % 9
            ),
            1 => format!("sshd[{}]: session closed for user u{}", 1000 + i, i % 9),
            _ => format!(
                "CRON[{}]: (root) CMD (run-parts /etc/cron.hourly)",
                2000 + i
            ),
        })
        .collect()
}

fn oom(i: usize) -> String {
    format!(
        "kernel: Out of memory: Killed process {} (java) total-vm:{}kB",
        4000 + i,
        81_000 + i
    )
}

const UNRELATED: &str =
    "sudo: alice : user NOT in sudoers ; TTY=pts/0 ; COMMAND=/bin/cat /etc/shadow";

fn entry(message: &str, verdict: Verdict) -> FeedbackEntry {
    FeedbackEntry {
        message: message.to_string(),
        verdict,
        at: Utc::now(),
        id: None,
    }
}

#[test]
fn marked_normal_sticks_across_retrain_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::fit(&corpus(), &ModelParams::default()).unwrap();
    model.save(dir.path()).unwrap();
    assert!(
        model.score_one(&oom(0)).is_anomaly,
        "the probe must be flagged before feedback"
    );
    assert!(model.score_one(UNRELATED).is_anomaly);

    feedback::append_file(dir.path(), entry(&oom(0), Verdict::Normal)).unwrap();
    model.add_feedback(&entry(&oom(0), Verdict::Normal));
    let next: Vec<String> = (1..=100).map(oom).collect();
    let scores = model.score_and_learn(&next);
    let flagged = scores.iter().filter(|s| s.is_anomaly).count();
    assert_eq!(
        flagged, 0,
        "0 of the next 100 of the marked kind may be flagged"
    );
    assert!(scores
        .iter()
        .all(|s| s.signals.feedback == Some(Verdict::Normal)));
    let r = model.reason(&next[0], &scores[0]);
    assert_eq!(r.feedback, Some(Verdict::Normal));
    assert!(
        model.score_one(UNRELATED).is_anomaly,
        "an unrelated message is still flagged"
    );

    // Retrain on new data (the marked message is not in it) into the same directory.
    let mut more = corpus();
    more.extend((0..500).map(|i| format!("systemd[1]: Started Session {i} of user u{}.", i % 4)));
    let retrained = Model::fit(&more, &ModelParams::default()).unwrap();
    assert_ne!(retrained.version(), model.version());
    retrained.save(dir.path()).unwrap();
    let loaded = Model::load(dir.path()).unwrap();
    assert_eq!(loaded.version(), retrained.version());
    assert_eq!(loaded.feedback_len(), 1);
    let after: Vec<String> = (101..=200).map(oom).collect();
    assert_eq!(
        loaded.score(&after).iter().filter(|s| s.is_anomaly).count(),
        0,
        "the mark survives the retrain and the reload"
    );
    assert!(loaded.score_one(UNRELATED).is_anomaly);
}

#[test]
fn marked_anomaly_is_always_flagged_and_the_newest_verdict_wins() {
    let model = Model::fit(&corpus(), &ModelParams::default()).unwrap();
    let cron = "CRON[77]: (root) CMD (run-parts /etc/cron.hourly)";
    assert!(!model.score_one(cron).is_anomaly);
    model.add_feedback(&entry(cron, Verdict::Anomaly));
    let s = model.score_one("CRON[78]: (root) CMD (run-parts /etc/cron.hourly)");
    assert!(s.is_anomaly && s.anomaly_score <= 1.0);
    assert!(
        !model
            .score_one("sshd[5]: session closed for user u1")
            .is_anomaly
    );
    model.set_feedback(&[entry(cron, Verdict::Anomaly), entry(cron, Verdict::Normal)]);
    assert!(!model.score_one(cron).is_anomaly);
}
