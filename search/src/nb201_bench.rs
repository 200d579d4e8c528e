//! Search quality measured on the NB201 table: every strategy searches the nb201 space
//! with table lookups as evaluations, under a latency budget on one device, and is scored
//! against the table's true optimum and true Pareto front under that budget.
//!
//! One search = `budget` evaluations. An evaluation looks up the proposed architecture's
//! accuracy and latency in the table; the objectives are `[-accuracy, latency_ms]` and an
//! architecture slower than the latency budget is infeasible (observed as `None`). An
//! architecture evaluated twice costs two evaluations (a real search would pay twice too).
//! Every strategy gets the RNG stream `SeededRng::new(seed)` for seed `0..seeds`, so the
//! strategies start from the same random samples (common random numbers).

use std::collections::HashSet;

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::{Nb201Row, Nb201Space, Nb201Table};
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_runtime::stats;
use serde::Serialize;

use super::candidate::CandidateSpace;
use crate::SearchError;

use super::evaluate::Nb201Dataset;
use super::pareto::hypervolume_2d;
use super::strategy::{make_strategy, StrategyKind, StrategySettings};

/// What to benchmark. Each strategy runs with [`StrategySettings::defaults_for`] and the
/// latency budget as its latency limit.
#[derive(Debug, Clone)]
pub struct Nb201BenchConfig {
    /// A device of [`Nb201Table::devices`].
    pub device: String,
    /// Latency budget in ms (finite, > 0); `None`: the median of the device column.
    pub latency_budget_ms: Option<f64>,
    /// Evaluations per search, at least 1.
    pub budget: usize,
    /// At least one.
    pub strategies: Vec<StrategyKind>,
    /// Searches per strategy, with seeds `0..seeds`; at least 1.
    pub seeds: u64,
    pub dataset: Nb201Dataset,
}

/// One architecture of the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TableArch {
    pub index: usize,
    pub accuracy: f64,
    pub latency_ms: f64,
}

/// The outcome of the benchmark. Accuracies are percentages; hypervolumes are in
/// accuracy-percent × ms against the reference point (accuracy 0, latency = budget), i.e.
/// `[0.0, latency_budget_ms]` in minimized form.
#[derive(Debug, Clone, Serialize)]
pub struct Nb201BenchReport {
    pub device: String,
    pub dataset: String,
    pub latency_budget_ms: f64,
    /// Whether the budget is the default (the median of the device column).
    pub latency_budget_is_median: bool,
    /// Evaluations per search.
    pub budget: usize,
    pub seeds: u64,
    /// Architectures of the table within the latency budget.
    pub feasible_archs: usize,
    /// The most accurate feasible architecture of the whole table.
    pub optimum: TableArch,
    /// Hypervolume of the true front of all feasible table architectures.
    pub true_hypervolume: f64,
    /// Mean accuracy over all feasible table architectures: what one uniformly random
    /// feasible architecture scores on average.
    pub random_feasible_accuracy: f64,
    pub strategies: Vec<StrategyOutcome>,
}

/// One strategy's results over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyOutcome {
    pub strategy: String,
    pub best_accuracy_mean: f64,
    /// The lowest best-found accuracy over the seeds.
    pub best_accuracy_worst: f64,
    pub regret_mean: f64,
    /// The largest regret over the seeds.
    pub regret_worst: f64,
    pub hypervolume_mean: f64,
    /// `hypervolume_mean / true_hypervolume`.
    pub hypervolume_ratio: f64,
    /// `best_accuracy_mean - random_feasible_accuracy`.
    pub improvement_over_random: f64,
    pub feasible_evaluations_mean: f64,
    pub distinct_archs_mean: f64,
    pub runs: Vec<SearchRun>,
}

/// One search (one strategy, one seed).
#[derive(Debug, Clone, Serialize)]
pub struct SearchRun {
    pub seed: u64,
    /// The most accurate feasible architecture evaluated (first found on ties), if any.
    pub best: Option<TableArch>,
    /// `best`'s accuracy, or 0 when nothing feasible was found.
    pub best_accuracy: f64,
    /// Optimum accuracy minus `best_accuracy`.
    pub regret: f64,
    /// Hypervolume of the feasible architectures evaluated.
    pub hypervolume: f64,
    pub feasible_evaluations: usize,
    pub distinct_archs: usize,
}

