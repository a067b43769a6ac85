//! Session scores in service mode (`SESSION_KEY: "blk_-?\d+"`, `SESSION_TIMEOUT: 8`): after
//! training on 200 normal HDFS-like blocks, new blocks are followed; a block with missing
//! steps (never received, never added to the block map) and one with an unseen event get
//! `lad_session_anomaly: 1` on all their documents and a named worst event, normal new blocks
//! get 0, and every keyed document gets its session fields exactly once (the `n` of the
//! session update commands, from command monitoring, adds up to the number of keyed
//! documents) across a restart in the middle, and a block whose second half arrives after
//! the restart is still scored as one session.

mod common;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use common::*;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Normal,
    /// Allocated and written to, never received nor added to the block map.
    MissingSteps,
    /// A normal block with an exception among its writes.
    Unseen,
}

/// One block's documents: 12 lines (13 with the exception) 50 ms apart, tagged `set`.
fn block(r: &mut Rng, id: i64, start: DateTime<Utc>, kind: Block, set: &str) -> Vec<Document> {
    let blk = format!("blk_{id}");
    let ip = |r: &mut Rng| format!("10.0.{}.{}", r.below(8), 1 + r.below(250));
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(format!(
            "Receiving block {blk} src: /{}:50010 dest: /{}:50010",
            ip(r),
            ip(r)
        ));
    }
    let responder = |i: u64| format!("PacketResponder {i} for block {blk} terminating");
    let received = |r: &mut Rng| format!("Received block {blk} of size 67108864 from /{}", ip(r));
    let first_responder = r.below(2) == 0;
    for i in 0..3 {
        if kind == Block::MissingSteps {
            lines.push(responder(i));
            continue;
        }
        if first_responder {
            lines.push(responder(i));
            lines.push(received(r));
        } else {
            lines.push(received(r));
            lines.push(responder(i));
        }
    }
    if kind == Block::Unseen {
        lines.insert(
            5,
            format!("Exception in receiveBlock for block {blk} java.io.IOException: Connection reset by peer"),
        );
    }
    if kind != Block::MissingSteps {
        for _ in 0..3 {
            lines.push(format!(
                "BLOCK* NameSystem.addStoredBlock: blockMap updated: {}:50010 is added to {blk} size 67108864",
                ip(r)
            ));
        }
    }
    let tag = match kind {
        Block::Normal => "normal",
        Block::MissingSteps => "missing",
        Block::Unseen => "unseen",
    };
    lines
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let t = start + Duration::milliseconds(50 * i as i64);
            doc! {
                "hostname": "dn1",
                "received_at": mongodb::bson::DateTime::from_millis(t.timestamp_millis()),
                "message": m,
                "set": set,
                "kind": tag,
                "blk": &blk,
            }
        })
        .collect()
}

