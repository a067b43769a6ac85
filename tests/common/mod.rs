//! Shared helpers for the service-mode integration tests.
//!
//! The tests talk to a real MongoDB-wire server over TCP whose URI comes from
//! `LAD_TEST_MONGO_URI` (`scripts/test.sh` starts one; point it at a genuine MongoDB to run
//! the same suite there). Without it a test prints why and returns, so a bare `cargo test`
//! on a laptop passes, **except under CI** (`CI` set, as `.ci/run` does): there a missing
//! server (or server control script, or server binary) fails the test, so a green CI run
//! means every service test ran. `LAD_TEST_ALLOW_SKIP=ctl,venv` lets the tests that need
//! `LAD_TEST_MONGO_CTL` (`ctl`) or the SecantusDB virtualenv (`venv`) skip under CI, for a
//! CI job against a genuine MongoDB that the tests cannot stop or restart.
//!
//! [`Harness`] is every service test's preamble (server URI, tracing, a database of its own,
//! a client, a model directory); each test uses its own database.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};

/// Whether the suite runs under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE"))
}

/// Skips `test` for want of `what` (`server`, `ctl`, `venv`): prints why and returns
/// `None`; under CI panics instead, unless `LAD_TEST_ALLOW_SKIP` lists `what`.
pub fn skip<T>(test: &str, what: &str, why: &str) -> Option<T> {
    let allowed = std::env::var("LAD_TEST_ALLOW_SKIP")
        .unwrap_or_default()
        .split(',')
        .any(|w| w.trim() == what);
    if in_ci() && !allowed {
        panic!(
            "{test}: {why}. CI is set, so this test must run, not skip: run the suite with \
             scripts/test.sh (it starts a throwaway MongoDB-compatible server), or set \
             LAD_TEST_MONGO_URI to a MongoDB server (LAD_TEST_ALLOW_SKIP={what} to accept \
             the skip)"
        );
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// The test server's URI, or `None` after printing why the test is skipped (a panic under
/// CI, see [`skip`]).
pub fn mongo_uri(test: &str) -> Option<String> {
    match std::env::var("LAD_TEST_MONGO_URI") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => skip(
            test,
            "server",
            "LAD_TEST_MONGO_URI is not set; run scripts/test.sh (it starts a throwaway \
             MongoDB-compatible server) or point the variable at a MongoDB server",
        ),
    }
}

/// Every service test's preamble: the server URI, tracing, a database of its own, a
/// client (with command monitoring from [`Harness::monitored`]) and a model directory.
pub struct Harness {
    pub uri: String,
    pub db_name: String,
    pub client: Client,
    pub db: Database,
    pub models: tempfile::TempDir,
    /// Commands the client sent, when made with [`Harness::monitored`].
    pub log: CommandLog,
}

impl Harness {
    /// `None` (after printing why) when there is no test server; under CI a panic.
    pub async fn new(test: &str) -> Option<Self> {
        Self::make(test, false).await
    }

    /// Like [`Harness::new`], with the driver's command monitoring feeding [`Harness::log`].
    pub async fn monitored(test: &str) -> Option<Self> {
        Self::make(test, true).await
    }

    async fn make(test: &str, monitored: bool) -> Option<Self> {
        let uri = mongo_uri(test)?;
        init_tracing();
        let db_name = unique_db(test);
        let log = CommandLog::default();
        let client = if monitored {
            monitored_client(&uri, &log).await
        } else {
            client(&uri).await
        };
        let db = client.database(&db_name);
        Some(Self {
            models: tempfile::tempdir().expect("tempdir"),
            uri,
            db_name,
            client,
            db,
            log,
        })
    }

    /// A collection of the test's database.
    pub fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// Config YAML for this server, database and model directory (see [`yaml`]).
    pub fn yaml(&self, sources: &[(&str, &[&str])], extra: &str) -> String {
        yaml(&self.uri, &self.db_name, self.models.path(), sources, extra)
    }

    /// The validated config of collections with their own keys besides `HOSTNAMES`:
    /// `(collection, [(KEY, YAML value)])`, then top-level `extra` lines.
    pub fn config_keys(
        &self,
        collections: &[(&str, &[(&str, &str)])],
        extra: &str,
    ) -> lad::config::ServiceConfig {
        let mut s = header(&self.uri, &self.db_name, self.models.path());
        for (coll, keys) in collections {
            s.push_str(&format!("  {coll}:\n"));
            for (k, v) in *keys {
                s.push_str(&format!("    {k}: {v}\n"));
            }
        }
        s.push_str(extra);
        config(&s)
    }

    /// The data `lad report --config` draws, for everything scored since `since`.
    pub async fn report_data(
        &self,
        cfg: &lad::config::ServiceConfig,
        since: DateTime<Utc>,
    ) -> lad::report::ReportData {
        lad::service::serve::report_source::report_data(
            cfg,
            &self.client,
            &lad::service::serve::report_source::ReportQuery {
                since,
                hosts: vec![],
                max_points: 100_000,
                title: None,
            },
        )
        .await
        .expect("report data")
    }

    /// The validated config of [`Harness::yaml`].
    pub fn config(&self, sources: &[(&str, &[&str])], extra: &str) -> lad::config::ServiceConfig {
        config(&self.yaml(sources, extra))
    }

    /// `lad run --once` with this harness's client: scores the backlog, then returns.
    pub async fn run_once(&self, cfg: lad::config::ServiceConfig) -> lad::service::ServiceReport {
        lad::service::run_with(
            cfg,
            lad::service::RunOptions {
                once: true,
                client: Some(self.client.clone()),
            },
            std::future::pending(),
        )
        .await
        .expect("lad run --once")
    }

    /// A long-running service with this harness's client.
    pub fn start(&self, cfg: lad::config::ServiceConfig) -> Running {
        start_service(cfg, Some(self.client.clone()))
    }

    /// Drops the test database (call at the end of a passing test).
    pub async fn finish(self) {
        self.db.drop().await.expect("drop test db");
    }
}

/// A database name unique to this test and run, so tests can share a server in parallel
/// (the test name is cut to stay within MongoDB's 63-character limit).
pub fn unique_db(test: &str) -> String {
    let nanos = Utc::now().timestamp_subsec_nanos();
    let short: String = test.chars().take(24).collect();
    format!("ladt_{short}_{}_{nanos}", std::process::id())
}

/// One command as seen by the driver's command monitoring.
#[derive(Debug, Clone)]
pub struct SeenCommand {
    pub name: String,
    pub db: String,
    /// Target collection (first value of the command document, when a string).
    pub target: String,
    /// Number of update statements (for `update`).
    pub statements: usize,
    /// Filter `_id`s of the update statements.
    pub ids: Vec<Bson>,
    /// Fields the first update statement sets (`$set` keys).
    pub sets: Vec<String>,
    /// Documents in the reply's `firstBatch`/`nextBatch` (for `find`/`getMore`).
    pub returned: usize,
    /// The reply's `n` (for `update`: documents matched), 0 when absent or failed.
    pub matched: i64,
    /// Whether a successful reply was seen (a command cut off by an abort has none).
    pub replied: bool,
    request_id: i32,
}

/// Records every command the client sends.
#[derive(Clone, Default)]
pub struct CommandLog(pub Arc<Mutex<Vec<SeenCommand>>>);

impl CommandLog {
    pub fn take(&self) -> Vec<SeenCommand> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

/// A client with command monitoring feeding `log`.
pub async fn monitored_client(uri: &str, log: &CommandLog) -> Client {
    let mut opts = ClientOptions::parse(uri).await.expect("parse test uri");
    let sink = log.0.clone();
    opts.command_event_handler = Some(EventHandler::callback(move |ev: CommandEvent| {
        if let CommandEvent::Succeeded(ok) = &ev {
            let cursor = ok.reply.get_document("cursor").ok();
            let n = cursor
                .and_then(|c| {
                    c.get_array("firstBatch")
                        .or_else(|_| c.get_array("nextBatch"))
                        .ok()
                })
                .map_or(0, Vec::len);
            let matched = match ok.reply.get("n") {
                Some(Bson::Int32(k)) => i64::from(*k),
                Some(Bson::Int64(k)) => *k,
                Some(Bson::Double(k)) => *k as i64,
                _ => 0,
            };
            if let Ok(mut g) = sink.lock() {
                if let Some(c) = g.iter_mut().rev().find(|c| c.request_id == ok.request_id) {
                    c.returned = n;
                    c.matched = matched;
                    c.replied = true;
                }
            }
        }
        if let CommandEvent::Started(s) = ev {
            let target = s
                .command
                .iter()
                .next()
                .and_then(|(_, v)| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut statements = 0;
            let mut ids = Vec::new();
            let mut sets = Vec::new();
            if s.command_name == "update" {
                if let Ok(ups) = s.command.get_array("updates") {
                    statements = ups.len();
                    if let Some(set) = ups
                        .first()
                        .and_then(|u| u.as_document())
                        .and_then(|u| u.get_document("u").ok())
                        .and_then(|u| u.get_document("$set").ok())
                    {
                        sets = set.keys().cloned().collect();
                    }
                    for u in ups {
                        if let Some(id) = u
                            .as_document()
                            .and_then(|d| d.get_document("q").ok())
                            .and_then(|q| q.get("_id"))
                        {
                            ids.push(id.clone());
                        }
                    }
                }
            }
            if let Ok(mut g) = sink.lock() {
                g.push(SeenCommand {
                    name: s.command_name.clone(),
                    db: s.db.clone(),
                    target,
                    statements,
                    ids,
                    sets,
                    returned: 0,
                    matched: 0,
                    replied: false,
                    request_id: s.request_id,
                });
            }
        }
    }));
    opts.server_selection_timeout = Some(Duration::from_secs(10));
    Client::with_options(opts).expect("client")
}

/// A plain client for fixtures and assertions.
pub async fn client(uri: &str) -> Client {
    let mut opts = ClientOptions::parse(uri).await.expect("parse test uri");
    opts.server_selection_timeout = Some(Duration::from_secs(10));
    Client::with_options(opts).expect("client")
}

/// YAML for a config against `uri`/`db` with the given `(collection, [hosts])`.
pub fn yaml(
    uri: &str,
    db: &str,
    model_dir: &std::path::Path,
    sources: &[(&str, &[&str])],
    extra: &str,
) -> String {
    let mut s = header(uri, db, model_dir);
    for (coll, hosts) in sources {
        s.push_str(&format!("  {coll}:\n    HOSTNAMES:\n"));
        for h in *hosts {
            s.push_str(&format!("      - \"{h}\"\n"));
        }
    }
    s.push_str(extra);
    s
}

/// The top of every test config: server, database, model directory, fast polling, then
/// `LOG_SOURCES:` (its collections follow).
fn header(uri: &str, db: &str, model_dir: &std::path::Path) -> String {
    format!(
        "MG_URI: \"{uri}\"\nMG_DB: {db}\nMODEL_BASE_DIR: \"{}\"\nPOLL_INTERVAL: 1\n\
         LATE_ARRIVAL_GRACE: 0\nMG_SERVER_SELECTION_TIMEOUT: 5\nMG_CONNECT_TIMEOUT: 5\nLOG_SOURCES:\n",
        model_dir.display()
    )
}

/// The documents of `coll` whose `kind` field is `kind` (the tests' fixture tag).
pub async fn of_kind(coll: &Collection<Document>, kind: &str) -> Vec<Document> {
    use futures_util::TryStreamExt;
    coll.find(doc! { "kind": kind })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("read")
}

pub fn config(yaml: &str) -> lad::config::ServiceConfig {
    lad::config::ServiceConfig::from_yaml_str(yaml).expect("test config is valid")
}

/// Small deterministic generator (xorshift), so fixtures are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.below(256),
            self.below(256),
            self.below(254) + 1
        )
    }
}

