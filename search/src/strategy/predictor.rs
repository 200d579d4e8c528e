//! Predictor-guided search (in the manner of BRP-NAS and GBDT-NAS): after a few uniform
//! samples, every proposal ranks a large pool of sampled and mutated candidates by an
//! accuracy predictor refitted on every observation, keeps those a latency predictor
//! (also refitted) puts within the latency limit with a margin for its error, and
//! proposes the best. Only the proposal is evaluated; the pool costs predictions only.

use std::collections::HashSet;

use crate::candidate::{Candidate, CandidateSpace};
use crate::predictor::regression::{QuadraticKernelRidge, Ridge, RIDGE_LAMBDAS};
use edgenas_compiler::rng::SeededRng;

use super::proposed::Proposed;
use super::Strategy;

/// Uniform samples in each proposal's pool.
pub const POOL_SAMPLES: usize = 2000;
/// Best feasible candidates observed so far whose mutations join the pool.
pub const POOL_PARENTS: usize = 5;
/// Mutations drawn per parent (NB201 has 24 neighbours; most are drawn).
pub const MUTATIONS_PER_PARENT: usize = 30;
/// Penalty of the accuracy model: quadratic kernel ridge regression on the candidate
/// encoding (every decision and every pair of decisions), picked on the NB201 table.
pub const ACCURACY_LAMBDA: f64 = 3.0;
/// Standard deviations of the latency model's leave-one-out error a candidate's predicted
/// latency must stay below the limit by.
pub const LATENCY_MARGIN_Z: f64 = 0.5;

#[derive(Debug)]
struct Observed {
    candidate: Candidate,
    code: Option<Vec<f64>>,
    /// The primary objective (minimized), feasible or not.
    fitness: Option<f64>,
    latency: Option<f64>,
    feasible: bool,
}

/// The predictor-guided strategy on `objectives[0]` (minimized) under an optional latency
/// limit. Proposals depend only on the RNG stream and the observations, so a journal
/// replays it exactly.
///
/// - The first `initial` proposals are uniform samples (as are proposals while nothing
///   has been evaluated).
/// - Later ones: a pool of [`POOL_SAMPLES`] uniform samples plus [`MUTATIONS_PER_PARENT`]
///   mutations of each of the [`POOL_PARENTS`] best feasible candidates, minus everything
///   proposed before; with a latency limit and at least three measured latencies, the
///   pool is cut to candidates whose predicted latency plus [`LATENCY_MARGIN_Z`] standard
///   errors is within it (when none is, the one predicted fastest is proposed); the
///   candidate of lowest predicted fitness is proposed.
#[derive(Debug)]
pub struct PredictorGuided {
    initial: usize,
    latency_limit: Option<f64>,
    observed: Vec<Observed>,
    proposed: Proposed,
    proposals: usize,
}

impl PredictorGuided {
    /// `initial` below 1 is raised to 1; a limit that is not a positive number is ignored.
    pub fn new(initial: usize, latency_limit: Option<f64>) -> Self {
        PredictorGuided {
            initial: initial.max(1),
            latency_limit: latency_limit.filter(|l| l.is_finite() && *l > 0.0),
            observed: Vec::new(),
            proposed: Proposed::default(),
            proposals: 0,
        }
    }

    fn record(&mut self, candidate: &Candidate, fitness: Option<f64>, latency: Option<f64>, feasible: Option<bool>) {
        let fitness = fitness.filter(|f| f.is_finite());
        let latency = latency.filter(|l| l.is_finite() && *l > 0.0);
        if let Some(o) = self.observed.iter_mut().rev().find(|o| o.candidate == *candidate) {
            o.fitness = o.fitness.or(fitness);
            o.latency = o.latency.or(latency);
            if let Some(f) = feasible {
                o.feasible = f;
            }
            return;
        }
        self.observed.push(Observed {
            candidate: candidate.clone(),
            code: None,
            fitness,
            latency,
            feasible: feasible.unwrap_or(false),
        });
    }
}

impl Strategy for PredictorGuided {
    fn name(&self) -> &'static str {
        "predictor"
    }

    fn propose(&mut self, space: &CandidateSpace<'_>, rng: &mut SeededRng) -> Candidate {
        self.proposals += 1;
        for o in &mut self.observed {
            if o.code.is_none() {
                o.code = space.encode(&o.candidate).ok();
            }
        }
        let scored: Vec<(&Vec<f64>, f64)> =
            self.observed.iter().filter_map(|o| Some((o.code.as_ref()?, o.fitness?))).collect();
        if self.proposals <= self.initial || scored.is_empty() {
            return self.proposed.fresh(|| space.sample(rng));
        }
        let (x, y): (Vec<Vec<f64>>, Vec<f64>) = scored.iter().map(|(c, f)| ((*c).clone(), *f)).unzip();
        let Some(fitness) = QuadraticKernelRidge::fit(&x, &y, ACCURACY_LAMBDA) else {
            return self.proposed.fresh(|| space.sample(rng));
        };
        let latency = self.latency_limit.and_then(|limit| {
            let (x, y): (Vec<Vec<f64>>, Vec<f64>) =
                self.observed.iter().filter_map(|o| Some((o.code.clone()?, o.latency?.ln()))).unzip();
            if y.len() < 3 {
                return None;
            }
            Ridge::fit(&x, &y, &RIDGE_LAMBDAS).map(|model| (model, limit.ln()))
        });

        let mut parents: Vec<&Observed> = self.observed.iter().filter(|o| o.feasible && o.fitness.is_some()).collect();
        parents.sort_by(|a, b| a.fitness.unwrap_or(f64::INFINITY).total_cmp(&b.fitness.unwrap_or(f64::INFINITY)));
        let mut pool: Vec<Candidate> = (0..POOL_SAMPLES).map(|_| space.sample(rng)).collect();
        for parent in parents.iter().take(POOL_PARENTS) {
            for _ in 0..MUTATIONS_PER_PARENT {
                if let Ok(m) = space.mutate(&parent.candidate, rng) {
                    pool.push(m);
                }
            }
        }
        let mut seen = HashSet::new();
        let mut best: Option<(f64, Candidate)> = None;
        let mut fastest: Option<(f64, Candidate)> = None;
        for candidate in pool {
            let key = candidate.key();
            if self.proposed.contains(&key) || !seen.insert(key) {
                continue;
            }
            let Ok(code) = space.encode(&candidate) else { continue };
            if let Some((model, log_limit)) = &latency {
                let log_latency = model.predict(&code);
                if fastest.as_ref().is_none_or(|(l, _)| log_latency < *l) {
                    fastest = Some((log_latency, candidate.clone()));
                }
                if log_latency + LATENCY_MARGIN_Z * model.loo_mse.sqrt() > *log_limit {
                    continue;
                }
            }
            let predicted = fitness.predict(&code);
            if best.as_ref().is_none_or(|(f, _)| predicted < *f) {
                best = Some((predicted, candidate));
            }
        }
        match best.or(fastest) {
            Some((_, c)) => {
                self.proposed.insert(&c);
                c
            }
            None => self.proposed.fresh(|| space.sample(rng)),
        }
    }

    fn measured(&mut self, candidate: &Candidate, objectives: Option<&[f64]>, latency: Option<f64>) {
        self.record(candidate, objectives.and_then(|o| o.first().copied()), latency, None);
    }

    fn observe(&mut self, candidate: &Candidate, objectives: Option<&[f64]>) {
        let feasible = objectives.and_then(|o| o.first()).is_some_and(|f| f.is_finite());
        self.record(candidate, objectives.and_then(|o| o.first().copied()), None, Some(feasible));
    }
}
