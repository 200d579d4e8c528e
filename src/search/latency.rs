//! Where the latency objective comes from: a measurement backend of a target, or the
//! published latency column of the NB201 table (deterministic, for NB201 genomes).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_compiler::space::nb201::Nb201Table;
use edgenas_compiler::space::Genome;
use edgenas_runtime::{BenchConfig, CompiledModel, LatencyStats, LatencyUnit};
use edgenas_targets::{LocalBackend, MeasureBackend};

use super::config::LatencyConfig;

pub enum LatencySource {
    /// Wall clock on this host through tract.
    Host { backend: LocalBackend, bench: BenchConfig },
    /// `lat_ms_<device>` of the shipped NB201 table.
    Nb201Table { device: String },
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
        bail!("unknown latency target `{}`: use `host` or `nb201-table:<device>`", cfg.target)
    }

    /// Name used in the latency cache key and reports.
    pub fn target_name(&self) -> String {
        match self {
            LatencySource::Host { .. } => "host".into(),
            LatencySource::Nb201Table { device } => format!("nb201-table:{device}"),
        }
    }

    /// Whether measuring needs the compiled model.
    pub fn needs_model(&self) -> bool {
        matches!(self, LatencySource::Host { .. })
    }

    /// Latency of one candidate; `model` is required when [`Self::needs_model`].
    pub fn measure(&self, genome: &Genome, model: Option<&CompiledModel>) -> Result<LatencyStats> {
        match self {
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
