//! `lad report --config FILE`: the scored documents in MongoDB as a
//! [`ReportData`](crate::report::ReportData).
//!
//! For each configured `(collection, hostname)` (optionally only some hosts), it reads the
//! documents with a BSON-date `DATETIME_INDEX` at or after `since` that carry an
//! `anomaly_score`, newest first, through the `(hostname, datetime, _id)` index the workers
//! create. At most `max_points` documents are kept overall (the newest), so memory stays
//! bounded however large the window; only flagged documents keep their message (cut to
//! 4 KiB). Model facts come from each worker's `manifest.json` under `MODEL_BASE_DIR`.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::config::{LogSource, ServiceConfig};
use crate::report::{read_model_info, ReportData, ReportPoint};
use crate::service::doc::get_path;
use crate::source::mongo::bson_dt;

/// Longest message kept for a flagged point.
const MAX_REPORT_MESSAGE: usize = 4096;

/// What to read.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// Earliest `DATETIME_INDEX` included.
    pub since: DateTime<Utc>,
    /// Only these hostnames (each must be in `LOG_SOURCES`); empty means all.
    pub hosts: Vec<String>,
    /// Keep at most this many points, the newest.
    pub max_points: usize,
    /// Report title; a default names the database and the window.
    pub title: Option<String>,
}

/// Reading the report data failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportSourceError {
    /// A `--host` that is not configured.
    #[error("host {0:?} is not in LOG_SOURCES")]
    UnknownHost(String),
    /// The database failed (message scrubbed of passwords).
    #[error("reading {source_key} from MongoDB: {message}")]
    Mongo {
        /// `collection/hostname`.
        source_key: String,
        /// The driver's error, password removed.
        message: String,
    },
}

/// `--since`: an RFC 3339 time, or a duration back from `now` such as `90s`, `30m`, `24h`,
/// `7d`, `2w` (a bare number is hours).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let bad = || format!("expected an RFC 3339 time or a duration such as 24h, 30m, 7d; got {t:?}");
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, "h"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return Err(bad()),
    };
    let ms = n * secs * 1000.0;
    if !ms.is_finite() || !(0.0..=1e15).contains(&ms) {
        return Err(bad());
    }
    Ok(now
        .checked_sub_signed(chrono::Duration::milliseconds(ms as i64))
        .unwrap_or(DateTime::<Utc>::MIN_UTC))
}

/// The selected sources, in config order.
fn selected<'a>(
    cfg: &'a ServiceConfig,
    hosts: &[String],
) -> Result<Vec<&'a LogSource>, ReportSourceError> {
    for h in hosts {
        if !cfg.sources.iter().any(|s| &s.hostname == h) {
            return Err(ReportSourceError::UnknownHost(h.clone()));
        }
    }
    Ok(cfg
        .sources
        .iter()
        .filter(|s| hosts.is_empty() || hosts.contains(&s.hostname))
        .collect())
}

fn as_f64(b: &Bson) -> Option<f64> {
    match b {
        Bson::Double(x) => Some(*x),
        Bson::Int32(x) => Some(f64::from(*x)),
        Bson::Int64(x) => Some(*x as f64),
        _ => None,
    }
}

