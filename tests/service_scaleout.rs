//! Scale-out through leases in the state collection: three service instances (each with its
//! own client and owner id, as three `lad run` processes with the same config would be)
//! share 12 hosts while a writer keeps inserting; one instance is aborted mid-run (its tasks
//! dropped in the middle of whatever they do, nothing released, as `kill -9` would), its
//! hosts are taken over by the other two within the lease time, and every document is
//! scored exactly once.
//!
//! "Exactly once" is counted on the wire with command monitoring: the `n` (documents
//! matched) of the acknowledged `update` commands on the log collection, over all three
//! clients, never exceeds the number of documents (a document written twice would count
//! twice), and every document carries `lad_model_version`; the only writes the count can
//! miss are those of commands cut off by the abort without a reply.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

const HOSTS: usize = 12;
const LEASE_SECS: u64 = 5;

/// Owners of the 12 worker leases (`None` for a free one), from the state collection.
async fn owners(state: &Collection<Document>) -> Vec<Option<String>> {
    use futures_util::TryStreamExt;
    let docs: Vec<Document> = state
        .find(doc! { "_id": { "$regex": "^syslog/" } })
        .await
        .expect("find state")
        .try_collect()
        .await
        .expect("read state");
    docs.iter()
        .map(|d| d.get_str("lease_owner").ok().map(str::to_string))
        .collect()
}

fn distinct(o: &[Option<String>]) -> BTreeSet<String> {
    o.iter().flatten().cloned().collect()
}

