//! Predictors in the loop: the predictor-guided strategy against random and evolution on
//! the NB201 table, few-shot latency prediction on the table's devices, and the predictor
//! file.

use std::path::Path;

use edgenas_compiler::space::nb201::Nb201Table;
use edgenas_search::evaluate::Nb201Dataset;
use edgenas_search::nb201_bench::{run_nb201_bench, Nb201BenchConfig};
use edgenas_search::predictor::table_eval::{eval_device, fit_from_samples, TablePriors};
use edgenas_search::predictor::{PredictorError, PredictorFile, PREDICTOR_FORMAT_VERSION};
use edgenas_search::strategy::StrategyKind;
use edgenas_search::{Search, SearchConfig};

mod common;

fn bench(strategies: &[StrategyKind], seeds: u64) -> edgenas_search::nb201_bench::Nb201BenchReport {
    let cfg = Nb201BenchConfig {
        device: "pixel3".into(),
        latency_budget_ms: Some(10.68),
        budget: 100,
        strategies: strategies.to_vec(),
        seeds,
        dataset: Nb201Dataset::Cifar10,
    };
    run_nb201_bench(Nb201Table::builtin(), &cfg).unwrap()
}

#[test]
fn predictor_strategy_beats_random_and_evolution_over_30_seeds() {
    let report = bench(&[StrategyKind::Random, StrategyKind::Evolution, StrategyKind::Predictor], 30);
    let regret = |name: &str| report.strategies.iter().find(|s| s.strategy == name).unwrap().regret_mean;
    let (random, evolution, predictor) = (regret("random"), regret("evolution"), regret("predictor"));
    // Measured at this commit: random 0.674, evolution 0.513, predictor 0.186 points. Over
    // 30 seeds the standard error of a mean regret is about 0.04 points here, so a margin
    // of 0.15 points below evolution (more than 3 standard errors) cannot pass by luck,
    // and the 0.30 ceiling catches a predictor that quietly got worse.
    assert!(predictor < evolution - 0.15, "predictor {predictor} vs evolution {evolution}");
    assert!(predictor < random - 0.15, "predictor {predictor} vs random {random}");
    assert!(predictor <= 0.30, "predictor regret {predictor}");
}

#[test]
fn predictor_strategy_is_reproducible_per_seed() {
    let a = bench(&[StrategyKind::Predictor], 3);
    let b = bench(&[StrategyKind::Predictor], 3);
    let runs = |r: &edgenas_search::nb201_bench::Nb201BenchReport| {
        r.strategies[0].runs.iter().map(|s| (s.seed, s.best.map(|b| b.index), s.distinct_archs)).collect::<Vec<_>>()
    };
    assert_eq!(runs(&a), runs(&b));
    let seeds: std::collections::HashSet<_> = runs(&a).iter().map(|r| r.1).collect();
    assert!(seeds.len() > 1 || a.strategies[0].runs.len() == 1, "different seeds search differently: {:?}", runs(&a));
}

fn journal_without_times(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("times");
            v
        })
        .collect()
}

#[test]
fn predictor_strategy_resumes_from_the_journal_to_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let (full, cut) = (dir.path().join("full"), dir.path().join("cut"));
    let mut cfg = SearchConfig::default_run();
    cfg.latency.target = "nb201-table:pixel3".into();
    cfg.strategy = StrategyKind::Predictor;
    cfg.budget = 50;
    cfg.constraints.max_latency_ms = Some(10.68);
    Search::new(cfg.clone()).start(&full, &mut ()).unwrap();
    let records = journal_without_times(&full);
    assert_eq!(records.len(), 50);

    std::fs::create_dir_all(&cut).unwrap();
    std::fs::copy(full.join("config.toml"), cut.join("config.toml")).unwrap();
    let text = std::fs::read_to_string(full.join("journal.jsonl")).unwrap();
    let head: String = text.lines().take(37).map(|l| format!("{l}\n")).collect();
    std::fs::write(cut.join("journal.jsonl"), head).unwrap();
    let summary = Search::from_run_dir(&cut).unwrap().resume(&cut, &mut ()).unwrap();
    assert_eq!(summary.used(), 50);
    assert_eq!(journal_without_times(&cut), records, "the resumed run proposes what the uninterrupted one did");
}

