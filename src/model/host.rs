//! What one service worker scores with: its host's [`Model`] and, when the collection has an
//! `ENTITY_INDEX` other than `host`, one model per entity of that host (per user, per
//! host+user, per source IP).
//!
//! The host model stays the worker's identity (its version, feedback, fleet kinds and
//! threat layer); the entity models only decide scores. An entity with fewer than
//! `min_events` training events has no model of its own and is scored by the host model,
//! and the score says so ([`HostScore::fallback`]), as the osquery system scored new users.
//!
//! Entity models are saved inside the host model's generation (`gen-…/entities/`), so a
//! generation and its entity models are never mixed up; a crash between the two leaves a
//! generation without entities, which [`HostModel::load`] reports as an error (the worker
//! then trains a new model) rather than silently scoring every user with the host model.

use std::path::Path;

use super::entity::{ControlHit, EntityModels, EntityParams};
use super::{Model, ModelError, ModelParams, Score};
use crate::profile::Event;

/// A host model plus optional per-entity models. Derefs to the host model.
#[derive(Debug)]
pub struct HostModel {
    host: Model,
    entities: Option<EntityModels>,
}

/// One event's score and who scored it.
#[derive(Debug, Clone)]
pub struct HostScore {
    pub score: Score,
    /// The event's entity, when models are per entity.
    pub entity: Option<String>,
    /// Whether the entity has too little history and the host model scored it.
    pub fallback: bool,
    /// An `IGNORE_*`/`ABUSE_FILES` control that decided the score.
    pub control: Option<ControlHit>,
}

impl std::ops::Deref for HostModel {
    type Target = Model;
    fn deref(&self) -> &Model {
        &self.host
    }
}

impl From<Model> for HostModel {
    fn from(host: Model) -> Self {
        Self {
            host,
            entities: None,
        }
    }
}

const ENTITIES_DIR: &str = "entities";

impl HostModel {
    /// Fits the host model on all `events` and, with `entity`, a model for each entity with
    /// enough of them (controls are kept either way).
    pub fn fit_events(
        events: &[Event],
        params: &ModelParams,
        entity: Option<&EntityParams>,
    ) -> Result<Self, ModelError> {
        let host = Model::fit_events(events, params)?;
        let entities = match entity {
            Some(ep) => Some(EntityModels::fit_own(events, params, ep)?),
            None => None,
        };
        Ok(Self { host, entities })
    }

    /// The host model.
    pub fn host(&self) -> &Model {
        &self.host
    }

    /// The per-entity models, if any.
    pub fn entities(&self) -> Option<&EntityModels> {
        self.entities.as_ref()
    }

    /// Scores one event with its entity's model (or the host model), then applies the
    /// controls. `learn` remembers it in the model that scored it.
    pub fn score_event(&self, e: &Event, learn: bool) -> (HostScore, &Model) {
        let Some(ents) = &self.entities else {
            let score = self.host.score_event(e, learn);
            return (
                HostScore {
                    score,
                    entity: None,
                    fallback: false,
                    control: None,
                },
                &self.host,
            );
        };
        let entity = ents.params().key.of(e);
        let (model, fallback) = match ents.model(&entity) {
            Some(m) => (m, false),
            None => (&self.host, true),
        };
        let mut score = model.score_event(e, learn);
        let control = ents.params().controls.apply(e, &mut score);
        (
            HostScore {
                score,
                entity: Some(entity),
                fallback,
                control,
            },
            model,
        )
    }

    /// Every model: the host's first, then the entities' (for feedback).
    pub fn all_models(&self) -> impl Iterator<Item = &Model> {
        std::iter::once(&self.host).chain(
            self.entities
                .iter()
                .flat_map(|e| e.all_models().map(|(_, m)| m)),
        )
    }

    /// Replaces the feedback of every model (see [`Model::set_feedback`]).
    pub fn set_feedback(&self, entries: &[super::feedback::FeedbackEntry]) {
        for m in self.all_models() {
            m.set_feedback(entries);
        }
    }

    /// Adds one verdict to every model (see [`Model::add_feedback`]).
    pub fn add_feedback(&self, entry: &super::feedback::FeedbackEntry) {
        for m in self.all_models() {
            m.add_feedback(entry);
        }
    }

    /// Saves the host model as a new generation of `dir`, then the entity models into it.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let gen = self.host.save_generation(dir)?;
        if let Some(e) = &self.entities {
            e.save(&gen.join(ENTITIES_DIR))?;
        }
        Ok(())
    }

    /// Loads what [`HostModel::save`] wrote; `per_entity` requires the entity models.
    /// Also returns the generation's load report.
    pub fn load(dir: &Path, per_entity: bool) -> Result<(Self, super::LoadReport), ModelError> {
        let (host, report) = Model::load_with_report(dir)?;
        let entities = if per_entity {
            Some(EntityModels::load_own(
                &report.generation.join(ENTITIES_DIR),
            )?)
        } else {
            None
        };
        Ok((Self { host, entities }, report))
    }
}
