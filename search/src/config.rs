//! A search run's settings: from the command line or a TOML file, copied into the run
//! directory so `--resume` continues with exactly the same settings.

use std::path::Path;

use edgenas_compiler::quantize::Precision;
use edgenas_targets::timeout_from_secs;
use serde::{Deserialize, Serialize};

use super::strategy::StrategyKind;
use crate::SearchError;

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
    /// Candidates in flight at once. The strategy is asked for this many before the first
    /// is told, and answers are told in proposal order, so the run (its journal and front)
    /// is the same whatever the timing, in one process or on a farm of workers. 1 (the
    /// default): propose, measure, tell, one at a time.
    #[serde(default = "default_parallel", skip_serializing_if = "is_one")]
    pub parallel: usize,
}

/// The most candidates a run keeps in flight.
pub const MAX_PARALLEL: usize = 1024;

fn default_parallel() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
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
    /// An evaluator the program running the search supplies
    /// ([`crate::Search::with_evaluator`]); the config only records its name.
    Custom { name: String },
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
    /// `host` (measured here with tract), `nb201-table:<device>` (the published latency
    /// column of the NB201 table, deterministic; NB201 genomes only), a target (a built-in
    /// name or a descriptor file), `stand-in:<ms>:<target>` (a stand-in device that takes
    /// `<ms>` per measurement and reports `<target>`'s latencies, for sizing a farm), or
    /// `custom:<name>` for a latency source the program running the search supplies
    /// ([`crate::Search::with_latency_source`]).
    #[serde(default = "default_target")]
    pub target: String,
    /// Per-candidate measurement time cap.
    #[serde(default = "default_time_cap_ms")]
    pub time_cap_ms: u64,
    /// Relative spread (p90 - p10) / median at which measuring stops early.
    #[serde(default = "default_spread")]
    pub spread: f64,
    /// Whether every candidate is measured, or only those the latency predictor says could
    /// enter the front.
    #[serde(default, skip_serializing_if = "LatencyMode::is_measure")]
    pub mode: LatencyMode,
}

/// How a search gets each candidate's latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::EnumString, strum::Display, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum LatencyMode {
    /// Every candidate is measured on the latency source.
    #[default]
    Measure,
    /// A predictor refitted on every measurement scores each candidate first; only those
    /// that could enter the front (or meet the latency limit) given the prediction's
    /// uncertainty are measured. Front members are always measured.
    PredictThenMeasure,
}

impl LatencyMode {
    pub fn is_measure(&self) -> bool {
        *self == LatencyMode::Measure
    }

    /// Parses a mode name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Self, edgenas_compiler::names::UnknownName> {
        edgenas_compiler::names::parse_name("latency mode", name)
    }
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            target: default_target(),
            time_cap_ms: default_time_cap_ms(),
            spread: default_spread(),
            mode: LatencyMode::Measure,
        }
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
            parallel: default_parallel(),
        }
    }

    /// Reads and checks a config file.
    pub fn from_toml_file(path: &Path) -> Result<Self, SearchError> {
        let text = std::fs::read_to_string(path).map_err(SearchError::io("reading search config", path))?;
        let cfg: SearchConfig = toml::from_str(&text)
            .map_err(|e| SearchError::Config(format!("parsing {}: {}", path.display(), e.message().trim())))?;
        cfg.validate().map_err(|e| match e {
            SearchError::Config(reason) => SearchError::Config(format!("{}: {reason}", path.display())),
            other => other,
        })?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> Result<String, SearchError> {
        toml::to_string_pretty(self).map_err(|e| SearchError::Config(format!("serializing the search config: {e}")))
    }

    /// Rejects settings no run could use ([`SearchError::Config`] naming the field).
    pub fn validate(&self) -> Result<(), SearchError> {
        let invalid = |reason: String| Err(SearchError::Config(reason));
        if self.budget == 0 {
            return invalid("budget must be at least 1".into());
        }
        if !(1..=MAX_PARALLEL).contains(&self.parallel) {
            return invalid(format!("parallel must be between 1 and {MAX_PARALLEL}, got {}", self.parallel));
        }
        if self.objectives.is_empty() {
            return invalid("at least one objective is needed".into());
        }
        if self.latency.time_cap_ms == 0 {
            return invalid("latency.time_cap_ms must be positive".into());
        }
        if !(self.latency.spread.is_finite() && self.latency.spread >= 0.0) {
            return invalid(format!("latency.spread must be a non-negative number, got {}", self.latency.spread));
        }
        if let Some(l) = self.constraints.max_latency_ms {
            if l.is_nan() || l <= 0.0 {
                return invalid(format!("constraints.max_latency_ms must be positive, got {l}"));
            }
        }
        if self.precisions.is_empty() {
            return invalid("precisions must list at least one precision".into());
        }
        if let Some(p) = self.precisions.iter().enumerate().find(|(i, p)| self.precisions[..*i].contains(p)) {
            return invalid(format!("precision {} is listed twice", p.1));
        }
        if self.latency.target.starts_with("nb201-table") && self.precisions.iter().any(|p| !p.is_f32()) {
            let names: Vec<String> = self.precisions.iter().map(|p| p.to_string()).collect();
            return invalid(format!(
                "latency target `{}` is a table of f32 latencies: searching precisions {names:?} needs a measured target (host)",
                self.latency.target
            ));
        }
        if let EvaluatorConfig::Command { argv, timeout_s } = &self.evaluator {
            if argv.is_empty() {
                return invalid("evaluator.argv must name a program".into());
            }
            timeout_from_secs("evaluator.timeout_s", *timeout_s).map_err(SearchError::Config)?;
        }
        Ok(())
    }
}
