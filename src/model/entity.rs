//! Per-entity models: one [`Model`] per host, per user or per host+user, so "new for this
//! user" means new for *this* user.
//!
//! Many small entities must stay cheap: a model without vector detectors is a template
//! miner and a few count tables. An entity with fewer than `min_events` training events gets
//! no model of its own and is scored by its fallback, which the score says
//! (`EntityScore::fallback`): for a user key the model of the user's host, otherwise one
//! model fitted on every training event.
//!
//! The Mimizuku-style [`Controls`] are applied after scoring and saved with the models.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Model, ModelError, ModelParams, Score};
use crate::profile::{Event, FieldValue};

/// Which entity a model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntityKey {
    /// One model per host (the default).
    #[default]
    Host,
    /// One model per user (the osquery and audit-command systems' choice).
    User,
    /// One model per (host, user) pair.
    #[serde(rename = "host+user")]
    HostUser,
    /// One model per source IP.
    #[serde(rename = "source_ip")]
    SourceIp,
    /// One model for everything.
    Global,
}

impl std::str::FromStr for EntityKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "host" => Ok(Self::Host),
            "user" => Ok(Self::User),
            "host+user" | "host_user" => Ok(Self::HostUser),
            "source_ip" | "ip" => Ok(Self::SourceIp),
            "global" | "none" => Ok(Self::Global),
            o => Err(format!(
                "unknown entity key '{o}': expected host, user, host+user, source_ip or global"
            )),
        }
    }
}

impl EntityKey {
    /// The entity an event belongs to (`-` when the event lacks the field).
    pub fn of(self, e: &Event) -> String {
        let h = e.host.as_deref().unwrap_or("-");
        let u = e.user.as_deref().unwrap_or("-");
        match self {
            Self::Host => h.to_string(),
            Self::User => u.to_string(),
            Self::HostUser => format!("{h}/{u}"),
            Self::SourceIp => e.source_ip.as_deref().unwrap_or("-").to_string(),
            Self::Global => "*".to_string(),
        }
    }

    fn uses_user(self) -> bool {
        matches!(self, Self::User | Self::HostUser)
    }
}

/// Mimizuku-compatible controls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Controls {
    /// Events of these users are never flagged.
    pub ignore_users: Vec<String>,
    /// Events whose path matches one of these globs (or starts with the pattern when it has
    /// no wildcard, as Mimizuku's prefixes) are never flagged.
    pub ignore_files: Vec<String>,
    /// Events whose path matches (or contains) one of these are always flagged.
    pub abuse_files: Vec<String>,
}

/// What a control did to an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlHit {
    IgnoredUser(String),
    IgnoredFile(String),
    AbuseFile(String),
}

impl Controls {
    fn paths(e: &Event) -> impl Iterator<Item = &str> {
        e.fields.iter().filter_map(|f| match &f.value {
            FieldValue::Path(p) => Some(p.as_str()),
            _ => None,
        })
    }

    fn matches(pattern: &str, path: &str, contains: bool) -> bool {
        if pattern.contains(['*', '?', '[']) {
            glob::Pattern::new(pattern).is_ok_and(|p| p.matches(path))
        } else if contains {
            path.contains(pattern)
        } else {
            path.starts_with(pattern)
        }
    }

    /// Applies the control that matches `e` to its score (abuse: flagged at 1.0; ignore: not
    /// flagged, 0.0) and returns it.
    pub fn apply(&self, e: &Event, score: &mut Score) -> Option<ControlHit> {
        let hit = self.check(e)?;
        let abuse = matches!(hit, ControlHit::AbuseFile(_));
        score.is_anomaly = abuse;
        score.anomaly_score = if abuse { 1.0 } else { 0.0 };
        Some(hit)
    }