fn as_flag(b: &Bson) -> Option<bool> {
    match b {
        Bson::Boolean(x) => Some(*x),
        Bson::Int32(x) => Some(*x != 0),
        Bson::Int64(x) => Some(*x != 0),
        Bson::Double(x) => Some(*x != 0.0),
        _ => None,
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Keeps the newest `max` points.
fn keep_newest(points: &mut Vec<ReportPoint>, max: usize) {
    if points.len() > max {
        points.sort_by_key(|p| std::cmp::Reverse(p.time));
        points.truncate(max);
    }
}

/// Reads the scored documents and the model facts. Hosts are labelled by hostname, or by
/// `collection/hostname` when the selection spans several collections.
pub async fn report_data(
    cfg: &ServiceConfig,
    client: &mongodb::Client,
    q: &ReportQuery,
) -> Result<ReportData, ReportSourceError> {
    let sources = selected(cfg, &q.hosts)?;
    let one_collection = sources
        .windows(2)
        .all(|w| w[0].collection == w[1].collection);
    let label = |s: &LogSource| {
        if one_collection {
            s.hostname.clone()
        } else {
            s.key()
        }
    };
    let db = client.database(&cfg.db);
    let max = q.max_points.max(1);
    let mut points: Vec<ReportPoint> = Vec::new();
    let mut threat_items: Vec<(String, String, String)> = Vec::new();
    for src in &sources {
        let mut found = read_scored(&db, cfg, src, q.since, max).await?;
        for p in &mut found {
            p.0.host = label(src);
        }
        for (point, threat) in found {
            threat_items.extend(threat);
            points.push(point);
        }
        keep_newest(&mut points, max);
    }
    points.sort_by_key(|p| p.time);
    for (i, p) in points.iter_mut().enumerate() {
        p.seq = i + 1;
    }
    let models = model_facts(cfg, &sources, label);
    let fleet_events = fleet_events(&db, cfg, &sources, q.since)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(
                "no fleet events in the report: {}",
                cfg.mongo.scrub(&e.to_string())
            );
            Vec::new()
        });
    Ok(ReportData {
        fleet_events,
        threats: crate::report::threat_rows(
            threat_items
                .iter()
                .map(|(t, s, m)| (t.as_str(), s.as_str(), m.as_str())),
        ),
        title: q.title.clone().unwrap_or_else(|| {
            format!(
                "lad report: {} since {}",
                cfg.db,
                q.since.format("%Y-%m-%d %H:%M UTC")
            )
        }),
        generated_at: Utc::now(),
        threshold: cfg.model_params.threshold(),
        points,
        models,
    })
}

/// The newest `max` scored documents of one source since `since`, each as a report point
/// (host left empty for the caller to label) and, for an anomaly with a threat type, its
/// `(threat, severity, message)`.
async fn read_scored(
    db: &mongodb::Database,
    cfg: &ServiceConfig,
    src: &LogSource,
    since: DateTime<Utc>,
    max: usize,
) -> Result<Vec<(ReportPoint, Option<(String, String, String)>)>, ReportSourceError> {
    let err = |e: mongodb::error::Error| ReportSourceError::Mongo {
        source_key: src.key(),
        message: cfg.mongo.scrub(&e.to_string()),
    };
    let hostname_field = cfg.hostname_field_of(&src.collection);
    let datetime_field = cfg.datetime_field_of(&src.collection);
    let message_field = cfg.message_field_of(&src.collection);
    let filter = doc! {
        hostname_field: &src.hostname,
        datetime_field: { "$gte": bson_dt(since) },
        "anomaly_score": { "$exists": true },
    };
    // A structured collection's message is its first event's (whole documents read).
    let spec = cfg.spec(&src.collection);
    let profile = spec
        .profile
        .map(|k| crate::profile::Profile::new(k, spec.profile_options.clone()));
    let coll = db.collection::<Document>(&src.collection);
    let mut find = coll
        .find(filter)
        .sort(doc! { datetime_field: -1 })
        .limit(i64::try_from(max).unwrap_or(i64::MAX))
        .batch_size(10_000);
    if profile.is_none() {
        find = find.projection(doc! {
            datetime_field: 1,
            message_field: 1,
            "anomaly_score": 1,
            "is_anomaly": 1,
            "lad_threat": 1,
            "lad_severity": 1,
        });
    }
    let threshold = cfg.model_params_of(&src.collection).threshold();
    let mut out = Vec::new();
    let mut cursor = find.await.map_err(err)?;
    while let Some(d) = cursor.try_next().await.map_err(err)? {
        let Some(score) = d.get("anomaly_score").and_then(as_f64) else {
            continue;
        };
        let is_anomaly = d
            .get("is_anomaly")
            .and_then(as_flag)
            .unwrap_or(score >= threshold);
        let time = match get_path(&d, datetime_field) {
            Some(Bson::DateTime(t)) => DateTime::from_timestamp_millis(t.timestamp_millis()),
            _ => None,
        };
        let message = if is_anomaly {
            message_of(&d, profile.as_ref(), &src.hostname, message_field)
        } else {
            String::new()
        };
        let threat = match (
            is_anomaly,
            d.get_str("lad_threat"),
            d.get_str("lad_severity"),
        ) {
            (true, Ok(t), Ok(s)) => Some((t.to_string(), s.to_string(), message.clone())),
            _ => None,
        };
        let point = ReportPoint {
            host: String::new(),
            time,
            seq: 0,
            score,
            is_anomaly,
            message,
        };
        out.push((point, threat));
    }
    Ok(out)
}