/// K = 10 over every device of the shipped table, 10 seeds each.
#[test]
fn few_shot_prediction_holds_its_rank_correlation_on_every_table_device() {
    let table = Nb201Table::builtin();
    let priors = TablePriors::new(table).unwrap();
    let mut means = Vec::new();
    for device in priors.devices() {
        let r = eval_device(&priors, table, device, 10, 10).unwrap();
        assert!(r.spearman_mean.is_finite() && r.kendall_mean <= r.spearman_mean + 1e-9, "{device}: {r:?}");
        means.push((device.clone(), r.spearman_mean));
    }
    let mean = means.iter().map(|m| m.1).sum::<f64>() / means.len() as f64;
    let worst = means.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    // Measured at this commit (`edgenas predictor eval --samples 10 --seeds 10`): mean
    // 0.945, worst device pixel3 0.854. The margins (0.01 on the mean of 90 fits, 0.03 on
    // one device's mean of 10) are a few times the seed-to-seed spread of those means.
    assert!(mean >= 0.935, "mean Spearman {mean}: {means:?}");
    assert!(worst >= 0.824, "worst device {worst}: {means:?}");
}

#[test]
fn the_target_column_is_read_only_at_the_sampled_rows() {
    let table = Nb201Table::builtin();
    let text = std::fs::read_to_string(common::root().join("compiler/data/nb201.csv")).unwrap();
    let priors = TablePriors::new(table).unwrap();
    for device in ["pixel3", "gold_6240"] {
        let samples = priors.samples(device, 10, 7).unwrap();
        let (honest, rows) = fit_from_samples(&priors, table, device, &samples).unwrap();

        let column = 5 + table.devices().iter().position(|d| d == device).unwrap();
        let mut poisoned_csv = String::new();
        for (i, line) in text.lines().enumerate() {
            if i == 0 || samples.contains(&(i - 1)) {
                poisoned_csv.push_str(line);
            } else {
                let mut fields: Vec<String> = line.split(',').map(String::from).collect();
                fields[column] = format!("{}", 1000.0 + i as f64);
                poisoned_csv.push_str(&fields.join(","));
            }
            poisoned_csv.push('\n');
        }
        let poisoned = Nb201Table::from_csv(&poisoned_csv, "poisoned").unwrap();
        let changed = (0..table.rows().len()).filter(|i| poisoned.rows()[*i].latency_ms != table.rows()[*i].latency_ms);
        assert_eq!(changed.count(), table.rows().len() - samples.len(), "every unsampled row is poisoned");
        let poisoned_priors = TablePriors::new(&poisoned).unwrap();
        assert_eq!(poisoned_priors.samples(device, 10, 7).unwrap(), samples, "the samples do not depend on the column");
        let (fitted, poisoned_rows) = fit_from_samples(&poisoned_priors, &poisoned, device, &samples).unwrap();
        assert_eq!(fitted, honest, "{device}: a predictor that read an unsampled row");
        assert_eq!(poisoned_rows, rows);
    }
}

