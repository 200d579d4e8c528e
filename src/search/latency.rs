//! Where the latency objective comes from: a measurement backend of a target, or the
//! published latency column of the NB201 table (deterministic, for NB201 genomes).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_compiler::space::nb201::Nb201Table;
use edgenas_compiler::space::Genome;
use edgenas_runtime::{BenchConfig, CompiledModel, LatencyStats, LatencyUnit};
use edgenas_targets::{
    build_runner_with, DeviceArtifact, DeviceBackend, LocalBackend, MeasureBackend, QemuUserBackend, RemoteBackend,
    RunnerBuild, RunnerFeatures, RunnerProfile, Target, TargetKind,
};

use super::config::LatencyConfig;
use crate::deploy::DeviceModel;
use crate::quantization::Precision;

pub enum LatencySource {
    /// Wall clock on this host through tract.
    Host { backend: LocalBackend, bench: BenchConfig },
    /// `lat_ms_<device>` of the shipped NB201 table.
    Nb201Table { device: String },
    /// A cross target: each candidate shipped as `edgenas compile` would ship it (NNEF, or
    /// ONNX for int8) and run by the target's runner under its emulator (instruction
    /// counts) or through its remote commands (wall clock on the device).
    Device(Box<DeviceSource>),
}

/// What [`LatencySource::Device`] holds: the target, its backend, the runners built for it
/// (one per feature set, built on first need and kept), and a scratch directory for the
/// candidates' model files.
pub struct DeviceSource {
    target: Target,
    backend: Box<dyn DeviceBackend>,
    runners: Mutex<HashMap<RunnerFeatures, Result<PathBuf, String>>>,
    bench: BenchConfig,
    scratch: tempfile::TempDir,
}

impl LatencySource {
    /// The source `cfg.target` names. For a device target, the runners that `precisions`
    /// need are built here, so that a missing toolchain stops the search before it starts.
    pub fn from_config(cfg: &LatencyConfig, precisions: &[Precision]) -> Result<Self> {
        let bench = BenchConfig {
            time_cap: Duration::from_millis(cfg.time_cap_ms),
            spread_target: cfg.spread,
            ..BenchConfig::default()
        };
        if cfg.target == "host" {
            return Ok(LatencySource::Host { backend: LocalBackend::default(), bench });
        }
        if let Some(device) = cfg.target.strip_prefix("nb201-table:") {
            let devices = Nb201Table::builtin().devices();
            if !devices.iter().any(|d| d == device) {
                bail!("NB201 table has no device `{device}`; it has {}", devices.join(", "));
            }
            return Ok(LatencySource::Nb201Table { device: device.to_string() });
        }
        let target = Target::resolve(&cfg.target)
            .with_context(|| format!("latency target `{}` (host, nb201-table:<device>, or a target)", cfg.target))?;
        match target.kind {
            TargetKind::Host => bail!("latency target `{}` is a host descriptor: use `host`", cfg.target),
            TargetKind::Mcu => bail!("target `{}` is a microcontroller: its backend is not built yet", target.name),
            TargetKind::LinuxCross => {}
        }
        let device = DeviceSource::new(target, bench)?;
        for precision in precisions {
            device.runner(DeviceSource::runner_features(*precision))?;
        }
        Ok(LatencySource::Device(Box::new(device)))
    }

    /// What the latency numbers count.
    pub fn unit(&self) -> LatencyUnit {
        match self {
            LatencySource::Device(d) => d.target.unit,
            _ => LatencyUnit::Ms,
        }
    }

    /// Name used in the latency cache key and reports.
    pub fn target_name(&self) -> String {
        match self {
            LatencySource::Host { .. } => "host".into(),
            LatencySource::Nb201Table { device } => format!("nb201-table:{device}"),
            LatencySource::Device(d) => d.target.name.clone(),
        }
    }

    /// Whether measuring needs the compiled model.
    pub fn needs_model(&self) -> bool {
        matches!(self, LatencySource::Host { .. })
    }

