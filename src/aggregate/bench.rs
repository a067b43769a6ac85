//! `lad-aggregator bench`: times vectorize / cluster / template on generated anomalies (no
//! database) and measures how well the clusters recover the generating families.

use std::collections::HashMap;

use serde::Serialize;

use super::batch::{aggregate, Anomaly, BatchParams, Timings};
use crate::rng::SplitMix64;

/// What a bench run reports (printed as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Generated anomalies.
    pub messages: usize,
    /// Message families used by the generator.
    pub families: usize,
    /// Messages generated as one-off noise.
    pub noise_messages: usize,
    /// `AGGR_EPS`, `AGGR_MIN_SAMPLES`, `AGGR_VECTOR_LENGTH` used.
    pub eps: f64,
    /// `AGGR_MIN_SAMPLES`.
    pub min_samples: usize,
    /// `AGGR_VECTOR_LENGTH`.
    pub vector_length: usize,
    /// Distinct masked token lists (DBSCAN runs on these, not on every message).
    pub distinct_shapes: usize,
    /// Stage times in seconds.
    pub timings: Timings,
    /// Sum of the stage times.
    pub total_s: f64,
    /// Aggregates produced (clusters + noise points).
    pub aggregates: usize,
    /// DBSCAN clusters.
    pub clusters: usize,
    /// Family messages left as noise points.
    pub family_messages_unclustered: usize,
    /// One-off (noise) messages that DBSCAN put into a cluster.
    pub noise_messages_clustered: usize,
    /// Share of clustered family messages whose cluster's majority family is their own.
    pub purity: f64,
    /// Families whose messages mostly (≥ 90 %) sit in one cluster.
    pub families_recovered: usize,
    /// Up to five templates of the largest clusters, as examples.
    pub sample_templates: Vec<String>,
}

const USERS: &[&str] = &[
    "root", "admin", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter", "backup", "deploy", "nagios",
    "postgres", "www-data", "git",
];
const SERVICES: &[&str] = &[
    "nginx", "sshd", "postfix", "dovecot", "named", "ntpd", "cron", "dockerd", "kubelet",
    "haproxy", "redis", "mysqld",
];
const FILES: &[&str] = &[
    "index.html",
    "favicon.ico",
    "robots.txt",
    "wp-login.php",
    "config.yaml",
    "passwd",
    "shadow",
    "authorized_keys",
    "xmlrpc.php",
    "admin.php",
    ".env",
    "backup.tar",
];
const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "basil", "cedar", "dune",
    "ember", "fjord", "glade", "heath", "islet", "jade", "knoll", "larch", "moss", "nectar",
    "onyx", "pine", "quartz", "reed", "sage", "thyme", "umber", "vale", "willow", "yew",
];

