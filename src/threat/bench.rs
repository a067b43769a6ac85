//! Throughput and memory of the rate detectors on generated events.
//!
//! `run(entities, events)` fits the shipped engine on a generated day of baseline from
//! `entities` source addresses spread over 50 hosts and 20 event types (so about
//! `entities` source-IP entities plus host, event-type and host+event-type ones are active at
//! once), then times `observe` over `events` more, generated the same way with occasional
//! bursts, on one thread. Deterministic (a fixed-seed generator).

use std::time::Instant;

use serde::Serialize;

use super::engine::ThreatEngine;
use crate::profile::{Event, Field, FieldValue};
use crate::rng::SplitMix64 as Rng;

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub entities: usize,
    pub baseline_events: usize,
    pub fit_seconds: f64,
    pub events: usize,
    pub observe_seconds: f64,
    pub events_per_second: f64,
    pub flagged: usize,
    /// Active rate entities at the end, and the most at any time.
    pub active_entities_end: usize,
    pub active_entities_max: usize,
    pub rule_keys_end: usize,
    pub peak_rss_mib: f64,
}

fn event(rng: &mut Rng, t_ms: i64, entities: usize, burst: Option<usize>) -> Event {
    let ip = burst.unwrap_or_else(|| rng.below(entities));
    let mut e = Event::new(0, 0);
    e.timestamp = chrono::DateTime::from_timestamp_millis(t_ms);
    e.host = Some(format!("host-{}", ip % 50));
    e.source_ip = Some(format!(
        "10.{}.{}.{}",
        (ip >> 16) & 255,
        (ip >> 8) & 255,
        ip & 255
    ));
    e.message = "connection accepted".into();
    e.fields.push(Field {
        name: "event_type".into(),
        value: FieldValue::Category(format!("E{}", ip % 20)),
    });
    e
}

/// Runs the benchmark.
pub fn run(entities: usize, events: usize) -> BenchReport {
    let entities = entities.max(1);
    let mut rng = Rng::new(42);
    // A day of baseline at the same rate as the scored stream: each entity about once a
    // minute on average, so windows hold many entities.
    let rate_per_ms = entities as f64 / 60_000.0;
    let baseline_n = (entities * 60).min(2_000_000);
    let step = (1.0 / rate_per_ms).max(0.001);
    let baseline: Vec<Event> = (0..baseline_n)
        .map(|i| event(&mut rng, (i as f64 * step) as i64, entities, None))
        .collect();
    let mut engine = ThreatEngine::with_shipped_rules();
    let t0 = Instant::now();
    engine.fit(&baseline);
    let fit_seconds = t0.elapsed().as_secs_f64();
    let start = (baseline_n as f64 * step) as i64;
    drop(baseline);
    let stream: Vec<Event> = (0..events)
        .map(|i| {
            let burst = (i % 100_000 < 500).then_some(7);
            event(&mut rng, start + (i as f64 * step) as i64, entities, burst)
        })
        .collect();
    let mut flagged = 0;
    let mut max_active = 0;
    let t1 = Instant::now();
    for (i, e) in stream.iter().enumerate() {
        let f = engine.observe(e);
        flagged += f.is_anomaly as usize;
        if i % 4096 == 0 {
            max_active = max_active.max(engine.state_size().0);
        }
    }
    let observe_seconds = t1.elapsed().as_secs_f64();
    let (active, keys) = engine.state_size();
    BenchReport {
        entities,
        baseline_events: baseline_n,
        fit_seconds,
        events,
        observe_seconds,
        events_per_second: events as f64 / observe_seconds.max(1e-9),
        flagged,
        active_entities_end: active,
        active_entities_max: max_active.max(active),
        rule_keys_end: keys,
        peak_rss_mib: crate::runtime::peak_rss_mib(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_run_is_bounded_and_flags_the_bursts() {
        let r = super::run(500, 50_000);
        assert_eq!(r.events, 50_000);
        assert!(r.flagged > 0, "{r:?}");
        // 500 addresses + 50 hosts + 20 types + host×type pairs (≤ 500): bounded by the
        // generator's entities, not by the number of events.
        assert!(r.active_entities_max <= 500 + 50 + 20 + 500, "{r:?}");
    }
}
