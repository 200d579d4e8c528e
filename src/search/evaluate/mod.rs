//! Accuracy evaluators behind one trait: the NB201 table, training-free proxies, and an
//! external training command.

use std::path::{Path, PathBuf};

use edgenas_compiler::ir::Graph;
use edgenas_compiler::space::Genome;

/// What an evaluator may look at for one candidate.
pub struct EvalContext<'a> {
    pub genome: &'a Genome,
    /// The architecture graph (types inferred, no weights).
    pub graph: &'a Graph,
    /// The emitted f32 ONNX model, also written at `onnx_path`.
    pub onnx: &'a [u8],
    pub onnx_path: &'a Path,
    /// `genome.json` of this candidate, written next to the model.
    pub arch_json_path: &'a Path,
    /// A directory of this candidate's own, for evaluator outputs.
    pub workdir: &'a Path,
}

/// An evaluator's verdict on one candidate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccuracyResult {
    /// Higher is better (a percentage for the table, a score for proxies).
    pub accuracy: f64,
    /// A trained ONNX model the evaluator produced, if any.
    pub trained_onnx: Option<PathBuf>,
}

/// Scores candidates; a failure marks that candidate failed and the search goes on.
pub trait AccuracyEvaluator {
    fn name(&self) -> String;
    fn evaluate(&self, ctx: &EvalContext<'_>) -> anyhow::Result<AccuracyResult>;
}
