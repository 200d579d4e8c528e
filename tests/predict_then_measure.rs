//! `--latency predict-then-measure`: the latency predictor screens candidates, only those
//! that could enter the front are measured, and the front is exactly as measured.

use std::path::Path;

use edgenas_search::pareto::hypervolume_2d;
use edgenas_search::strategy::StrategyKind;
use edgenas_search::{CandidateRecord, LatencyMode, Search, SearchConfig, SearchSummary};

fn config(target: &str, strategy: StrategyKind, budget: usize, limit: Option<f64>, mode: LatencyMode) -> SearchConfig {
    let mut cfg = SearchConfig::default_run();
    cfg.latency.target = target.into();
    cfg.latency.mode = mode;
    cfg.latency.time_cap_ms = 300;
    cfg.strategy = strategy;
    cfg.budget = budget;
    cfg.constraints.max_latency_ms = limit;
    cfg
}

fn journal(dir: &Path) -> Vec<CandidateRecord> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Hypervolume of a front in (-accuracy, latency) against (0, `reference_latency`).
fn hypervolume(front: &[CandidateRecord], reference_latency: f64) -> f64 {
    let points: Vec<[f64; 2]> =
        front.iter().map(|r| [-r.accuracy.unwrap(), r.latency.as_ref().unwrap().median]).collect();
    hypervolume_2d(&points, [0.0, reference_latency])
}

/// Checks what every predict-then-measure run must hold and returns the number of
/// candidates measured.
fn check_screened_run(summary: &SearchSummary, dir: &Path, limit: Option<f64>) -> usize {
    let records = journal(dir);
    for r in &summary.front {
        let latency = r.latency.as_ref().expect("every front member is measured").median;
        assert!(limit.is_none_or(|max| latency <= max), "front member {} at {latency}", r.hash);
        assert!(r.latency_prediction.as_ref().is_none_or(|p| p.measured && p.skipped.is_none()));
    }
    let unmeasured: Vec<&CandidateRecord> = records.iter().filter(|r| r.latency.is_none()).collect();
    for r in &unmeasured {
        let p = r.latency_prediction.as_ref().expect("an unmeasured candidate was predicted");
        assert!(!p.measured && p.skipped.is_some() && p.median > 0.0 && p.log_std >= 0.0, "{r:?}");
        assert!(r.objectives.is_some() && r.accuracy.is_some());
    }
    assert_eq!(summary.measured + unmeasured.len(), records.len());
    summary.measured
}

#[test]
fn table_search_measures_a_third_of_the_candidates_for_the_same_front() {
    let dir = tempfile::tempdir().unwrap();
    let limit = Some(10.68);
    let (all, screened) = (dir.path().join("all"), dir.path().join("screened"));
    let full = Search::new(config("nb201-table:pixel3", StrategyKind::Random, 150, limit, LatencyMode::Measure))
        .start(&all, &mut ())
        .unwrap();
    let cfg = config("nb201-table:pixel3", StrategyKind::Random, 150, limit, LatencyMode::PredictThenMeasure);
    let summary = Search::new(cfg).start(&screened, &mut ()).unwrap();
    let measured = check_screened_run(&summary, &screened, limit);
    let (hv_all, hv_screened) = (hypervolume(&full.front, 10.68), hypervolume(&summary.front, 10.68));
    eprintln!("nb201-table:pixel3, random, 150 candidates: measured {measured}; hypervolume {hv_screened:.3} vs {hv_all:.3} measuring all");
    // Measured at this commit: 48 of 150 and a hypervolume ratio of 0.999. A random
    // search proposes the same candidates either way, so the ratio only moves when the
    // predictor drops a front member; 0.98 is the bar, 60 leaves room for a
    // slightly more cautious predictor without letting "measure everything" pass.
    assert!(measured <= 60, "measured {measured} of 150");
    assert!(hv_screened >= 0.98 * hv_all, "{hv_screened} vs {hv_all}");
}

#[test]
fn host_search_measures_fewer_candidates_than_it_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let (all, screened) = (dir.path().join("all"), dir.path().join("screened"));
    Search::new(config("host", StrategyKind::Random, 40, None, LatencyMode::Measure)).start(&all, &mut ()).unwrap();
    let measured_all: Vec<CandidateRecord> = journal(&all);
    let mut latencies: Vec<f64> = measured_all.iter().filter_map(|r| r.latency.as_ref().map(|l| l.median)).collect();
    latencies.sort_by(f64::total_cmp);
    // A latency budget this host meets with half of the candidates, whatever its speed.
    let limit = latencies[latencies.len() / 2];
    let within: Vec<CandidateRecord> =
        measured_all.into_iter().filter(|r| r.latency.as_ref().is_some_and(|l| l.median <= limit)).collect();
    let full_front: Vec<CandidateRecord> = edgenas_search::report::front_of(&within).into_iter().cloned().collect();
    let summary = Search::new(config("host", StrategyKind::Random, 40, Some(limit), LatencyMode::PredictThenMeasure))
        .start(&screened, &mut ())
        .unwrap();
    let measured = check_screened_run(&summary, &screened, Some(limit));
    let (hv_all, hv_screened) = (hypervolume(&full_front, limit), hypervolume(&summary.front, limit));
    eprintln!(
        "host, random, 40 candidates, budget {limit:.3} ms: measured {measured}; hypervolume {hv_screened:.3} vs {hv_all:.3} measuring all"
    );
    // Both runs measure on this (shared, noisy) host, so their latencies differ by the
    // host's noise, and a candidate near the budget can fall on either side of it in one
    // run and not the other: 0.9 allows that for one front member of the few this small
    // run finds.
    assert!(measured < 40, "measured {measured} of 40");
    assert!(hv_screened >= 0.9 * hv_all, "{hv_screened} vs {hv_all}");
}

#[test]
fn a_screened_run_resumes_to_the_same_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (full, cut) = (dir.path().join("full"), dir.path().join("cut"));
    let cfg = config("nb201-table:pixel3", StrategyKind::Nsga2, 80, Some(10.68), LatencyMode::PredictThenMeasure);
    Search::new(cfg).start(&full, &mut ()).unwrap();
    let strip = |dir: &Path| {
        journal(dir)
            .into_iter()
            .map(|mut r| {
                r.times = Default::default();
                r
            })
            .collect::<Vec<_>>()
    };
    let records = strip(&full);
    assert!(records.iter().any(|r| r.latency.is_none()), "the run screened some candidates");

    std::fs::create_dir_all(&cut).unwrap();
    std::fs::copy(full.join("config.toml"), cut.join("config.toml")).unwrap();
    let text = std::fs::read_to_string(full.join("journal.jsonl")).unwrap();
    let head: String = text.lines().take(45).map(|l| format!("{l}\n")).collect();
    std::fs::write(cut.join("journal.jsonl"), head).unwrap();
    Search::from_run_dir(&cut).unwrap().resume(&cut, &mut ()).unwrap();
    assert_eq!(strip(&cut), records, "the resumed run screens and measures what the uninterrupted one did");
}