/// 30 message families; `{u}` user, `{s}` service, `{f}` file, `{w}` word, `{n}` number,
/// `{ip}` address, `{x}` hex.
const FAMILIES: &[&str] = &[
    "sshd[{n}]: Failed password for invalid user {u} from {ip} port {n} ssh2",
    "sshd[{n}]: Accepted publickey for {u} from {ip} port {n} ssh2: RSA SHA256:{x}",
    "CRON[{n}]: pam_unix(cron:session): session opened for user {u} by (uid=0)",
    "sudo: {u} : TTY=pts/{n} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/{s}",
    "kernel: [{n}.{n}] Out of memory: Killed process {n} ({s}) total-vm:{n}kB, anon-rss:{n}kB",
    "kernel: [{n}.{n}] EXT4-fs error (device sda{n}): ext4_find_entry:{n}: inode #{n}: comm {s}: reading directory lblock 0",
    "kernel: [{n}.{n}] {s}[{n}]: segfault at {x} ip {x} sp {x} error 4 in libc.so.6[{x}+{x}]",
    "nginx: {ip} - - \"GET /{f} HTTP/1.1\" 404 {n} \"-\" \"Mozilla/5.0 ({w}; {w})\"",
    "nginx: [error] {n}#{n}: *{n} open() \"/var/www/html/{f}\" failed (2: No such file or directory), client: {ip}",
    "postfix/smtpd[{n}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <{u}@{w}.example>: Relay access denied",
    "dovecot: imap-login: Disconnected (auth failed, {n} attempts in {n} secs): user=<{u}>, rip={ip}, lip={ip}",
    "systemd[1]: {s}.service: Main process exited, code=killed, status=9/KILL",
    "systemd[1]: Failed to start {w} {s} daemon.",
    "dockerd[{n}]: level=error msg=\"Handler for POST /containers/{x}/start returned error: {w} {w} not found\"",
    "kubelet[{n}]: E{n} {n}:{n}:{n}.{n} {n} pod_workers.go:{n}] Error syncing pod {x}, skipping: failed to \"StartContainer\" for \"{w}\" with CrashLoopBackOff",
    "haproxy[{n}]: Server {w}/{s}{n} is DOWN, reason: Layer4 timeout, check duration: {n}ms. {n} active and {n} backup servers left.",
    "mysqld[{n}]: [ERROR] Access denied for user '{u}'@'{ip}' (using password: YES)",
    "redis[{n}]: # Background saving error: MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk",
    "named[{n}]: client @{x} {ip}#{n} ({w}.example.com): query (cache) '{w}.example.com/A/IN' denied",
    "ntpd[{n}]: kernel reports TIME_ERROR: 0x{n}: Clock Unsynchronized",
    "smartd[{n}]: Device: /dev/sd{w}, {n} Currently unreadable (pending) sectors",
    "mdadm[{n}]: DegradedArray event detected on md device /dev/md{n}",
    "auditd[{n}]: Audit daemon rotating log files with {w} policy, {n} files kept",
    "su[{n}]: FAILED SU (to {u}) {u} on pts/{n}",
    "useradd[{n}]: new user: name={u}, UID={n}, GID={n}, home=/home/{u}, shell=/bin/bash",
    "firewalld[{n}]: WARNING: COMMAND_FAILED: '/usr/sbin/iptables -w10 -t filter -X DOCKER-ISOLATION-STAGE-{n}' failed: iptables: No chain/target/match by that name.",
    "zabbix_agentd[{n}]: active check configuration update from [{ip}:{n}] started to fail (cannot connect to [[{ip}]:{n}]: [111] Connection refused)",
    "sshd[{n}]: error: kex_exchange_identification: Connection closed by remote host from {ip} port {n}",
    "clamd[{n}]: /home/{u}/{f}: Win.Test.EICAR_HDB-{n} FOUND",
    "openvpn[{n}]: {u}/{ip}:{n} TLS Error: TLS handshake failed with peer {w}",
];

/// Words shared by unrelated messages.
const COMMON: &[&str] = &[
    "error", "failed", "warning", "for", "from", "to", "the", "user", "on", "at", "not", "unable",
];

fn pseudo_word(r: &mut SplitMix64) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "ro", "mi", "te", "su", "lo", "van", "der", "qu", "ix", "ob", "ne", "zar", "pe",
    ];
    (0..2 + r.below(3))
        .map(|_| SYLLABLES[r.below(SYLLABLES.len())])
        .collect()
}

fn pick<'a>(r: &mut SplitMix64, xs: &[&'a str]) -> &'a str {
    xs[r.below(xs.len())]
}

fn fill(r: &mut SplitMix64, template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + close];
        match key {
            "u" => out.push_str(pick(r, USERS)),
            "s" => out.push_str(pick(r, SERVICES)),
            "f" => out.push_str(pick(r, FILES)),
            "w" => out.push_str(pick(r, WORDS)),
            "n" => out.push_str(&r.below(100_000).to_string()),
            "ip" => out.push_str(&format!(
                "10.{}.{}.{}",
                r.below(256),
                r.below(256),
                1 + r.below(254)
            )),
            "x" => out.push_str(&format!("{:012x}", r.next_u64() >> 16)),
            other => out.push_str(other),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Generated anomalies: `n` messages, ~95 % from the first `families` families (uneven
/// sizes), the rest one-off random word salads. Returns the anomalies (sorted by time) and
/// each message's family (`None` for noise).
pub fn generate(n: usize, families: usize, seed: u64) -> (Vec<Anomaly>, Vec<Option<usize>>) {
    let families = families.clamp(1, FAMILIES.len());
    let mut r = SplitMix64::new(seed);
    // Zipf-like family sizes.
    let weights: Vec<f64> = (0..families)
        .map(|i| 1.0 / (1.0 + i as f64).sqrt())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let dt = 1_700_000_000_000 + i as i64 * 1_000;
        let host = format!("host{}", r.below(8));
        let score = 1.0 + r.next_f32() as f64 * 10.0;
        if r.below(100) < 5 {
            let len = 4 + r.below(10);
            // A one-off message: made-up words, a few common log words, a number.
            let words: Vec<String> = (0..len)
                .map(|_| match r.below(6) {
                    0 => pick(&mut r, COMMON).to_string(),
                    1 => r.below(10_000).to_string(),
                    _ => pseudo_word(&mut r),
                })
                .collect();
            out.push(Anomaly {
                message: words.join(" "),
                datetime_ms: dt,
                hostname: Some(host),
                score: Some(score),
            });
            labels.push(None);
            continue;
        }
        let mut x = r.next_f32() as f64 * total;
        let mut fam = families - 1;
        for (j, w) in weights.iter().enumerate() {
            if x < *w {
                fam = j;
                break;
            }
            x -= w;
        }
        let msg = format!(
            "<{}>Dec {:2} {:02}:{:02}:{:02} {host} {}",
            80 + r.below(10),
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60),
            fill(&mut r, FAMILIES[fam])
        );
        out.push(Anomaly {
            message: msg,
            datetime_ms: dt,
            hostname: Some(host),
            score: Some(score),
        });
        labels.push(Some(fam));
    }
    (out, labels)
}

