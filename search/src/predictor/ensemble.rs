//! The few-shot latency model: an ensemble of small ridge regressions, each over one group
//! of input columns (one reference device's latency, one prior prediction, the IR
//! features), weighted by how well each predicts the measured samples it was fitted on
//! when each sample is left out. With 10 samples a one-column linear map from a similar
//! device is what generalizes; with hundreds the full feature ridge takes over by itself.

use serde::{Deserialize, Serialize};

use super::regression::{Ridge, RIDGE_LAMBDAS};

/// What a member's ridge regression predicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberScale {
    /// The log-latency, from columns that are logs of sizes (a power law).
    #[default]
    Log,
    /// The latency itself, from columns that are sizes: an additive cost model (each
    /// layer family's MACs and bytes at their own cost), clamped to a tenth of the
    /// fastest training latency before the log is taken.
    Linear,
}

/// One member: a ridge regression over some columns of the input row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleMember {
    /// What the columns are (for reports).
    pub name: String,
    pub columns: Vec<usize>,
    #[serde(default)]
    pub scale: MemberScale,
    /// For [`MemberScale::Linear`]: the smallest prediction taken (a tenth of the fastest
    /// training latency).
    #[serde(default)]
    pub floor: f64,
    pub ridge: Ridge,
    /// Normalized: the weights of all members sum to 1.
    pub weight: f64,
}

/// A prediction of log-latency with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Predicted natural log of the latency.
    pub log_mean: f64,
    /// Standard deviation of the log prediction: the members' weighted spread and their
    /// weighted leave-one-out error.
    pub log_std: f64,
}

impl Prediction {
    /// The predicted latency, in the unit it was trained in.
    pub fn value(&self) -> f64 {
        self.log_mean.exp()
    }

    /// The latency `z` standard deviations above the prediction.
    pub fn upper(&self, z: f64) -> f64 {
        (self.log_mean + z * self.log_std).exp()
    }

    /// The latency `z` standard deviations below the prediction.
    pub fn lower(&self, z: f64) -> f64 {
        (self.log_mean - z * self.log_std).exp()
    }
}

/// A member group: a name, the input columns it reads and what it predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnGroup {
    pub name: String,
    pub columns: Vec<usize>,
    pub scale: MemberScale,
}

impl ColumnGroup {
    /// A group predicting the log-latency.
    pub fn log(name: impl Into<String>, columns: Vec<usize>) -> Self {
        ColumnGroup { name: name.into(), columns, scale: MemberScale::Log }
    }

    /// A group predicting the latency itself (an additive cost model).
    pub fn linear(name: impl Into<String>, columns: Vec<usize>) -> Self {
        ColumnGroup { name: name.into(), columns, scale: MemberScale::Linear }
    }
}

impl EnsembleMember {
    fn predict_log(&self, row: &[f64]) -> f64 {
        let x: Vec<f64> = self.columns.iter().map(|&c| row.get(c).copied().unwrap_or(f64::NAN)).collect();
        let p = self.ridge.predict(&x);
        match self.scale {
            MemberScale::Log => p,
            MemberScale::Linear => p.max(self.floor).ln(),
        }
    }
}

/// The weighted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyEnsemble {
    pub members: Vec<EnsembleMember>,
    /// Length of the input rows.
    pub inputs: usize,
}

/// Added to every member's leave-one-out error before weighting (in squared log units):
/// members that interpolate the samples exactly do not take all the weight.
const LOO_FLOOR: f64 = 1e-4;