    /// The control that applies to `e`, if any (abuse wins over ignore).
    pub fn check(&self, e: &Event) -> Option<ControlHit> {
        for p in Self::paths(e) {
            if let Some(a) = self.abuse_files.iter().find(|a| Self::matches(a, p, true)) {
                return Some(ControlHit::AbuseFile(a.clone()));
            }
        }
        if let Some(u) = e.user.as_deref() {
            if self.ignore_users.iter().any(|x| x == u) {
                return Some(ControlHit::IgnoredUser(u.to_string()));
            }
        }
        for p in Self::paths(e) {
            if let Some(i) = self
                .ignore_files
                .iter()
                .find(|i| Self::matches(i, p, false))
            {
                return Some(ControlHit::IgnoredFile(i.clone()));
            }
        }
        None
    }
}

/// Settings of the per-entity models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntityParams {
    pub key: EntityKey,
    /// Fewer training events than this: the entity is scored by its fallback model.
    pub min_events: usize,
    pub controls: Controls,
}

impl Default for EntityParams {
    fn default() -> Self {
        Self {
            key: EntityKey::Host,
            min_events: 50,
            controls: Controls::default(),
        }
    }
}

/// The result for one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityScore {
    pub score: Score,
    /// The entity the event belongs to.
    pub entity: String,
    /// Which model scored it: the entity's own, or a fallback.
    pub model: String,
    /// Whether that was a fallback (the entity has too little history).
    pub fallback: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlHit>,
}

/// One model per entity plus fallbacks.
#[derive(Debug)]
pub struct EntityModels {
    params: EntityParams,
    models: BTreeMap<String, Model>,
    /// For user keys: one model per host; otherwise a single global model under `*`.
    fallbacks: BTreeMap<String, Model>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    params: EntityParams,
    models: Vec<String>,
    fallbacks: Vec<String>,
}

const MANIFEST: &str = "entities.json";

impl EntityModels {
    /// Fits the models on training events.
    pub fn fit(
        events: &[Event],
        params: &ModelParams,
        ep: &EntityParams,
    ) -> Result<Self, ModelError> {
        if events.is_empty() {
            return Err(ModelError::NoTrainingData);
        }
        let mut groups: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in events {
            groups.entry(ep.key.of(e)).or_default().push(e.clone());
        }
        let mut models = BTreeMap::new();
        for (k, evs) in &groups {
            if evs.len() >= ep.min_events {
                models.insert(k.clone(), Model::fit_events(evs, params)?);
            }
        }
        let mut fallbacks = BTreeMap::new();
        if ep.key.uses_user() {
            let mut by_host: BTreeMap<String, Vec<Event>> = BTreeMap::new();
            for e in events {
                by_host
                    .entry(EntityKey::Host.of(e))
                    .or_default()
                    .push(e.clone());
            }
            for (h, evs) in by_host {
                fallbacks.insert(h, Model::fit_events(&evs, params)?);
            }
        }
        if models.len() < groups.len() || ep.key.uses_user() {
            fallbacks.insert("*".into(), Model::fit_events(events, params)?);
        }
        Ok(Self {
            params: ep.clone(),
            models,
            fallbacks,
        })
    }

    /// Only the entities' own models, no fallbacks: for a [`super::HostModel`], whose host
    /// model is the fallback. Such a value is scored through the host model only (its own
    /// [`EntityModels::score`] needs a fallback for entities without a model).
    pub(super) fn fit_own(
        events: &[Event],
        params: &ModelParams,
        ep: &EntityParams,
    ) -> Result<Self, ModelError> {
        let mut groups: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in events {
            groups.entry(ep.key.of(e)).or_default().push(e.clone());
        }
        let mut models = BTreeMap::new();
        for (k, evs) in groups {
            if evs.len() >= ep.min_events {
                models.insert(k, Model::fit_events(&evs, params)?);
            }
        }
        Ok(Self {
            params: ep.clone(),
            models,
            fallbacks: BTreeMap::new(),
        })
    }

