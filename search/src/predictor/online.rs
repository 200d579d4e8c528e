//! The latency predictor a search refits as its measurements arrive
//! (`--latency predict-then-measure`): inputs are the candidate's IR features and its
//! encoding in the space, the ensemble is refitted on every measurement.

use edgenas_compiler::cost::ArchFeatures;

use super::ensemble::{ColumnGroup, LatencyEnsemble, Prediction};

/// Measurements before the first prediction: until then every candidate is measured.
pub const WARM_UP_MEASUREMENTS: usize = 8;

/// A candidate is measured unless its latency `OPTIMISM_Z` standard deviations below the
/// prediction (its optimistic latency) already misses the limit or is dominated by the
/// measured front: a candidate whose latency the predictor overestimates by up to 1.5
/// standard errors is still measured. On the NB201 table (random strategy, 150
/// candidates, Pixel 3 under 10.68 ms) 1.5 measures 45 candidates for the front of
/// measuring all 150 (hypervolume ratio 0.999); 2.0 measures 68 for the same front.
pub const OPTIMISM_Z: f64 = 1.5;

/// The online predictor of one run.
#[derive(Debug, Clone)]
pub struct OnlinePredictor {
    groups: Vec<ColumnGroup>,
    rows: Vec<Vec<f64>>,
    log_latency: Vec<f64>,
    model: Option<LatencyEnsemble>,
}

impl OnlinePredictor {
    /// A predictor over rows of [`ArchFeatures::values`] followed by `encoding_len`
    /// encoding columns.
    pub fn new(encoding_len: usize) -> Self {
        OnlinePredictor { groups: feature_groups(encoding_len), rows: Vec::new(), log_latency: Vec::new(), model: None }
    }

    /// Adds a measurement (a positive latency) and refits.
    pub fn add(&mut self, row: Vec<f64>, latency: f64) {
        if !(latency > 0.0 && latency.is_finite()) || row.iter().any(|v| !v.is_finite()) {
            return;
        }
        self.rows.push(row);
        self.log_latency.push(latency.ln());
        if self.rows.len() >= WARM_UP_MEASUREMENTS {
            self.model = LatencyEnsemble::fit(&self.rows, &self.log_latency, &self.groups);
        }
    }

    pub fn measurements(&self) -> usize {
        self.rows.len()
    }

    /// The prediction for `row`, once [`WARM_UP_MEASUREMENTS`] measurements are in.
    pub fn predict(&self, row: &[f64]) -> Option<Prediction> {
        self.model.as_ref().map(|m| m.predict(row)).filter(|p| p.log_mean.is_finite() && p.log_std.is_finite())
    }
}

/// The ensemble's groups over rows of [`ArchFeatures::values`] followed by `extra` other
/// columns (an encoding, priors): the six headline features alone, the log features (a
/// power law), the linear features (an additive cost model), and with `extra` columns
/// those alone and everything together.
pub fn feature_groups(extra: usize) -> Vec<ColumnGroup> {
    let names = ArchFeatures::names();
    let base = names.len();
    let mut groups: Vec<ColumnGroup> = (0..6).map(|c| ColumnGroup::log(names[c].clone(), vec![c])).collect();
    groups.push(ColumnGroup::log("ir-features", ArchFeatures::log_columns().collect()));
    groups.push(ColumnGroup::linear("additive", ArchFeatures::linear_columns().collect()));
    if extra > 0 {
        groups.push(ColumnGroup::log("extra", (base..base + extra).collect()));
        let mut all: Vec<usize> = ArchFeatures::log_columns().collect();
        all.extend(base..base + extra);
        groups.push(ColumnGroup::log("ir-features+extra", all));
    }
    groups
}
