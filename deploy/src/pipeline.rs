//! One genome through the model side of the pipeline: graph, weights, deploy rewrites,
//! ONNX bytes, with stage timings.

use std::time::{Duration, Instant};

use edgenas_compiler::ir::ops::Input;
use edgenas_compiler::ir::{Graph, GraphPatch, Op};
use edgenas_compiler::lower::BatchNormStatistics;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::Genome;
use edgenas_compiler::{lower, onnx};
use edgenas_runtime::{stats, CompiledModel, RunOptions, TensorF32};

use crate::error::{DeployError, Step};

/// The architecture `bench` measures when given nothing: NB201 index 6111,
/// `|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|`
/// (94.37% CIFAR-10 test accuracy in the NB201 table).
pub const DEFAULT_NB201_INDEX: i64 = 6111;

/// The genome of [`DEFAULT_NB201_INDEX`].
pub fn default_genome() -> Genome {
    match Nb201Genome::from_index(DEFAULT_NB201_INDEX) {
        Ok(g) => Genome::Nb201(g),
        Err(_) => unreachable!("NB201 index 6111 is in range"),
    }
}

/// Wall time of each model-side stage of one candidate.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitTimes {
    pub build: Duration,
    pub lower: Duration,
    pub emit: Duration,
}

/// A genome turned into ONNX bytes.
pub struct EmittedModel {
    pub graph: Graph,
    pub onnx: Vec<u8>,
    pub times: EmitTimes,
}

/// Where the BatchNorm running statistics of emitted weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchNormInit {
    /// Drawn from the seed with the other weights. Cheapest; activations are not normalized
    /// and grow with depth (NB201 logits reach ~1e5), which is fine for latency.
    #[default]
    Seeded,
    /// Measured by [`calibrate_batchnorm`], as a trained network in eval mode carries them:
    /// activations stay normalized, so f16 does not overflow and int8 ranges mean something.
    /// Costs one tract compile and run per model.
    Calibrated,
}

impl BatchNormInit {
    pub fn label(self) -> &'static str {
        match self {
            BatchNormInit::Seeded => "seeded",
            BatchNormInit::Calibrated => "calibrated",
        }
    }
}

/// Inputs per batch in [`calibrate_batchnorm`].
pub const BATCHNORM_CALIBRATION_BATCH: usize = 16;

/// Builds the genome's graph, initializes weights from `seed` (BatchNorm statistics as `bn`
/// says), applies the deploy rewrites and serializes the ONNX model (genome JSON, hash, seed
/// and BatchNorm origin in its metadata).
pub fn emit_genome(genome: &Genome, seed: u64, bn: BatchNormInit) -> Result<EmittedModel, DeployError> {
    let t0 = Instant::now();
    let graph = genome.build().map_err(|source| DeployError::Genome { genome: genome.content_hash(), source })?;
    let t1 = Instant::now();
    let mut weighted = graph.clone();
    lower::initialize_weights(&mut weighted, seed).step("initializing weights")?;
    if bn == BatchNormInit::Calibrated {
        calibrate_batchnorm(&mut weighted, seed)?;
    }
    let deployed = lower::deploy(&weighted).step("lowering the graph")?;
    let t2 = Instant::now();
    let options = onnx::EmitOptions {
        name: genome.space_name().to_string(),
        metadata: vec![
            ("edgenas.genome".into(), genome.to_json()),
            ("edgenas.genome_hash".into(), genome.content_hash()),
            ("edgenas.weight_seed".into(), seed.to_string()),
            ("edgenas.batchnorm".into(), bn.label().to_string()),
        ],
        ..onnx::EmitOptions::default()
    };
    let model = onnx::emit(&deployed, &options).step("emitting ONNX")?;
    let bytes = onnx::to_bytes(&model).step("serializing ONNX")?;
    let t3 = Instant::now();
    Ok(EmittedModel { graph, onnx: bytes, times: EmitTimes { build: t1 - t0, lower: t2 - t1, emit: t3 - t2 } })
}

