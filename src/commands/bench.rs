//! `edgenas bench`: the latency of one model, on this host (tract, wall clock) or on a
//! target through its device backend (instructions under emulation, wall clock remotely).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use edgenas_compiler::quantize::Precision;
use edgenas_deploy::{bench_model, emit_genome, quantize_for_target, BatchNormInit, BenchReport};
use edgenas_runtime::{BenchConfig, LatencyUnit};
use edgenas_targets::{Target, TargetKind};

use super::progress::DeployView;
use super::{genome_from_source, genome_or_default};
use crate::cli::{ArchSource, BenchArgs};

pub fn bench(args: &BenchArgs) -> Result<()> {
    let target = Target::resolve(&args.target).context("--target")?;
    let precision = match args.precision {
        None if target.kind == TargetKind::Mcu && args.model.is_none() => Some(Precision::Int8),
        p => p,
    };
    let (label, onnx) = model_bytes(args.model.as_deref(), &args.source, precision)?;
    let onnx = match precision {
        Some(precision) => quantize_for_target(&onnx, precision, &target)
            .with_context(|| format!("quantizing {label} to {precision}"))?,
        None => onnx,
    };
    let cfg = BenchConfig {
        threads: args.threads,
        spread_target: args.spread,
        time_cap: Duration::from_millis(args.time_cap_ms),
        ..BenchConfig::default()
    };
    let mut view = DeployView::default();
    let report = bench_model(&label, &onnx, &target, precision, &cfg, &mut |p| view.show(p))
        .with_context(|| format!("measuring {label} on {}", target.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The ONNX bytes to measure and their label: the model file, or the architecture emitted
/// with weight seed 0 (BatchNorm calibrated when it will be quantized, as `search` does).
pub(super) fn model_bytes(
    model: Option<&std::path::Path>,
    source: &ArchSource,
    precision: Option<Precision>,
) -> Result<(String, Vec<u8>)> {
    match model {
        Some(path) => {
            ensure!(genome_from_source(source)?.is_none(), "give either an ONNX model or an architecture, not both");
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok((path.display().to_string(), bytes))
        }
        None => {
            let genome = genome_or_default(source)?;
            let bn =
                if precision.is_some_and(|p| !p.is_f32()) { BatchNormInit::Calibrated } else { BatchNormInit::Seeded };
            let emitted = emit_genome(&genome, 0, bn)?;
            Ok((format!("genome {} ({})", genome.content_hash(), genome.space_name()), emitted.onnx))
        }
    }
}

fn print_report(report: &BenchReport) {
    let l = &report.latency;
    println!("model:     {}", report.model);
    println!("target:    {}", report.target);
    if let Some(precision) = report.precision {
        println!("precision: {precision}");
    }
    if let Some(engine) = report.engine {
        println!("engine:    {engine}");
    }
    if let (Some(parse), Some(optimize)) = (report.parse_ms, report.optimize_ms) {
        println!("threads:   {}", report.threads);
        println!("load:      parse {parse:.2} ms, optimize {optimize:.2} ms");
    }
    match l.unit {
        LatencyUnit::Ms => println!(
            "latency:   median {:.4} ms  p10 {:.4}  p90 {:.4}  (n = {}, spread {:.1}%{})",
            l.median,
            l.p10,
            l.p90,
            l.n,
            l.relative_spread * 100.0,
            if l.converged { "" } else { ", time cap reached before the spread target" }
        ),
        LatencyUnit::Instructions => println!(
            "instructions per inference: median {:.0}  min {:.0}  max {:.0}  (n = {}; emulated, not a latency)",
            l.median, l.min, l.max, l.n
        ),
    }
}
