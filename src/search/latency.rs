//! Where the latency objective comes from: a measurement backend of a target, or the
//! published latency column of the NB201 table (deterministic, for NB201 genomes).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_compiler::space::nb201::Nb201Table;
use edgenas_compiler::space::Genome;
use edgenas_runtime::{save_nnef, BenchConfig, CompiledModel, LatencyStats, LatencyUnit, RuntimeError};
use edgenas_targets::{
    build_runner_with, DeviceArtifact, DeviceBackend, LocalBackend, MeasureBackend, QemuUserBackend, RemoteBackend,
    RunnerBuild, RunnerProfile, Target, TargetKind,
};

use super::config::LatencyConfig;

pub enum LatencySource {
    /// Wall clock on this host through tract.
    Host { backend: LocalBackend, bench: BenchConfig },
    /// `lat_ms_<device>` of the shipped NB201 table.
    Nb201Table { device: String },
    /// A cross target: each candidate saved as NNEF and run by the target's runner (built
    /// once, default features: the same build `edgenas compile` makes) under its emulator (instruction counts) or through its remote
    /// commands (wall clock on the device).
    Device(Box<DeviceSource>),
}

/// What [`LatencySource::Device`] holds: the target, its backend, the runner built once for
/// it, and a scratch directory for the candidates' model files.
pub struct DeviceSource {
    target: Target,
    backend: Box<dyn DeviceBackend>,
    runner: PathBuf,
    bench: BenchConfig,
    scratch: tempfile::TempDir,
}

impl LatencySource {
    pub fn from_config(cfg: &LatencyConfig) -> Result<Self> {
        if cfg.target == "host" {
            let bench = BenchConfig {
                time_cap: Duration::from_millis(cfg.time_cap_ms),
                spread_target: cfg.spread,
                ..BenchConfig::default()
            };
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
        let scratch = tempfile::tempdir().context("creating a scratch directory for device models")?;
        let build = RunnerBuild::new(RunnerProfile::Release);
        eprintln!("building the runner for {} (cached after the first build)", target.name);
        let runner = build_runner_with(&target, &build, scratch.path())
            .with_context(|| format!("building the runner for `{}`", target.name))?;
        let backend: Box<dyn DeviceBackend> = if target.remote.is_some() {
            Box::new(RemoteBackend::new(target.clone())?)
        } else {
            Box::new(QemuUserBackend::new(target.clone())?)
        };
        let bench = BenchConfig {
            time_cap: Duration::from_millis(cfg.time_cap_ms),
            spread_target: cfg.spread,
            ..BenchConfig::default()
        };
        Ok(LatencySource::Device(Box::new(DeviceSource { target, backend, runner, bench, scratch })))
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
    fn measure(&self, onnx: &[u8]) -> Result<LatencyStats> {
        let nnef = save_nnef(onnx, None).map_err(|e| match e {
            RuntimeError::NnefSave(why) => anyhow::anyhow!(
                "the candidate cannot be saved as NNEF ({why}); device targets measure f32 and f16 candidates \
                 (int8 graphs need the ONNX-capable runner, not wired into search yet)"
            ),
            e => anyhow::Error::new(e).context("saving the candidate as NNEF"),
        })?;
        let model = self.scratch.path().join("model.nnef.tgz");
        std::fs::write(&model, nnef).with_context(|| format!("writing {}", model.display()))?;
        let artifact = DeviceArtifact { runner: self.runner.clone(), model, input: None };
        Ok(self.backend.measure(&artifact, &self.bench)?)
    }
}
