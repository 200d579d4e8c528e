//! One candidate through the model side of the pipeline, with stage timings.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use edgenas_compiler::ir::ops::Input;
use edgenas_compiler::ir::{Graph, GraphPatch, Op};
use edgenas_compiler::lower::BatchNormStatistics;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::Genome;
use edgenas_compiler::{lower, onnx};
use edgenas_runtime::{CompiledModel, RunOptions, TensorF32};

use crate::cli::ArchSource;

/// The architecture `bench` measures when given nothing: NB201 index 6111,
/// `|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|`
/// (94.37% CIFAR-10 test accuracy in the NB201 table).
pub const DEFAULT_NB201_INDEX: i64 = 6111;

/// Reads the genome an [`ArchSource`] names; `None` when it names nothing.
pub fn genome_from_source(source: &ArchSource) -> Result<Option<Genome>> {
    if let Some(path) = &source.arch {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading genome file {}", path.display()))?;
        let genome =
            Genome::from_json(text.trim()).with_context(|| format!("parsing genome file {}", path.display()))?;
        return Ok(Some(genome));
    }
    if let Some(index) = source.nb201_index {
        return Ok(Some(Genome::Nb201(Nb201Genome::from_index(index)?)));
    }
    if let Some(arch) = &source.nb201_arch {
        let arch = arch.parse().context("parsing --nb201-arch")?;
        return Ok(Some(Genome::Nb201(Nb201Genome::from_arch(&arch))));
    }
    Ok(None)
}

/// The genome an [`ArchSource`] names, or NB201 arch [`DEFAULT_NB201_INDEX`] when it names nothing.
pub fn genome_or_default(source: &ArchSource) -> Result<Genome> {
    match genome_from_source(source)? {
        Some(g) => Ok(g),
        None => Ok(Genome::Nb201(Nb201Genome::from_index(DEFAULT_NB201_INDEX)?)),
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
    fn label(self) -> &'static str {
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
pub fn emit_genome(genome: &Genome, seed: u64, bn: BatchNormInit) -> Result<EmittedModel> {
    let t0 = Instant::now();
    let graph = genome.build().with_context(|| format!("building the graph of genome {}", genome.content_hash()))?;
    let t1 = Instant::now();
    let mut weighted = graph.clone();
    lower::initialize_weights(&mut weighted, seed).context("initializing weights")?;
    if bn == BatchNormInit::Calibrated {
        calibrate_batchnorm(&mut weighted, seed).context("calibrating BatchNorm statistics")?;
    }
    let deployed = lower::deploy(&weighted).context("lowering the graph")?;
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
    let model = onnx::emit(&deployed, &options).context("emitting ONNX")?;
    let bytes = onnx::to_bytes(&model)?;
    let t3 = Instant::now();
    Ok(EmittedModel { graph, onnx: bytes, times: EmitTimes { build: t1 - t0, lower: t2 - t1, emit: t3 - t2 } })
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a failure never
/// leaves a partial file at `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Sets every BatchNorm's running mean and variance to the statistics of its input over a
/// batch of [`BATCHNORM_CALIBRATION_BATCH`] standard-normal inputs drawn from `seed`, all
/// layers at once: the graph runs in tract once, BatchNorms in training mode, so each layer
/// sees inputs already normalized by the layers before it. With those statistics the
/// eval-mode network computes on that batch exactly what the training-mode one does.
pub fn calibrate_batchnorm(graph: &mut Graph, seed: u64) -> Result<()> {
    let batched = rebatch(graph, BATCHNORM_CALIBRATION_BATCH)?;
    let options = onnx::EmitOptions { batchnorm_batch_statistics: true, ..onnx::EmitOptions::default() };
    let model = options.emit_with_extra_outputs(&batched, &[]).context("emitting the training-mode graph")?;
    let bns: Vec<String> = batched
        .execution_order()?
        .into_iter()
        .filter(|&id| matches!(batched.node(id).op, Op::BatchNorm(_)))
        .map(|id| batched.node(id).name.clone())
        .collect();
    if bns.is_empty() {
        return Ok(());
    }
    let main_outputs = batched.outputs().len();
    let compiled =
        CompiledModel::from_onnx_bytes(&onnx::to_bytes(&model)?, "BatchNorm calibration", &RunOptions::default())
            .context("compiling the training-mode graph with tract")?;
    let shape = compiled.input_shape().to_vec();
    let mut rng = SeededRng::derive(seed, "batchnorm.calibration");
    let data = (0..shape.iter().product::<usize>()).map(|_| rng.normal()).collect();
    let outputs = compiled.run(&TensorF32::new(shape, data)?).context("running the training-mode graph")?;
    ensure!(
        outputs.len() == main_outputs + 2 * bns.len(),
        "expected {} outputs from the training-mode graph, got {}",
        main_outputs + 2 * bns.len(),
        outputs.len()
    );
    let stats: BatchNormStatistics = bns
        .into_iter()
        .zip(outputs[main_outputs..].chunks(2))
        .map(|(name, pair)| (name, (pair[0].data.clone(), pair[1].data.clone())))
        .collect();
    lower::set_batchnorm_statistics(graph, &stats)?;
    Ok(())
}

/// A copy of `graph` with its single input's batch dimension (axis 0) set to `batch`.
pub fn rebatch(graph: &Graph, batch: usize) -> Result<Graph> {
    let inputs = graph.inputs();
    let [input] = inputs.as_slice() else { bail!("expected a graph with one input, it has {}", inputs.len()) };
    let Op::Input(Input { ty }) = &graph.node(*input).op else { bail!("graph input is not an Input op") };
    let mut ty = ty.clone();
    match ty.shape.first_mut() {
        Some(n) => *n = batch,
        None => bail!("graph input `{}` is a scalar: no batch dimension", graph.node(*input).name),
    }
    let mut g = graph.clone();
    GraphPatch::new().replace_op(*input, Op::Input(Input { ty }), Vec::new()).apply(&mut g);
    g.infer_types().with_context(|| format!("re-inferring types at batch size {batch}"))?;
    Ok(g)
}