impl LatencyEnsemble {
    /// Fits one member per group on `rows` and `log_latency` (natural log); a group of
    /// more columns than rows is regularized by its penalty, picked by leave-one-out error
    /// like every other. `None` with fewer than three rows or no usable group.
    pub fn fit(rows: &[Vec<f64>], log_latency: &[f64], groups: &[ColumnGroup]) -> Option<Self> {
        let n = log_latency.len();
        if n < 3 || rows.len() != n {
            return None;
        }
        let inputs = rows[0].len();
        let mut members = Vec::new();
        for group in groups {
            if group.columns.is_empty() || group.columns.iter().any(|&c| c >= inputs) {
                continue;
            }
            let x: Vec<Vec<f64>> = rows.iter().map(|r| group.columns.iter().map(|&c| r[c]).collect()).collect();
            if x.iter().flatten().any(|v| !v.is_finite()) {
                continue;
            }
            let (ridge, floor) = match group.scale {
                MemberScale::Log => (Ridge::fit(&x, log_latency, &RIDGE_LAMBDAS), 0.0),
                MemberScale::Linear => {
                    let latency: Vec<f64> = log_latency.iter().map(|l| l.exp()).collect();
                    let floor = latency.iter().copied().fold(f64::INFINITY, f64::min) / 10.0;
                    let loss = |p: f64, row: usize| (p.max(floor).ln() - log_latency[row]).powi(2);
                    (Ridge::fit_scored(&x, &latency, &RIDGE_LAMBDAS, &loss), floor)
                }
            };
            if let Some(ridge) = ridge {
                members.push(EnsembleMember {
                    name: group.name.clone(),
                    columns: group.columns.clone(),
                    scale: group.scale,
                    floor,
                    ridge,
                    weight: 0.0,
                });
            }
        }
        let raw: Vec<f64> = members.iter().map(|m| 1.0 / (m.ridge.loo_mse + LOO_FLOOR).powi(2)).collect();
        let total: f64 = raw.iter().sum();
        if members.is_empty() || !(total > 0.0 && total.is_finite()) {
            return None;
        }
        for (m, w) in members.iter_mut().zip(raw) {
            m.weight = w / total;
        }
        Some(LatencyEnsemble { members, inputs })
    }

    /// Predicts one row (of the same columns as the training rows).
    pub fn predict(&self, row: &[f64]) -> Prediction {
        let predictions: Vec<f64> = self.members.iter().map(|m| m.predict_log(row)).collect();
        let log_mean: f64 = self.members.iter().zip(&predictions).map(|(m, p)| m.weight * p).sum();
        let spread: f64 = self.members.iter().zip(&predictions).map(|(m, p)| m.weight * (p - log_mean).powi(2)).sum();
        let loo: f64 = self.members.iter().map(|m| m.weight * m.ridge.loo_mse).sum();
        Prediction { log_mean, log_std: (spread + loo).sqrt() }
    }
}

/// Picks `k` of `scores.len()` rows spread over a cost score: the rows sorted by score are
/// cut into `k` strata of equal size and one row is drawn from each. Deterministic per
/// `rng`; returns fewer when there are fewer rows.
pub fn stratified_sample(scores: &[f64], k: usize, rng: &mut edgenas_compiler::rng::SeededRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let n = order.len();
    let k = k.min(n);
    (0..k)
        .map(|s| {
            let (lo, hi) = (s * n / k, (s + 1) * n / k);
            order[lo + rng.below(hi - lo)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgenas_compiler::rng::SeededRng;

    #[test]
    fn the_member_that_explains_the_samples_takes_the_weight() {
        let rows: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64, ((i * 5) % 7) as f64]).collect();
        let y: Vec<f64> = rows.iter().map(|r| 0.5 + 0.3 * r[0]).collect();
        let groups = [ColumnGroup::log("good", vec![0]), ColumnGroup::log("noise", vec![1])];
        let e = LatencyEnsemble::fit(&rows, &y, &groups).unwrap();
        assert!(e.members[0].weight > 0.99, "{:?}", e.members);
        let p = e.predict(&[20.0, 3.0]);
        assert!((p.log_mean - 6.5).abs() < 0.05 && p.log_std < 0.1);
        assert!(p.lower(2.0) < p.value() && p.value() < p.upper(2.0));
    }

    #[test]
    fn an_additive_cost_model_is_fitted_in_linear_units() {
        let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![(i % 5) as f64 + 1.0, ((i * 3) % 7) as f64]).collect();
        let y: Vec<f64> = rows.iter().map(|r| (2.0 * r[0] + 0.5 * r[1] + 1.0).ln()).collect();
        let e = LatencyEnsemble::fit(
            &rows,
            &y,
            &[ColumnGroup::linear("sum", vec![0, 1]), ColumnGroup::log("first", vec![0])],
        )
        .unwrap();
        assert!(e.members[0].weight > 0.99, "{:?}", e.members);
        assert!((e.predict(&[10.0, 10.0]).value() - 26.0).abs() < 0.1);
    }

    #[test]
    fn stratified_samples_cover_the_score_range() {
        let scores: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let picked = stratified_sample(&scores, 10, &mut SeededRng::new(4));
        let mut values: Vec<f64> = picked.iter().map(|&i| scores[i]).collect();
        values.sort_by(f64::total_cmp);
        for (s, v) in values.iter().enumerate() {
            assert!(*v >= (s * 100) as f64 && *v < ((s + 1) * 100) as f64, "stratum {s}: {v}");
        }
    }
}
