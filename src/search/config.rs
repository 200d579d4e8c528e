//! A search run's settings: from the command line or a TOML file, copied into the run
//! directory so `--resume` continues with exactly the same settings.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::strategy::StrategyKind;
use crate::quantization::Precision;

/// Everything that determines a search run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// nb201, mbconv-phone, mbconv-mcu, or a space TOML path.
    pub space: String,
    pub strategy: StrategyKind,
    /// Evaluated candidates (rejected-by-cost-model candidates do not count).
    pub budget: usize,
    pub seed: u64,
    /// Seed of the He-initialized weights of emitted models.
    #[serde(default)]
    pub weight_seed: u64,
    /// Objectives, all optimized jointly: accuracy (max), latency, params, macs,
    /// peak_memory (min). The first is the primary one for single-objective strategies.
    #[serde(default = "default_objectives")]
    pub objectives: Vec<Objective>,
    pub evaluator: EvaluatorConfig,
    #[serde(default)]
    pub latency: LatencyConfig,
    #[serde(default)]
    pub constraints: Constraints,
    /// Population of evolution / NSGA-II (default: the strategy's own).
    #[serde(default)]
    pub population: Option<usize>,
    /// Deployment precisions the search chooses from (a candidate dimension); each
    /// candidate is quantized, compiled and measured in its precision.
    #[serde(default = "default_precisions")]
    pub precisions: Vec<Precision>,
}

fn default_precisions() -> Vec<Precision> {
    vec![Precision::F32]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    Accuracy,
    Latency,
    Params,
    Macs,
    PeakMemory,
}

fn default_objectives() -> Vec<Objective> {
    vec![Objective::Accuracy, Objective::Latency]
}

/// How accuracy is obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EvaluatorConfig {
    /// The NB201 table shipped in the project.
    Nb201Table {
        #[serde(default = "default_dataset")]
        dataset: String,
    },
    /// A training-free score.
    Proxy {
        #[serde(default = "default_proxy")]
        proxy: String,
    },
    /// An external trainer: argv with {onnx} {arch_json} {workdir} placeholders.
    Command {
        argv: Vec<String>,
        #[serde(default = "default_command_timeout")]
        timeout_s: f64,
    },
}

fn default_dataset() -> String {
    "cifar10".into()
}

fn default_proxy() -> String {
    "naswot".into()
}

fn default_command_timeout() -> f64 {
    3600.0
}

/// Where the latency objective comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// `host` (measured here with tract), or `nb201-table:<device>` (the published latency
    /// column of the NB201 table, deterministic; NB201 genomes only).
    #[serde(default = "default_target")]
    pub target: String,
    /// Per-candidate measurement time cap.
    #[serde(default = "default_time_cap_ms")]
    pub time_cap_ms: u64,
    /// Relative spread (p90 - p10) / median at which measuring stops early.
    #[serde(default = "default_spread")]
    pub spread: f64,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig { target: default_target(), time_cap_ms: default_time_cap_ms(), spread: default_spread() }
    }
}

fn default_target() -> String {
    "host".into()
}

fn default_time_cap_ms() -> u64 {
    1000
}

fn default_spread() -> f64 {
    0.05
}

/// Hard constraints. Cost-model ones (params, MACs, peak memory) reject a candidate before
/// it is compiled; latency rejects it after measurement, so it never enters the front.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    pub max_latency_ms: Option<f64>,
    pub max_params: Option<u64>,
    pub max_macs: Option<u64>,
    pub max_peak_activation_bytes: Option<u64>,
}

impl SearchConfig {
    /// The built-in default run: NB201, accuracy from the shipped table, latency measured on
    /// this host, NSGA-II, 100 candidates.
    pub fn default_run() -> Self {
        SearchConfig {
            space: "nb201".into(),
            strategy: StrategyKind::Nsga2,
            budget: 100,
            seed: 0,
            weight_seed: 0,
            objectives: default_objectives(),
            evaluator: EvaluatorConfig::Nb201Table { dataset: default_dataset() },
            latency: LatencyConfig::default(),
            constraints: Constraints::default(),
            population: None,
            precisions: default_precisions(),
        }
    }

    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading search config {}", path.display()))?;
        let cfg: SearchConfig =
            toml::from_str(&text).with_context(|| format!("parsing search config {}", path.display()))?;
        cfg.validate().with_context(|| format!("checking search config {}", path.display()))?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).context("serializing the search config")
    }

    /// Rejects settings no run could use.
    pub fn validate(&self) -> Result<()> {
        if self.budget == 0 {
            bail!("budget must be at least 1");
        }
        if self.objectives.is_empty() {
            bail!("at least one objective is needed");
        }
        if self.latency.time_cap_ms == 0 {
            bail!("latency.time_cap_ms must be positive");
        }
        if let Some(l) = self.constraints.max_latency_ms {
            if l.is_nan() || l <= 0.0 {
                bail!("constraints.max_latency_ms must be positive, got {l}");
            }
        }
        if self.precisions.is_empty() {
            bail!("precisions must list at least one precision");
        }
        if let Some(p) = self.precisions.iter().enumerate().find(|(i, p)| self.precisions[..*i].contains(p)) {
            bail!("precision {} is listed twice", p.1);
        }
        if self.latency.target.starts_with("nb201-table") && self.precisions.iter().any(|p| !p.is_f32()) {
            bail!(
                "latency target `{}` is a table of f32 latencies: searching precisions {:?} needs a measured target (host)",
                self.latency.target,
                self.precisions.iter().map(|p| p.name()).collect::<Vec<_>>()
            );
        }
        if let EvaluatorConfig::Command { argv, timeout_s } = &self.evaluator {
            if argv.is_empty() {
                bail!("evaluator.argv must name a program");
            }
            if timeout_s.is_nan() || *timeout_s <= 0.0 {
                bail!("evaluator.timeout_s must be positive");
            }
        }
        Ok(())
    }
}
