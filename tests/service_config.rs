//! (e) Configuration errors: `lad run --config FILE` exits non-zero with a message naming
//! the key, and never prints the password. Needs no database.

use std::path::Path;
use std::process::Command;

fn run_lad(config: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lad"))
        .args(["run", "--config"])
        .arg(config)
        .env_remove("LAD_MG_URI")
        .env_remove("LAD_MG_USER")
        .env_remove("LAD_MG_PASSWORD")
        .output()
        .expect("run lad");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn check(yaml: &str, expect: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lad.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let (code, text) = run_lad(&path);
    assert_ne!(code, 0, "lad accepted:\n{yaml}\noutput:\n{text}");
    assert!(text.contains(expect), "expected {expect:?} in:\n{text}");
    assert!(!text.contains("hunter2-secret"), "password leaked:\n{text}");
}

const SOURCES: &str =
    "LOG_SOURCES:\n  syslog:\n    HOSTNAMES: [h1]\nMG_PASSWORD: hunter2-secret\nMG_USER: lad\n";

#[test]
fn missing_db_names_the_key() {
    check(SOURCES, "MG_DB: required key is missing");
}

#[test]
fn bad_number_names_the_key() {
    check(
        &format!("MG_DB: logs\n{SOURCES}LOF_NEIGHBORS: \"abc\"\n"),
        "LOF_NEIGHBORS: expected a positive integer no larger than 100000, got \"abc\"",
    );
}

#[test]
fn unreadable_ca_file_names_the_key() {
    check(
        &format!("MG_DB: logs\n{SOURCES}MG_CA_CERT: /nonexistent/lad-ca.pem\n"),
        "MG_CA_CERT: cannot read CA file /nonexistent/lad-ca.pem",
    );
}

#[test]
fn bad_uri_is_redacted() {
    check(
        &format!("MG_DB: logs\n{SOURCES}MG_URI: \"http://lad:hunter2-secret@db/\"\n"),
        "MG_URI: expected",
    );
}

#[test]
fn missing_file_is_reported() {
    let (code, text) = run_lad(Path::new("/nonexistent/lad.yaml"));
    assert_ne!(code, 0);
    assert!(text.contains("/nonexistent/lad.yaml"), "{text}");
}
