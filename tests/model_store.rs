//! A saved model is one atomic unit: generations behind a `CURRENT` pointer, checksums in
//! the manifest, the previous generation kept as the fallback.
//!
//! The crash test kills a real `lad detect --save-model` process with SIGKILL while its save
//! is paused (the `LAD_TEST_MODEL_SAVE_PAUSE` hook) after each step in turn: after every file,
//! after the rename of the finished generation, after the pointer switch. Whatever the step,
//! the directory then loads a complete model: the old one until the pointer switch, the new
//! one after it, never a mix.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lad::detect::parse_detectors;
use lad::model::store::{current_generation, PAUSE_HOOK_ENV, POINTER_FILE};
use lad::model::{Model, ModelError, ModelParams};

/// Word vectors are saved only with a vector detector; include one so every file exists.
fn params(seed: u64) -> ModelParams {
    let mut p = ModelParams {
        seed,
        ..ModelParams::default()
    };
    p.ensemble.detectors = parse_detectors("template,params=0.25,lof=0.25").unwrap();
    p
}

fn corpus(variant: usize) -> Vec<String> {
    (0..400)
        .map(|i| match (i + variant) % 3 {
            0 => format!("sshd[{}]: session opened for user u{} by (uid=0)", i, i % 7),
            1 => format!("CRON[{i}]: (root) CMD (run-parts /etc/cron.hourly)"),
            _ => format!("kernel: eth0 link up at {} Mbps", 100 * (i % 3 + 1)),
        })
        .chain((0..variant * 50).map(|i| format!("extra message kind {variant} number {i}")))
        .collect()
}

fn generations(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_damaged_current_generation_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = Model::fit(&corpus(0), &params(1)).unwrap();
    let new = Model::fit(&corpus(1), &params(2)).unwrap();
    assert_ne!(old.version(), new.version());
    old.save(dir.path()).unwrap();
    let new_gen = new.save_generation(dir.path()).unwrap();
    assert_eq!(current_generation(dir.path()).unwrap(), new_gen);
    assert_eq!(Model::load(dir.path()).unwrap().version(), new.version());

    // Same size, other bytes: only the checksum can tell.
    let det = new_gen.join("detectors.json");
    let mut bytes = std::fs::read(&det).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'1' { b'2' } else { b'1' };
    std::fs::write(&det, &bytes).unwrap();
    let (m, report) = Model::load_with_report(dir.path()).unwrap();
    assert_eq!(
        m.version(),
        old.version(),
        "the previous generation is used"
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, new_gen);
    let why = report.skipped[0].1.to_string();
    assert!(
        why.contains("detectors.json") && why.contains("checksum"),
        "{why}"
    );

    // A pointer naming a generation that is gone: the newest one that loads is used.
    std::fs::remove_dir_all(&new_gen).unwrap();
    assert_eq!(Model::load(dir.path()).unwrap().version(), old.version());
}

#[test]
fn saves_keep_the_current_and_the_previous_generation_and_ignore_staging() {
    let dir = tempfile::tempdir().unwrap();
    let models: Vec<Model> = (0..3)
        .map(|i| Model::fit(&corpus(i), &params(i as u64 + 1)).unwrap())
        .collect();
    let gens: Vec<PathBuf> = models
        .iter()
        .map(|m| m.save_generation(dir.path()).unwrap())
        .collect();
    let names: Vec<String> = gens
        .iter()
        .map(|g| g.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        generations(dir.path()),
        names[1..].to_vec(),
        "oldest pruned"
    );
    let pointer = std::fs::read_to_string(dir.path().join(POINTER_FILE)).unwrap();
    assert_eq!(pointer.trim(), names[2]);

    // A staging directory a crash left behind, with a partial file, changes nothing.
    let staging = dir.path().join(".staging-gen-99991231T000000.000000Z-1-0");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("detectors.json"), b"{\"version\":").unwrap();
    assert_eq!(
        Model::load(dir.path()).unwrap().version(),
        models[2].version()
    );
}

#[test]
fn a_model_directory_of_the_older_flat_layout_asks_for_a_retrain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("manifest.json"),
        br#"{"format":"lad-model","format_version":2,"version":"m2-0"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("detectors.json"), b"{}").unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::FormatMismatch { .. }), "{err}");
    assert!(err.to_string().contains("retrain"), "{err}");
    // Saving there replaces the flat files with a generation.
    Model::fit(&corpus(0), &params(1))
        .unwrap()
        .save(dir.path())
        .unwrap();
    assert!(!dir.path().join("detectors.json").exists());
    assert!(Model::load(dir.path()).is_ok());
}

/// Runs `lad detect` training on `train` and saving into `dir`; with `pause`, the save stops
/// at that step and the process is killed with SIGKILL there.
fn detect_and_save(dir: &Path, train: &Path, seed: u64, pause: Option<&str>) {
    let marker = dir.with_extension("paused");
    let _ = std::fs::remove_file(&marker);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lad"));
    cmd.arg("detect")
        .arg(train)
        .arg("--train")
        .arg(train)
        .arg("--save-model")
        .arg(dir)
        .arg("--output")
        .arg(dir.with_extension("ndjson"))
        .args(["--detectors", "template,params=0.25,lof=0.25"])
        .args(["--seed", &seed.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match pause {
        None => {
            cmd.env_remove(PAUSE_HOOK_ENV);
            let status = cmd.status().expect("run lad detect");
            assert!(status.success(), "lad detect failed: {status}");
        }
        Some(stage) => {
            cmd.env(PAUSE_HOOK_ENV, format!("{stage}:{}", marker.display()));
            let mut child = cmd.spawn().expect("spawn lad detect");
            let t0 = Instant::now();
            while !marker.exists() {
                if let Some(status) = child.try_wait().expect("wait") {
                    panic!("lad detect ended ({status}) before pausing at {stage}");
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(120),
                    "save never reached {stage}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }
}

#[test]
fn kill_9_at_any_step_of_a_save_leaves_a_complete_model() {
    let work = tempfile::tempdir().unwrap();
    let (train_old, train_new) = (work.path().join("old.log"), work.path().join("new.log"));
    std::fs::write(&train_old, corpus(0).join("\n")).unwrap();
    std::fs::write(&train_new, corpus(2).join("\n")).unwrap();
    let stages = [
        ("vectors.fifu", false),
        ("vectors.idf", false),
        ("detectors.json", false),
        ("manifest.json", false),
        ("rename", false),
        ("pointer", true),
    ];
    for (stage, switched) in stages {
        let dir = work
            .path()
            .join(format!("model-{}", stage.replace('.', "_")));
        detect_and_save(&dir, &train_old, 1, None);
        let old = Model::load(&dir).unwrap().version().to_string();
        detect_and_save(&dir, &train_new, 2, Some(stage));
        let (loaded, report) = Model::load_with_report(&dir)
            .unwrap_or_else(|e| panic!("killed after {stage}: no model loads: {e}"));
        assert!(
            report.skipped.is_empty(),
            "killed after {stage}: the pointer named a broken generation: {:?}",
            report.skipped
        );
        let version = loaded.version().to_string();
        if switched {
            assert_ne!(version, old, "killed after {stage}: expected the new model");
        } else {
            assert_eq!(version, old, "killed after {stage}: expected the old model");
        }
        // The interrupted save left something behind (the hook really paused mid-save) ...
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert!(leftovers >= 3, "killed after {stage}: {leftovers} entries");
        // ... and the next save cleans up and works.
        detect_and_save(&dir, &train_new, 3, None);
        assert!(Model::load(&dir).is_ok(), "save after a crash at {stage}");
    }
}
