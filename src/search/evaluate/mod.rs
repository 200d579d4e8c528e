//! Accuracy evaluators behind one trait: the NB201 table, training-free proxies, and an
//! external training command.

mod command;
mod proxy;
mod table;

pub use command::CommandEvaluator;
pub use proxy::{naswot_score, spearman, ProxyEvaluator, ProxyKind, DEFAULT_NASWOT_BATCH, NASWOT_SINGULAR_SCORE};
pub use table::{Nb201Dataset, Nb201TableEvaluator};

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use edgenas_compiler::ir::Graph;
use edgenas_compiler::space::Genome;

use super::config::EvaluatorConfig;

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

/// The evaluator a search config names: `nb201-table` with its dataset, `proxy` (NASWOT at
/// batch [`DEFAULT_NASWOT_BATCH`] and seed 0, or a counting proxy), or `command` with its
/// argv and timeout. Errors on an unknown dataset or proxy, an empty argv, or a timeout
/// that is not a positive number of seconds.
pub fn make_evaluator(config: &EvaluatorConfig) -> anyhow::Result<Box<dyn AccuracyEvaluator + Send + Sync>> {
    Ok(match config {
        EvaluatorConfig::Nb201Table { dataset } => Box::new(Nb201TableEvaluator {
            dataset: dataset.parse().map_err(anyhow::Error::msg).context("evaluator.dataset")?,
        }),
        EvaluatorConfig::Proxy { proxy } => {
            Box::new(ProxyEvaluator::new(proxy.parse().map_err(anyhow::Error::msg).context("evaluator.proxy")?))
        }
        EvaluatorConfig::Command { argv, timeout_s } => {
            anyhow::ensure!(!argv.is_empty(), "evaluator.argv must name a program");
            let timeout = Duration::try_from_secs_f64(*timeout_s).ok().filter(|t| !t.is_zero()).with_context(|| {
                format!("evaluator.timeout_s must be a positive number of seconds, got {timeout_s}")
            })?;
            Box::new(CommandEvaluator { argv: argv.clone(), timeout })
        }
    })
}