    pub fn params(&self) -> &EntityParams {
        &self.params
    }

    /// Entities with a model of their own.
    pub fn entities(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// Every model (own and fallback), for reports.
    pub fn all_models(&self) -> impl Iterator<Item = (&str, &Model)> {
        self.models
            .iter()
            .chain(&self.fallbacks)
            .map(|(k, m)| (k.as_str(), m))
    }

    /// The model named `key` (an entity's own, or a fallback), as [`EntityScore::model`]
    /// names it.
    pub fn model(&self, key: &str) -> Option<&Model> {
        self.models.get(key).or_else(|| self.fallbacks.get(key))
    }

    fn route(&self, e: &Event) -> (String, &str, &Model, bool) {
        let entity = self.params.key.of(e);
        if let Some((k, m)) = self.models.get_key_value(&entity) {
            return (entity.clone(), k.as_str(), m, false);
        }
        if self.params.key.uses_user() {
            if let Some((k, m)) = self.fallbacks.get_key_value(&EntityKey::Host.of(e)) {
                return (entity, k.as_str(), m, true);
            }
        }
        match self.fallbacks.get_key_value("*") {
            Some((k, m)) => (entity, k.as_str(), m, true),
            // Every entity had its own model at training time; a new one borrows the
            // first model (deterministic) rather than going unscored.
            None => {
                let (k, m) = self
                    .models
                    .iter()
                    .next()
                    .expect("fit keeps at least one model");
                (entity, k.as_str(), m, true)
            }
        }
    }

    /// Scores one event; `learn` remembers it in the model that scored it.
    pub fn score(&self, e: &Event, learn: bool) -> EntityScore {
        let (entity, key, model, fallback) = self.route(e);
        let mut score = model.score_event(e, learn);
        let control = self.params.controls.apply(e, &mut score);
        EntityScore {
            score,
            entity,
            model: key.to_string(),
            fallback,
            control,
        }
    }

    /// Saves every model under `dir/models/<entity>` and `dir/fallbacks/<name>`, then the
    /// manifest (last, atomically).
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let werr = |source| ModelError::Write {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(werr)?;
        for (k, m) in &self.models {
            m.save(&dir.join("models").join(crate::config::path_component(k)))?;
        }
        for (k, m) in &self.fallbacks {
            m.save(&dir.join("fallbacks").join(crate::config::path_component(k)))?;
        }
        let manifest = Manifest {
            format: "lad-entity-models v1".into(),
            params: self.params.clone(),
            models: self.models.keys().cloned().collect(),
            fallbacks: self.fallbacks.keys().cloned().collect(),
        };
        super::store::write_atomically(&dir.join(MANIFEST), |w| {
            serde_json::to_writer_pretty(w, &manifest).map_err(std::io::Error::other)
        })
        .map_err(werr)
    }

    /// Whether `dir` holds per-entity models (rather than a single model).
    pub fn is_entity_dir(dir: &Path) -> bool {
        dir.join(MANIFEST).is_file()
    }

    /// Loads what [`EntityModels::save`] wrote.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let m = Self::load_any(dir)?;
        if m.models.is_empty() && m.fallbacks.is_empty() {
            return Err(ModelError::Corrupt {
                path: dir.to_path_buf(),
                what: format!("{MANIFEST} lists no model"),
            });
        }
        Ok(m)
    }

    /// Loads what [`EntityModels::fit_own`] fitted and [`EntityModels::save`] wrote (it may
    /// hold no model at all: every entity then falls back to the host).
    pub(super) fn load_own(dir: &Path) -> Result<Self, ModelError> {
        Self::load_any(dir)
    }

