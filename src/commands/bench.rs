use std::time::Duration;

use anyhow::{Context, Result};
use edgenas_runtime::{BenchConfig, CompiledModel, RunOptions};
use edgenas_targets::{LocalBackend, MeasureBackend};
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::pipeline::{emit_genome, genome_from_source, genome_or_default, BatchNormInit};

#[derive(Serialize)]
struct BenchReport {
    model: String,
    target: String,
    threads: usize,
    parse_ms: f64,
    optimize_ms: f64,
    latency: edgenas_runtime::LatencyStats,
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    let opts = RunOptions::default();
    let (label, model) = match &args.model {
        Some(path) => {
            anyhow::ensure!(
                genome_from_source(&args.source)?.is_none(),
                "give either an ONNX model or an architecture, not both"
            );
            let model =
                CompiledModel::from_onnx_path(path, &opts).with_context(|| format!("loading {}", path.display()))?;
            (path.display().to_string(), model)
        }
        None => {
            let genome = genome_or_default(&args.source)?;
            let emitted = emit_genome(&genome, 0, BatchNormInit::Seeded)?;
            let label = format!("genome {} ({})", genome.content_hash(), genome.space_name());
            let model =
                CompiledModel::from_onnx_bytes(&emitted.onnx, &label, &opts).context("loading the emitted model")?;
            (label, model)
        }
    };
    let cfg = BenchConfig {
        threads: args.threads,
        spread_target: args.spread,
        time_cap: Duration::from_millis(args.time_cap_ms),
        ..BenchConfig::default()
    };
    let latency = LocalBackend::default().measure(&model, &cfg)?;
    let report = BenchReport {
        model: label,
        target: "host".into(),
        threads: args.threads,
        parse_ms: model.timings().parse.as_secs_f64() * 1e3,
        optimize_ms: model.timings().optimize.as_secs_f64() * 1e3,
        latency,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let l = &report.latency;
        println!("model:     {}", report.model);
        println!("threads:   {}", report.threads);
        println!("load:      parse {:.2} ms, optimize {:.2} ms", report.parse_ms, report.optimize_ms);
        println!(
            "latency:   median {:.4} ms  p10 {:.4}  p90 {:.4}  (n = {}, spread {:.1}%{})",
            l.median,
            l.p10,
            l.p90,
            l.n,
            l.relative_spread * 100.0,
            if l.converged { "" } else { ", time cap reached before the spread target" }
        );
    }
    Ok(())
}
