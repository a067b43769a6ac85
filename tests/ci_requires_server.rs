//! Under CI a service test cannot pass by skipping: with `CI` set and no test server, the
//! test fails and says how to provide one; without `CI` it prints `SKIPPED` and passes.
//! Checked by running a test that needs a server in a child process (this same binary),
//! once in each environment.

mod common;

use std::process::Command;

fn run_child(ci: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--ignored",
        "--exact",
        "child_needs_a_server",
        "--nocapture",
    ])
    .env_remove("LAD_TEST_MONGO_URI")
    .env_remove("LAD_TEST_ALLOW_SKIP")
    .env_remove("CI");
    if let Some(v) = ci {
        cmd.env("CI", v);
    }
    let out = cmd.output().expect("run the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn without_a_server_ci_fails_loudly_and_a_laptop_skips() {
    let (ok, text) = run_child(Some("true"));
    assert!(!ok, "CI=true without a server passed:\n{text}");
    assert!(
        text.contains("LAD_TEST_MONGO_URI is not set") && text.contains("scripts/test.sh"),
        "the failure does not say what is missing and how to fix it:\n{text}"
    );
    let (ok, text) = run_child(None);
    assert!(ok, "without CI the test should skip:\n{text}");
    assert!(text.contains("SKIPPED child_needs_a_server"), "{text}");
    let (ok, _) = run_child(Some("false"));
    assert!(ok, "CI=false is not CI");
}

#[tokio::test]
#[ignore = "run by without_a_server_ci_fails_loudly_and_a_laptop_skips in a child process"]
async fn child_needs_a_server() {
    let Some(h) = common::Harness::new("child_needs_a_server").await else {
        return;
    };
    h.finish().await;
}
