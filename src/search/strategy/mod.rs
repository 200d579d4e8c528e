//! Search strategies behind one ask/tell interface. Objective vectors are always
//! *minimized* (accuracy enters as `-accuracy`); the first objective is the primary one
//! for single-objective strategies.

use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::{Genome, SearchSpace};

/// Which strategy; parsed from the CLI and configs (`random`, `evolution`, `nsga2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    Random,
    Evolution,
    Nsga2,
}

/// A search strategy. Deterministic: the sequence of proposals depends only on the RNG
/// stream and on the observations it was given, so replaying a journal reproduces it.
pub trait Strategy {
    fn name(&self) -> &'static str;
    /// The next genome to evaluate.
    fn propose(&mut self, space: &SearchSpace, rng: &mut SeededRng) -> Genome;
    /// The outcome of a genome this strategy proposed: `Some(objectives)` (minimized) when it
    /// was evaluated and satisfies every constraint, `None` when it failed or violated one.
    fn observe(&mut self, genome: &Genome, objectives: Option<&[f64]>);
}