    /// Latency of one candidate whose deployed ONNX model is `onnx`; `model` (its tract
    /// compilation) is required when [`Self::needs_model`].
    pub fn measure(&self, genome: &Genome, onnx: &[u8], model: Option<&CompiledModel>) -> Result<LatencyStats> {
        match self {
            LatencySource::Device(d) => d.measure(onnx),
            LatencySource::Host { backend, bench } => {
                let model = model.context("host latency needs the compiled model")?;
                Ok(backend.measure(model, bench)?)
            }
            LatencySource::Nb201Table { device } => {
                let Genome::Nb201(g) = genome else {
                    bail!("latency target nb201-table:{device} only knows NB201 genomes");
                };
                let ms = Nb201Table::builtin().latency_ms(g.index, device).context("NB201 index out of range")?;
                Ok(LatencyStats {
                    unit: LatencyUnit::Ms,
                    median: ms,
                    p10: ms,
                    p90: ms,
                    mean: ms,
                    min: ms,
                    max: ms,
                    n: 1,
                    warmup: 0,
                    relative_spread: 0.0,
                    converged: true,
                })
            }
        }
    }
}

impl DeviceSource {
    /// The backend of `target` (a `linux-cross` one): its remote commands when it has
    /// some, else its emulator. Builds nothing yet.
    pub fn new(target: Target, bench: BenchConfig) -> Result<Self> {
        let backend: Box<dyn DeviceBackend> = if target.remote.is_some() {
            Box::new(RemoteBackend::new(target.clone())?)
        } else {
            Box::new(QemuUserBackend::new(target.clone())?)
        };
        let scratch = tempfile::tempdir().context("creating a scratch directory for device models")?;
        Ok(DeviceSource { target, backend, runners: Mutex::new(HashMap::new()), bench, scratch })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Measures the ONNX model `onnx` on the device: saved as NNEF, or shipped as ONNX to a
    /// runner with the ONNX parser when NNEF cannot hold it (int8 QDQ graphs).
    pub fn measure(&self, onnx: &[u8]) -> Result<LatencyStats> {
        let shipped = DeviceModel::for_onnx(onnx, None)?;
        let runner = self.runner(shipped.features)?;
        let model = self.scratch.path().join(shipped.file);
        std::fs::write(&model, &shipped.bytes).with_context(|| format!("writing {}", model.display()))?;
        let artifact = DeviceArtifact { runner, model, input: None };
        Ok(self.backend.measure(&artifact, &self.bench)?)
    }

    /// The runner features a model of `precision` from our emitter needs: int8 graphs are
    /// QDQ or QOperator ONNX, which NNEF cannot hold.
    pub fn runner_features(precision: Precision) -> RunnerFeatures {
        RunnerFeatures { onnx: precision.is_int8(), nnef_onnx_ops: false }
    }

    /// The release runner with `features`, built for the target on first use (cargo
    /// reuses earlier builds: only the first one of a target and feature set takes minutes).
    /// A failed build is remembered and reported again without rebuilding.
    fn runner(&self, features: RunnerFeatures) -> Result<PathBuf> {
        let mut runners = self.runners.lock().map_err(|_| anyhow::anyhow!("a runner build panicked"))?;
        if let Some(runner) = runners.get(&features) {
            return runner.clone().map_err(|e| anyhow::anyhow!("{e}"));
        }
        let build = RunnerBuild { features, ..RunnerBuild::new(RunnerProfile::Release) };
        let names = features.names();
        eprintln!(
            "building the runner for {}{} (cached after the first build)",
            self.target.name,
            if names.is_empty() { String::new() } else { format!(" with {}", names.join(",")) }
        );
        let dir = self.scratch.path().join(if names.is_empty() { "default".to_string() } else { names.join("+") });
        let runner = std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))
            .and_then(|()| {
                build_runner_with(&self.target, &build, &dir)
                    .with_context(|| format!("building the runner for `{}`", self.target.name))
            })
            .map_err(|e| format!("{e:#}"));
        runners.insert(features, runner.clone());
        runner.map_err(|e| anyhow::anyhow!("{e}"))
    }
}
