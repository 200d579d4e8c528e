//! How well rankings agree, over sampled NB201 architectures: each training-free proxy
//! against the table's accuracy ([`proxy_corr`]), and latency sources against each other
//! ([`latency_corr`]: host wall clock, instruction counts on a cross target, the device
//! columns of the NB201 table), as Spearman's rank correlation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::{Nb201Genome, Nb201Table, NB201_SIZE};
use edgenas_compiler::space::Genome;
use edgenas_deploy::{emit_genome, BatchNormInit, DeployProgress};
use edgenas_runtime::stats::spearman;
use edgenas_runtime::{write_atomic, LatencyUnit};
use serde::{Deserialize, Serialize};

use crate::config::LatencyConfig;
use crate::evaluate::{Nb201Dataset, ProxyEvaluator, ProxyKind};
use crate::journal::Journal;
use crate::latency::{latency_source, LatencyInput, LatencySource};
use crate::{BoxError, SearchError};
use edgenas_targets::TargetKind;

/// `count` distinct indices of `0..NB201_SIZE`, uniformly, by a partial Fisher-Yates shuffle
/// driven by `SeededRng::new(seed)`.
pub fn distinct_nb201_indices(count: usize, seed: u64) -> Vec<usize> {
    let mut rng = SeededRng::new(seed);
    let mut all: Vec<usize> = (0..NB201_SIZE).collect();
    for i in 0..count.min(NB201_SIZE) {
        let j = i + rng.below(NB201_SIZE - i);
        all.swap(i, j);
    }
    all.truncate(count);
    all
}

fn check_sample(sample: usize) -> Result<(), SearchError> {
    if (2..=NB201_SIZE).contains(&sample) {
        Ok(())
    } else {
        Err(SearchError::Config(format!("--sample must be between 2 and {NB201_SIZE}, got {sample}")))
    }
}

