use anyhow::{bail, Context, Result};
use edgenas_compiler::space::nb201::Nb201Table;
use edgenas_search::predictor::fit::{default_predictor_path, fit_from_runs, measure_samples, read_runs};
use edgenas_search::predictor::table_eval::{eval_device, fit_from_samples, DeviceEval, TablePriors};
use edgenas_search::predictor::{PredictorFile, PREDICTOR_FORMAT_VERSION};

use super::progress::DeployView;
use crate::cli::{PredictorEvalArgs, PredictorFitArgs};

pub fn eval(args: &PredictorEvalArgs) -> Result<()> {
    let table = &*super::nb201_table(args.table.as_deref())?;
    let priors = TablePriors::new(table).context("reading the table's latency columns")?;
    let devices: Vec<String> = match args.device.as_str() {
        "all" => priors.devices().to_vec(),
        one => vec![one.to_string()],
    };
    let mut results: Vec<DeviceEval> = Vec::new();
    for &k in &args.samples {
        for device in &devices {
            let r = eval_device(&priors, table, device, k, args.seeds)
                .with_context(|| format!("evaluating `{device}` at {k} samples"))?;
            if !args.json {
                if results.last().is_none_or(|l| l.samples != k) {
                    println!("K = {k} samples, seeds 0..{}; scored on every architecture not sampled", args.seeds);
                    println!(
                        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8}",
                        "device", "rho", "rho min", "tau", "tau min", "<=10%", "<=10% min", "MACs rho"
                    );
                }
                println!(
                    "{:<16} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.1}% {:>8.1}% {:>8.3}",
                    r.device,
                    r.spearman_mean,
                    r.spearman_worst,
                    r.kendall_mean,
                    r.kendall_worst,
                    100.0 * r.within_10pct_mean,
                    100.0 * r.within_10pct_worst,
                    r.macs_spearman
                );
            }
            results.push(r);
        }
        if !args.json && devices.len() > 1 {
            let at_k: Vec<&DeviceEval> = results.iter().filter(|r| r.samples == k).collect();
            let mean = at_k.iter().map(|r| r.spearman_mean).sum::<f64>() / at_k.len() as f64;
            let worst = at_k.iter().map(|r| r.spearman_mean).fold(f64::INFINITY, f64::min);
            let macs = at_k.iter().map(|r| r.macs_spearman).sum::<f64>() / at_k.len() as f64;
            println!("mean rho over devices {mean:.3}, worst device {worst:.3}; MACs alone {macs:.3}\n");
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results).context("serializing the report")?);
    }
    Ok(())
}

pub fn fit(args: &PredictorFitArgs) -> Result<()> {
    let file = match args.target.strip_prefix("nb201-table:") {
        Some(device) => {
            if !args.from.is_empty() {
                bail!("--from does not apply to an nb201-table target: its samples come from the table");
            }
            let table = Nb201Table::builtin();
            let priors = TablePriors::new(table)?;
            let samples = priors.samples(device, args.samples, args.seed)?;
            let (model, _) = fit_from_samples(&priors, table, device, &samples)?;
            let (_, groups) = priors.inputs(device)?;
            PredictorFile {
                version: PREDICTOR_FORMAT_VERSION,
                target: args.target.clone(),
                unit: "ms".into(),
                inputs: groups.into_iter().map(|g| g.name).collect(),
                samples: samples.len(),
                model,
            }
        }
        None => {
            if args.from.is_empty() {
                bail!("--from RUN_DIR...: the runs whose journals hold measurements on `{}`", args.target);
            }
            let mut runs = read_runs(&args.from).context("reading the runs")?;
            let mut view = DeployView::default();
            let measured =
                measure_samples(&runs, &args.target, args.samples, args.seed, args.time_cap_ms, &mut |p| view.show(p))?;
            if !measured.is_empty() {
                eprintln!("measured {} candidates of the runs on `{}`", measured.len(), args.target);
            }
            runs.extend(measured);
            fit_from_runs(&runs, &args.target, args.samples, args.seed)?
        }
    };
    let out = args.out.clone().unwrap_or_else(|| default_predictor_path(&edgenas_targets::cache_dir(), &args.target));
    file.save(&out)?;
    println!("predictor of `{}` from {} samples: {}", file.target, file.samples, out.display());
    for m in file.model.members.iter().filter(|m| m.weight >= 0.01) {
        println!("  {:<32} weight {:.3}, leave-one-out rmse {:.3} (log)", m.name, m.weight, m.ridge.loo_mse.sqrt());
    }
    Ok(())
}
