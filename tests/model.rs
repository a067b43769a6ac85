//! The model as a value: fit, save, load, score; determinism; corrupt models.

use lad::detect::{parse_detectors, DetectorKind};
use lad::model::{Model, ModelError, ModelParams};

/// Defaults plus every vector detector, so word vectors are trained and saved too.
fn vector_params() -> ModelParams {
    let mut p = ModelParams::default();
    p.ensemble.detectors =
        parse_detectors("template,params=0.25,lof=0.25,iforest=0.25,autoencoder=0.25").unwrap();
    p
}

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
    let params = vector_params();
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
        for kind in DetectorKind::ALL {
            let (ex, ey) = (x.signals.evidence.get(kind), y.signals.evidence.get(kind));
            assert_eq!(ex.map(|e| e.p), ey.map(|e| e.p), "{kind}");
            // Message vectors of new messages come from word vectors that finalfusion stores
            // as unit rows and norms: equal to float noise.
            let (rx, ry) = (ex.map_or(0.0, |e| e.raw), ey.map_or(0.0, |e| e.raw));
            assert!(
                (rx - ry).abs() <= 1e-6 * rx.abs().max(1.0),
                "{kind}: {rx} vs {ry}"
            );
        }
    }
    for kind in [
        DetectorKind::Lof,
        DetectorKind::IForest,
        DetectorKind::Autoencoder,
    ] {
        assert!(
            a[4].signals.evidence.get(kind).is_some(),
            "{kind} evidence missing"
        );
    }
    // The normal message is typical, the fatal novelty is flagged, hostile inputs get scores.
    assert!(!a[0].is_anomaly && a[0].anomaly_score < 0.2, "{:?}", a[0]);
    assert!(a[1].is_anomaly, "{:?}", a[1]);
    assert!(a[2].anomaly_score.is_finite() && a[3].anomaly_score.is_finite());
}

#[test]
fn same_seed_same_scores_other_seed_other_vectors() {
    let params = vector_params();
    let a = Model::fit(&corpus(), &params).unwrap();
    let b = Model::fit(&corpus(), &params).unwrap();
    assert_eq!(a.version(), b.version());
    let (sa, sb) = (a.score(&probes()), b.score(&probes()));
    for (x, y) in sa.iter().zip(&sb) {
        assert_eq!(x.signals, y.signals);
        assert_eq!(x.anomaly_score.to_bits(), y.anomaly_score.to_bits());
    }
    let c = Model::fit(
        &corpus(),
        &ModelParams {
            seed: 7,
            ..vector_params()
        },
    )
    .unwrap();
    assert_ne!(c.version(), a.version());
    let ae = |s: &[lad::model::Score]| s[4].signals.evidence.autoencoder.unwrap().raw;
    assert_ne!(ae(&c.score(&probes())).to_bits(), ae(&sa).to_bits());
}

/// The generation `CURRENT` points at (see `lad::model::store`).
fn current(dir: &std::path::Path) -> std::path::PathBuf {
    lad::model::store::current_generation(dir).unwrap()
}

#[test]
fn corrupt_or_foreign_models_are_clear_errors() {
    let model = Model::fit(&corpus(), &vector_params()).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let missing = Model::load(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, ModelError::Read { .. }), "{missing}");
    let empty = Model::load(dir.path()).unwrap_err();
    assert!(matches!(empty, ModelError::Read { .. }), "{empty}");
    assert!(empty.to_string().contains("CURRENT"), "{empty}");

    // One generation only, so nothing to fall back on: each damage is an error naming it.
    let fresh = || {
        let d = tempfile::tempdir().unwrap();
        model.save(d.path()).unwrap();
        d
    };
    let d = fresh();
    let det = current(d.path()).join("detectors.json");
    let text = std::fs::read(&det).unwrap();
    std::fs::write(&det, &text[..text.len() / 2]).unwrap();
    let err = Model::load(d.path()).unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("detectors.json"), "{err}");

    let d = fresh();
    let manifest = current(d.path()).join("manifest.json");
    let m = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"format_version\": 3", "\"format_version\": 99");
    std::fs::write(&manifest, m).unwrap();
    let err = Model::load(d.path()).unwrap_err();
    assert!(matches!(err, ModelError::FormatMismatch { .. }), "{err}");

    let d = fresh();
    let vectors = current(d.path()).join("vectors.fifu");
    std::fs::write(&vectors, b"not finalfusion").unwrap();
    let err = Model::load(d.path()).unwrap_err();
    assert!(err.to_string().contains("vectors.fifu"), "{err}");

    let d = fresh();
    std::fs::write(current(d.path()).join("manifest.json"), b"\x00\xff garbage").unwrap();
    assert!(matches!(
        Model::load(d.path()).unwrap_err(),
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
    let mut p = vector_params();
    p.embed.dim = 7;
    let err = Model::fit(&corpus(), &p).unwrap_err();
    assert!(err.to_string().contains("embedding size 7"), "{err}");
}

/// A host whose traffic is a few kinds repeated, plus `rare` copies of each of `kinds` rare
/// messages with no trouble word.
fn quiet_host(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 3 {
            0 => format!("CRON[{}]: session opened for user root by (uid=0)", 100 + i),
            1 => format!("CRON[{}]: session closed for user root", 100 + i),
            _ => format!("dhclient[{}]: DHCPACK from 10.0.0.{}", 100 + i, i % 250),
        })
        .collect()
}

