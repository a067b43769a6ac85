use super::*;
use crate::detect::lof::Metric;
use crate::detect::DetectorKind;
use crate::ensemble::Preset;

const MINIMAL: &str = "MG_DB: logs\nLOG_SOURCES:\n  syslog:\n    HOSTNAMES: [a, b]\n";

fn err(yaml: &str) -> String {
    match ServiceConfig::from_yaml_str(yaml) {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults() {
    let c = ServiceConfig::from_yaml_str(MINIMAL).expect("valid");
    assert_eq!(c.db, "logs");
    assert_eq!(c.sources.len(), 2);
    assert_eq!(c.message_field, "message");
    assert_eq!(c.datetime_field, "received_at");
    assert_eq!(c.hostname_field, "hostname");
    assert_eq!(c.train_max_entries, 250_000);
    assert_eq!(c.train_time_span, Duration::from_secs(2_592_000));
    assert_eq!(c.batch_size, 1000);
    assert_eq!(c.poll_interval, Duration::from_secs(10));
    assert_eq!(c.state_collection, "lad_state");
    assert_eq!(c.model_params.lof.neighbors, 100);
    assert_eq!(c.model_params.lof.metric, Metric::Euclidean);
    assert_eq!(c.model_params.threshold(), 0.5);
    assert_eq!(c.model_params, ModelParams::default());
    assert_eq!(c.model_params.ensemble.contamination, 0.005);
    assert_eq!(c.retrain_schedule.as_str(), "0 0 0 * * *");
    assert!(c.mongo.verify_cert);
    assert_eq!(c.mongo.port, 27017);
}

#[test]
fn original_readme_example_parses() {
    let yaml = r#"
STORAGE_DATASOURCE: mg
STORAGE_DATASINK: mg
MG_HOST: 172.17.18.83
MG_PORT: 27017
MG_USER: dbadmin
MG_PASSWORD: password123
MG_CA_CERT: /home/nadzya/Apps/log-anomaly-detector/config_files/LAD_CA.crt
MG_VERIFY_CERT: true
MODEL_BASE_DIR: "/opt/anomaly_detector/models/"
MG_DB: "logstoredb"
LOG_SOURCES:
  network_logs:
    HOSTNAMES:
      - "cumulus"
      - "EXOS-VM"
      - "172.17.18.178"
  web_logs:
    HOSTNAMES:
      - "dataform"
MESSAGE_INDEX: "message"
DATETIME_INDEX: "received_at"
HOSTNAME_INDEX: "hostname"
TRAIN_MAX_ENTRIES: 100000
TRAIN_TIME_SPAN: 2592000
"#;
    let c = ServiceConfig::from_yaml_str(yaml).expect("valid");
    assert_eq!(c.sources.len(), 4);
    assert_eq!(c.mongo.host, "172.17.18.83");
    assert_eq!(
        c.mongo.password.as_ref().map(Secret::expose),
        Some("password123")
    );
    assert_eq!(c.train_max_entries, 100_000);
    assert!(!format!("{c:?}").contains("password123"));
}

#[test]
fn errors_name_the_key() {
    assert_eq!(
        err(&format!("{MINIMAL}LOF_NEIGHBORS: abc\n")),
        "LOF_NEIGHBORS: expected a positive integer no larger than 100000, got \"abc\""
    );
    assert_eq!(
        err("LOG_SOURCES: {a: {HOSTNAMES: [x]}}"),
        "MG_DB: required key is missing"
    );
    assert_eq!(err("MG_DB: x"), "LOG_SOURCES: required key is missing");
    assert!(err(&format!("{MINIMAL}LOF_METRIC: manhattan\n")).starts_with("LOF_METRIC: expected"));
    assert!(err(&format!("{MINIMAL}MG_PORT: 70000\n")).starts_with("MG_PORT: expected"));
    assert!(err(&format!("{MINIMAL}MG_VERIFY_CERT: maybe\n")).starts_with("MG_VERIFY_CERT:"));
    assert!(err(&format!("{MINIMAL}RETRAIN_SCHEDULE: \"0 0 * * *\"\n"))
        .starts_with("RETRAIN_SCHEDULE: expected a 6-field cron"));
    assert!(err(&format!("{MINIMAL}STORAGE_DATASINK: es\n")).starts_with("STORAGE_DATASINK:"));
    assert!(err(&format!("{MINIMAL}TRAIN_TIME_SPAN: -5\n")).starts_with("TRAIN_TIME_SPAN:"));
    assert!(err("MG_DB: x\nLOG_SOURCES:\n  c:\n    HOSTNAMES: []\n")
        .starts_with("LOG_SOURCES.c.HOSTNAMES: expected"));
    assert!(err("MG_DB: x\nLOG_SOURCES: [a]\n").starts_with("LOG_SOURCES: expected"));
    assert!(err("- a\n- b\n").starts_with("config file is not"));
    assert!(err(&format!("{MINIMAL}MG_URI: http://x\n")).starts_with("MG_URI: expected"));
}

#[test]
fn uri_error_is_redacted() {
    let e = err(&format!("{MINIMAL}MG_URI: \"http://u:topsecret@h/\"\n"));
    assert!(!e.contains("topsecret"), "{e}");
}

#[test]
fn numeric_strings_and_legacy_keys() {
    let c = ServiceConfig::from_yaml_str(
        "MG_DB: x\nMG_COLLECTION: logs\nHOSTNAMES: [h1, 42]\nBATCH_SIZE: \"500\"\nMG_VERIFY_CERT: \"false\"\n",
    )
    .expect("valid");
    assert_eq!(c.batch_size, 500);
    assert!(!c.mongo.verify_cert);
    assert!(c.sources.iter().any(|s| s.hostname == "42"));
}

#[test]
fn path_components_are_safe_and_distinct() {
    assert_eq!(path_component("web-01.example"), "web-01.example");
    assert_eq!(path_component("a/b"), "a%2Fb");
    assert_eq!(path_component(".."), "%2E%2E");
    assert_eq!(path_component(""), "%00");
    assert_ne!(path_component("a/b"), path_component("a_b"));
}

#[test]
fn schedule_previous() {
    let s = RetrainSchedule::parse("0 0 0 * * *").expect("valid");
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-02T13:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    let prev = s.previous(now).expect("prev");
    assert_eq!(prev.to_rfc3339(), "2024-05-02T00:00:00+00:00");
}

#[test]
fn shipped_example_config_is_valid() {
    let c = ServiceConfig::from_yaml_str(include_str!("../../config/multihost.yaml"))
        .expect("config/multihost.yaml must stay valid");
    assert_eq!(c.sources.len(), 4);
    assert_eq!(c.retrain_schedule.as_str(), "0 0 0 * * *");
}

#[test]
fn metrics_listen_parses_or_names_the_key() {
    let base = "MG_DB: x\nLOG_SOURCES: {logs: {HOSTNAMES: [h1]}}\n";
    let c = ServiceConfig::from_yaml_str(base).expect("valid");
    assert_eq!(c.metrics_listen, None);
    let c = ServiceConfig::from_yaml_str(&format!("{base}METRICS_LISTEN: 127.0.0.1:9184\n"))
        .expect("valid");
    assert_eq!(
        c.metrics_listen,
        Some("127.0.0.1:9184".parse().expect("addr"))
    );
    let c = ServiceConfig::from_yaml_str(&format!("{base}METRICS_LISTEN: off\n")).expect("valid");
    assert_eq!(c.metrics_listen, None);
    let c =
        ServiceConfig::from_yaml_str(&format!("{base}METRICS_LISTEN: \"off\"\n")).expect("valid");
    assert_eq!(c.metrics_listen, None);
    let e = ServiceConfig::from_yaml_str(&format!("{base}METRICS_LISTEN: localhost\n"))
        .expect_err("not an address")
        .to_string();
    assert!(e.starts_with("METRICS_LISTEN: expected IP:PORT"), "{e}");
}

#[test]
fn detection_keys() {
    let c = ServiceConfig::from_yaml_str(&format!(
        "{MINIMAL}DETECTION_PRESET: security\nCONTAMINATION: 0.01\nSCORE_THRESHOLD: 0.7\n\
         SEVERITY_WEIGHT: 0\nDETECTORS: {{template: 1, params: 0.5, iforest: 0.25}}\n"
    ))
    .expect("valid");
    let e = &c.model_params.ensemble;
    assert_eq!(e.preset, Preset::Security);
    assert_eq!(e.contamination, 0.01);
    assert_eq!(e.threshold, Some(0.7));
    assert_eq!(e.severity_weight, 0.0);
    let kinds: Vec<(DetectorKind, f64)> = e.detectors.iter().map(|d| (d.kind, d.weight)).collect();
    assert_eq!(
        kinds,
        [
            (DetectorKind::Template, 1.0),
            (DetectorKind::Params, 0.5),
            (DetectorKind::IForest, 0.25)
        ]
    );
    let list = ServiceConfig::from_yaml_str(&format!("{MINIMAL}DETECTORS: [template, lof]\n"))
        .expect("valid");
    assert_eq!(list.model_params.ensemble.detectors.len(), 2);
    for (yaml, needle) in [
        (
            "DETECTION_PRESET: paranoid\n",
            "DETECTION_PRESET: expected \"ops\" or \"security\"",
        ),
        (
            "CONTAMINATION: 0.9\n",
            "CONTAMINATION: expected the expected share",
        ),
        (
            "CONTAMINATION: -1\n",
            "CONTAMINATION: expected a positive number",
        ),
        (
            "SCORE_THRESHOLD: 1.5\n",
            "SCORE_THRESHOLD: expected a number between 0 and 1",
        ),
        ("DETECTORS: [template, magic]\n", "unknown detector 'magic'"),
        (
            "SEVERITY_WEIGHT: -2\n",
            "SEVERITY_WEIGHT: expected a number",
        ),
    ] {
        let e = err(&format!("{MINIMAL}{yaml}"));
        assert!(e.contains(needle), "{yaml}: {e}");
    }
}

#[test]
fn fleet_keys_have_safe_defaults_and_name_themselves() {
    let c = ServiceConfig::from_yaml_str(MINIMAL).expect("valid");
    assert!(
        c.sweep_interval <= Duration::from_secs(60),
        "{:?}",
        c.sweep_interval
    );
    assert_eq!(c.scoring_max_attempts, 3);
    assert_eq!(c.train_max_bytes, 256 * 1024 * 1024);
    assert_eq!(c.lease_time, Duration::from_secs(30));
    assert_eq!(c.mongo.max_pool_size, None);
    let c = ServiceConfig::from_yaml_str(&format!(
        "{MINIMAL}MG_MAX_POOL_SIZE: 50\nSWEEP_INTERVAL: 5\nLEASE_TIME: 12\nTRAIN_MAX_BYTES: 1000\n"
    ))
    .expect("valid");
    assert_eq!(c.mongo.max_pool_size, Some(50));
    assert_eq!(c.sweep_interval, Duration::from_secs(5));
    assert_eq!(c.lease_time, Duration::from_secs(12));
    assert_eq!(c.train_max_bytes, 1000);
    assert!(err(&format!("{MINIMAL}MG_MAX_POOL_SIZE: 1\n"))
        .starts_with("MG_MAX_POOL_SIZE: expected at least 2"));
    assert!(err(&format!("{MINIMAL}MG_MAX_POOL_SIZE: lots\n")).starts_with("MG_MAX_POOL_SIZE:"));
    assert!(err(&format!("{MINIMAL}LEASE_TIME: 0.5\n"))
        .starts_with("LEASE_TIME: expected at least 1 second"));
    assert!(err(&format!("{MINIMAL}SWEEP_INTERVAL: 0\n")).starts_with("SWEEP_INTERVAL:"));
    assert!(
        err(&format!("{MINIMAL}SCORING_MAX_ATTEMPTS: 0\n")).starts_with("SCORING_MAX_ATTEMPTS:")
    );
}

#[test]
fn per_collection_keys() {
    let yaml = r#"
MG_DB: logs
CONTAMINATION: 0.01
LOG_SOURCES:
  syslog:
    HOSTNAMES: [a]
  wazuh_alerts:
    HOSTNAMES: [web-1]
    HOSTNAME_INDEX: agent.name
    DATETIME_INDEX: indexed_at
    PROFILE: wazuh
    ENTITY_INDEX: user
    MIN_ENTITY_EVENTS: 20
    IGNORE_USERS: [backup]
    IGNORE_FILES: ["/tmp/*"]
    ABUSE_FILES: /etc/shadow
    DETECTION_PRESET: security
  events:
    HOSTNAMES: [x]
    PROFILE: json
    FIELDS:
      user: actor.login
      host: [device.name, hostname]
    SESSION_KEY: { FIELD: session.id }
    SESSION_TIMEOUT: 60
  hdfs:
    HOSTNAMES: [dn1]
    SESSION_KEY: "blk_-?\\d+"
"#;
    let c = ServiceConfig::from_yaml_str(yaml).expect("valid");
    assert!(
        !c.collections.contains_key("syslog"),
        "defaults are not stored"
    );
    assert_eq!(c.hostname_field_of("syslog"), "hostname");
    assert_eq!(c.hostname_field_of("wazuh_alerts"), "agent.name");
    assert_eq!(c.datetime_field_of("wazuh_alerts"), "indexed_at");
    assert_eq!(c.message_field_of("wazuh_alerts"), "message");
    let w = c.spec("wazuh_alerts");
    assert_eq!(w.profile, Some(crate::profile::ProfileKind::Wazuh));
    assert!(w.per_entity());
    assert_eq!(w.entity.min_events, 20);
    assert_eq!(w.entity.controls.ignore_users, vec!["backup".to_string()]);
    assert_eq!(
        w.entity.controls.abuse_files,
        vec!["/etc/shadow".to_string()]
    );
    let p = c.model_params_of("wazuh_alerts");
    assert_eq!(p.ensemble.contamination, 0.01, "top-level key kept");
    assert_ne!(p, &c.model_params, "own preset");
    assert_eq!(c.model_params_of("syslog"), &c.model_params);
    let e = c.spec("events");
    assert_eq!(
        e.profile_options.aliases.user,
        vec!["actor.login".to_string()]
    );
    assert_eq!(
        e.profile_options.host_paths,
        Some(vec!["device.name".to_string(), "hostname".to_string()])
    );
    let s = e.session.as_ref().expect("session");
    assert_eq!(s.key, crate::session::KeySpec::Field("session.id".into()));
    assert_eq!(s.timeout, Duration::from_secs(60));
    let h = c.spec("hdfs").session.as_ref().expect("session");
    assert_eq!(h.key, crate::session::KeySpec::Regex(r"blk_-?\d+".into()));
    assert_eq!(h.timeout, Duration::from_secs(300));
}

#[test]
fn per_collection_errors_name_the_key() {
    let base = "MG_DB: logs\nLOG_SOURCES:\n  c:\n    HOSTNAMES: [a]\n";
    for (extra, key) in [
        ("    PROFILE: nope\n", "LOG_SOURCES.c.PROFILE"),
        ("    PROFILE: audit\n", "LOG_SOURCES.c.PROFILE"),
        ("    ENTITY_INDEX: user\n", "LOG_SOURCES.c.ENTITY_INDEX"),
        (
            "    PROFILE: json\n    ENTITY_INDEX: team\n",
            "LOG_SOURCES.c.ENTITY_INDEX",
        ),
        ("    FIELDS: {nope: a}\n", "LOG_SOURCES.c.FIELDS.nope"),
        ("    SESSION_KEY: \"blk_(\"\n", "LOG_SOURCES.c.SESSION_KEY"),
        (
            "    SESSION_KEY: {FIELD: _id}\n",
            "LOG_SOURCES.c.SESSION_KEY.FIELD",
        ),
        ("    SESSION_TIMEOUT: -1\n", "LOG_SOURCES.c.SESSION_TIMEOUT"),
        ("    HOSTNAME_INDEX: $x\n", "LOG_SOURCES.c.HOSTNAME_INDEX"),
        ("    CONTAMINATION: 0.9\n", "LOG_SOURCES.c.CONTAMINATION"),
        (
            "    MIN_ENTITY_EVENTS: 0\n",
            "LOG_SOURCES.c.MIN_ENTITY_EVENTS",
        ),
        ("    HOSTNMES: [a]\n", "LOG_SOURCES.c.HOSTNMES"),
    ] {
        let e = err(&format!("{base}{extra}"));
        assert!(e.starts_with(key), "{extra:?}: {e}");
    }
}