const USERS: &[&str] = &["root", "deploy", "alice", "bob", "backup"];

/// A syslog-like normal message from one of ten templates.
pub fn normal_message(r: &mut Rng) -> String {
    let pid = 1000 + r.below(60000);
    let user = USERS[r.below(USERS.len() as u64) as usize];
    match r.below(10) {
        0 => format!("sshd[{pid}]: Accepted publickey for {user} from {} port {} ssh2", r.ip(), 30000 + r.below(30000)),
        1 => format!("CRON[{pid}]: pam_unix(cron:session): session opened for user {user} by (uid=0)"),
        2 => format!("CRON[{pid}]: pam_unix(cron:session): session closed for user {user}"),
        3 => format!("systemd[1]: Started Session {} of user {user}.", r.below(5000)),
        4 => format!("systemd-logind[{pid}]: New session {} of user {user}.", r.below(5000)),
        5 => format!("dhclient[{pid}]: DHCPREQUEST on eth0 to {} port 67", r.ip()),
        6 => format!("dhclient[{pid}]: DHCPACK from {}", r.ip()),
        7 => format!("nginx: {} - - \"GET /api/v1/items/{} HTTP/1.1\" 200 {}", r.ip(), r.below(100000), r.below(90000)),
        8 => format!("postfix/smtpd[{pid}]: connect from unknown[{}]", r.ip()),
        _ => format!("postfix/smtpd[{pid}]: disconnect from unknown[{}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5", r.ip()),
    }
}