#[test]
fn the_predictor_file_round_trips_and_refuses_a_damaged_or_foreign_one() {
    let table = Nb201Table::builtin();
    let priors = TablePriors::new(table).unwrap();
    let samples = priors.samples("pixel3", 10, 0).unwrap();
    let (model, _) = fit_from_samples(&priors, table, "pixel3", &samples).unwrap();
    let (_, groups) = priors.inputs("pixel3").unwrap();
    let file = PredictorFile {
        version: PREDICTOR_FORMAT_VERSION,
        target: "nb201-table:pixel3".into(),
        unit: "ms".into(),
        inputs: groups.into_iter().map(|g| g.name).collect(),
        samples: 10,
        model,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    file.save(&path).unwrap();
    assert_eq!(PredictorFile::load(&path).unwrap(), file);

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let e = PredictorFile::load(&path).unwrap_err();
    assert!(matches!(e, PredictorError::Corrupt { .. }) && e.to_string().contains("p.json"), "{e}");

    let mut foreign: serde_json::Value = serde_json::from_str(&text).unwrap();
    foreign["version"] = serde_json::json!(PREDICTOR_FORMAT_VERSION + 1);
    std::fs::write(&path, foreign.to_string()).unwrap();
    let e = PredictorFile::load(&path).unwrap_err();
    assert!(matches!(e, PredictorError::Version { .. }) && e.to_string().contains("refit"), "{e}");

    let mut wrong: serde_json::Value = serde_json::from_str(&text).unwrap();
    wrong["inputs"] = serde_json::json!(["only one"]);
    std::fs::write(&path, wrong.to_string()).unwrap();
    assert!(matches!(PredictorFile::load(&path).unwrap_err(), PredictorError::Corrupt { .. }));
}

#[test]
fn cli_fits_a_table_predictor_and_evaluates_any_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pixel3.json");
    let fit = common::edgenas(&[
        "predictor",
        "fit",
        "--target",
        "nb201-table:pixel3",
        "--samples",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(fit.status.success(), "{}", common::stderr(&fit));
    let file = PredictorFile::load(&out).unwrap();
    assert_eq!((file.samples, file.target.as_str()), (10, "nb201-table:pixel3"));

    let table = common::root().join("compiler/data/nb201.csv");
    let eval = common::edgenas(&[
        "predictor",
        "eval",
        "--table",
        table.to_str().unwrap(),
        "--device",
        "samsung_a50",
        "--samples",
        "5,10",
        "--seeds",
        "2",
        "--json",
    ]);
    assert!(eval.status.success(), "{}", common::stderr(&eval));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["spearman_mean"].as_f64().unwrap() > 0.9), "{rows:?}");

    let bad = common::edgenas(&["predictor", "eval", "--device", "iphone", "--seeds", "1"]);
    assert!(!bad.status.success());
    assert!(common::stderr(&bad).contains("no device `iphone`"), "{}", common::stderr(&bad));
    let none = common::edgenas(&["predictor", "fit", "--target", "host", "--from", dir.path().to_str().unwrap()]);
    assert!(common::stderr(&none).contains("neither a search run directory"), "{}", common::stderr(&none));
}

#[test]
fn fit_from_runs_measures_what_the_runs_lack_and_uses_the_other_targets_as_priors() {
    use edgenas_search::predictor::fit::{fit_from_runs, measure_samples, read_runs};
    let dir = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for device in ["pixel3", "gold_6240"] {
        let mut cfg = SearchConfig::default_run();
        cfg.latency.target = format!("nb201-table:{device}");
        cfg.strategy = StrategyKind::Random;
        cfg.budget = 60;
        let out = dir.path().join(device);
        Search::new(cfg).start(&out, &mut ()).unwrap();
        dirs.push(out);
    }
    let runs = read_runs(&dirs).unwrap();
    assert_eq!(runs.len(), 120);
    let cached = read_runs(&[dirs[0].join("latency_cache.jsonl")]).unwrap();
    assert_eq!(cached.len(), 60, "a latency cache names what it measured");
    assert!(cached.iter().all(|m| m.target == "nb201-table:pixel3"));
    let mut from_journal: Vec<(String, u64)> =
        runs[..60].iter().map(|m| (m.key.clone(), m.log_latency.to_bits())).collect();
    let mut from_cache: Vec<(String, u64)> = cached.iter().map(|m| (m.key.clone(), m.log_latency.to_bits())).collect();
    from_journal.sort();
    from_cache.sort();
    assert_eq!(from_cache, from_journal);

    let target = "nb201-table:samsung_a50";
    let measured = measure_samples(&runs, target, 12, 0, 1000, &mut |_| {}).unwrap();
    assert_eq!(measured.len(), 12, "nothing of the runs was measured on {target}");
    let table = Nb201Table::builtin();
    for m in &measured {
        let edgenas_compiler::space::Genome::Nb201(g) = &m.genome else { panic!("nb201 run") };
        let ms = table.latency_ms(g.index, "samsung_a50").unwrap();
        assert!((m.log_latency - ms.ln()).abs() < 1e-12, "measured on the target itself");
    }
    let mut all = runs.clone();
    all.extend(measured);
    let file = fit_from_runs(&all, target, 12, 0).unwrap();
    assert!(file.inputs.iter().any(|i| i == "prior:nb201-table:pixel3"), "{:?}", file.inputs);
    assert!(file.inputs.iter().any(|i| i == "prior:nb201-table:gold_6240"), "{:?}", file.inputs);
    assert_eq!(file.samples, 12);

    let e = fit_from_runs(&all, "nb201-table:1080ti_1", 5, 0).unwrap_err().to_string();
    assert!(e.contains("measured nothing on `nb201-table:1080ti_1`"), "{e}");
    let e = fit_from_runs(&all, target, 40, 0).unwrap_err().to_string();
    assert!(e.contains("12 distinct measurements"), "{e}");
}
