//! Uniform random search.

use crate::candidate::{Candidate, CandidateSpace};
use edgenas_compiler::rng::SeededRng;

use super::proposed::Proposed;
use super::Strategy;

/// Proposes uniform samples of the space and ignores every observation. Skips genomes it
/// already proposed (see [`super::DUPLICATE_RETRIES`]).
#[derive(Debug, Default)]
pub struct RandomSearch {
    proposed: Proposed,
}

impl RandomSearch {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Strategy for RandomSearch {
    fn name(&self) -> &'static str {
        "random"
    }

    fn propose(&mut self, space: &CandidateSpace<'_>, rng: &mut SeededRng) -> Candidate {
        self.proposed.fresh(|| space.sample(rng))
    }

    fn observe(&mut self, _genome: &Candidate, _objectives: Option<&[f64]>) {}
}
