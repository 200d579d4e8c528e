use anyhow::{Context, Result};
use edgenas_compiler::space::nb201::NB201_SIZE;

use edgenas_search::evaluate::Nb201Dataset;
use edgenas_search::nb201_bench::{run_nb201_bench, Nb201BenchConfig, Nb201BenchReport};
use edgenas_search::strategy::StrategyKind;

use crate::cli::Nb201BenchArgs;

pub fn nb201_bench(args: &Nb201BenchArgs) -> Result<()> {
    let table = &*super::nb201_table(args.table.as_deref())?;
    let strategies = args
        .strategies
        .iter()
        .map(|s| StrategyKind::parse(s.trim()))
        .collect::<Result<Vec<_>, _>>()
        .context("reading --strategies")?;
    let cfg = Nb201BenchConfig {
        device: args.device.clone(),
        latency_budget_ms: args.latency_budget_ms,
        budget: args.budget,
        strategies,
        seeds: args.seeds,
        dataset: Nb201Dataset::parse(&args.dataset).context("reading --dataset")?,
    };
    let report = run_nb201_bench(table, &cfg).context("running nb201-bench")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &Nb201BenchReport) {
    let budget_origin = if r.latency_budget_is_median { format!(" (median of {})", r.device) } else { String::new() };
    println!(
        "nb201-bench: {} accuracy, {} latency <= {:.4} ms{budget_origin}; {} evaluations per search, seeds 0..{}",
        r.dataset, r.device, r.latency_budget_ms, r.budget, r.seeds
    );
    println!(
        "table: {} of {NB201_SIZE} archs feasible; optimum {:.3}% (index {}, {:.4} ms); a random feasible arch scores {:.3}% on average",
        r.feasible_archs, r.optimum.accuracy, r.optimum.index, r.optimum.latency_ms, r.random_feasible_accuracy
    );
    println!(
        "hypervolume reference: accuracy 0, latency {:.4} ms; true front hypervolume {:.2}",
        r.latency_budget_ms, r.true_hypervolume
    );
    println!();
    println!(
        "{:<10} {:>9} {:>9} {:>8} {:>8} {:>10} {:>10} {:>8} {:>9} {:>9}",
        "strategy", "best mean", "worst", "regret", "worst", "vs random", "HV mean", "HV ratio", "feasible", "distinct"
    );
    for s in &r.strategies {
        println!(
            "{:<10} {:>9.3} {:>9.3} {:>8.3} {:>8.3} {:>+10.3} {:>10.2} {:>8.3} {:>9.1} {:>9.1}",
            s.strategy,
            s.best_accuracy_mean,
            s.best_accuracy_worst,
            s.regret_mean,
            s.regret_worst,
            s.improvement_over_random,
            s.hypervolume_mean,
            s.hypervolume_ratio,
            s.feasible_evaluations_mean,
            s.distinct_archs_mean
        );
    }
    println!();
    println!("best/worst/regret/vs random: accuracy points (%), over seeds; regret = optimum - best found;");
    println!("HV: hypervolume of the feasible archs found (mean over seeds), ratio to the true front's;");
    println!(
        "feasible, distinct: evaluations within the latency budget and distinct archs evaluated, mean per search."
    );
}