/// Generates `n` anomalies and aggregates them with `params`.
pub fn run(n: usize, families: usize, seed: u64, params: &BatchParams) -> BenchReport {
    let (anomalies, labels) = generate(n, families, seed);
    let batch = aggregate(&anomalies, params);
    let mut cluster_of = vec![None; anomalies.len()];
    for (c, a) in batch.aggregates.iter().enumerate() {
        if a.clustered {
            for &m in &a.members {
                cluster_of[m] = Some(c);
            }
        }
    }
    // Purity: majority family per cluster.
    let mut per_cluster: HashMap<usize, HashMap<usize, usize>> = HashMap::new();
    let mut per_family: HashMap<usize, HashMap<Option<usize>, usize>> = HashMap::new();
    let mut unclustered = 0;
    for (i, fam) in labels.iter().enumerate() {
        let Some(fam) = fam else { continue };
        *per_family
            .entry(*fam)
            .or_default()
            .entry(cluster_of[i])
            .or_default() += 1;
        match cluster_of[i] {
            Some(c) => *per_cluster.entry(c).or_default().entry(*fam).or_default() += 1,
            None => unclustered += 1,
        }
    }
    let clustered: usize = per_cluster.values().flat_map(|m| m.values()).sum();
    let majority: usize = per_cluster
        .values()
        .map(|m| m.values().copied().max().unwrap_or(0))
        .sum();
    let recovered = per_family
        .values()
        .filter(|m| {
            let total: usize = m.values().sum();
            let best = m
                .iter()
                .filter(|(c, _)| c.is_some())
                .map(|(_, &k)| k)
                .max()
                .unwrap_or(0);
            best * 10 >= total * 9
        })
        .count();
    let mut largest: Vec<&super::batch::Aggregate> =
        batch.aggregates.iter().filter(|a| a.clustered).collect();
    largest.sort_by_key(|a| std::cmp::Reverse(a.members.len()));
    let t = batch.timings;
    BenchReport {
        messages: anomalies.len(),
        families: families.clamp(1, FAMILIES.len()),
        noise_messages: labels.iter().filter(|l| l.is_none()).count(),
        eps: params.dbscan.eps,
        min_samples: params.dbscan.min_samples,
        vector_length: params.vectors.dim,
        distinct_shapes: batch.shapes,
        timings: t,
        total_s: t.vectorize_s + t.cluster_s + t.template_s,
        aggregates: batch.aggregates.len(),
        clusters: batch.clusters,
        family_messages_unclustered: unclustered,
        noise_messages_clustered: labels
            .iter()
            .zip(&cluster_of)
            .filter(|(l, c)| l.is_none() && c.is_some())
            .count(),
        purity: if clustered == 0 {
            0.0
        } else {
            majority as f64 / clustered as f64
        },
        families_recovered: recovered,
        sample_templates: largest.iter().take(5).map(|a| a.message.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_recovers_families() {
        let r = run(2_000, 10, 1, &BatchParams::default());
        assert_eq!(r.messages, 2_000);
        assert!(r.purity > 0.95, "{r:#?}");
        assert!(r.families_recovered >= 8, "{r:#?}");
    }
}
