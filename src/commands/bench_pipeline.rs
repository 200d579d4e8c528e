use std::time::{Duration, Instant};

use anyhow::Result;
use edgenas_runtime::{CompiledModel, RunOptions};
use serde::Serialize;

use crate::cli::BenchPipelineArgs;
use crate::pipeline::{emit_genome, genome_or_default, BatchNormInit};

/// Median milliseconds per stage over the repetitions.
#[derive(Serialize)]
struct PipelineReport {
    genome: String,
    repeat: usize,
    build_ir_ms: f64,
    lower_ms: f64,
    emit_ms: f64,
    load_ms: f64,
    optimize_ms: f64,
    total_ms: f64,
}

pub fn bench_pipeline(args: &BenchPipelineArgs) -> Result<()> {
    let genome = genome_or_default(&args.source)?;
    let repeat = args.repeat.max(1);
    let mut stages: [Vec<f64>; 6] = Default::default();
    for _ in 0..repeat {
        let t0 = Instant::now();
        let emitted = emit_genome(&genome, 0, BatchNormInit::Seeded)?;
        let model = CompiledModel::from_onnx_bytes(&emitted.onnx, "candidate", &RunOptions::default())?;
        let total = t0.elapsed();
        let times = [
            emitted.times.build,
            emitted.times.lower,
            emitted.times.emit,
            model.timings().parse,
            model.timings().optimize,
            total,
        ];
        for (samples, t) in stages.iter_mut().zip(times) {
            samples.push(ms(t));
        }
    }
    let [build, lower, emit, load, optimize, total] = stages.map(|mut s| median(&mut s));
    let report = PipelineReport {
        genome: genome.to_json(),
        repeat,
        build_ir_ms: build,
        lower_ms: lower,
        emit_ms: emit,
        load_ms: load,
        optimize_ms: optimize,
        total_ms: total,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("genome:    {}", report.genome);
        println!("medians over {} runs (ms): build IR {:.3}  lower {:.3}  emit {:.3}  tract load {:.3}  optimize {:.3}  total {:.3}",
            repeat, build, lower, emit, load, optimize, total);
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
