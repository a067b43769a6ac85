//! One batch of anomalies in, aggregates out: vectorize → DBSCAN → templates and statistics.
//! Pure computation, no I/O, so it is unit-tested and benchmarked without a database.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::cluster::{dbscan, DbscanParams};
use super::template::Template;
use super::vectors::{vectorize, VectorParams};

/// Longest template stored, in bytes; a longer one is cut at a character boundary and ends
/// in ` ***`. (A noise point's template is its whole message, which may be huge.)
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// One anomaly as read from the input collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The raw message (`MESSAGE_INDEX`).
    pub message: String,
    /// `DATETIME_INDEX`, milliseconds since the Unix epoch (UTC).
    pub datetime_ms: i64,
    /// `HOSTNAME_INDEX`, when present and a string.
    pub hostname: Option<String>,
    /// `anomaly_score`, when present and a finite number.
    pub score: Option<f64>,
}

/// Clustering parameters of a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchParams {
    /// Word2vec settings.
    pub vectors: VectorParams,
    /// DBSCAN settings.
    pub dbscan: DbscanParams,
}

/// One aggregate: a DBSCAN cluster, or a single noise point.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The template (for a noise point: its message).
    pub message: String,
    /// Indexes of the member anomalies in the input slice, ascending.
    pub members: Vec<usize>,
    /// Mean of the members' datetimes (ms since the epoch, UTC).
    pub average_datetime_ms: i64,
    /// Mean of the members' scores that are present; `None` when no member has one.
    pub average_anomaly_score: Option<f64>,
    /// Hostname of the most members; ties go to the lexicographically smallest.
    pub most_frequent_hostname: Option<String>,
    /// True for a DBSCAN cluster, false for a noise point.
    pub clustered: bool,
}

impl Aggregate {
    /// `total_logs`.
    pub fn total_logs(&self) -> u64 {
        self.members.len() as u64
    }
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Tokenize, word2vec, message vectors.
    pub vectorize_s: f64,
    /// DBSCAN.
    pub cluster_s: f64,
    /// Templates and statistics.
    pub template_s: f64,
}

/// Result of [`aggregate`].
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Clusters and noise points, in order of their first member.
    pub aggregates: Vec<Aggregate>,
    /// Distinct token lists in the batch.
    pub shapes: usize,
    /// Number of DBSCAN clusters (the other aggregates are noise points).
    pub clusters: usize,
    /// Stage timings.
    pub timings: Timings,
}

/// Aggregates a batch. Members keep the input order, so pass anomalies sorted by time for
/// reproducible templates. Never fails; an empty batch gives no aggregates.
pub fn aggregate(anomalies: &[Anomaly], params: &BatchParams) -> Batch {
    let t0 = Instant::now();
    let messages: Vec<&str> = anomalies.iter().map(|a| a.message.as_str()).collect();
    let shapes = vectorize(&messages, &params.vectors);
    let t1 = Instant::now();
    let labels = dbscan(&shapes, &params.dbscan);
    let t2 = Instant::now();

    let clusters = labels.iter().flatten().max().map_or(0, |&m| m + 1);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); clusters];
    let mut order: Vec<(usize, Option<usize>)> = Vec::new(); // (first member, cluster)
    for (i, &s) in shapes.shape_of.iter().enumerate() {
        match labels[s as usize] {
            Some(c) => {
                if groups[c].is_empty() {
                    order.push((i, Some(c)));
                }
                groups[c].push(i);
            }
            None => order.push((i, None)),
        }
    }
    let aggregates = order
        .into_iter()
        .map(|(first, cluster)| match cluster {
            Some(c) => summarize(anomalies, std::mem::take(&mut groups[c]), true),
            None => summarize(anomalies, vec![first], false),
        })
        .collect();
    let t3 = Instant::now();
    Batch {
        aggregates,
        shapes: shapes.len(),
        clusters,
        timings: Timings {
            vectorize_s: (t1 - t0).as_secs_f64(),
            cluster_s: (t2 - t1).as_secs_f64(),
            template_s: (t3 - t2).as_secs_f64(),
        },
    }
}

fn summarize(anomalies: &[Anomaly], members: Vec<usize>, clustered: bool) -> Aggregate {
    let message = if clustered {
        let mut seen = std::collections::HashSet::new();
        let mut t: Option<Template> = None;
        for &i in &members {
            let m = anomalies[i].message.as_str();
            if !seen.insert(m) {
                continue;
            }
            match t.as_mut() {
                None => t = Some(Template::from_message(m)),
                Some(t) => t.absorb(m),
            }
        }
        t.map(|t| t.to_string()).unwrap_or_default()
    } else {
        anomalies[members[0]].message.clone()
    };
    let n = members.len().max(1) as i128;
    let sum: i128 = members
        .iter()
        .map(|&i| i128::from(anomalies[i].datetime_ms))
        .sum();
    let average_datetime_ms = sum.div_euclid(n) as i64;
    let scores: Vec<f64> = members
        .iter()
        .filter_map(|&i| anomalies[i].score)
        .filter(|s| s.is_finite())
        .collect();
    let average_anomaly_score = if scores.is_empty() {
        None
    } else {
        Some(scores.iter().sum::<f64>() / scores.len() as f64)
    };
    let mut hosts: HashMap<&str, u64> = HashMap::new();
    for &i in &members {
        if let Some(h) = anomalies[i].hostname.as_deref() {
            *hosts.entry(h).or_default() += 1;
        }
    }
    let most_frequent_hostname = hosts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(h, _)| h.to_string());
    Aggregate {
        message: cap_template(message),
        members,
        average_datetime_ms,
        average_anomaly_score,
        most_frequent_hostname,
        clustered,
    }
}

