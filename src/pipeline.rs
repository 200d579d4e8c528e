//! One candidate through the model side of the pipeline, with stage timings.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgenas_compiler::ir::Graph;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::Genome;
use edgenas_compiler::{lower, onnx};

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

/// Builds the genome's graph, initializes weights from `seed`, applies the deploy
/// rewrites and serializes the ONNX model (genome JSON, hash and seed in its metadata).
pub fn emit_genome(genome: &Genome, seed: u64) -> Result<EmittedModel> {
    let t0 = Instant::now();
    let graph = genome.build().with_context(|| format!("building the graph of genome {}", genome.content_hash()))?;
    let t1 = Instant::now();
    let deployed = lower::lower(&graph, seed).context("lowering the graph")?;
    let t2 = Instant::now();
    let options = onnx::EmitOptions {
        name: genome.space_name().to_string(),
        metadata: vec![
            ("edgenas.genome".into(), genome.to_json()),
            ("edgenas.genome_hash".into(), genome.content_hash()),
            ("edgenas.weight_seed".into(), seed.to_string()),
        ],
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
