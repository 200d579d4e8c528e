//! Measuring a deployed artifact (the cross-built runner and a model) on a device, real or
//! emulated.
//!
//! The runner contract every device backend relies on (`edgenas-runner`, built from
//! `runtime/runner`):
//! - `RUNNER run MODEL --input IN.npy --output OUT.npy` writes the first output.
//! - `RUNNER bench MODEL [--input IN.npy] --warmup W --repeat N --json` runs W unmeasured
//!   and N measured single inferences and prints, as its last stdout line, the
//!   [`LatencyStats`] JSON of the wall-clock samples (unit `ms`).
//! - Each inference (warm-up ones included) is bracketed by calls to the exported,
//!   never-inlined functions `edgenas_inference_begin` and `edgenas_inference_end` (each
//!   does a volatile write, so no optimizer removes them): an emulator counts the
//!   instructions executed between them, one window per inference, and keeps the last N.

use std::path::PathBuf;

use std::time::Duration;

use edgenas_runtime::{BenchConfig, LatencyStats, ModelProfile};

use crate::{MeasureError, Measurement, Target};

/// Symbol called right before each measured inference.
pub const BEGIN_MARKER: &str = "edgenas_inference_begin";
/// Symbol called right after each measured inference.
pub const END_MARKER: &str = "edgenas_inference_end";

/// What a device backend runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceArtifact {
    /// The runner binary built for the target.
    pub runner: PathBuf,
    /// The model file the runner loads (`.nnef.tgz`, or `.onnx` for graphs NNEF cannot hold).
    pub model: PathBuf,
    /// An input `.npy`; without it the runner feeds a fixed pseudo-random input.
    pub input: Option<PathBuf>,
}

/// Measures a [`DeviceArtifact`] on one target. Every backend returns the same
/// [`LatencyStats`] (unit ms for wall clock, instructions for emulators) or an explicit
/// [`MeasureError`]; none reports emulated wall time.
pub trait DeviceBackend {
    fn target(&self) -> &Target;
    fn measure(&self, artifact: &DeviceArtifact, config: &BenchConfig) -> Result<LatencyStats, MeasureError>;

    /// Profiles the artifact node by node (the runner's `profile` command): `runs` pairs of
    /// a whole inference and a node-by-node one, within about `time_cap` of device time.
    /// Backends that cannot count per node say [`MeasureError::Unavailable`].
    fn profile(
        &self,
        artifact: &DeviceArtifact,
        runs: usize,
        time_cap: Duration,
    ) -> Result<ModelProfile, MeasureError> {
        let _ = (artifact, runs, time_cap);
        Err(MeasureError::Unavailable {
            target: self.target().name.clone(),
            reason: "per-node profiles are counted under emulation only (a `linux-cross` target without \
                     `[remote]`)"
                .to_string(),
        })
    }
}

/// The backend that measures artifacts on `target`, as [`Target::measurement`] decides:
/// [`crate::QemuUserBackend`] for an emulated target, [`crate::RemoteBackend`] for one
/// with `[remote]` commands (any kind but `mcu`), [`crate::McuBackend`] for a
/// microcontroller (the artifact's runner is its firmware ELF). Kind `host` without
/// `[remote]` is measured in this process ([`crate::LocalBackend`], no artifact):
/// [`MeasureError::Unavailable`].
pub fn device_backend(target: &Target) -> Result<Box<dyn DeviceBackend + Send + Sync>, MeasureError> {
    let unavailable = |reason: String| MeasureError::Unavailable { target: target.name.clone(), reason };
    match target.measurement() {
        Measurement::Emulated => Ok(Box::new(crate::QemuUserBackend::new(target.clone())?)),
        Measurement::Remote => {
            Ok(Box::new(crate::RemoteBackend::new(target.clone()).map_err(|e| unavailable(e.to_string()))?))
        }
        Measurement::Local => {
            Err(unavailable("kind `host` is measured in this process: it has no device runner to ship".into()))
        }
        Measurement::Microcontroller => Ok(Box::new(crate::McuBackend::new(target.clone())?)),
    }
}
