//! Sample an architecture, analyze its cost, emit ONNX, compile it with tract and
//! measure it on this host: the whole per-candidate path through the library API.
//!
//! Run: `cargo run --release --example quickstart`

use anyhow::{Context, Result};
use edgenas_compiler::cost::CostReport;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::SearchSpace;
use edgenas_deploy::pipeline::{emit_genome, BatchNormInit};
use edgenas_runtime::{BenchConfig, CompiledModel, RunOptions};
use edgenas_targets::{LocalBackend, MeasureBackend};

fn main() -> Result<()> {
    let space = SearchSpace::resolve("mbconv-mcu")?;
    let mut rng = SeededRng::new(42);
    let genome = space.sample(&mut rng);
    println!("genome {}: {}", genome.content_hash(), genome.to_json());

    let cost = CostReport::analyze(&genome.build()?)?;
    println!(
        "MACs {:.2} M, params {:.3} M, int8 weights {} KiB, peak f32 activations {} KiB",
        cost.macs as f64 / 1e6,
        cost.params as f64 / 1e6,
        cost.weight_bytes.int8 / 1024,
        cost.peak_activation_bytes / 1024
    );

    let emitted = emit_genome(&genome, 0, BatchNormInit::Calibrated)?;
    let model = CompiledModel::from_onnx_bytes(&emitted.onnx, "quickstart", &RunOptions::default())
        .context("compiling with tract")?;
    let stats = LocalBackend::default().measure(&model, &BenchConfig::default())?;
    println!(
        "host latency: median {:.3} ms (p10 {:.3}, p90 {:.3}, n = {})",
        stats.median, stats.p10, stats.p90, stats.n
    );
    Ok(())
}
