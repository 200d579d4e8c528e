//! Latency of one model on one target, the way a search measures its candidates: in this
//! process with tract (kind `host`), or shipped as `compile` ships it and run by the
//! target's runner under its emulator (instruction counts) or on the device through its
//! `[remote]` commands (wall clock). [`Target::measurement`] decides which.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use edgenas_compiler::quantize::Precision;
use edgenas_runtime::{error_chain, BenchConfig, LatencyStats, LatencyUnit, ModelProfile};
use edgenas_targets::{
    build_runner_with, device_backend, DeviceArtifact, DeviceBackend, LocalBackend, MeasureBackend, Measurement,
    RunnerBuild, RunnerFeatures, RunnerProfile, Target,
};
use serde::Serialize;

use crate::error::DeployError;
use crate::DeployProgress;

/// Measures ONNX models on one device target (emulated or remote): each model is shipped
/// as [`crate::engine::device_model`] decides (an int8 program, NNEF, or ONNX) to the
/// release runner with the features that file needs. Runners are built on first need (one
/// per feature set, into a scratch directory of their own) and kept; a failed build is
/// remembered and reported again without rebuilding.
pub struct DeviceMeasurer {
    target: Target,
    backend: Box<dyn DeviceBackend + Send + Sync>,
    runners: Mutex<HashMap<RunnerFeatures, Result<PathBuf, String>>>,
    bench: BenchConfig,
    scratch: tempfile::TempDir,
}

impl DeviceMeasurer {
    /// The measurer of `target` with its backend ([`edgenas_targets::device_backend`]).
    /// Builds nothing yet.
    pub fn new(target: Target, bench: BenchConfig) -> Result<Self, DeployError> {
        let backend = device_backend(&target)?;
        let scratch = tempfile::Builder::new()
            .prefix("edgenas-device-")
            .tempdir()
            .map_err(DeployError::io("creating a scratch directory in", std::env::temp_dir()))?;
        Ok(DeviceMeasurer { target, backend, runners: Mutex::new(HashMap::new()), bench, scratch })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What this measurer's numbers count: the unit of the target's backend.
    pub fn unit(&self) -> LatencyUnit {
        self.target.unit()
    }

    /// Builds, before anything is measured, the runners that `models` need (e.g. one
    /// model per precision a search will propose), so that a missing toolchain stops a run
    /// before its first candidate.
    pub fn prepare(
        &self,
        models: &[Vec<u8>],
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<(), DeployError> {
        for onnx in models {
            let shipped = crate::engine::device_model(onnx, &self.target, None)?;
            self.runner(shipped.features, progress)?;
        }
        Ok(())
    }

    /// Measures the ONNX model `onnx` on the device.
    pub fn measure(
        &self,
        onnx: &[u8],
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<LatencyStats, DeployError> {
        let shipped = crate::engine::device_model(onnx, &self.target, None)?;
        let runner = self.runner(shipped.features, progress)?;
        let model = self.scratch.path().join(shipped.file);
        std::fs::write(&model, &shipped.bytes).map_err(DeployError::io("writing", &model))?;
        let artifact = DeviceArtifact { runner, model, input: None };
        Ok(self.backend.measure(&artifact, &self.bench)?)
    }

    /// Profiles the ONNX model `onnx` on the device node by node
    /// ([`DeviceBackend::profile`]).
    pub fn profile(
        &self,
        onnx: &[u8],
        runs: usize,
        time_cap: std::time::Duration,
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<ModelProfile, DeployError> {
        let shipped = crate::engine::device_model(onnx, &self.target, None)?;
        let runner = self.runner(shipped.features, progress)?;
        let model = self.scratch.path().join(shipped.file);
        std::fs::write(&model, &shipped.bytes).map_err(DeployError::io("writing", &model))?;
        let artifact = DeviceArtifact { runner, model, input: None };
        Ok(self.backend.profile(&artifact, runs, time_cap)?)
    }

    /// The release runner with `features`, built for the target on first use (cargo reuses
    /// earlier builds: only the first one of a target and feature set takes minutes).
    fn runner(
        &self,
        features: RunnerFeatures,
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<PathBuf, DeployError> {
        let remembered = |e: &String| DeployError::Invalid(e.clone());
        let mut runners = self.runners.lock().map_err(|_| DeployError::Invalid("a runner build panicked".into()))?;
        if let Some(runner) = runners.get(&features) {
            return runner.clone().map_err(|e| remembered(&e));
        }
        let build = RunnerBuild { features, ..RunnerBuild::new(RunnerProfile::Release) };
        let names = features.names();
        let dir = self.scratch.path().join(if names.is_empty() { "default".to_string() } else { names.join("+") });
        let built = std::fs::create_dir_all(&dir)
            .map_err(DeployError::io("creating", &dir))
            .and_then(|()| {
                build_runner_with(&self.target, &build, &dir, &mut |p| progress(&DeployProgress::Runner(p)))
                    .map_err(|source| DeployError::Build { target: self.target.name.clone(), source })
            })
            .map_err(|e| error_chain(&e));
        runners.insert(features, built.clone());
        built.map_err(|e| remembered(&e))
    }
}

/// What `edgenas bench` reports for one model.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub target: String,
    pub precision: Option<Precision>,
    pub threads: usize,
    /// tract's load times in this process (measured here only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimize_ms: Option<f64>,
    /// What ran the model in this process: tract's ONNX import, or the project's int8 ops
    /// for an integer-only model (measured here only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::Int8Engine>,
    pub latency: LatencyStats,
}

/// Measures the ONNX model `onnx` (named `label`) on `target` with `bench`: in this
/// process for a `host` target measured locally, else through a [`DeviceMeasurer`] (so a
/// descriptor with `[remote]` commands is measured on its device, never here).
/// `precision` is only recorded: quantize first with [`crate::quantize_for_target`].
///
/// A microcontroller target measures the integer-only int8 model as firmware under its
/// QEMU board ([`crate::McuMeasurer`]).
///
/// Errors: `bench.threads` other than 1 on a device (the runner is single-threaded), and
/// every failure of loading, lowering, building or measuring.
pub fn bench_model(
    label: &str,
    onnx: &[u8],
    target: &Target,
    precision: Option<Precision>,
    bench: &BenchConfig,
    progress: &mut dyn FnMut(&DeployProgress<'_>),
) -> Result<BenchReport, DeployError> {
    let measured_here = target.measurement() == Measurement::Local;
    if bench.threads != 1 && !measured_here {
        return Err(DeployError::Invalid(format!(
            "--threads applies to this host; the runner on `{}` runs one thread",
            target.name
        )));
    }
    let (latency, parse_ms, optimize_ms, engine) = if target.kind == edgenas_targets::TargetKind::Mcu {
        let mcu = crate::McuMeasurer::new(target.clone(), bench.clone())?;
        (mcu.measure(onnx)?.latency, None, None, None)
    } else if measured_here {
        let (model, engine) = crate::compile_on_host(label, onnx)?;
        let latency = LocalBackend::default().measure(&model, bench)?;
        let t = model.timings();
        (latency, Some(t.parse.as_secs_f64() * 1e3), Some(t.optimize.as_secs_f64() * 1e3), Some(engine))
    } else {
        let device = DeviceMeasurer::new(target.clone(), bench.clone())?;
        (device.measure(onnx, progress)?, None, None, None)
    };
    Ok(BenchReport {
        model: label.to_string(),
        target: target.name.clone(),
        precision,
        threads: bench.threads,
        parse_ms,
        optimize_ms,
        engine,
        latency,
    })
}
