//! The model as a value: fit, save, load, score; determinism; corrupt models.

use lad::model::{Model, ModelError, ModelParams};

fn corpus() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..600 {
        v.push(match i % 4 {
            0 => format!(
                "sshd[{}]: session opened for user u{} by (uid=0)",
                1000 + i,
                i % 9
            ),
            1 => format!("sshd[{}]: session closed for user u{}", 1000 + i, i % 9),
            2 => format!(
                "CRON[{}]: (root) CMD (run-parts /etc/cron.hourly)",
                2000 + i
            ),
            _ => format!(
                "kernel: eth0 link up at {} Mbps, rx {} packets",
                100 * (i % 3 + 1),
                i * 17
            ),
        });
    }
    v
}

fn probes() -> Vec<&'static str> {
    vec![
        "sshd[4242]: session opened for user u3 by (uid=0)",
        "kernel: FATAL panic: unable to mount root fs on unknown-block(0,0)",
        "",
        "12345 67890 ::: ---",
        "EXT4-fs error (device sda1): ext4_find_entry: reading directory lblock 0",
    ]
}

#[test]
fn save_load_round_trip_gives_identical_scores() {
    let params = ModelParams::default();
    let model = Model::fit(&corpus(), &params).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = Model::load(dir.path()).unwrap();
    assert_eq!(loaded.version(), model.version());
    let a = model.score(&probes());
    let b = loaded.score(&probes());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.anomaly_score.to_bits(), y.anomaly_score.to_bits());
        assert_eq!(x.is_anomaly, y.is_anomaly);
    }
    // The normal message is typical, the fatal novelty is flagged, hostile inputs get scores.
    assert!(!a[0].is_anomaly && a[0].anomaly_score < 0.2, "{:?}", a[0]);
    assert!(a[1].is_anomaly, "{:?}", a[1]);
    assert!(a[2].anomaly_score.is_finite() && a[3].anomaly_score.is_finite());
}

#[test]
fn same_seed_same_scores_other_seed_other_vectors() {
    let params = ModelParams::default();
    let a = Model::fit(&corpus(), &params).unwrap();
    let b = Model::fit(&corpus(), &params).unwrap();
    assert_eq!(a.version(), b.version());
    let (sa, sb) = (a.score(&probes()), b.score(&probes()));
    for (x, y) in sa.iter().zip(&sb) {
        assert_eq!(x.signals.lof.to_bits(), y.signals.lof.to_bits());
        assert_eq!(x.signals.ae_error.to_bits(), y.signals.ae_error.to_bits());
        assert_eq!(x.anomaly_score.to_bits(), y.anomaly_score.to_bits());
    }
    let c = Model::fit(
        &corpus(),
        &ModelParams {
            seed: 7,
            ..ModelParams::default()
        },
    )
    .unwrap();
    assert_ne!(c.version(), a.version());
    assert_ne!(
        c.score(&probes())[4].signals.ae_error.to_bits(),
        sa[4].signals.ae_error.to_bits()
    );
}

#[test]
fn corrupt_or_foreign_models_are_clear_errors() {
    let model = Model::fit(&corpus(), &ModelParams::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let missing = Model::load(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, ModelError::Read { .. }), "{missing}");

    model.save(dir.path()).unwrap();
    let det = dir.path().join("detectors.json");
    let text = std::fs::read(&det).unwrap();
    std::fs::write(&det, &text[..text.len() / 2]).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("detectors.json"), "{err}");

    model.save(dir.path()).unwrap();
    let manifest = dir.path().join("manifest.json");
    let m = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 99");
    std::fs::write(&manifest, m).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::FormatMismatch { .. }), "{err}");

    model.save(dir.path()).unwrap();
    std::fs::write(dir.path().join("vectors.fifu"), b"not finalfusion").unwrap();
    assert!(Model::load(dir.path()).is_err());

    std::fs::write(&manifest, b"\x00\xff garbage").unwrap();
    assert!(matches!(
        Model::load(dir.path()).unwrap_err(),
        ModelError::Corrupt { .. }
    ));
}

#[test]
fn hostile_training_data_and_bad_params() {
    let weird = vec![
        "".to_string(),
        "1234".into(),
        "\u{fffd}\u{fffd}".into(),
        "x".repeat(3_000_000),
    ];
    let m = Model::fit(&weird, &ModelParams::default()).unwrap();
    assert_eq!(m.score(&weird).len(), 4);
    let none: Vec<String> = Vec::new();
    assert!(matches!(
        Model::fit(&none, &ModelParams::default()),
        Err(ModelError::NoTrainingData)
    ));
    let mut p = ModelParams::default();
    p.embed.dim = 7;
    let err = Model::fit(&corpus(), &p).unwrap_err();
    assert!(err.to_string().contains("embedding size 7"), "{err}");
}