/// What [`proxy_corr`] scores.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyCorrConfig {
    /// Distinct NB201 architectures, drawn uniformly (2..=15625).
    pub sample: usize,
    pub seed: u64,
    pub dataset: Nb201Dataset,
    /// NASWOT mini-batch size.
    pub batch: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyCorrelation {
    pub proxy: ProxyKind,
    pub spearman: f64,
    /// Mean wall time of one score.
    pub mean_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyCorrReport {
    pub dataset: Nb201Dataset,
    pub sample: usize,
    pub seed: u64,
    pub batch: usize,
    pub correlations: Vec<ProxyCorrelation>,
    pub total_s: f64,
}

/// Scores `cfg.sample` distinct uniformly drawn NB201 architectures with every proxy and
/// correlates each proxy with the table's accuracy on `cfg.dataset`. `progress(done, of)`
/// hears each scored architecture.
pub fn proxy_corr(
    cfg: &ProxyCorrConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ProxyCorrReport, SearchError> {
    check_sample(cfg.sample)?;
    let start = Instant::now();
    let table = Nb201Table::builtin();
    let indices = distinct_nb201_indices(cfg.sample, cfg.seed);
    let accuracy: Vec<f64> =
        indices.iter().filter_map(|&i| table.row(i)).map(|row| cfg.dataset.accuracy(row)).collect();
    let proxies: Vec<ProxyEvaluator> = <ProxyKind as strum::VariantArray>::VARIANTS
        .iter()
        .map(|&kind| ProxyEvaluator { batch: cfg.batch, ..ProxyEvaluator::new(kind) })
        .collect();
    let mut scores = vec![Vec::with_capacity(indices.len()); proxies.len()];
    let mut time = vec![Duration::ZERO; proxies.len()];
    for (n, &index) in indices.iter().enumerate() {
        let failed = |source: BoxError| SearchError::Evaluator { name: format!("proxies on NB201 {index}"), source };
        let genome = Genome::Nb201(Nb201Genome::from_index(index as i64).map_err(|e| failed(e.into()))?);
        let graph = genome.build().map_err(|e| failed(e.into()))?;
        for (p, proxy) in proxies.iter().enumerate() {
            let t = Instant::now();
            let score = proxy.score(&graph).map_err(|e| failed(e.into()))?;
            time[p] += t.elapsed();
            scores[p].push(score);
        }
        progress(n + 1, indices.len());
    }
    let correlations = proxies
        .iter()
        .zip(&scores)
        .zip(&time)
        .map(|((proxy, s), t)| ProxyCorrelation {
            proxy: proxy.kind,
            spearman: spearman(s, &accuracy),
            mean_ms: t.as_secs_f64() * 1e3 / indices.len() as f64,
        })
        .collect();
    Ok(ProxyCorrReport {
        dataset: cfg.dataset,
        sample: cfg.sample,
        seed: cfg.seed,
        batch: cfg.batch,
        correlations,
        total_s: start.elapsed().as_secs_f64(),
    })
}

/// File names in a latency-corr output directory.
pub const MEASUREMENTS_FILE: &str = "measurements.jsonl";
pub const LATENCY_CORR_REPORT_FILE: &str = "latency-corr.json";
pub const LATENCIES_TABLE_FILE: &str = "latencies.csv";

/// What [`latency_corr`] measures.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyCorrConfig {
    /// Distinct NB201 architectures, drawn uniformly (2..=15625).
    pub sample: usize,
    pub seed: u64,
    /// Latency sources as `search --target` spells them (at least two, distinct).
    pub sources: Vec<String>,
    /// Measurement time cap per architecture on the host.
    pub time_cap_ms: u64,
    /// Output directory; one holding measurements of an earlier run is resumed.
    pub out: PathBuf,
}

/// One line of the journal: one architecture measured by one source.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Measurement {
    index: usize,
    source: String,
    unit: LatencyUnit,
    /// Median; `None` when the measurement failed.
    median: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    pub source: String,
    pub unit: LatencyUnit,
    pub measured: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairCorrelation {
    pub a: String,
    pub b: String,
    pub spearman: f64,
    /// Architectures both sources measured.
    pub n: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyCorrReport {
    pub sample: usize,
    pub seed: u64,
    pub sources: Vec<SourceSummary>,
    pub correlations: Vec<PairCorrelation>,
}

/// What [`latency_corr`] reports while it works.
#[derive(Debug)]
pub enum CorrProgress<'a> {
    /// Measurements already in the journal, of all that are needed.
    Resuming {
        done: usize,
        total: usize,
    },
    /// One architecture measured by one source (`done` of `todo` for that source).
    Measured {
        source: &'a str,
        index: usize,
        done: usize,
        todo: usize,
        error: Option<&'a str>,
    },
    Deploy(&'a DeployProgress<'a>),
}

/// Measures `cfg.sample` NB201 architectures with every source, one source after the other
/// (so host timings never share the CPU with an emulator), journaling each measurement as
/// it is made (a killed run loses at most the one in flight and the same call resumes it,
/// measuring again only what is missing or failed); then writes the per-pair Spearman
/// correlations to `latency-corr.json` and the values to `latencies.csv` in `cfg.out`.
///
/// Errors: a sample outside 2..=15625, fewer than two or repeated sources, a source that
/// cannot be set up (refused by name before anything is measured), the journal's files.
pub fn latency_corr(
    cfg: &LatencyCorrConfig,
    progress: &mut dyn FnMut(&CorrProgress<'_>),
) -> Result<LatencyCorrReport, SearchError> {
    check_sample(cfg.sample)?;
    if cfg.sources.len() < 2 {
        return Err(SearchError::Config("--sources needs at least two sources to correlate".into()));
    }
    if let Some(dup) = cfg.sources.iter().enumerate().find(|(i, s)| cfg.sources[..*i].contains(s)) {
        return Err(SearchError::Config(format!("--sources names `{}` twice", dup.1)));
    }
    let sources = cfg
        .sources
        .iter()
        .map(|name| {
            let latency =
                LatencyConfig { target: name.clone(), time_cap_ms: cfg.time_cap_ms, ..LatencyConfig::default() };
            latency_source(&latency)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(mcu) = sources.iter().find(|s| s.quantization_target().is_some_and(|t| t.kind == TargetKind::Mcu)) {
        return Err(SearchError::Config(format!(
            "`{}` is a microcontroller, which runs int8 models only: latency-corr measures f32 models",
            mcu.name()
        )));
    }
    std::fs::create_dir_all(&cfg.out).map_err(SearchError::io("creating", &cfg.out))?;
    let (mut journal, previous) = Journal::<Measurement>::open(&cfg.out.join(MEASUREMENTS_FILE))?;
    let mut done: HashMap<(usize, String), Measurement> =
        previous.into_iter().filter(|m| m.median.is_some()).map(|m| ((m.index, m.source.clone()), m)).collect();
    let indices = distinct_nb201_indices(cfg.sample, cfg.seed);
    let total = indices.len() * cfg.sources.len();
    let resumed = indices
        .iter()
        .flat_map(|&i| cfg.sources.iter().map(move |s| (i, s.clone())))
        .filter(|k| done.contains_key(k))
        .count();
    if resumed > 0 {
        progress(&CorrProgress::Resuming { done: resumed, total });
    }
    for (name, source) in cfg.sources.iter().zip(&sources) {
        let todo: Vec<usize> = indices.iter().copied().filter(|&i| !done.contains_key(&(i, name.clone()))).collect();
        for (n, &index) in todo.iter().enumerate() {
            let measured = measure(source.as_ref(), index, &mut |p| progress(&CorrProgress::Deploy(p)));
            let error = measured.as_ref().err().map(|e| edgenas_runtime::error_chain(e.as_ref()));
            let measurement = Measurement {
                index,
                source: name.clone(),
                unit: source.unit(),
                median: measured.ok(),
                error: error.clone(),
            };
            journal.append(&measurement)?;
            done.insert((index, name.clone()), measurement);
            progress(&CorrProgress::Measured {
                source: name,
                index,
                done: n + 1,
                todo: todo.len(),
                error: error.as_deref(),
            });
        }
    }
    let report = correlate(cfg, &indices, &done);
    write_atomic(&cfg.out.join(LATENCIES_TABLE_FILE), table_csv(&cfg.sources, &indices, &done).as_bytes())?;
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| SearchError::Config(format!("encoding the report: {e}")))?;
    write_atomic(&cfg.out.join(LATENCY_CORR_REPORT_FILE), format!("{text}\n").as_bytes())?;
    Ok(report)
}

/// The median latency of NB201 architecture `index` by `source` (f32, weights of seed 0,
/// as a search emits them).
fn measure(
    source: &dyn LatencySource,
    index: usize,
    progress: &mut dyn FnMut(&DeployProgress<'_>),
) -> Result<f64, BoxError> {
    let genome = Genome::Nb201(Nb201Genome::from_index(index as i64)?);
    let emitted = emit_genome(&genome, 0, BatchNormInit::Seeded)?;
    let input = LatencyInput { genome: &genome, precision: Precision::F32, onnx: &emitted.onnx };
    Ok(source.measure(&input, progress)?.latency.median)
}

fn correlate(
    cfg: &LatencyCorrConfig,
    indices: &[usize],
    done: &HashMap<(usize, String), Measurement>,
) -> LatencyCorrReport {
    let value = |index: usize, source: &String| done.get(&(index, source.clone())).and_then(|m| m.median);
    let sources = cfg
        .sources
        .iter()
        .map(|s| {
            let rows: Vec<&Measurement> = indices.iter().filter_map(|&i| done.get(&(i, s.clone()))).collect();
            SourceSummary {
                source: s.clone(),
                unit: rows.first().map_or(LatencyUnit::Ms, |m| m.unit),
                measured: rows.iter().filter(|m| m.median.is_some()).count(),
                failed: rows.iter().filter(|m| m.median.is_none()).count(),
            }
        })
        .collect();
    let mut correlations = Vec::new();
    for (i, a) in cfg.sources.iter().enumerate() {
        for b in &cfg.sources[i + 1..] {
            let (xs, ys): (Vec<f64>, Vec<f64>) =
                indices.iter().filter_map(|&ix| Some((value(ix, a)?, value(ix, b)?))).unzip();
            correlations.push(PairCorrelation {
                a: a.clone(),
                b: b.clone(),
                spearman: spearman(&xs, &ys),
                n: xs.len(),
            });
        }
    }
    LatencyCorrReport { sample: cfg.sample, seed: cfg.seed, sources, correlations }
}

/// `nb201_index,<source>,...`: one row per architecture, empty where a measurement failed.
fn table_csv(sources: &[String], indices: &[usize], done: &HashMap<(usize, String), Measurement>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = std::iter::once("nb201_index").chain(sources.iter().map(String::as_str)).collect();
    let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for &index in indices {
        let cells = sources
            .iter()
            .map(|s| done.get(&(index, s.clone())).and_then(|m| m.median).map_or(String::new(), |v| v.to_string()));
        rows.push(std::iter::once(index.to_string()).chain(cells).collect());
    }
    for row in rows {
        let _ = writer.write_record(&row);
    }
    writer.into_inner().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// The output directory's report file, for printing where things are.
pub fn latency_corr_files(out: &Path) -> (PathBuf, PathBuf) {
    (out.join(LATENCIES_TABLE_FILE), out.join(LATENCY_CORR_REPORT_FILE))
}