fn cap_template(mut s: String) -> String {
    if s.len() <= MAX_TEMPLATE_BYTES {
        return s;
    }
    let mut cut = MAX_TEMPLATE_BYTES - 4;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str(" ***");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::vectors::VectorMode;

    fn anomaly(message: &str, datetime_ms: i64, host: &str, score: f64) -> Anomaly {
        Anomaly {
            message: message.into(),
            datetime_ms,
            hostname: Some(host.into()),
            score: Some(score),
        }
    }

    /// The README's example: five CRON lines become one aggregate.
    #[test]
    fn seed_example_clusters_into_one_template() {
        let lines = [
            "<86>Dec  1 17:15:01 cumulus CRON[25368]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 17:00:01 cumulus CRON[25252]: pam_unix(cron:session): session opened for user user by (uid=0)",
            "<86>Dec  1 16:45:01 cumulus CRON[25136]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 16:30:01 cumulus CRON[25019]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 16:17:01 cumulus CRON[24915]: pam_unix(cron:session): session opened for user cumulus by (uid=0)",
        ];
        let anomalies: Vec<Anomaly> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| anomaly(l, 1_000 * i as i64, "cumulus", 2.0))
            .collect();
        // Default settings on several seeds, and the word2vec mode (its default length).
        let mut all = Vec::new();
        for seed in 0..5 {
            let mut p = BatchParams::default();
            p.vectors.seed = seed;
            all.push(p);
        }
        all.push(BatchParams {
            vectors: VectorParams {
                mode: VectorMode::Word2Vec,
                dim: VectorMode::Word2Vec.default_dim(),
                ..Default::default()
            },
            ..Default::default()
        });
        for params in all {
            let b = aggregate(&anomalies, &params);
            assert_eq!(b.aggregates.len(), 1, "{params:?}: {:#?}", b.aggregates);
            let a = &b.aggregates[0];
            assert!(
                a.message.contains("session opened for user *** by (uid=0)"),
                "{}",
                a.message
            );
            assert_eq!(
                a.message,
                "<86>Dec 1 *** cumulus *** pam_unix(cron:session): session opened for user *** by (uid=0)"
            );
            assert_eq!(a.total_logs(), 5);
            assert_eq!(a.average_datetime_ms, 2_000);
            assert_eq!(a.average_anomaly_score, Some(2.0));
            assert_eq!(a.most_frequent_hostname.as_deref(), Some("cumulus"));
        }
    }

    #[test]
    fn families_and_noise() {
        let mut anomalies = Vec::new();
        for i in 0..12 {
            anomalies.push(anomaly(
                &format!(
                    "sshd[{}]: Failed password for invalid user u{} from 10.0.0.{} port {} ssh2",
                    100 + i,
                    i % 3,
                    i,
                    4000 + i
                ),
                i,
                if i % 2 == 0 { "b" } else { "a" },
                1.0 + i as f64,
            ));
            anomalies.push(anomaly(
                &format!("kernel: [{}.{}] EXT4-fs error (device sda{}): ext4_find_entry:1455: inode #{}: comm ls: reading directory lblock 0", i, i * 7, i % 2, 9000 + i),
                i,
                "c",
                3.0,
            ));
        }
        anomalies.push(anomaly(
            "mdadm: DegradedArray event detected on md device /dev/md0",
            50,
            "d",
            9.0,
        ));
        let b = aggregate(&anomalies, &BatchParams::default());
        assert_eq!(b.clusters, 2, "{:#?}", b.aggregates);
        assert_eq!(b.aggregates.len(), 3);
        let ssh = &b.aggregates[0];
        assert_eq!(
            ssh.message,
            "*** Failed password for invalid user *** from *** port *** ssh2"
        );
        assert_eq!(ssh.total_logs(), 12);
        assert_eq!(ssh.average_datetime_ms, 5); // mean of 0..12 = 5.5, floored
        assert_eq!(ssh.average_anomaly_score, Some(6.5));
        assert_eq!(ssh.most_frequent_hostname.as_deref(), Some("a")); // 6 vs 6: smaller name wins
        assert!(
            b.aggregates[1]
                .message
                .starts_with("kernel: *** EXT4-fs error (device ***"),
            "{}",
            b.aggregates[1].message
        );
        let noise = &b.aggregates[2];
        assert!(!noise.clustered);
        assert_eq!(
            noise.message,
            "mdadm: DegradedArray event detected on md device /dev/md0"
        );
        assert_eq!(noise.members, [24]);
    }

    #[test]
    fn odd_inputs() {
        assert!(aggregate(&[], &BatchParams::default())
            .aggregates
            .is_empty());
        let weird = vec![
            Anomaly {
                message: String::new(),
                datetime_ms: -5,
                hostname: None,
                score: None,
            },
            Anomaly {
                message: String::new(),
                datetime_ms: -4,
                hostname: None,
                score: Some(f64::NAN),
            },
            Anomaly {
                message: "x".repeat(200_000),
                datetime_ms: i64::MAX,
                hostname: None,
                score: None,
            },
            Anomaly {
                message: "\u{0}\u{7f} ;; zz".into(),
                datetime_ms: i64::MIN,
                hostname: None,
                score: None,
            },
        ];
        let b = aggregate(&weird, &BatchParams::default());
        let total: u64 = b.aggregates.iter().map(Aggregate::total_logs).sum();
        assert_eq!(total, 4);
        for a in &b.aggregates {
            assert!(a.message.len() <= MAX_TEMPLATE_BYTES);
            assert_eq!(a.most_frequent_hostname, None);
        }
        let empties = b
            .aggregates
            .iter()
            .find(|a| a.members == [0, 1])
            .expect("two empty messages together");
        assert_eq!(empties.average_datetime_ms, -5); // floor(-4.5)
        assert_eq!(empties.average_anomaly_score, None);
    }
}