#[test]
fn severity_is_a_prior_not_a_gate() {
    let mut train = quiet_host(3000);
    // Inside the training window: a rare message without any trouble word, and a fatal one.
    train.insert(
        500,
        "sudo: mallory : user NOT in sudoers ; TTY=pts/1 ; COMMAND=/bin/bash".into(),
    );
    train.insert(
        900,
        "sudo: mallory : user NOT in sudoers ; TTY=pts/2 ; COMMAND=/bin/bash".into(),
    );
    train.insert(
        1200,
        "kernel: Out of memory: Killed process 4242 (java)".into(),
    );
    let m = Model::fit(&train, &ModelParams::default()).unwrap();
    let s = m.score(&train);
    assert!(
        s[500].is_anomaly && s[900].is_anomaly,
        "rare, no trouble word: {:?}",
        s[500]
    );
    assert!(s[1200].is_anomaly, "rare and fatal: {:?}", s[1200]);
    assert!(s[1200].anomaly_score > s[500].anomaly_score);
    let normal = s.iter().filter(|x| x.is_anomaly).count();
    assert_eq!(normal, 3, "only the three rare lines are flagged");
    // A fatal-class word alone does not flag a kind the host says all the time (two lines
    // in three here).
    let mut noisy = quiet_host(3000);
    for (i, line) in noisy.iter_mut().enumerate() {
        if i % 3 != 0 {
            *line = format!("app[{i}]: FATAL retry budget exhausted for job {i}");
        }
    }
    let m = Model::fit(&noisy, &ModelParams::default()).unwrap();
    assert!(
        !m.score_one("app[7]: FATAL retry budget exhausted for job 7")
            .is_anomaly
    );
    // The explanation says why.
    let why = s[500].signals.explain();
    assert!(
        why.contains("kind seen 2× in 3003 training messages"),
        "{why}"
    );
}

#[test]
fn a_new_kind_is_surprising_once_then_remembered() {
    let m = Model::fit(&quiet_host(3000), &ModelParams::default()).unwrap();
    let new = "smartd[77]: Device /dev/sdb reallocated sector count increased from 8 to 24";
    let first = m.score_and_learn(&[new])[0];
    assert!(first.is_anomaly, "{first:?}");
    let later: Vec<_> = (0..30).map(|_| m.score_and_learn(&[new])[0]).collect();
    assert!(
        !later.last().unwrap().is_anomaly,
        "still flagged after 30: {:?}",
        later.last()
    );
    assert!(later.last().unwrap().anomaly_score < first.anomaly_score);
    // Without learning the model stays as trained.
    assert!(
        m.score_one("kernel: some other brand new line here")
            .is_anomaly
    );
    let fixed = ModelParams {
        online: false,
        ..ModelParams::default()
    };
    let f = Model::fit(&quiet_host(3000), &fixed).unwrap();
    for _ in 0..30 {
        f.score_and_learn(&[new]);
    }
    assert!(f.score_and_learn(&[new])[0].is_anomaly);
}

#[test]
fn contamination_sets_the_flagged_share_of_training_data() {
    // 400 kinds seen 1, 2, …, 400 times and no trouble words: with nothing else known, the
    // flagged share of the training data is about `contamination`.
    let mut train = Vec::new();
    let name = |mut k: u32| {
        let mut s = String::new();
        while k > 0 {
            s.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
        }
        s
    };
    for k in 1..=400u32 {
        for i in 0..k {
            train.push(format!(
                "service {} reported state {} on worker {}",
                name(k),
                name(k + 7),
                i % 7
            ));
        }
    }
    for c in [0.002, 0.005, 0.01, 0.05] {
        let mut p = ModelParams::default();
        p.ensemble.contamination = c;
        p.ensemble.detectors = parse_detectors("template").unwrap();
        let m = Model::fit(&train, &p).unwrap();
        let flagged = m.score(&train).iter().filter(|s| s.is_anomaly).count() as f64;
        let share = flagged / train.len() as f64;
        assert!(
            share >= 0.5 * c && share <= 1.5 * c,
            "contamination {c}: flagged share {share}"
        );
    }
}
