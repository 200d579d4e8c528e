//! Fitting a latency predictor for one target from earlier search runs: `K` candidates of
//! the runs, spread over their MACs, measured on the target (taken from the journals when
//! a run measured them there, measured now otherwise); the other targets' measurements in
//! the same runs give priors (a ridge regression of each on the IR features, whose
//! prediction becomes an input column), HELP-style.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use edgenas_compiler::cost::ArchFeatures;
use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::Genome;
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit, DeployProgress};
use edgenas_runtime::LatencyStats;
use edgenas_targets::Target;

use super::ensemble::{stratified_sample, ColumnGroup, LatencyEnsemble};
use super::file::{PredictorFile, PREDICTOR_FORMAT_VERSION};
use super::online::feature_groups;
use super::regression::{Ridge, RIDGE_LAMBDAS};
use super::PredictorError;
use crate::cache::read_cached_measurements;
use crate::candidate::Candidate;
use crate::config::LatencyConfig;
use crate::journal::{CandidateRecord, CandidateStatus};
use crate::latency::{latency_source, LatencyInput};
use crate::run::{CONFIG_FILE, JOURNAL_FILE};
use crate::SearchConfig;

/// One measured candidate of a run.
#[derive(Debug, Clone)]
pub struct RunMeasurement {
    /// The run's latency target.
    pub target: String,
    pub unit: String,
    pub key: String,
    pub genome: Genome,
    pub precision: Precision,
    pub features: Vec<f64>,
    pub log_latency: f64,
}

impl RunMeasurement {
    /// The measurement of `candidate` on `target`, with its features; `None` when the
    /// latency is not a positive number. `origin` names the record in errors.
    fn new(
        target: &str,
        latency: &LatencyStats,
        candidate: Candidate,
        origin: impl Fn() -> String,
    ) -> Result<Option<Self>, PredictorError> {
        if !(latency.median > 0.0 && latency.median.is_finite()) {
            return Ok(None);
        }
        let Candidate { genome, precision } = candidate;
        let features = genome
            .build()
            .map_err(|e| e.to_string())
            .and_then(|g| ArchFeatures::of_architecture(&g, precision).map_err(|e| e.to_string()))
            .map_err(|e| PredictorError::Config(format!("{}: {e}", origin())))?;
        Ok(Some(RunMeasurement {
            target: target.to_string(),
            unit: latency.unit.to_string(),
            key: format!("{}-{precision}", genome.content_hash()),
            genome,
            precision,
            features: features.values(),
            log_latency: latency.median.ln(),
        }))
    }
}

