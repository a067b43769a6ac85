//! `MongoSettings` against a server with SCRAM authentication and TLS: CA file, the verify
//! switch, wrong passwords (reported without the password), and a `--once` service run
//! configured only through the original keys (MG_HOST, MG_PORT, MG_USER, MG_PASSWORD,
//! MG_CA_CERT).
//!
//! The test starts its own SecantusDB (from `LAD_TEST_VENV`, set by scripts/test.sh) with
//! `--auth` and a certificate made with `openssl`; without them it skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use lad::mongo::{MongoSettings, Secret};
use lad::service::{is_auth_error, run_with, RunOptions};
use mongodb::bson::{doc, Document};

const PASSWORD: &str = "s3cret-Pw-for-tests";

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Server {
    /// Clean shutdown (SIGTERM), so what was written is on disk before a restart.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..60 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(StdDuration::from_millis(250));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(venv: &Path, port: u16, data: &Path, extra: &[&str]) -> Server {
    let log = std::fs::File::create(data.with_extension("log")).expect("log file");
    let child = Command::new(venv.join("bin/secantusd-py"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--storage-path",
        ])
        .arg(data)
        .args(["--log-level", "WARNING"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start secantusd-py");
    Server(child)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 / localhost signed by it.
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=lad test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("san");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn wait_ping(settings: &MongoSettings) -> Result<mongodb::Client, String> {
    let mut last = String::new();
    for _ in 0..60 {
        match settings.connect().await {
            Ok(c) => return Ok(c),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    Err(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_and_tls_with_ca_file() {
    let venv = match std::env::var("LAD_TEST_VENV") {
        Ok(v) if Path::new(&v).join("bin/secantusd-py").exists() => PathBuf::from(v),
        _ => {
            let _: Option<()> = common::skip(
                "scram_and_tls_with_ca_file",
                "venv",
                "LAD_TEST_VENV with secantusd-py is not set (scripts/test.sh sets it)",
            );
            return;
        }
    };
    if Command::new("openssl").arg("version").output().is_err() {
        let _: Option<()> = common::skip(
            "scram_and_tls_with_ca_file",
            "openssl",
            "openssl is not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_certs(dir.path());
    let data = dir.path().join("data");
    let port = free_port();
    let plain = MongoSettings {
        host: "127.0.0.1".into(),
        port,
        connect_timeout: StdDuration::from_secs(2),
        server_selection_timeout: StdDuration::from_secs(2),
        ..MongoSettings::default()
    };

    // Provision a user without auth, then restart with --auth and TLS.
    {
        let server = start(&venv, port, &data, &[]);
        let client = wait_ping(&plain).await.expect("plain server up");
        client
            .database("admin")
            .run_command(doc! {"createUser": "lad", "pwd": PASSWORD, "roles": [{"role": "root", "db": "admin"}]})
            .await
            .expect("createUser");
        server.stop();
    }
    let cert_s = cert.to_string_lossy().to_string();
    let key_s = key.to_string_lossy().to_string();
    let _server = start(
        &venv,
        port,
        &data,
        &[
            "--auth",
            "--tls-cert-file",
            &cert_s,
            "--tls-key-file",
            &key_s,
        ],
    );

    let good = MongoSettings {
        user: Some("lad".into()),
        password: Some(Secret::new(PASSWORD)),
        ca_cert: Some(ca.clone()),
        ..plain.clone()
    };
    let client = wait_ping(&good)
        .await
        .expect("SCRAM + TLS with the CA file");
    let coll = client.database("tlsdb").collection::<Document>("syslog");
    coll.insert_one(doc! {"ok": 1})
        .await
        .expect("authenticated write");

    // Wrong password: an authentication error that does not repeat the password.
    let wrong = MongoSettings {
        password: Some(Secret::new("not-the-Pw-xyz")),
        ..good.clone()
    };
    let e = wrong.connect().await.expect_err("wrong password must fail");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("not-the-Pw-xyz"),
        "password in error: {text}"
    );
    match &e {
        lad::mongo::MongoError::Driver { source, .. } => assert!(is_auth_error(source), "{text}"),
        other => panic!("unexpected error {other}"),
    }

    // TLS without our CA: untrusted certificate, unless verification is switched off.
    let no_ca = MongoSettings {
        ca_cert: None,
        tls: Some(true),
        ..good.clone()
    };
    assert!(
        no_ca.connect().await.is_err(),
        "untrusted certificate accepted"
    );
    let no_verify = MongoSettings {
        verify_cert: false,
        ..no_ca
    };
    no_verify
        .connect()
        .await
        .expect("MG_VERIFY_CERT: false accepts the certificate");
    // Plain TCP against a TLS server fails.
    let no_tls = MongoSettings {
        ca_cert: None,
        ..good.clone()
    };
    assert!(no_tls.connect().await.is_err());

    // The service, configured with the original keys, scores through the same connection.
    let now = Utc::now();
    let docs = fixture(
        "h1",
        60,
        now - Duration::hours(1),
        now - Duration::minutes(1),
        0,
        71,
    );
    insert(&coll, docs).await;
    let yaml = format!(
        "MG_HOST: 127.0.0.1\nMG_PORT: {port}\nMG_USER: lad\nMG_PASSWORD: \"{PASSWORD}\"\n\
         MG_CA_CERT: \"{}\"\nMG_VERIFY_CERT: true\nMG_DB: tlsdb\nMODEL_BASE_DIR: \"{}\"\n\
         LATE_ARRIVAL_GRACE: 0\nLOG_SOURCES:\n  syslog:\n    HOSTNAMES: [h1]\n",
        ca.display(),
        dir.path().join("models").display()
    );
    let report = run_with(
        config(&yaml),
        RunOptions {
            once: true,
            client: None,
        },
        std::future::pending(),
    )
    .await
    .expect("service run over SCRAM + TLS");
    assert_eq!(report.workers[0].stats.scored, 60);
}