/// A message unlike anything in [`normal_message`].
pub fn anomalous_message(r: &mut Rng) -> String {
    let pid = 1000 + r.below(60000);
    match r.below(10) {
        0 => format!("kernel: Out of memory: Kill process {pid} (java) score 900 or sacrifice child"),
        1 => "FATAL panic: runtime error: invalid memory address or nil pointer dereference".into(),
        2 => format!("kernel: EXT4-fs error (device sda1): ext4_find_entry:1455: inode #{pid}: comm ls: reading directory lblock 0"),
        3 => format!("app[{pid}]: segfault at 0000000000000010 ip 00007f3c8b2e1d80 error 4 in libc.so.6"),
        4 => "mdadm: DegradedArray event detected on md device /dev/md0".into(),
        5 => format!("kernel: BUG: soft lockup - CPU#{} stuck for 22s! [kworker:{pid}]", r.below(8)),
        6 => "sshd[1]: fatal: Read from socket failed: Connection reset by peer [preauth] certificate revoked".into(),
        7 => format!("smartd[{pid}]: Device: /dev/sdb [SAT], FAILED SMART self-check. BACK UP DATA NOW!"),
        8 => "kernel: NMI watchdog: Watchdog detected hard LOCKUP on cpu 3".into(),
        _ => format!("postgres[{pid}]: PANIC: could not write to file \"pg_wal/xlogtemp\": No space left on device"),
    }
}

