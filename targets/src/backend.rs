use edgenas_runtime::{benchmark, BenchConfig, CompiledModel, LatencyStats, RuntimeError};
use thiserror::Error;

use crate::Target;

/// Why a measurement failed.
#[derive(Debug, Error)]
pub enum MeasureError {
    #[error("measuring on target `{target}`")]
    Runtime { target: String, source: RuntimeError },
    /// A tool or the device could not be started or reached.
    #[error("target `{target}`: {reason}")]
    Unavailable { target: String, reason: String },
    /// The runner or a device command ran but failed, hung or printed something unusable,
    /// on every attempt.
    #[error("target `{target}`: {reason} (after {attempts} attempt(s))")]
    Failed { target: String, attempts: usize, reason: String },
}

/// Measures the latency of a compiled model on one target.
pub trait MeasureBackend {
    fn target(&self) -> &Target;
    fn measure(&self, model: &CompiledModel, config: &BenchConfig) -> Result<LatencyStats, MeasureError>;
}

/// Wall-clock latency on this host, in ms.
pub struct LocalBackend {
    /// Boxed: a descriptor is a few hundred bytes, a backend is moved around by value.
    target: Box<Target>,
}

impl Default for LocalBackend {
    fn default() -> Self {
        LocalBackend { target: Box::new(Target::host()) }
    }
}

impl MeasureBackend for LocalBackend {
    fn target(&self) -> &Target {
        &self.target
    }

    fn measure(&self, model: &CompiledModel, config: &BenchConfig) -> Result<LatencyStats, MeasureError> {
        benchmark(model, config).map_err(|source| MeasureError::Runtime { target: self.target.name.clone(), source })
    }
}
