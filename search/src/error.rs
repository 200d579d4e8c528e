use std::path::PathBuf;

use edgenas_compiler::space::SpaceError;
use edgenas_deploy::DeployError;
use thiserror::Error;

/// An error of any type, from code this crate calls back (evaluators, latency sources).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a search run stopped: its configuration, its files or a source it depends on. One
/// candidate's failure is never a run failure (see [`CandidateError`]): it is journaled and
/// the run goes on.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The settings cannot describe a run; the message names the field.
    #[error("invalid search config: {0}")]
    Config(String),
    #[error("loading search space `{space}`")]
    Space { space: String, source: SpaceError },
    /// The latency source cannot be set up (unknown target, missing toolchain, ...).
    #[error("latency source `{name}`")]
    Latency { name: String, source: BoxError },
    /// The measurement queue (a device farm) failed: unreachable, or it lost its state.
    #[error("measurement queue {name}")]
    Queue { name: String, source: BoxError },
    /// The evaluator cannot be set up.
    #[error("evaluator `{name}`")]
    Evaluator { name: String, source: BoxError },
    /// Reading or writing a run file failed.
    #[error("{what} {}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    /// Writing a run file failed (atomically: the old file, if any, is kept).
    #[error("writing a run file")]
    Write(#[from] edgenas_runtime::RuntimeError),
    /// A line of a journal (or of the latency cache) cannot be read.
    #[error("{} line {line}: {reason}", path.display())]
    Journal { path: PathBuf, line: usize, reason: String },
    /// The journal holds a run other than the one this config proposes.
    #[error(
        "journal record {seq} is candidate {journaled} but this run proposes {proposed}: the run directory does not match its config"
    )]
    Replay { seq: usize, journaled: String, proposed: String },
    /// The constraints reject nearly every proposal.
    #[error("{proposals} proposals without filling the budget: the constraints reject almost everything")]
    Exhausted { proposals: usize },
    /// A front member could not be written again for the report.
    #[error("writing front member {key}")]
    Report { key: String, source: Box<DeployError> },
}

impl SearchError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SearchError {
        let path = path.into();
        move |source| SearchError::Io { what, path, source }
    }
}

/// The stage of the per-candidate pipeline a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Stage {
    /// The genome is not in the space, or its graph or cost analysis fails.
    Screen,
    /// Weights and ONNX emission.
    Emit,
    /// The precision rewrite.
    Quantize,
    /// Latency: compiling the model for the target and measuring it there.
    Measure,
    /// Accuracy.
    Evaluate,
}

/// Why one candidate failed: the stage and the cause. Journaled as text; the run goes on.
#[derive(Debug, Error)]
#[error("{stage} failed")]
pub struct CandidateError {
    pub stage: Stage,
    pub source: BoxError,
}

impl CandidateError {
    pub fn new(stage: Stage, source: impl Into<BoxError>) -> Self {
        CandidateError { stage, source: source.into() }
    }

    /// The whole chain on one line: `stage failed: cause: cause`.
    pub fn chain(&self) -> String {
        edgenas_runtime::error_chain(self)
    }
}
