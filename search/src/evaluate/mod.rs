//! Accuracy evaluators behind one trait: the NB201 table, training-free proxies, and an
//! external training command.

mod command;
mod proxy;
mod table;

pub use command::CommandEvaluator;
pub use proxy::{
    naswot_probe, naswot_score, NaswotProbe, ProxyEvaluator, ProxyKind, DEFAULT_NASWOT_BATCH, NASWOT_SINGULAR_SCORE,
};
pub use table::{Nb201Dataset, Nb201TableEvaluator};

use std::path::{Path, PathBuf};

use edgenas_compiler::ir::Graph;
use edgenas_compiler::space::Genome;
use edgenas_targets::timeout_from_secs;

use super::config::EvaluatorConfig;
use crate::{BoxError, SearchError};

/// What an evaluator may look at for one candidate.
pub struct EvalContext<'a> {
    pub genome: &'a Genome,
    /// The architecture graph (types inferred, no weights).
    pub graph: &'a Graph,
    /// The emitted f32 ONNX model, also written at `onnx_path` (when the evaluator
    /// [`AccuracyEvaluator::uses_files`]).
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
/// Implement it to plug in your own trainer or predictor (see `examples/custom_search.rs`).
pub trait AccuracyEvaluator {
    /// Names the evaluator in the run's config and reports; a resumed run needs an
    /// evaluator of the same name.
    fn name(&self) -> String;
    fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<AccuracyResult, BoxError>;
    /// Whether the evaluator reads the candidate's files (`onnx_path`, `arch_json_path`) or
    /// writes into `workdir`; when `false` the run neither writes them nor makes the
    /// directory (the paths are still given). `true` unless overridden.
    fn uses_files(&self) -> bool {
        true
    }
}

/// The evaluator a search config names: `nb201-table` with its dataset, `proxy` (NASWOT at
/// batch [`DEFAULT_NASWOT_BATCH`] and seed 0, or a counting proxy), or `command` with its
/// argv and timeout. Errors on an unknown dataset or proxy, an empty argv, a timeout that
/// is not a positive number of seconds up to 7 days, or a `custom` evaluator (one the
/// calling program supplies, which the config only names).
pub fn make_evaluator(config: &EvaluatorConfig) -> Result<Box<dyn AccuracyEvaluator + Send + Sync>, SearchError> {
    let invalid = |reason: String| SearchError::Config(reason);
    Ok(match config {
        EvaluatorConfig::Nb201Table { dataset } => Box::new(Nb201TableEvaluator {
            dataset: Nb201Dataset::parse(dataset).map_err(|e| invalid(format!("evaluator.dataset: {e}")))?,
        }),
        EvaluatorConfig::Proxy { proxy } => Box::new(ProxyEvaluator::new(
            ProxyKind::parse(proxy).map_err(|e| invalid(format!("evaluator.proxy: {e}")))?,
        )),
        EvaluatorConfig::Command { argv, timeout_s } => {
            if argv.is_empty() {
                return Err(invalid("evaluator.argv must name a program".into()));
            }
            let timeout = timeout_from_secs("evaluator.timeout_s", *timeout_s).map_err(invalid)?;
            Box::new(CommandEvaluator { argv: argv.clone(), timeout })
        }
        EvaluatorConfig::Custom { name } => {
            return Err(invalid(format!(
            "evaluator `{name}` is supplied by the program that runs the search: pass it with Search::with_evaluator"
        )))
        }
    })
}
