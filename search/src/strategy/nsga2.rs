//! NSGA-II, Deb et al., "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II"
//! (IEEE TEC 2002), over any number of minimized objectives.

use std::cmp::Ordering;

use crate::candidate::{Candidate, CandidateSpace};
use edgenas_compiler::rng::SeededRng;

use super::proposed::Proposed;
use super::Strategy;
use crate::pareto::{crowding_distance, non_dominated_sort};

/// NSGA-II as an ask/tell strategy.
///
/// - While there are no parents (the first `population` observations have not all
///   arrived) proposals are uniform samples.
/// - Afterwards each proposal mutates ([`CandidateSpace::mutate`]) the winner of a binary
///   tournament over the parents: two drawn uniformly with replacement, the lower rank
///   wins, then the larger crowding distance, then the first drawn. Rank and crowding
///   are those within the current parents.
/// - Observations collect as offspring; once `population` have arrived, parents ∪
///   offspring go through [`select_survivors`] and the survivors become the parents.
///   (The first generation has no parents, so its `population` random members all survive.)
///
/// Failed or infeasible genomes (`None`, or a NaN objective) rank behind every feasible one.
/// Candidates already proposed are re-drawn (see [`super::DUPLICATE_RETRIES`]).
#[derive(Debug)]
pub struct Nsga2 {
    population: usize,
    parents: Vec<Member>,
    ranking: Vec<(usize, f64)>,
    offspring: Vec<Member>,
    proposed: Proposed,
}

#[derive(Debug, Clone)]
struct Member {
    genome: Candidate,
    objectives: Option<Vec<f64>>,
}

impl Nsga2 {
    /// `population` below 1 is raised to 1.
    pub fn new(population: usize) -> Self {
        Nsga2 {
            population: population.max(1),
            parents: Vec::new(),
            ranking: Vec::new(),
            offspring: Vec::new(),
            proposed: Proposed::default(),
        }
    }

    /// The current parent population, best first (rank, then crowding distance).
    pub fn parents(&self) -> impl ExactSizeIterator<Item = &Candidate> + '_ {
        self.parents.iter().map(|m| &m.genome)
    }

    fn tournament(&self, rng: &mut SeededRng) -> Candidate {
        let a = rng.below(self.parents.len());
        let b = rng.below(self.parents.len());
        let winner = if crowded_order(self.ranking[b], self.ranking[a]) == Ordering::Less { b } else { a };
        self.parents[winner].genome.clone()
    }
}

impl Strategy for Nsga2 {
    fn name(&self) -> &'static str {
        "nsga2"
    }

    fn propose(&mut self, space: &CandidateSpace<'_>, rng: &mut SeededRng) -> Candidate {
        if self.parents.is_empty() {
            return self.proposed.fresh(|| space.sample(rng));
        }
        let parent = self.tournament(rng);
        self.proposed.fresh(|| space.mutate(&parent, rng).unwrap_or_else(|_| space.sample(rng)))
    }

    fn observe(&mut self, genome: &Candidate, objectives: Option<&[f64]>) {
        let objectives = objectives.filter(|o| !o.iter().any(|v| v.is_nan())).map(<[f64]>::to_vec);
        self.offspring.push(Member { genome: genome.clone(), objectives });
        if self.offspring.len() < self.population {
            return;
        }
        let mut pool = std::mem::take(&mut self.parents);
        pool.append(&mut self.offspring);
        let objectives: Vec<Option<Vec<f64>>> = pool.iter().map(|m| m.objectives.clone()).collect();
        self.parents = select_survivors(&objectives, self.population).into_iter().map(|i| pool[i].clone()).collect();
        let objectives: Vec<Option<Vec<f64>>> = self.parents.iter().map(|m| m.objectives.clone()).collect();
        self.ranking = rank_and_crowding(&objectives);
    }
}

/// NSGA-II environmental selection: the indices of the `keep` members of `objectives`
/// that survive, best first. Feasible members (`Some`) are taken front by front
/// ([`non_dominated_sort`]); the front that does not fit whole is cut by descending
/// crowding distance ([`crowding_distance`] within that front), ties to the lower index.
/// Infeasible members (`None`) come after every feasible one, in index order. Returns all
/// indices when `keep >= objectives.len()`.
pub fn select_survivors(objectives: &[Option<Vec<f64>>], keep: usize) -> Vec<usize> {
    let ranking = rank_and_crowding(objectives);
    let mut order: Vec<usize> = (0..objectives.len()).collect();
    order.sort_by(|&a, &b| crowded_order(ranking[a], ranking[b]));
    order.truncate(keep);
    order
}

/// (rank, crowding distance) of each member: feasible members rank by their front (0 is the
/// first) with crowding within that front; infeasible ones get rank = number of fronts and
/// crowding 0.
fn rank_and_crowding(objectives: &[Option<Vec<f64>>]) -> Vec<(usize, f64)> {
    let feasible: Vec<usize> = (0..objectives.len()).filter(|&i| objectives[i].is_some()).collect();
    let points: Vec<Vec<f64>> = feasible.iter().filter_map(|&i| objectives[i].clone()).collect();
    let fronts = non_dominated_sort(&points);
    let mut ranking = vec![(fronts.len(), 0.0); objectives.len()];
    for (rank, front) in fronts.iter().enumerate() {
        for (&k, crowding) in front.iter().zip(crowding_distance(&points, front)) {
            ranking[feasible[k]] = (rank, crowding);
        }
    }
    ranking
}

/// NSGA-II's crowded-comparison order: lower rank first, then larger crowding distance.
fn crowded_order(a: (usize, f64), b: (usize, f64)) -> Ordering {
    a.0.cmp(&b.0).then(b.1.total_cmp(&a.1))
}