/// Sets every BatchNorm's running mean and variance to the statistics of its input over a
/// batch of [`BATCHNORM_CALIBRATION_BATCH`] standard-normal inputs drawn from `seed`, all
/// layers at once: the graph runs in tract once, BatchNorms in training mode, so each layer
/// sees inputs already normalized by the layers before it. With those statistics the
/// eval-mode network computes on that batch exactly what the training-mode one does.
pub fn calibrate_batchnorm(graph: &mut Graph, seed: u64) -> Result<(), DeployError> {
    let calibration = |reason: String| DeployError::Invalid(format!("calibrating BatchNorm statistics: {reason}"));
    let batched = rebatch(graph, BATCHNORM_CALIBRATION_BATCH)?;
    let options = onnx::EmitOptions { batchnorm_batch_statistics: true, ..onnx::EmitOptions::default() };
    let model = options.emit_with_extra_outputs(&batched, &[]).step("emitting the training-mode graph")?;
    let order = batched.execution_order().step("ordering the graph")?;
    let bns: Vec<String> = order
        .into_iter()
        .filter(|&id| matches!(batched.node(id).op, Op::BatchNorm(_)))
        .map(|id| batched.node(id).name.clone())
        .collect();
    if bns.is_empty() {
        return Ok(());
    }
    let main_outputs = batched.outputs().len();
    let bytes = onnx::to_bytes(&model).step("serializing the training-mode graph")?;
    let compiled = CompiledModel::from_onnx_bytes(&bytes, "BatchNorm calibration", &RunOptions::default())
        .step("compiling the training-mode graph with tract")?;
    let input = standard_normal_input(compiled.input_shape(), seed, "batchnorm.calibration")?;
    let outputs = compiled.run(&input).step("running the training-mode graph")?;
    if outputs.len() != main_outputs + 2 * bns.len() {
        return Err(calibration(format!(
            "expected {} outputs from the training-mode graph, got {}",
            main_outputs + 2 * bns.len(),
            outputs.len()
        )));
    }
    let stats: BatchNormStatistics = bns
        .into_iter()
        .zip(outputs[main_outputs..].chunks(2))
        .map(|(name, pair)| (name, (pair[0].data.clone(), pair[1].data.clone())))
        .collect();
    lower::set_batchnorm_statistics(graph, &stats).step("setting BatchNorm statistics")?;
    Ok(())
}

/// An input of `shape` with i.i.d. standard-normal values drawn from `seed` and `stream`.
pub fn standard_normal_input(shape: &[usize], seed: u64, stream: &str) -> Result<TensorF32, DeployError> {
    let mut rng = SeededRng::derive(seed, stream);
    let n = edgenas_compiler::ir::element_count(shape)
        .ok_or_else(|| DeployError::Invalid(format!("input shape {shape:?} is too large")))?;
    let data = (0..n).map(|_| rng.normal()).collect();
    TensorF32::new(shape.to_vec(), data).step("making a standard-normal input")
}

/// A copy of `graph` with its single input's batch dimension (axis 0) set to `batch`, types
/// re-inferred. Errors when the graph does not have exactly one input, or when an op cannot
/// take the new batch.
pub fn rebatch(graph: &Graph, batch: usize) -> Result<Graph, DeployError> {
    let inputs = graph.inputs();
    let [input] = inputs.as_slice() else {
        return Err(DeployError::Invalid(format!("expected a graph with one input, it has {}", inputs.len())));
    };
    let Op::Input(Input { ty }) = &graph.node(*input).op else {
        return Err(DeployError::Invalid("graph input is not an Input op".into()));
    };
    let mut ty = ty.clone();
    match ty.shape.first_mut() {
        Some(n) => *n = batch,
        None => {
            return Err(DeployError::Invalid(format!(
                "graph input `{}` is a scalar: no batch dimension",
                graph.node(*input).name
            )))
        }
    }
    let mut g = graph.clone();
    GraphPatch::new().replace_op(*input, Op::Input(Input { ty }), Vec::new()).apply(&mut g);
    g.infer_types().step(format!("re-inferring types at batch size {batch}"))?;
    Ok(g)
}

/// Median wall time (ms) of each per-candidate stage over `repeat` runs of `genome`:
/// build IR, lower, emit ONNX, tract parse, tract optimize, and all of them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineTimes {
    pub genome: String,
    pub repeat: usize,
    pub build_ir_ms: f64,
    pub lower_ms: f64,
    pub emit_ms: f64,
    pub load_ms: f64,
    pub optimize_ms: f64,
    pub total_ms: f64,
}

/// Runs the model side of one candidate `repeat` times (at least once) and reports the
/// median time of each stage (`edgenas bench-pipeline`).
pub fn time_pipeline(genome: &Genome, repeat: usize) -> Result<PipelineTimes, DeployError> {
    let repeat = repeat.max(1);
    let mut stages: [Vec<f64>; 6] = Default::default();
    for _ in 0..repeat {
        let t0 = Instant::now();
        let emitted = emit_genome(genome, 0, BatchNormInit::Seeded)?;
        let model = CompiledModel::from_onnx_bytes(&emitted.onnx, "candidate", &RunOptions::default())
            .step("compiling with tract")?;
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
    let [build, lower, emit, load, optimize, total] = stages.map(|s| stats::median(&s).unwrap_or(0.0));
    Ok(PipelineTimes {
        genome: genome.to_json(),
        repeat,
        build_ir_ms: build,
        lower_ms: lower,
        emit_ms: emit,
        load_ms: load,
        optimize_ms: optimize,
        total_ms: total,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
