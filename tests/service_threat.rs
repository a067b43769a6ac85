//! The threat layer in service mode (`THREAT_RULES: shipped`): a password-guessing burst
//! from one address is flagged as `brute_force` with a severity, the window counts named in
//! `lad_reason.threat`, while ordinary traffic at the host's usual rate stays quiet.

mod common;

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

fn at(t: chrono::DateTime<Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(t.timestamp_millis())
}

/// A normal message that is not a login: the fixture's logins come from random addresses,
/// each of which the lateral-movement rule rightly calls new for the user.
fn ordinary(r: &mut Rng) -> String {
    loop {
        let m = normal_message(r);
        if !m.starts_with("sshd") {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brute_force_burst_gets_a_threat_type_and_severity() {
    let Some(h) = Harness::new("a_brute_force_burst_gets_a_threat_type_and_severity").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    // About 5.5 messages a minute for almost two hours.
    insert(
        &coll,
        fixture(
            "h1",
            600,
            now - Duration::hours(2),
            now - Duration::minutes(10),
            0,
            5,
        ),
    )
    .await;
    let cfg = h.config(&[("syslog", &["h1"])], "THREAT_RULES: shipped\n");
    let service = h.start(cfg.clone());
    assert!(wait_scored(&coll, 600, StdDuration::from_secs(120)).await);

    // Ordinary traffic at the usual rate, then 60 failed logins from one address in a minute.
    let mut r = Rng::new(77);
    let mut docs: Vec<Document> = (0..30)
        .map(|i| {
            doc! {
                "hostname": "h1",
                "received_at": at(now - Duration::minutes(9) + Duration::seconds(12 * i)),
                "message": ordinary(&mut r),
                "kind": "normal",
            }
        })
        .collect();
    for i in 0..60 {
        docs.push(doc! {
            "hostname": "h1",
            "received_at": at(now - Duration::minutes(2) + Duration::seconds(i)),
            "message": format!("sshd[{}]: Failed password for admin from 203.0.113.7 port {} ssh2", 7000 + i, 40000 + i),
            "kind": "attack",
        });
    }
    insert(&coll, docs).await;
    assert!(wait_scored(&coll, 690, StdDuration::from_secs(120)).await);
    service.stop().await;
    let backlog = count(
        &coll,
        doc! { "kind": { "$exists": false }, "is_anomaly": 1 },
    )
    .await;
    eprintln!("backlog (training window, replayed): {backlog} of 600 flagged");

    let normal_flagged = count(&coll, doc! { "kind": "normal", "is_anomaly": 1 }).await;
    let example = coll
        .find_one(doc! { "kind": "normal", "is_anomaly": 1 })
        .await
        .unwrap();
    assert!(
        normal_flagged <= 1,
        "{normal_flagged} of 30 ordinary messages flagged, e.g. {example:?}"
    );
    let attack: Vec<Document> = coll
        .find(doc! { "kind": "attack", "is_anomaly": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let brute: Vec<&Document> = attack
        .iter()
        .filter(|d| d.get_str("lad_threat") == Ok("brute_force"))
        .collect();
    assert!(
        brute.len() >= 30,
        "{} of 60 attack messages flagged as brute force ({} flagged)",
        brute.len(),
        attack.len()
    );
    for d in &attack {
        let sev = d
            .get_str("lad_severity")
            .unwrap_or_else(|_| panic!("no severity: {d:?}"));
        assert!(
            ["LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&sev),
            "{sev}"
        );
        assert!(d.get_str("lad_threat").is_ok(), "{d:?}");
    }
    let named = brute.iter().any(|d| {
        d.get_document("lad_reason")
            .ok()
            .and_then(|r| r.get_str("threat").ok())
            .is_some_and(|t| t.contains("203.0.113.7"))
    });
    assert!(
        named,
        "lad_reason.threat names the source: {:?}",
        brute.first()
    );
    // The service's HTML report counts the anomalies by threat type.
    let data = h.report_data(&cfg, now - Duration::hours(3)).await;
    let brute_rows: u64 = data
        .threats
        .iter()
        .filter(|t| t.threat == "brute_force")
        .map(|t| t.count)
        .sum();
    assert_eq!(brute_rows, brute.len() as u64, "{:?}", data.threats);
    h.finish().await;
}
