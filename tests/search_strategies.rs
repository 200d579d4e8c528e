//! The search strategies through their ask/tell interface: reproducibility, NSGA-II's
//! environmental selection, regularized evolution's aging window.

use edgenas_compiler::names::Named;
use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::{Nb201Genome, Nb201Space, Nb201Table};
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_search::candidate::{Candidate, CandidateSpace};
use edgenas_search::strategy::{
    make_strategy, select_survivors, Nsga2, RandomSearch, RegularizedEvolution, Strategy, StrategyKind,
    StrategySettings,
};
use strum::VariantArray;

const F32: &[Precision] = &[Precision::F32];

const PIXEL3_BUDGET_MS: f64 = 10.0;

fn nb201() -> SearchSpace {
    SearchSpace::Nb201(Nb201Space)
}

fn genome(index: i64) -> Candidate {
    Candidate::f32(Genome::Nb201(Nb201Genome::from_index(index).unwrap()))
}

/// `[-cifar10 accuracy, pixel3 latency]` from the shipped table; slower than
/// `PIXEL3_BUDGET_MS` is infeasible.
fn table_objectives(g: &Candidate) -> Option<Vec<f64>> {
    let Genome::Nb201(g) = &g.genome else { panic!("not an nb201 genome") };
    let table = Nb201Table::builtin();
    let latency = table.latency_ms(g.index, "pixel3").unwrap();
    (latency <= PIXEL3_BUDGET_MS).then(|| vec![-table.row(g.index).unwrap().cifar10_acc, latency])
}

/// `n` proposals of `strategy`, each observed before the next.
fn run(strategy: &mut dyn Strategy, seed: u64, n: usize) -> Vec<Candidate> {
    let arch = nb201();
    let space = CandidateSpace::new(&arch, F32).unwrap();
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|_| {
            let g = strategy.propose(&space, &mut rng);
            strategy.observe(&g, table_objectives(&g).as_deref());
            g
        })
        .collect()
}

fn run_kind(kind: StrategyKind, seed: u64, n: usize) -> Vec<Candidate> {
    run(make_strategy(kind, &StrategySettings::defaults_for(kind)).as_mut(), seed, n)
}

fn edges_changed(a: &Candidate, b: &Candidate) -> usize {
    let (Genome::Nb201(a), Genome::Nb201(b)) = (&a.genome, &b.genome) else { panic!("not nb201 genomes") };
    let (a, b) = (a.parse_arch().unwrap(), b.parse_arch().unwrap());
    a.ops.iter().zip(&b.ops).filter(|(x, y)| x != y).count()
}

#[test]
fn every_strategy_is_reproducible_from_its_seed() {
    for kind in StrategyKind::VARIANTS.iter().copied() {
        let a = run_kind(kind, 3, 120);
        assert_eq!(a, run_kind(kind, 3, 120), "{kind}: same seed, different proposals");
        assert_ne!(a, run_kind(kind, 4, 120), "{kind}: different seeds, same proposals");
        assert_eq!(make_strategy(kind, &StrategySettings::default()).name(), kind.name());
    }
}

#[test]
fn strategies_avoid_proposing_a_genome_twice() {
    for kind in StrategyKind::VARIANTS.iter().copied() {
        let proposals = run_kind(kind, 1, 150);
        let distinct: std::collections::HashSet<String> = proposals.iter().map(Candidate::key).collect();
        assert_eq!(distinct.len(), proposals.len(), "{kind}");
    }
}

#[test]
fn evolution_starts_random_then_mutates_population_members() {
    let settings = StrategySettings { population: 10, sample_size: 3, latency_limit: None };
    let arch = nb201();
    let space = CandidateSpace::new(&arch, F32).unwrap();
    let mut rng = SeededRng::new(5);
    let mut evolution = RegularizedEvolution::new(settings.population, settings.sample_size);
    let random = run(&mut RandomSearch::new(), 5, 10);
    for (i, expected) in random.iter().enumerate() {
        let g = evolution.propose(&space, &mut rng);
        assert_eq!(&g, expected, "warm-up proposal {i} is not the uniform sample");
        evolution.observe(&g, table_objectives(&g).as_deref());
    }
    for _ in 0..50 {
        let members: Vec<Candidate> = evolution.members().map(|(g, _)| g.clone()).collect();
        let g = evolution.propose(&space, &mut rng);
        assert!(members.iter().any(|m| edges_changed(m, &g) == 1), "{} is no mutation of a member", g.genome.to_json());
        evolution.observe(&g, table_objectives(&g).as_deref());
    }
}

