//! Where the latency objective comes from: this host (tract, wall clock), the published
//! latency column of the NB201 table (deterministic, NB201 genomes only), a target's
//! device backend (emulated instructions, or wall clock on a remote device), or any
//! [`LatencySource`] the program running the search implements itself.

use std::time::{Duration, Instant};

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Table;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_deploy::{
    emit_genome, quantize_for_target, BatchNormInit, DeployError, DeployProgress, DeviceMeasurer, McuMeasurer,
};
use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit};
use edgenas_targets::{LocalBackend, MeasureBackend, Measurement, Target};

use crate::config::LatencyConfig;
use crate::{BoxError, SearchError};

/// One candidate as it is measured.
#[derive(Debug, Clone, Copy)]
pub struct LatencyInput<'a> {
    pub genome: &'a Genome,
    pub precision: Precision,
    /// The deployed ONNX model (already in `precision`).
    pub onnx: &'a [u8],
}

/// A latency source's verdict on one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub latency: LatencyStats,
    /// Time spent preparing the model for measurement (a tract compile, an NNEF save);
    /// zero when there is nothing to prepare.
    pub compile: Duration,
}

/// Models a source may build its tools for before the first candidate: one per precision
/// the search proposes ([`Probes::model`]).
pub struct Probes<'a> {
    pub(crate) space: &'a SearchSpace,
    pub(crate) weight_seed: u64,
    pub(crate) target: &'a Target,
    pub(crate) precisions: &'a [Precision],
}

impl Probes<'_> {
    /// The precisions the search proposes.
    pub fn precisions(&self) -> &[Precision] {
        self.precisions
    }

    /// A model of the search space deployed in `precision`, as a candidate would be.
    pub fn model(&self, precision: Precision) -> Result<Vec<u8>, DeployError> {
        let genome = self.space.sample(&mut SeededRng::derive(self.weight_seed, "latency.probe"));
        let bn = if precision.is_f32() { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
        let emitted = emit_genome(&genome, self.weight_seed, bn)?;
        quantize_for_target(&emitted.onnx, precision, self.target)
    }
}

/// Measures candidates. Implement it to put your own device or predictor in the loop
/// (see `examples/custom_search.rs`); a failure fails that candidate only.
pub trait LatencySource {
    /// The name in the run's config (`custom:<name>` for sources a program supplies), the
    /// latency cache key and reports.
    fn name(&self) -> String;
    /// What the numbers count.
    fn unit(&self) -> LatencyUnit;
    /// The target candidates are quantized for (its int8 layout); `None`: this host.
    fn quantization_target(&self) -> Option<&Target> {
        None
    }
    /// Called once before the first candidate: build what measuring needs, so a missing
    /// tool stops the run before it starts. Nothing by default.
    fn prepare(&self, _probes: &Probes<'_>, _progress: &mut dyn FnMut(&DeployProgress<'_>)) -> Result<(), BoxError> {
        Ok(())
    }
    /// The latency of one candidate.
    fn measure(
        &self,
        input: &LatencyInput<'_>,
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<Measured, BoxError>;
}

/// Wall clock on this host through tract; the name is `host`, or that of a `host`
/// descriptor without `[remote]` commands.
pub struct HostLatency {
    name: String,
    target: Target,
    bench: BenchConfig,
}

impl HostLatency {
    pub fn new(target: Target, bench: BenchConfig) -> Self {
        HostLatency { name: target.name.clone(), target, bench }
    }
}

impl LatencySource for HostLatency {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn unit(&self) -> LatencyUnit {
        LatencyUnit::Ms
    }

    fn quantization_target(&self) -> Option<&Target> {
        Some(&self.target)
    }

    fn measure(&self, input: &LatencyInput<'_>, _: &mut dyn FnMut(&DeployProgress<'_>)) -> Result<Measured, BoxError> {
        let start = Instant::now();
        let label = input.genome.content_hash();
        let (model, _) = edgenas_deploy::compile_on_host(&label, input.onnx)?;
        let compile = start.elapsed();
        let latency = LocalBackend::default().measure(&model, &self.bench)?;
        Ok(Measured { latency, compile })
    }
}

/// The `lat_ms_<device>` column of the shipped NB201 table.
pub struct TableLatency {
    device: String,
}

impl TableLatency {
    /// Errors when the table has no such device, listing the ones it has.
    pub fn new(device: &str) -> Result<Self, String> {
        let devices = Nb201Table::builtin().devices();
        if !devices.iter().any(|d| d == device) {
            return Err(format!("NB201 table has no device `{device}`; it has {}", devices.join(", ")));
        }
        Ok(TableLatency { device: device.to_string() })
    }
}

impl LatencySource for TableLatency {
    fn name(&self) -> String {
        format!("nb201-table:{}", self.device)
    }

    fn unit(&self) -> LatencyUnit {
        LatencyUnit::Ms
    }

    fn measure(&self, input: &LatencyInput<'_>, _: &mut dyn FnMut(&DeployProgress<'_>)) -> Result<Measured, BoxError> {
        let Genome::Nb201(g) = input.genome else {
            return Err(format!("latency target nb201-table:{} only knows NB201 genomes", self.device).into());
        };
        let ms = Nb201Table::builtin().latency_ms(g.index, &self.device).ok_or("NB201 index out of range")?;
        let latency =
            LatencyStats::from_samples(LatencyUnit::Ms, &[ms], 0, 0.0).ok_or("the table latency is not finite")?;
        Ok(Measured { latency, compile: Duration::ZERO })
    }
}

/// A target's device backend: each candidate shipped as `edgenas compile` ships it and run
/// by the target's runner under its emulator (instructions) or on the device through its
/// `[remote]` commands (wall clock).
pub struct DeviceLatency {
    measurer: DeviceMeasurer,
}