/// Runs every strategy of `cfg` for every seed on `table`. Errors on an unknown device,
/// a zero budget or seed count, no strategies, a latency budget that is not a positive
/// finite number, or one no architecture of the table meets.
pub fn run_nb201_bench(table: &Nb201Table, cfg: &Nb201BenchConfig) -> Result<Nb201BenchReport, SearchError> {
    let invalid = |reason: String| Err(SearchError::Config(reason));
    let Some(column) = table.devices().iter().position(|d| *d == cfg.device) else {
        return invalid(format!("unknown device `{}` (available: {})", cfg.device, table.devices().join(", ")));
    };
    if cfg.budget == 0 {
        return invalid("the evaluation budget must be at least 1".into());
    }
    if cfg.seeds == 0 {
        return invalid("the number of seeds must be at least 1".into());
    }
    if cfg.strategies.is_empty() {
        return invalid("no strategy to benchmark".into());
    }
    let latency_budget_ms = match cfg.latency_budget_ms {
        Some(ms) => ms,
        None => {
            let column_values: Vec<f64> = table.rows().iter().map(|r| r.latency_ms[column]).collect();
            stats::median(&column_values).unwrap_or(f64::NAN)
        }
    };
    if !(latency_budget_ms.is_finite() && latency_budget_ms > 0.0) {
        return invalid(format!("the latency budget must be a positive number of ms, got {latency_budget_ms}"));
    }
    let arch = |row: &Nb201Row| TableArch {
        index: row.index,
        accuracy: cfg.dataset.accuracy(row),
        latency_ms: row.latency_ms[column],
    };
    let feasible: Vec<TableArch> =
        table.rows().iter().map(arch).filter(|a| a.latency_ms <= latency_budget_ms).collect();
    let Some(optimum) = feasible.iter().copied().reduce(|best, a| if a.accuracy > best.accuracy { a } else { best })
    else {
        let fastest = table.rows().iter().map(|r| r.latency_ms[column]).fold(f64::INFINITY, f64::min);
        return invalid(format!(
            "no architecture meets {latency_budget_ms} ms on {} (the fastest takes {fastest} ms)",
            cfg.device
        ));
    };
    let reference = [0.0, latency_budget_ms];
    let true_front: Vec<[f64; 2]> = feasible.iter().map(|a| [-a.accuracy, a.latency_ms]).collect();
    let true_hypervolume = hypervolume_2d(&true_front, reference);
    let random_feasible_accuracy = feasible.iter().map(|a| a.accuracy).sum::<f64>() / feasible.len() as f64;

    let mut strategies = Vec::with_capacity(cfg.strategies.len());
    for &kind in &cfg.strategies {
        let mut runs = Vec::with_capacity(cfg.seeds as usize);
        for seed in 0..cfg.seeds {
            let found = search(table, kind, seed, cfg.budget, latency_budget_ms, |row| {
                let a = arch(row);
                (a, a.latency_ms <= latency_budget_ms)
            })
            .map_err(|reason| SearchError::Config(format!("{kind} search with seed {seed}: {reason}")))?;
            let best = found.iter().filter(|(_, ok)| *ok).map(|(a, _)| *a).reduce(|best, a| {
                if a.accuracy > best.accuracy {
                    a
                } else {
                    best
                }
            });
            let best_accuracy = best.map_or(0.0, |a| a.accuracy);
            let front: Vec<[f64; 2]> =
                found.iter().filter(|(_, ok)| *ok).map(|(a, _)| [-a.accuracy, a.latency_ms]).collect();
            runs.push(SearchRun {
                seed,
                best,
                best_accuracy,
                regret: optimum.accuracy - best_accuracy,
                hypervolume: hypervolume_2d(&front, reference),
                feasible_evaluations: front.len(),
                distinct_archs: found.iter().map(|(a, _)| a.index).collect::<HashSet<_>>().len(),
            });
        }
        let mean = |f: fn(&SearchRun) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
        let best_accuracy_mean = mean(|r| r.best_accuracy);
        let hypervolume_mean = mean(|r| r.hypervolume);
        strategies.push(StrategyOutcome {
            strategy: kind.to_string(),
            best_accuracy_mean,
            best_accuracy_worst: runs.iter().map(|r| r.best_accuracy).fold(f64::INFINITY, f64::min),
            regret_mean: mean(|r| r.regret),
            regret_worst: runs.iter().map(|r| r.regret).fold(f64::NEG_INFINITY, f64::max),
            hypervolume_mean,
            hypervolume_ratio: hypervolume_mean / true_hypervolume,
            improvement_over_random: best_accuracy_mean - random_feasible_accuracy,
            feasible_evaluations_mean: mean(|r| r.feasible_evaluations as f64),
            distinct_archs_mean: mean(|r| r.distinct_archs as f64),
            runs,
        });
    }
    Ok(Nb201BenchReport {
        device: cfg.device.clone(),
        dataset: cfg.dataset.to_string(),
        latency_budget_ms,
        latency_budget_is_median: cfg.latency_budget_ms.is_none(),
        budget: cfg.budget,
        seeds: cfg.seeds,
        feasible_archs: feasible.len(),
        optimum,
        true_hypervolume,
        random_feasible_accuracy,
        strategies,
    })
}

/// One search of `evaluations` table lookups; returns each evaluated architecture with
/// whether it was feasible. Genomes are looked up by arch string, so a table whose index
/// order differs from the shipped one is read correctly.
fn search(
    table: &Nb201Table,
    kind: StrategyKind,
    seed: u64,
    evaluations: usize,
    latency_limit: f64,
    evaluate: impl Fn(&Nb201Row) -> (TableArch, bool),
) -> Result<Vec<(TableArch, bool)>, String> {
    let nb201 = SearchSpace::Nb201(Nb201Space);
    let space = CandidateSpace::new(&nb201, &[Precision::F32]).map_err(|e| e.to_string())?;
    let settings = StrategySettings { latency_limit: Some(latency_limit), ..StrategySettings::defaults_for(kind) };
    let mut strategy = make_strategy(kind, &settings);
    let mut rng = SeededRng::new(seed);
    let mut found = Vec::with_capacity(evaluations);
    for _ in 0..evaluations {
        let candidate = strategy.propose(&space, &mut rng);
        let genome = &candidate.genome;
        let Genome::Nb201(g) = genome else {
            return Err(format!("proposed a genome outside nb201: {}", genome.to_json()));
        };
        let arch = g.parse_arch().map_err(|e| format!("proposed genome {}: {e}", genome.to_json()))?;
        let row = &table.rows()[table.index_of(&arch)];
        let (a, feasible) = evaluate(row);
        let objectives = [-a.accuracy, a.latency_ms];
        strategy.measured(&candidate, Some(&objectives), Some(a.latency_ms));
        strategy.observe(&candidate, feasible.then_some(&objectives[..]));
        found.push((a, feasible));
    }
    Ok(found)
}
