//! Measurements sent elsewhere: the contract between the run loop and a queue of workers
//! (the device farm in `edgenas-farm`). The run loop stays the only one that proposes,
//! tells and journals; a [`MeasureQueue`] only carries measurement jobs out and their
//! outcomes back, in any order and possibly more than once.

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::space::Genome;
use edgenas_runtime::LatencyStats;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::CacheKey;
use crate::BoxError;

/// One measurement to make: a deployed model (the candidate in its precision, laid out
/// for the target) and the latency target that must measure it. It carries no command:
/// a worker measures with the backends its own configuration names.
#[derive(Debug, Clone, Copy)]
pub struct MeasureJob<'a> {
    /// [`job_id`] of the measurement: equal for equal models on equal targets, so a
    /// duplicate outcome can be recognized.
    pub id: &'a str,
    /// The latency target's name (the run's `latency.target`).
    pub target: &'a str,
    pub genome: &'a Genome,
    pub precision: Precision,
    /// The deployed model, ONNX bytes.
    pub model: &'a [u8],
    pub model_sha256: &'a str,
}

/// A latency measured by a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteMeasurement {
    pub latency: LatencyStats,
    /// Time the worker spent preparing the model (tract compile, NNEF save), ms.
    pub compile_ms: f64,
    /// Time the worker spent measuring, ms.
    pub measure_ms: f64,
}

/// The final answer to a job: its measurement, or why it has none (the last error of a
/// job that failed every delivery, named as such).
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub id: String,
    pub result: Result<RemoteMeasurement, String>,
    /// Name of the worker that answered (empty for a job the queue gave up on).
    pub worker: String,
}

/// Where a run sends its measurements when they are not made in its own process.
///
/// Contract: every submitted job eventually yields exactly one [`JobOutcome`] from
/// [`MeasureQueue::next_outcome`] (retries and duplicates are the queue's business), unless
/// the queue fails, which stops the run with the error; submitting an id that is already
/// outstanding (also from an earlier process of the same run) sends nothing new.
pub trait MeasureQueue {
    /// A short description for messages (`redis://host:6379`, never a password).
    fn name(&self) -> String;
    /// Called once before the first job, with the latency target's name: wait for workers,
    /// set up streams. Nothing by default.
    fn start(&mut self, _target: &str) -> Result<(), BoxError> {
        Ok(())
    }
    /// Sends a job (or does nothing when it is already outstanding).
    fn submit(&mut self, job: &MeasureJob<'_>) -> Result<(), BoxError>;
    /// Blocks until the next outcome of a submitted job.
    fn next_outcome(&mut self) -> Result<JobOutcome, BoxError>;
}

/// The job id of a measurement: the SHA-256 of the model's hash, the target and the
/// precision (the latency cache key), hex, 32 characters.
pub fn job_id(key: &CacheKey) -> String {
    let mut h = Sha256::new();
    for part in [key.model_sha256.as_str(), key.target.as_str(), key.precision.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}