/// An anomaly's message in the report: a structured document's first event's message, or
/// the message field, cut to [`MAX_REPORT_MESSAGE`].
fn message_of(
    d: &Document,
    profile: Option<&crate::profile::Profile>,
    hostname: &str,
    message_field: &str,
) -> String {
    match (profile, get_path(d, message_field)) {
        (Some(p), _) => {
            let mut stats = crate::profile::ProfileStats::default();
            crate::service::doc::events_of(d, p, hostname, None, &mut stats)
                .ok()
                .and_then(|evs| evs.into_iter().next())
                .map(|e| cut(&e.message, MAX_REPORT_MESSAGE))
                .unwrap_or_default()
        }
        (None, Some(Bson::String(m))) => cut(m, MAX_REPORT_MESSAGE),
        _ => String::new(),
    }
}

/// The saved model facts of each source (a source without a readable model is logged and
/// left out).
fn model_facts(
    cfg: &ServiceConfig,
    sources: &[&LogSource],
    label: impl Fn(&LogSource) -> String,
) -> Vec<(String, crate::model::ModelInfo)> {
    let mut models = Vec::new();
    for src in sources {
        let dir = cfg.model_dir(src);
        match read_model_info(&dir) {
            Ok(info) => models.push((label(src), info)),
            Err(e) => {
                tracing::warn!(source = %src.key(), "no model facts in the report: {e}")
            }
        }
    }
    models
}

/// Raised fleet events of the reported collections seen since `since`, newest first.
async fn fleet_events(
    db: &mongodb::Database,
    cfg: &ServiceConfig,
    sources: &[&LogSource],
    since: DateTime<Utc>,
) -> Result<Vec<crate::report::FleetEventRow>, mongodb::error::Error> {
    let mut colls: Vec<&str> = sources.iter().map(|s| s.collection.as_str()).collect();
    colls.sort_unstable();
    colls.dedup();
    let docs: Vec<Document> = db
        .collection::<Document>(&cfg.fleet_events_collection)
        .find(doc! {
            "collection": { "$in": colls },
            "raised": true,
            "last_seen": { "$gte": bson_dt(since) },
        })
        .sort(doc! { "last_seen": -1 })
        .limit(100)
        .await?
        .try_collect()
        .await?;
    let time = |d: &Document, k: &str| {
        d.get_datetime(k)
            .ok()
            .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
    };
    Ok(docs
        .iter()
        .map(|d| crate::report::FleetEventRow {
            collection: d.get_str("collection").unwrap_or_default().to_string(),
            template: d.get_str("template").unwrap_or_default().to_string(),
            hosts: d.get_array("hosts").map_or(0, |h| h.len()),
            count: d.get_i64("count").map_or(0, |c| c.max(0) as u64),
            first_seen: time(d, "first_seen"),
            last_seen: time(d, "last_seen"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_times_and_durations() {
        let now = DateTime::parse_from_rfc3339("2024-05-02T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let h = |s: &str| (now - parse_since(s, now).expect(s)).num_minutes();
        assert_eq!(h("24h"), 24 * 60);
        assert_eq!(h("30m"), 30);
        assert_eq!(h("7d"), 7 * 24 * 60);
        assert_eq!(h("2"), 120);
        assert_eq!(h("2024-05-02T11:00:00Z"), 60);
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("-5h", now).is_err());
        assert!(parse_since("1e300h", now).is_err());
    }

    #[test]
    fn cut_keeps_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h…");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn keeps_the_newest() {
        let p = |t: i64| ReportPoint {
            host: "h".into(),
            time: DateTime::from_timestamp(t, 0),
            seq: 0,
            score: 0.1,
            is_anomaly: false,
            message: String::new(),
        };
        let mut v = vec![p(1), p(5), p(3)];
        keep_newest(&mut v, 2);
        let mut ts: Vec<i64> = v
            .iter()
            .filter_map(|x| x.time)
            .map(|t| t.timestamp())
            .collect();
        ts.sort_unstable();
        assert_eq!(ts, [3, 5]);
    }
}
