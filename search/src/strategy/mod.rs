//! Search strategies behind one ask/tell interface. Objective vectors are always
//! *minimized* (accuracy enters as `-accuracy`); the first objective is the primary one
//! for single-objective strategies.

mod evolution;
mod nsga2;
mod predictor;
mod proposed;
mod random;

pub use evolution::RegularizedEvolution;
pub use nsga2::{select_survivors, Nsga2};
pub use predictor::{
    PredictorGuided, ACCURACY_LAMBDA, LATENCY_MARGIN_Z, MUTATIONS_PER_PARENT, POOL_PARENTS, POOL_SAMPLES,
};
pub use proposed::DUPLICATE_RETRIES;
pub use random::RandomSearch;

use super::candidate::{Candidate, CandidateSpace};
use edgenas_compiler::names::{parse_name, UnknownName};
use edgenas_compiler::rng::SeededRng;

/// Which strategy; parsed from the CLI and configs (`random`, `evolution`, `nsga2`,
/// `predictor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[derive(strum::EnumString, strum::Display, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum StrategyKind {
    Random,
    Evolution,
    Nsga2,
    Predictor,
}

impl StrategyKind {
    /// Parses a strategy name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Self, UnknownName> {
        parse_name("strategy", name)
    }
}

/// A search strategy. Deterministic: the sequence of proposals depends only on the RNG
/// stream and on the observations it was given, so replaying a journal reproduces it.
pub trait Strategy {
    fn name(&self) -> &'static str;
    /// The next candidate to evaluate.
    fn propose(&mut self, space: &CandidateSpace<'_>, rng: &mut SeededRng) -> Candidate;
    /// The outcome of a candidate this strategy proposed: `Some(objectives)` (minimized) when it
    /// was evaluated and satisfies every constraint, `None` when it failed or violated one.
    fn observe(&mut self, candidate: &Candidate, objectives: Option<&[f64]>);
    /// Everything measured about a candidate this strategy proposed, feasible or not, told
    /// just before [`Strategy::observe`]: its objectives (minimized) when it was evaluated
    /// and its latency (the source's median) when it was measured. Strategies that model
    /// the space learn from infeasible candidates too; the others ignore it.
    fn measured(&mut self, _candidate: &Candidate, _objectives: Option<&[f64]>, _latency: Option<f64>) {}
}

/// Hyper-parameters of the strategies ([`RandomSearch`] has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StrategySettings {
    /// Population size: the aging window of [`RegularizedEvolution`], the parent population
    /// of [`Nsga2`]. It is also the number of initial uniform samples.
    pub population: usize,
    /// Members drawn (with replacement) per tournament of [`RegularizedEvolution`].
    pub sample_size: usize,
    /// The latency limit candidates must meet, in the latency source's unit, when the run
    /// has one: [`PredictorGuided`] proposes only candidates it predicts within it.
    pub latency_limit: Option<f64>,
}

impl StrategySettings {
    /// The defaults of one strategy: evolution 32 / 8, nsga2 24 (sample size unused, 8),
    /// predictor 20 initial samples (sample size unused, 8), random 32 / 8 (both unused);
    /// no latency limit.
    pub fn defaults_for(kind: StrategyKind) -> Self {
        match kind {
            StrategyKind::Nsga2 => StrategySettings { population: 24, ..StrategySettings::default() },
            StrategyKind::Predictor => StrategySettings { population: 30, ..StrategySettings::default() },
            StrategyKind::Random | StrategyKind::Evolution => StrategySettings::default(),
        }
    }
}

impl Default for StrategySettings {
    /// Regularized evolution's defaults: population 32, sample size 8. Use
    /// [`StrategySettings::defaults_for`] for another strategy's own defaults.
    fn default() -> Self {
        StrategySettings { population: 32, sample_size: 8, latency_limit: None }
    }
}

/// A fresh strategy of `kind`; settings it has no use for are ignored.
pub fn make_strategy(kind: StrategyKind, settings: &StrategySettings) -> Box<dyn Strategy> {
    match kind {
        StrategyKind::Random => Box::new(RandomSearch::new()),
        StrategyKind::Evolution => Box::new(RegularizedEvolution::new(settings.population, settings.sample_size)),
        StrategyKind::Nsga2 => Box::new(Nsga2::new(settings.population)),
        StrategyKind::Predictor => Box::new(PredictorGuided::new(settings.population, settings.latency_limit)),
    }
}
