//! `edgenas bench`: the latency of one model, on this host (tract, wall clock) or on a
//! target through its device backend (instructions under emulation, wall clock remotely).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use edgenas_runtime::{BenchConfig, CompiledModel, LatencyStats, LatencyUnit, RunOptions};
use edgenas_targets::{LocalBackend, MeasureBackend, Target, TargetKind};
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::pipeline::{emit_genome, genome_from_source, genome_or_default, BatchNormInit};
use crate::quantization::{quantize_for_target, Precision};
use crate::search::latency::DeviceSource;

#[derive(Serialize)]
struct BenchReport {
    model: String,
    target: String,
    precision: Option<Precision>,
    threads: usize,
    /// tract's load times in this process (host only).
    #[serde(skip_serializing_if = "Option::is_none")]
    parse_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optimize_ms: Option<f64>,
    latency: LatencyStats,
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    let target = Target::resolve(&args.target).context("--target")?;
    ensure!(
        target.kind != TargetKind::Mcu,
        "target `{}` is a microcontroller: its backend is not built yet",
        target.name
    );
    ensure!(
        args.threads == 1 || target.kind == TargetKind::Host,
        "--threads applies to the host; the runner on `{}` runs one thread",
        target.name
    );
    let (label, onnx) = model_bytes(args)?;
    let onnx = match args.precision {
        Some(precision) => quantize_for_target(&onnx, precision, &target.name)
            .with_context(|| format!("quantizing {label} to {precision}"))?,
        None => onnx,
    };
    let cfg = BenchConfig {
        threads: args.threads,
        spread_target: args.spread,
        time_cap: Duration::from_millis(args.time_cap_ms),
        ..BenchConfig::default()
    };
    let (latency, parse_ms, optimize_ms) = if target.kind == TargetKind::Host {
        let model = CompiledModel::from_onnx_bytes(&onnx, &label, &RunOptions::default())
            .with_context(|| format!("loading {label}"))?;
        let latency = LocalBackend::default().measure(&model, &cfg)?;
        let timings = model.timings();
        (latency, Some(timings.parse.as_secs_f64() * 1e3), Some(timings.optimize.as_secs_f64() * 1e3))
    } else {
        let device = DeviceSource::new(target.clone(), cfg)?;
        let latency = device.measure(&onnx).with_context(|| format!("measuring {label} on {}", target.name))?;
        (latency, None, None)
    };
    let report = BenchReport {
        model: label,
        target: target.name,
        precision: args.precision,
        threads: args.threads,
        parse_ms,
        optimize_ms,
        latency,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The ONNX bytes to measure and their label: the model file, or the architecture emitted
/// with weight seed 0 (BatchNorm calibrated when it will be quantized, as `search` does).
fn model_bytes(args: &BenchArgs) -> Result<(String, Vec<u8>)> {
    match &args.model {
        Some(path) => {
            ensure!(
                genome_from_source(&args.source)?.is_none(),
                "give either an ONNX model or an architecture, not both"
            );
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok((path.display().to_string(), bytes))
        }
        None => {
            let genome = genome_or_default(&args.source)?;
            let bn = if args.precision.is_some_and(|p| !p.is_f32()) {
                BatchNormInit::Calibrated
            } else {
                BatchNormInit::Seeded
            };
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
