//! The counts every report shows: anomalies by threat type and severity, and the entities
//! (users, source addresses, hosts) with the most anomalies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Row;

/// How many entries the "top" lists keep.
pub const TOP: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub events: usize,
    pub anomalies: usize,
    pub by_threat: BTreeMap<String, usize>,
    pub by_severity: BTreeMap<String, usize>,
    /// `(value, anomalies)`, most first, ties by value.
    pub top_users: Vec<(String, usize)>,
    pub top_source_ips: Vec<(String, usize)>,
    pub top_hosts: Vec<(String, usize)>,
}

fn top(map: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

impl Summary {
    pub fn of(rows: &[Row<'_>]) -> Self {
        let mut by_threat = BTreeMap::new();
        let mut by_severity = BTreeMap::new();
        let (mut users, mut ips, mut hosts) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let mut anomalies = 0;
        for r in rows.iter().filter(|r| r.finding.is_anomaly) {
            anomalies += 1;
            *by_threat
                .entry(r.finding.threat_type.to_string())
                .or_insert(0) += 1;
            if let Some(s) = r.finding.severity {
                *by_severity.entry(s.to_string()).or_insert(0) += 1;
            }
            for (map, v) in [
                (&mut users, &r.event.user),
                (&mut ips, &r.event.source_ip),
                (&mut hosts, &r.event.host),
            ] {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    *map.entry(v.to_string()).or_insert(0) += 1;
                }
            }
        }
        Self {
            events: rows.len(),
            anomalies,
            by_threat,
            by_severity,
            top_users: top(users),
            top_source_ips: top(ips),
            top_hosts: top(hosts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    #[test]
    fn counts_and_top_lists() {
        let (ev, f) = testdata::rows();
        let rows = testdata::pair(&ev, &f);
        let s = Summary::of(&rows);
        assert_eq!(s.events, 200);
        // i % 10 in {0, 1, 2} plus the normal rows with score ≥ 0.5 (none: max 0.39).
        assert_eq!(s.anomalies, 60);
        assert_eq!(s.by_threat["brute_force"], 20);
        assert_eq!(s.by_severity["CRITICAL"], 20);
        assert!(s.top_users.len() <= TOP);
        assert_eq!(s.top_users.iter().map(|(_, n)| n).sum::<usize>(), 60);
        assert!(s.top_hosts.windows(2).all(|w| w[0].1 >= w[1].1));
    }
}
