//! Predictors in the loop: latency predicted from hardware-agnostic features and from what
//! other devices measured (few-shot transfer to a new device), with an uncertainty, so a
//! search can pre-screen candidates and measure only those that matter.
//!
//! - [`regression`]: ridge and quadratic-kernel ridge regressions.
//! - [`ensemble`]: the leave-one-out weighted ensemble that makes a latency predictor.
//! - [`table_eval`]: the few-shot benchmark on a latency table (`predictor eval`).
//! - [`fit`]: `predictor fit` from run journals and latency caches.
//! - [`online`]: the predictor a `predict-then-measure` search refits as it measures.
//! - [`file`](mod@file): the versioned predictor file.

pub mod ensemble;
pub mod file;
pub mod fit;
pub mod online;
pub mod regression;
pub mod table_eval;

pub use ensemble::{LatencyEnsemble, Prediction};
pub use file::{PredictorFile, PREDICTOR_FORMAT_VERSION};

use std::path::PathBuf;

/// Why a predictor could not be fitted, evaluated, read or written.
#[derive(Debug, thiserror::Error)]
pub enum PredictorError {
    /// The settings or the data cannot make a predictor; the message says which.
    #[error("{0}")]
    Config(String),
    #[error("{what} {}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    /// The file is not a predictor file, or it is damaged.
    #[error("{} is not a valid predictor file: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The file was written by another predictor format.
    #[error("{} has predictor format version {found}, this edgenas reads version {expected}: refit it with `edgenas predictor fit`", path.display())]
    Version { path: PathBuf, found: u32, expected: u32 },
}