/// `kinds.len()` blocks from `start`, `gap` apart.
fn blocks(
    r: &mut Rng,
    first_id: i64,
    start: DateTime<Utc>,
    gap: Duration,
    kinds: &[Block],
    set: &str,
) -> Vec<Document> {
    kinds
        .iter()
        .enumerate()
        .flat_map(|(i, k)| {
            let id = first_id + i as i64 * 7919;
            block(r, id, start + gap * i as i32, *k, set)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_with_a_missing_step_gets_a_session_anomaly() {
    let Some(h) = Harness::monitored("a_block_with_a_missing_step_gets_a_session_anomaly").await
    else {
        return;
    };
    let coll = h.coll("hdfs");
    let now = Utc::now();
    let mut r = Rng::new(11);

    // Training window: 200 normal blocks over the last two hours.
    let train = blocks(
        &mut r,
        1_000_000,
        now - Duration::hours(2),
        Duration::seconds(33),
        &[Block::Normal; 200],
        "train",
    );
    let n_train = train.len() as u64;
    insert(&coll, train).await;
    let yaml = h
        .yaml(&[("hdfs", &["dn1"])], "SWEEP_INTERVAL: 1\n")
        .replace(
            "  hdfs:\n",
            "  hdfs:\n    SESSION_KEY: \"blk_-?\\\\d+\"\n    SESSION_TIMEOUT: 8\n",
        );
    let cfg = config(&yaml);
    assert!(cfg.spec("hdfs").session.is_some(), "{yaml}");

    // Run 1: trains, scores the backlog, then its sessions.
    let run1 = h.start(cfg.clone());
    let sessions_done = |n: u64| {
        let coll = coll.clone();
        async move { count(&coll, doc! {"lad_session_score": {"$exists": true}}).await >= n }
    };
    assert!(
        wait_until(StdDuration::from_secs(60), || sessions_done(n_train)).await,
        "training blocks never got session scores"
    );

    // New blocks, as they happen: normal ones, one with missing steps, one with an unseen
    // event. Stop as soon as their lines are scored (their sessions may or may not be).
    let mut kinds = vec![Block::Normal; 20];
    kinds.insert(7, Block::MissingSteps);
    kinds.insert(14, Block::Unseen);
    let mut set_a = blocks(
        &mut r,
        5_000_000,
        Utc::now() - Duration::seconds(40),
        Duration::seconds(1) + Duration::milliseconds(700),
        &kinds,
        "new",
    );
    // A block whose first half arrives now and its second half only after the restart: its
    // session spans the restart and must still be scored as one.
    let mut spanning = block(
        &mut r,
        7_777_777,
        Utc::now() - Duration::milliseconds(500),
        Block::Normal,
        "new",
    );
    let second_half = spanning.split_off(6);
    set_a.extend(spanning);
    let n_a = set_a.len() as u64;
    insert(&coll, set_a).await;
    assert!(wait_scored(&coll, n_train + n_a, StdDuration::from_secs(30)).await);
    let r1 = run1.stop().await;
    assert_eq!(
        count(
            &coll,
            doc! {"blk": "blk_7777777", "lad_session_score": {"$exists": true}}
        )
        .await,
        0,
        "the block spanning the restart was scored before its end"
    );
    let s1 = count(&coll, doc! {"lad_session_score": {"$exists": true}}).await;
    eprintln!(
        "run 1 stopped: {} sessions scored ({} anomalies), {s1} of {} documents have session scores",
        r1.workers[0].stats.sessions_scored,
        r1.workers[0].stats.session_anomalies,
        n_train + n_a
    );

    // While it is down: more normal blocks and a second broken one, behind the resume point.
    let mut kinds = vec![Block::Normal; 20];
    kinds.insert(10, Block::MissingSteps);
    let set_b = blocks(
        &mut r,
        9_000_000,
        Utc::now() - Duration::seconds(90),
        Duration::seconds(2),
        &kinds,
        "new",
    );
    let mut set_b = set_b;
    set_b.extend(second_half);
    let n_b = set_b.len() as u64;
    insert(&coll, set_b).await;
    let total = n_train + n_a + n_b;

    // Run 2: picks up the rest.
    let run2 = h.start(cfg.clone());
    assert!(
        wait_until(StdDuration::from_secs(60), || sessions_done(total)).await,
        "not every document got a session score: {} of {total}",
        count(&coll, doc! {"lad_session_score": {"$exists": true}}).await
    );
    let r2 = run2.stop().await;
    eprintln!(
        "run 2: {} sessions scored ({} anomalies)",
        r2.workers[0].stats.sessions_scored, r2.workers[0].stats.session_anomalies
    );

    // Every document has a key, and its session fields were written exactly once.
    assert_eq!(
        count(&coll, doc! {"lad_session_key": {"$exists": true}}).await,
        total
    );
    let session_writes: i64 = h
        .log
        .take()
        .iter()
        .filter(|c| c.name == "update" && c.sets.iter().any(|s| s == "lad_session_score"))
        .map(|c| c.matched)
        .sum();
    assert_eq!(
        session_writes, total as i64,
        "documents matched by session updates over both runs"
    );

    // Per block: one verdict on all its documents.
    let docs: Vec<Document> = coll
        .find(doc! {})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("read");
    let mut by_block: HashMap<String, Vec<&Document>> = HashMap::new();
    for d in &docs {
        by_block
            .entry(d.get_str("blk").expect("blk").to_string())
            .or_default()
            .push(d);
    }
    let mut flagged: HashMap<(String, String), (usize, usize)> = HashMap::new();
    for (blk, ds) in &by_block {
        let first = ds[0];
        let anomaly = first.get_i32("lad_session_anomaly").expect("anomaly");
        let worst = first.get_str("lad_session_worst").expect("worst");
        for d in ds {
            assert_eq!(d.get_str("lad_session_key").ok(), Some(blk.as_str()));
            assert_eq!(
                d.get_i32("lad_session_anomaly").ok(),
                Some(anomaly),
                "{blk}"
            );
            assert_eq!(
                d.get_i64("lad_session_events").ok(),
                Some(ds.len() as i64),
                "{blk}: one session"
            );
            assert_eq!(d.get_str("lad_session_worst").ok(), Some(worst));
        }
        let kind = first.get_str("kind").expect("kind").to_string();
        let set = first.get_str("set").expect("set").to_string();
        let e = flagged.entry((set, kind.clone())).or_default();
        e.0 += 1;
        e.1 += usize::from(anomaly == 1);
        match kind.as_str() {
            "missing" => {
                assert_eq!(anomaly, 1, "block with missing steps {blk} not flagged");
                assert!(
                    worst.starts_with("Receiving block") || worst.starts_with("PacketResponder"),
                    "{blk}: worst event {worst:?} is not one of its events"
                );
                eprintln!("missing steps {blk}: worst event {worst:?}");
            }
            "unseen" => {
                assert_eq!(anomaly, 1, "block with an unseen event {blk} not flagged");
                eprintln!("unseen event {blk}: worst event {worst:?}");
            }
            _ => assert!(!worst.is_empty(), "{blk}"),
        }
    }
    let mut rows: Vec<_> = flagged.iter().collect();
    rows.sort();
    for ((set, kind), (n, f)) in &rows {
        eprintln!("{set}/{kind}: {f} of {n} blocks flagged");
    }
    let new_normal = flagged[&("new".to_string(), "normal".to_string())];
    assert_eq!(new_normal.0, 41);
    assert!(
        new_normal.1 <= 1,
        "{} of 41 normal new blocks flagged",
        new_normal.1
    );
    let train_normal = flagged[&("train".to_string(), "normal".to_string())];
    assert!(
        train_normal.1 <= 6,
        "{} of 200 training blocks flagged (contamination 0.02)",
        train_normal.1
    );
    h.finish().await;
}