    fn load_any(dir: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read(dir.join(MANIFEST)).map_err(|source| ModelError::Read {
            path: dir.join(MANIFEST),
            source,
        })?;
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| ModelError::Corrupt {
            path: dir.to_path_buf(),
            what: format!("{MANIFEST}: {e}"),
        })?;
        let load = |sub: &str, k: &String| {
            Model::load(&dir.join(sub).join(crate::config::path_component(k)))
                .map(|m| (k.clone(), m))
        };
        let models = m
            .models
            .iter()
            .map(|k| load("models", k))
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let fallbacks = m
            .fallbacks
            .iter()
            .map(|k| load("fallbacks", k))
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        Ok(Self {
            params: m.params,
            models,
            fallbacks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Field;

    fn ev(host: &str, user: &str, msg: &str, path: Option<&str>) -> Event {
        let mut e = Event::new(0, 1);
        e.host = Some(host.into());
        e.user = Some(user.into());
        e.message = msg.into();
        if let Some(p) = path {
            e.fields.push(Field {
                name: "path".into(),
                value: FieldValue::Path(p.into()),
            });
        }
        e
    }

    fn training() -> Vec<Event> {
        let mut v = Vec::new();
        for i in 0..300 {
            v.push(ev(
                "web",
                "alice",
                "file read",
                Some(&format!("/srv/www/{}", i % 5)),
            ));
            v.push(ev("web", "bob", "file read", Some("/srv/backup/db.tar")));
        }
        v.push(ev("web", "carol", "file read", Some("/srv/www/1")));
        v
    }

    #[test]
    fn per_user_models_with_fallback_and_controls() {
        let ep = EntityParams {
            key: EntityKey::User,
            controls: Controls {
                ignore_users: vec!["root".into()],
                ignore_files: vec!["/tmp/*".into()],
                abuse_files: vec!["/etc/shadow".into()],
            },
            ..EntityParams::default()
        };
        let m = EntityModels::fit(
            &training(),
            &ModelParams::preset(crate::ensemble::Preset::Security),
            &ep,
        )
        .unwrap();
        assert_eq!(m.entities().collect::<Vec<_>>(), ["alice", "bob"]);
        for (k, model) in m.all_models() {
            assert!(
                model
                    .info()
                    .detectors
                    .contains(&crate::detect::DetectorKind::Fields),
                "{k}: {:?}",
                model.info().detectors
            );
        }
        // Bob reading alice's files is new for bob, ordinary for alice.
        let bob = m.score(&ev("web", "bob", "file read", Some("/srv/www/2")), false);
        let alice = m.score(&ev("web", "alice", "file read", Some("/srv/www/2")), false);
        assert!(
            bob.score.is_anomaly && !alice.score.is_anomaly,
            "{bob:?} {alice:?}"
        );
        assert!(!bob.fallback);
        // Carol has one event: her host's model scores her, and says so.
        let carol = m.score(&ev("web", "carol", "file read", Some("/srv/www/1")), false);
        assert!(carol.fallback && carol.model == "web", "{carol:?}");
        // Controls.
        let shadow = m.score(&ev("web", "alice", "file read", Some("/etc/shadow")), false);
        assert_eq!(
            shadow.control,
            Some(ControlHit::AbuseFile("/etc/shadow".into()))
        );
        assert!(shadow.score.is_anomaly);
        let root = m.score(&ev("web", "root", "weird thing", Some("/x")), false);
        assert!(!root.score.is_anomaly && root.control.is_some());
        let tmp = m.score(&ev("web", "bob", "file read", Some("/tmp/zz")), false);
        assert_eq!(tmp.control, Some(ControlHit::IgnoredFile("/tmp/*".into())));
        // Round trip.
        let dir = tempfile::tempdir().unwrap();
        m.save(dir.path()).unwrap();
        assert!(EntityModels::is_entity_dir(dir.path()));
        let back = EntityModels::load(dir.path()).unwrap();
        let again = back.score(&ev("web", "bob", "file read", Some("/srv/www/2")), false);
        assert_eq!(again.score.anomaly_score, bob.score.anomaly_score);
        assert_eq!(back.params(), m.params());
    }
}