/// Every measured candidate of the runs in `dirs`: each a search run directory (its
/// journal) or a latency cache file (`latency_cache.jsonl`, the lines that name their
/// candidate). Both are read and never written; a torn last line, from a run killed
/// mid-write, is skipped.
pub fn read_runs(dirs: &[PathBuf]) -> Result<Vec<RunMeasurement>, PredictorError> {
    let mut out = Vec::new();
    for dir in dirs {
        if dir.is_file() {
            let cached = read_cached_measurements(dir).map_err(|e| PredictorError::Config(e.to_string()))?;
            for m in cached {
                let origin = || format!("{} ({})", dir.display(), m.key.model_sha256);
                out.extend(RunMeasurement::new(&m.key.target, &m.latency, m.candidate, origin)?);
            }
            continue;
        }
        let config = dir.join(CONFIG_FILE);
        let journal = dir.join(JOURNAL_FILE);
        if !config.is_file() || !journal.is_file() {
            return Err(PredictorError::Config(format!(
                "{} is neither a search run directory (no {CONFIG_FILE} or {JOURNAL_FILE}) nor a latency cache file",
                dir.display()
            )));
        }
        let cfg = SearchConfig::from_toml_file(&config).map_err(|e| PredictorError::Config(e.to_string()))?;
        let text = std::fs::read_to_string(&journal).map_err(|source| PredictorError::Io {
            what: "reading journal",
            path: journal.clone(),
            source,
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let mut records = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<CandidateRecord>(line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
                Err(e) => {
                    return Err(PredictorError::Config(format!("{} line {}: {e}", journal.display(), i + 1)));
                }
            }
        }
        for r in records.into_iter().filter(|r| r.status != CandidateStatus::Rejected) {
            let Some(latency) = &r.latency else { continue };
            let origin = || format!("{} record {}", journal.display(), r.seq);
            let candidate = Candidate { genome: r.genome, precision: r.precision };
            out.extend(RunMeasurement::new(&cfg.latency.target, latency, candidate, origin)?);
        }
    }
    Ok(out)
}

/// Measures on `target` (a latency source name, as `search --target` takes it) the
/// candidates of `runs` that [`fit_from_runs`] needs beyond those the runs already
/// measured there: up to `k` in all, spread over MACs. Each is emitted with weight seed 0
/// and quantized for the target as a search would; `progress` sees each deploy step.
/// A candidate that fails to measure is an error naming it (nothing is fitted from a
/// partial sample).
pub fn measure_samples(
    runs: &[RunMeasurement],
    target: &str,
    k: usize,
    seed: u64,
    time_cap_ms: u64,
    progress: &mut dyn FnMut(&DeployProgress<'_>),
) -> Result<Vec<RunMeasurement>, PredictorError> {
    let measured: HashSet<&str> = runs.iter().filter(|m| m.target == target).map(|m| m.key.as_str()).collect();
    if measured.len() >= k {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    let pool: Vec<&RunMeasurement> =
        runs.iter().filter(|m| !measured.contains(m.key.as_str()) && seen.insert(m.key.as_str())).collect();
    let scores: Vec<f64> = pool.iter().map(|m| m.features[0]).collect();
    let picked = stratified_sample(&scores, k - measured.len(), &mut SeededRng::derive(seed, "predictor.measure"));
    let config = LatencyConfig { target: target.to_string(), time_cap_ms, ..LatencyConfig::default() };
    let source =
        latency_source(&config).map_err(|e| PredictorError::Config(format!("latency source `{target}`: {e}")))?;
    let host = Target::host();
    let quantization_target = source.quantization_target().unwrap_or(&host).clone();
    let mut out = Vec::with_capacity(picked.len());
    for i in picked {
        let m = pool[i];
        let failed =
            |e: String| PredictorError::Config(format!("measuring {} ({}) on `{target}`: {e}", m.key, m.precision));
        let bn = if m.precision.is_f32() { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
        let emitted = emit_genome(&m.genome, 0, bn).map_err(|e| failed(e.to_string()))?;
        let onnx =
            quantize_for_target(&emitted.onnx, m.precision, &quantization_target).map_err(|e| failed(e.to_string()))?;
        let input = LatencyInput { genome: &m.genome, precision: m.precision, onnx: &onnx };
        let latency = source.measure(&input, progress).map_err(|e| failed(edgenas_runtime::error_chain(e.as_ref())))?;
        out.push(RunMeasurement {
            target: target.to_string(),
            unit: latency.latency.unit.to_string(),
            log_latency: latency.latency.median.ln(),
            ..m.clone()
        });
    }
    Ok(out)
}

/// Fits the predictor of `target` from `k` of its measurements in `runs`, with every other
/// target of `runs` as a prior. Errors when `target` has fewer than `k` distinct measured
/// candidates (naming how many it has and which targets the runs measured).
pub fn fit_from_runs(
    runs: &[RunMeasurement],
    target: &str,
    k: usize,
    seed: u64,
) -> Result<PredictorFile, PredictorError> {
    let mut by_target: BTreeMap<&str, Vec<&RunMeasurement>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for m in runs {
        if seen.insert((m.target.as_str(), m.key.as_str())) {
            by_target.entry(m.target.as_str()).or_default().push(m);
        }
    }
    let Some(own) = by_target.get(target) else {
        let known: Vec<&str> = by_target.keys().copied().collect();
        return Err(PredictorError::Config(format!(
            "the runs measured nothing on `{target}` (they measured: {})",
            if known.is_empty() { "nothing".to_string() } else { known.join(", ") }
        )));
    };
    if k < 3 || own.len() < k {
        return Err(PredictorError::Config(format!(
            "--samples {k}: it takes at least 3, and the runs hold {} distinct measurements on `{target}`",
            own.len()
        )));
    }
    let mut inputs = ArchFeatures::names();
    let base = inputs.len();
    let mut priors = Vec::new();
    for (other, measured) in by_target.iter().filter(|(t, _)| **t != target) {
        let x: Vec<Vec<f64>> = measured.iter().map(|m| m.features.clone()).collect();
        let y: Vec<f64> = measured.iter().map(|m| m.log_latency).collect();
        if let Some(ridge) = Ridge::fit(&x, &y, &RIDGE_LAMBDAS) {
            inputs.push(format!("prior:{other}"));
            priors.push(ridge);
        }
    }
    let row = |m: &RunMeasurement| {
        let mut r = m.features.clone();
        r.extend(priors.iter().map(|p| p.predict(&m.features)));
        r
    };
    let scores: Vec<f64> = own.iter().map(|m| m.features[0]).collect();
    let picked = stratified_sample(&scores, k, &mut SeededRng::derive(seed, "predictor.fit"));
    let x: Vec<Vec<f64>> = picked.iter().map(|&i| row(own[i])).collect();
    let y: Vec<f64> = picked.iter().map(|&i| own[i].log_latency).collect();
    let mut groups = feature_groups(0);
    groups.extend((base..inputs.len()).map(|c| ColumnGroup::log(inputs[c].clone(), vec![c])));
    let model = LatencyEnsemble::fit(&x, &y, &groups)
        .ok_or_else(|| PredictorError::Config(format!("cannot fit a predictor of `{target}` from {k} samples")))?;
    Ok(PredictorFile {
        version: PREDICTOR_FORMAT_VERSION,
        target: target.to_string(),
        unit: own[0].unit.clone(),
        inputs,
        samples: k,
        model,
    })
}

/// Where `predictor fit` writes by default: `predictor-<target>.json` next to the latency
/// cache directory `cache_dir`.
pub fn default_predictor_path(cache_dir: &Path, target: &str) -> PathBuf {
    let safe: String = target.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    cache_dir.join(format!("predictor-{safe}.json"))
}