impl DeviceLatency {
    pub fn new(measurer: DeviceMeasurer) -> Self {
        DeviceLatency { measurer }
    }
}

impl LatencySource for DeviceLatency {
    fn name(&self) -> String {
        self.measurer.target().name.clone()
    }

    fn unit(&self) -> LatencyUnit {
        self.measurer.unit()
    }

    fn quantization_target(&self) -> Option<&Target> {
        Some(self.measurer.target())
    }

    /// Builds the runner every precision's models need.
    fn prepare(&self, probes: &Probes<'_>, progress: &mut dyn FnMut(&DeployProgress<'_>)) -> Result<(), BoxError> {
        let models = probes.precisions().iter().map(|&p| probes.model(p)).collect::<Result<Vec<_>, _>>()?;
        Ok(self.measurer.prepare(&models, progress)?)
    }

    fn measure(
        &self,
        input: &LatencyInput<'_>,
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<Measured, BoxError> {
        let latency = self.measurer.measure(input.onnx, progress)?;
        Ok(Measured { latency, compile: Duration::ZERO })
    }
}

/// Instructions per inference of the candidate's firmware under the target's QEMU board
/// (kind `mcu`): lowered to C, checked against SRAM and flash, built, run.
pub struct McuLatency {
    measurer: McuMeasurer,
}

impl McuLatency {
    pub fn new(measurer: McuMeasurer) -> Self {
        McuLatency { measurer }
    }
}

impl LatencySource for McuLatency {
    fn name(&self) -> String {
        self.measurer.target().name.clone()
    }

    fn unit(&self) -> LatencyUnit {
        LatencyUnit::Instructions
    }

    fn quantization_target(&self) -> Option<&Target> {
        Some(self.measurer.target())
    }

    fn measure(
        &self,
        input: &LatencyInput<'_>,
        _progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<Measured, BoxError> {
        let measured = self.measurer.measure(input.onnx)?;
        Ok(Measured { latency: measured.latency, compile: Duration::ZERO })
    }
}

/// The built-in source `cfg.target` names (see [`LatencyConfig::target`]).
///
/// Errors: an unknown NB201 device or target, a microcontroller target (no backend yet), a
/// `custom:` source (the program must supply it).
pub fn latency_source(cfg: &LatencyConfig) -> Result<Box<dyn LatencySource + Send + Sync>, SearchError> {
    let bench = BenchConfig {
        time_cap: Duration::from_millis(cfg.time_cap_ms),
        spread_target: cfg.spread,
        ..BenchConfig::default()
    };
    let failed = |source: BoxError| SearchError::Latency { name: cfg.target.clone(), source };
    if cfg.target == "host" {
        return Ok(Box::new(HostLatency::new(Target::host(), bench)));
    }
    if let Some(device) = cfg.target.strip_prefix("nb201-table:") {
        return Ok(Box::new(TableLatency::new(device).map_err(|e| failed(e.into()))?));
    }
    if let Some(rest) = cfg.target.strip_prefix("stand-in:") {
        let (ms, inner) = rest.split_once(':').unwrap_or((rest, ""));
        let delay = ms.strip_suffix("ms").unwrap_or(ms).parse::<u64>().map_err(|_| {
            failed(format!("`stand-in:<ms>:<target>` needs a whole number of milliseconds, got `{ms}`").into())
        })?;
        if inner.is_empty() || inner.starts_with("stand-in:") {
            return Err(failed("`stand-in:<ms>:<target>` needs the target whose latencies it reports".into()));
        }
        let inner = latency_source(&LatencyConfig { target: inner.to_string(), ..cfg.clone() })?;
        return Ok(Box::new(StandInLatency { name: cfg.target.clone(), delay: Duration::from_millis(delay), inner }));
    }
    if let Some(name) = cfg.target.strip_prefix("custom:") {
        return Err(failed(
            format!(
                "`{name}` is a latency source the program running the search supplies (Search::with_latency_source)"
            )
            .into(),
        ));
    }
    let target = Target::resolve(&cfg.target).map_err(|e| failed(e.into()))?;
    match target.measurement() {
        Measurement::Local => Ok(Box::new(HostLatency::new(target, bench))),
        Measurement::Microcontroller => {
            Ok(Box::new(McuLatency::new(McuMeasurer::new(target, bench).map_err(|e| failed(e.into()))?)))
        }
        Measurement::Emulated | Measurement::Remote => {
            Ok(Box::new(DeviceLatency::new(DeviceMeasurer::new(target, bench).map_err(|e| failed(e.into()))?)))
        }
    }
}

/// `stand-in:<ms>:<target>`: a stand-in device for sizing and testing a farm. Each
/// measurement takes `<ms>` of wall time (sleeping, so workers on one machine do not
/// compete for its cores) and reports what `<target>` measures (a deterministic table,
/// say). Its latencies are `<target>`'s; the wall time is not a latency.
pub struct StandInLatency {
    name: String,
    delay: Duration,
    inner: Box<dyn LatencySource + Send + Sync>,
}

impl LatencySource for StandInLatency {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn unit(&self) -> LatencyUnit {
        self.inner.unit()
    }

    fn quantization_target(&self) -> Option<&Target> {
        self.inner.quantization_target()
    }

    fn prepare(&self, probes: &Probes<'_>, progress: &mut dyn FnMut(&DeployProgress<'_>)) -> Result<(), BoxError> {
        self.inner.prepare(probes, progress)
    }

    fn measure(
        &self,
        input: &LatencyInput<'_>,
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<Measured, BoxError> {
        std::thread::sleep(self.delay);
        self.inner.measure(input, progress)
    }
}