/// The backlog anomalies, as the software prints them: out-of-memory kills,
/// sshd giving up on a brute force, sudo refusing a user, a new account, a file-system error.
/// Two of the five carry no trouble word at all.
pub fn incident_message(r: &mut Rng) -> String {
    let pid = 1000 + r.below(60000);
    match r.below(5) {
        0 => format!("kernel: Out of memory: Killed process {pid} (java) total-vm:8388608kB, anon-rss:4194304kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0"),
        1 => format!("sshd[{pid}]: error: maximum authentication attempts exceeded for root from 203.0.113.{} port {} ssh2 [preauth]", r.below(254) + 1, 40000 + r.below(20000)),
        2 => format!("sudo: mallory : user NOT in sudoers ; TTY=pts/{} ; PWD=/home/mallory ; USER=root ; COMMAND=/bin/cat /etc/shadow", r.below(9)),
        3 => format!("useradd[{pid}]: new user: name=backdoor, UID=1337, GID=1337, home=/home/backdoor, shell=/bin/bash, from=/dev/pts/2"),
        _ => format!("kernel: EXT4-fs error (device sda1): ext4_find_entry:1455: inode #{pid}: comm ls: reading directory lblock 0"),
    }
}

/// `n` documents for `host` over `[start, end)`, exactly `injected` of them (at random
/// positions) from [`incident_message`], marked `injected: true`.
pub fn incident_fixture(
    host: &str,
    n: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    injected: usize,
    seed: u64,
) -> Vec<Document> {
    let mut r = Rng::new(seed);
    let mut at = std::collections::BTreeSet::new();
    while at.len() < injected.min(n) {
        at.insert(r.below(n as u64) as usize);
    }
    let step = (end - start).num_milliseconds().max(1) / n.max(1) as i64;
    (0..n)
        .map(|i| {
            let injected = at.contains(&i);
            let msg = if injected {
                incident_message(&mut r)
            } else {
                normal_message(&mut r)
            };
            let t = start + chrono::Duration::milliseconds(step * i as i64);
            doc! {
                "hostname": host,
                "received_at": mongodb::bson::DateTime::from_millis(t.timestamp_millis()),
                "message": msg,
                "injected": injected,
            }
        })
        .collect()
}

