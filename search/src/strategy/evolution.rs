//! Regularized (aging) evolution, Real et al., "Regularized Evolution for Image Classifier
//! Architecture Search" (AAAI 2019).

use std::collections::VecDeque;

use crate::candidate::{Candidate, CandidateSpace};
use edgenas_compiler::rng::SeededRng;

use super::proposed::Proposed;
use super::Strategy;

/// Single-objective aging evolution on `objectives[0]` (minimized).
///
/// - The first `population` proposals are uniform samples.
/// - Later ones mutate (one decision, [`CandidateSpace::mutate`]) the member with the lowest
///   fitness among `sample_size` members drawn uniformly with replacement from the current
///   population (ties go to the first drawn). While the population is empty (observations
///   still outstanding, or none feasible yet) the proposal is a uniform sample.
/// - [`Strategy::observe`] appends a feasible genome as the youngest member and removes the
///   oldest while there are more than `population`. Failed or infeasible genomes (and
///   NaN fitness) are dropped: they never enter the population, so they neither take a slot
///   nor age a feasible member out.
///
/// Candidates already proposed are re-drawn (see [`super::DUPLICATE_RETRIES`]).
#[derive(Debug)]
pub struct RegularizedEvolution {
    population: usize,
    sample_size: usize,
    members: VecDeque<(Candidate, f64)>,
    proposals: usize,
    proposed: Proposed,
}

impl RegularizedEvolution {
    /// `population` and `sample_size` below 1 are raised to 1.
    pub fn new(population: usize, sample_size: usize) -> Self {
        RegularizedEvolution {
            population: population.max(1),
            sample_size: sample_size.max(1),
            members: VecDeque::new(),
            proposals: 0,
            proposed: Proposed::default(),
        }
    }

    /// The current population with its fitness, oldest first.
    pub fn members(&self) -> impl ExactSizeIterator<Item = (&Candidate, f64)> + '_ {
        self.members.iter().map(|(g, f)| (g, *f))
    }

    fn tournament(&self, rng: &mut SeededRng) -> Candidate {
        let mut best = &self.members[rng.below(self.members.len())];
        for _ in 1..self.sample_size {
            let candidate = &self.members[rng.below(self.members.len())];
            if candidate.1 < best.1 {
                best = candidate;
            }
        }
        best.0.clone()
    }
}

impl Strategy for RegularizedEvolution {
    fn name(&self) -> &'static str {
        "evolution"
    }

    fn propose(&mut self, space: &CandidateSpace<'_>, rng: &mut SeededRng) -> Candidate {
        let warm_up = self.proposals < self.population || self.members.is_empty();
        self.proposals += 1;
        if warm_up {
            return self.proposed.fresh(|| space.sample(rng));
        }
        let parent = self.tournament(rng);
        self.proposed.fresh(|| space.mutate(&parent, rng).unwrap_or_else(|_| space.sample(rng)))
    }

    fn observe(&mut self, genome: &Candidate, objectives: Option<&[f64]>) {
        let Some(&fitness) = objectives.and_then(|o| o.first()) else { return };
        if fitness.is_nan() {
            return;
        }
        self.members.push_back((genome.clone(), fitness));
        while self.members.len() > self.population {
            self.members.pop_front();
        }
    }
}