/// Every lease held, by `k` owners with the same number each.
fn balanced(o: &[Option<String>], k: usize) -> bool {
    let d = distinct(o);
    o.len() == HOSTS
        && o.iter().all(Option::is_some)
        && d.len() == k
        && d.iter()
            .all(|w| o.iter().filter(|x| x.as_deref() == Some(w)).count() == HOSTS / k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_hosts_and_take_over_an_aborted_one() {
    let Some(h) = Harness::new("three_instances_share_hosts_and_take_over_an_aborted_one").await
    else {
        return;
    };
    let coll = h.coll("syslog");
    let state = h.coll("lad_state");
    let hosts: Vec<String> = (0..HOSTS).map(|i| format!("h{i:02}")).collect();
    let now = Utc::now();
    for (i, host) in hosts.iter().enumerate() {
        insert(
            &coll,
            fixture(
                host,
                200,
                now - Duration::hours(2),
                now - Duration::hours(1),
                0,
                i as u64 + 1,
            ),
        )
        .await;
    }
    let host_refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let cfg = h.config(
        &[("syslog", &host_refs)],
        &format!("LEASE_TIME: {LEASE_SECS}\nSWEEP_INTERVAL: 2\n"),
    );
    let logs: Vec<CommandLog> = (0..3).map(|_| CommandLog::default()).collect();
    let mut services = Vec::new();
    for log in &logs {
        let c = monitored_client(&h.uri, log).await;
        services.push(start_service(cfg.clone(), Some(c)));
    }

    // All 12 leased, by three owners, four each (the fair share).
    let t0 = Instant::now();
    let shared = wait_until(std::time::Duration::from_secs(30), || async {
        balanced(&owners(&state).await, 3)
    })
    .await;
    let before = owners(&state).await;
    assert!(
        shared,
        "the three instances did not share the hosts 4/4/4: {before:?}"
    );
    let sharing = t0.elapsed();

    // A writer keeps inserting one document per host every 200 ms for 12 s.
    let writer = {
        let (uri, db) = (h.uri.clone(), h.db_name.clone());
        let hosts = hosts.clone();
        tokio::spawn(async move {
            let c = client(&uri).await;
            let coll = c.database(&db).collection::<Document>("syslog");
            let mut r = Rng::new(99);
            let mut n = 0u64;
            for _ in 0..60 {
                let t = mongodb::bson::DateTime::from_millis(Utc::now().timestamp_millis());
                let docs: Vec<Document> = hosts
                    .iter()
                    .map(|host| {
                        doc! { "hostname": host, "received_at": t, "message": normal_message(&mut r) }
                    })
                    .collect();
                n += docs.len() as u64;
                coll.insert_many(docs).await.expect("writer insert");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let victim = services.remove(0);
    victim.abort();
    let aborted = Instant::now();

    // Its four hosts are taken over by the two others.
    let taken_over = wait_until(std::time::Duration::from_secs(30), || async {
        balanced(&owners(&state).await, 2)
    })
    .await;
    let takeover = aborted.elapsed();
    let after = owners(&state).await;
    assert!(
        taken_over,
        "hosts not taken over 6/6 within 30 s: {after:?}"
    );
    assert!(
        distinct(&after).is_subset(&distinct(&before)),
        "{after:?} vs {before:?}"
    );

    // `lad status` reads the same: two live processes, six workers each.
    let st = lad::service::serve::status::read_status(&cfg, &h.client)
        .await
        .expect("lad status");
    let alive: Vec<_> = st.processes.iter().filter(|p| p.alive).collect();
    assert_eq!(alive.len(), 2, "{:?}", st.processes);
    assert!(
        st.workers.iter().all(|w| w.owner.is_some()),
        "{:?}",
        st.workers
    );
    for p in &alive {
        let n = st
            .workers
            .iter()
            .filter(|w| w.owner.as_deref() == Some(p.owner.as_str()))
            .count();
        assert_eq!(n, HOSTS / 2, "{} owns {n}", p.owner);
    }

    let written = writer.await.expect("writer task");
    let total = HOSTS as u64 * 200 + written;
    let all = wait_scored(&coll, total, std::time::Duration::from_secs(90)).await;
    let scored_in = aborted.elapsed();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut reports = Vec::new();
    for s in services {
        reports.push(s.stop().await);
    }
    let scored = count(&coll, doc! { "lad_model_version": { "$exists": true } }).await;
    if !all {
        use futures_util::TryStreamExt;
        let missing: Vec<Document> = coll
            .find(doc! { "lad_model_version": { "$exists": false } })
            .projection(doc! { "message": 0 })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read");
        let states: Vec<Document> = state
            .find(doc! {})
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read");
        eprintln!(
            "aborted at {:?} ago; unscored: {missing:#?}\nstate: {states:#?}",
            aborted.elapsed()
        );
    }
    assert!(all, "{scored} of {total} documents scored");
    assert_eq!(scored, total);
    assert_eq!(
        count(&coll, doc! { "lad_skipped": { "$exists": true } }).await,
        0
    );

    let mut acknowledged = 0i64;
    let mut unacknowledged = 0usize;
    for log in &logs {
        for c in log.take() {
            if c.db == h.db_name && c.name == "update" && c.target == "syslog" {
                if c.replied {
                    acknowledged += c.matched;
                } else {
                    unacknowledged += c.statements;
                }
            }
        }
    }
    assert!(
        acknowledged <= total as i64,
        "{acknowledged} document writes for {total} documents: some written twice"
    );
    assert!(
        acknowledged + unacknowledged as i64 >= total as i64,
        "{acknowledged} acknowledged + {unacknowledged} cut-off writes cannot cover {total} scored documents"
    );
    // The survivors' own counts: what they scored, nothing twice.
    let survivors: u64 = reports.iter().map(|r| r.totals().scored).sum();
    assert!(survivors <= total);
    assert!(
        takeover < std::time::Duration::from_secs(LEASE_SECS * 4),
        "take-over took {takeover:?} with LEASE_TIME {LEASE_SECS}s"
    );
    eprintln!(
        "{HOSTS} hosts, 3 instances: shared 4/4/4 after {:.1}s; one aborted: its hosts taken over \
         after {:.1}s (LEASE_TIME {LEASE_SECS}s); {total} documents all scored {:.1}s after the \
         abort; {acknowledged} acknowledged writes + {unacknowledged} cut off by the abort; \
         survivors scored {survivors}",
        sharing.as_secs_f64(),
        takeover.as_secs_f64(),
        scored_in.as_secs_f64()
    );
    h.finish().await;
}