/// `n` documents for `host` with timestamps spread evenly over `[start, end)`, about
/// `anomaly_every`-th of them anomalous (marked `injected: true` for the assertions).
pub fn fixture(
    host: &str,
    n: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    anomaly_every: u64,
    seed: u64,
) -> Vec<Document> {
    let mut r = Rng::new(seed);
    let step = (end - start).num_milliseconds().max(1) / n.max(1) as i64;
    (0..n)
        .map(|i| {
            let injected = anomaly_every > 0 && r.below(anomaly_every) == 0;
            let msg = if injected {
                anomalous_message(&mut r)
            } else {
                normal_message(&mut r)
            };
            let t = start + chrono::Duration::milliseconds(step * i as i64);
            doc! {
                "hostname": host,
                "received_at": mongodb::bson::DateTime::from_millis(t.timestamp_millis()),
                "message": msg,
                "injected": injected,
            }
        })
        .collect()
}

pub async fn insert(coll: &Collection<Document>, docs: Vec<Document>) {
    for chunk in docs.chunks(1000) {
        coll.insert_many(chunk.to_vec())
            .await
            .expect("insert fixtures");
    }
}

pub async fn count(coll: &Collection<Document>, filter: Document) -> u64 {
    coll.count_documents(filter).await.expect("count")
}

/// Polls `check` every 500 ms until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Stop/start of the test server, when the harness provides it.
pub struct ServerCtl(String);

impl ServerCtl {
    pub fn from_env(test: &str) -> Option<Self> {
        match std::env::var("LAD_TEST_MONGO_CTL") {
            Ok(c) if !c.is_empty() => Some(Self(c)),
            _ => skip(
                test,
                "ctl",
                "LAD_TEST_MONGO_CTL is not set (scripts/test.sh sets it for the server it starts)",
            ),
        }
    }
    pub fn run(&self, cmd: &str) {
        let out = std::process::Command::new(&self.0)
            .arg(cmd)
            .output()
            .expect("run server control script");
        assert!(
            out.status.success(),
            "{} {cmd} failed: {}",
            self.0,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Waits up to `timeout` until at least `n` documents of `coll` carry `lad_model_version`.
/// A failing count (the server may be down on purpose) just means "not yet".
pub async fn wait_scored(coll: &Collection<Document>, n: u64, timeout: Duration) -> bool {
    wait_until(timeout, move || async move {
        coll.count_documents(doc! {"lad_model_version": {"$exists": true}})
            .await
            .is_ok_and(|k| k >= n)
    })
    .await
}

/// A long-running service (not `--once`) started in the background.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle:
        tokio::task::JoinHandle<Result<lad::service::ServiceReport, lad::service::ServiceError>>,
}

/// Starts `lad::service::run_with` in the background, with `client` if given.
pub fn start_service(cfg: lad::config::ServiceConfig, client: Option<Client>) -> Running {
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let opts = lad::service::RunOptions {
        once: false,
        client,
    };
    let handle = tokio::spawn(lad::service::run_with(cfg, opts, async move {
        let _ = stop_rx.await;
    }));
    Running { stop, handle }
}

impl Running {
    /// Whether the service task has ended (it must not, until asked to stop).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Ends the service at once, in the middle of whatever it does, as `kill -9` would: its
    /// tasks are dropped, nothing is released or saved.
    pub fn abort(self) {
        self.handle.abort();
    }

    /// Asks the service to stop (as SIGTERM does) and returns its report.
    pub async fn stop(self) -> lad::service::ServiceReport {
        let _ = self.stop.send(());
        self.handle.await.expect("join").expect("service run")
    }
}