#[test]
fn evolution_population_never_exceeds_its_size_and_ages_out_the_oldest() {
    let mut evolution = RegularizedEvolution::new(4, 2);
    let mut feasible_so_far = Vec::new();
    for i in 0..12 {
        let g = genome(i * 100);
        let objectives = if i % 5 == 4 { None } else { Some(vec![i as f64]) };
        evolution.observe(&g, objectives.as_deref());
        if objectives.is_some() {
            feasible_so_far.push(g);
        }
        assert!(evolution.members().len() <= 4);
        let newest: Vec<Candidate> = feasible_so_far.iter().rev().take(4).rev().cloned().collect();
        let members: Vec<Candidate> = evolution.members().map(|(g, _)| g.clone()).collect();
        assert_eq!(members, newest, "after observation {i}: members are not the 4 newest feasible, oldest first");
    }
    // The fitness kept is the first objective; infeasible observations (i = 4, 9) never enter.
    let fitness: Vec<f64> = evolution.members().map(|(_, f)| f).collect();
    assert_eq!(fitness, vec![7.0, 8.0, 10.0, 11.0]);
}

#[test]
fn evolution_with_nothing_feasible_keeps_sampling() {
    let arch = nb201();
    let space = CandidateSpace::new(&arch, F32).unwrap();
    let mut rng = SeededRng::new(2);
    let mut evolution = RegularizedEvolution::new(3, 2);
    for _ in 0..10 {
        let g = evolution.propose(&space, &mut rng);
        evolution.observe(&g, None);
    }
    assert_eq!(evolution.members().len(), 0);
}

#[test]
fn nsga2_environmental_selection_keeps_fronts_then_the_least_crowded() {
    // F1: (1,5) (2,3) (4,1). F2: (2,6) (3,4) (5,2) (7,1.5), each dominated by a member of F1
    // ((2,3) dominates (2,6) and (3,4); (4,1) dominates (5,2) and (7,1.5)) and mutually
    // non-dominated. F3: (8,8). Index 7 is infeasible.
    // Crowding in F2 (ranges 7-2 = 5 and 6-1.5 = 4.5): (2,6) and (7,1.5) infinite;
    // (3,4): (5-2)/5 + (6-2)/4.5 = 1.489; (5,2): (7-3)/5 + (4-1.5)/4.5 = 1.356.
    let p = |x: f64, y: f64| Some(vec![x, y]);
    let population = vec![
        p(3.0, 4.0),
        p(1.0, 5.0),
        p(8.0, 8.0),
        p(7.0, 1.5),
        p(2.0, 3.0),
        p(5.0, 2.0),
        p(4.0, 1.0),
        None,
        p(2.0, 6.0),
    ];
    let sorted = |mut v: Vec<usize>| {
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(select_survivors(&population, 3)), vec![1, 4, 6]);
    assert_eq!(sorted(select_survivors(&population, 5)), vec![1, 3, 4, 6, 8]);
    assert_eq!(sorted(select_survivors(&population, 6)), vec![0, 1, 3, 4, 6, 8]);
    assert_eq!(sorted(select_survivors(&population, 7)), vec![0, 1, 3, 4, 5, 6, 8]);
    assert_eq!(sorted(select_survivors(&population, 8)), vec![0, 1, 2, 3, 4, 5, 6, 8]);
    let all = select_survivors(&population, 20);
    assert_eq!(all.len(), 9);
    assert_eq!(all[8], 7, "the infeasible member comes last");
}

#[test]
fn nsga2_replaces_parents_by_the_best_of_parents_and_offspring() {
    // First generation g0 (2,2), g1 infeasible, g2 (5,5): all survive, ordered g0 (F1),
    // g2 (F2: dominated by g0), g1 (infeasible, last). Offspring g3 (1,1), g4 (3,0),
    // g5 (1,1.5). Union: F1 = g3, g4; F2 = g5 (dominated by g3 only); F3 = g0 (dominated by
    // g5); F4 = g2; then g1. Keep 3: g3, g4, g5.
    let mut nsga2 = Nsga2::new(3);
    let objectives = [Some([2.0, 2.0]), None, Some([5.0, 5.0]), Some([1.0, 1.0]), Some([3.0, 0.0]), Some([1.0, 1.5])];
    for (i, o) in objectives.iter().enumerate() {
        nsga2.observe(&genome(i as i64), o.as_ref().map(|o| &o[..]));
        if i == 2 {
            assert_eq!(nsga2.parents().cloned().collect::<Vec<_>>(), vec![genome(0), genome(2), genome(1)]);
        }
    }
    let parents: Vec<Candidate> = nsga2.parents().cloned().collect();
    assert_eq!(parents, vec![genome(3), genome(4), genome(5)]);
}

#[test]
fn nsga2_offspring_are_mutations_of_parents() {
    let arch = nb201();
    let space = CandidateSpace::new(&arch, F32).unwrap();
    let mut rng = SeededRng::new(8);
    let mut nsga2 = Nsga2::new(6);
    for i in 0..60 {
        let parents: Vec<Candidate> = nsga2.parents().cloned().collect();
        let g = nsga2.propose(&space, &mut rng);
        if i >= 6 {
            assert!(parents.iter().any(|p| edges_changed(p, &g) == 1), "proposal {i} is no mutation of a parent");
        }
        nsga2.observe(&g, table_objectives(&g).as_deref());
    }
}
