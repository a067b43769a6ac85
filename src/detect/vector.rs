//! Vector detectors (LOF, Isolation Forest, autoencoder) behind the [`Detector`] trait.
//!
//! They look at the *kind* of a message: the vector of its template (or of the message
//! itself when it has no known template), fitted on one vector per training template. A raw
//! score becomes a p-value through a [`Calibrator`] fitted on the training kinds' own
//! scores, each kind counted once: these detectors measure how unlike the known kinds a kind
//! is, not how frequent it is (that is the template detector's job). LOF scores a training
//! kind against the *other* kinds, so a kind is never its own nearest neighbour and a kind
//! seen once in training scores as it would if it were new.

use serde::{Deserialize, Serialize};

use super::autoencoder::Autoencoder;
use super::calibrate::Calibrator;
use super::iforest::IsolationForest;
use super::lof::Lof;
use super::{Detector, DetectorKind, Evidence, Features};

/// A raw vector detector with its calibration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Calibrated<D> {
    inner: D,
    cal: Calibrator,
}

impl<D> Calibrated<D> {
    pub fn new(inner: D, training_scores: &[f64]) -> Self {
        Self {
            inner,
            cal: Calibrator::fit(training_scores),
        }
    }
    pub fn inner(&self) -> &D {
        &self.inner
    }
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }
    fn evidence_of(&self, raw: f64) -> Evidence {
        Evidence {
            raw,
            p: self.cal.p_value(raw),
        }
    }
}

impl Detector for Calibrated<Lof> {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Lof
    }
    fn evidence(&self, f: &Features<'_>) -> Evidence {
        if f.vector.is_empty() {
            return Evidence { raw: 1.0, p: 1.0 };
        }
        self.evidence_of(self.inner.score_training(f.vector))
    }
}

impl Detector for Calibrated<IsolationForest> {
    fn kind(&self) -> DetectorKind {
        DetectorKind::IForest
    }
    fn evidence(&self, f: &Features<'_>) -> Evidence {
        if f.vector.is_empty() {
            return Evidence { raw: 0.5, p: 1.0 };
        }
        self.evidence_of(self.inner.score(f.vector))
    }
}

impl Detector for Calibrated<Autoencoder> {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Autoencoder
    }
    fn evidence(&self, f: &Features<'_>) -> Evidence {
        if f.vector.is_empty() {
            return Evidence { raw: 0.0, p: 1.0 };
        }
        self.evidence_of(self.inner.error(f.vector))
    }
}
