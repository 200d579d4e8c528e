//! The search loop: propose, screen, emit, compile, measure, score, journal, observe.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgenas_compiler::cost::CostReport;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::SearchSpace;
use edgenas_runtime::{CompiledModel, LatencyUnit, RunOptions};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::cache::{CacheKey, LatencyCache};
use super::candidate::{Candidate, CandidateSpace};
use super::config::{Constraints, Objective, SearchConfig};
use super::evaluate::{make_evaluator, AccuracyEvaluator, EvalContext};
use super::journal::{CandidateRecord, CandidateStatus, Journal, StageTimes};
use super::latency::LatencySource;
use super::report;
use super::strategy::{make_strategy, StrategySettings};
use crate::pipeline::{emit_genome, write_atomic, BatchNormInit};
use crate::quantization::quantize_for_target;

/// File names inside a run directory.
pub const CONFIG_FILE: &str = "config.toml";
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// How a finished (or resumed and finished) run went.
#[derive(Debug, Clone)]
pub struct SearchSummary {
    pub out_dir: PathBuf,
    pub evaluated: usize,
    pub rejected: usize,
    pub failed: usize,
    /// Records that came from the journal instead of being evaluated again.
    pub replayed: usize,
    pub front: Vec<CandidateRecord>,
    /// Median wall time per stage over the evaluated candidates (cache hits measure 0).
    pub stage_medians: StageTimes,
}

/// Options that do not change what a run computes.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Latency cache file (shared across runs).
    pub latency_cache: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Starts a new run in `out_dir` (which must not hold a journal yet).
pub fn start_search(cfg: &SearchConfig, out_dir: &Path, settings: &RunSettings) -> Result<SearchSummary> {
    cfg.validate()?;
    if out_dir.join(JOURNAL_FILE).exists() {
        bail!(
            "{} already holds a search run: continue it with --resume {0}, or choose another --out",
            out_dir.display()
        );
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    write_atomic(&out_dir.join(CONFIG_FILE), cfg.to_toml()?.as_bytes())?;
    run_search(cfg, out_dir, settings)
}

/// Continues the run in `out_dir` with the config stored there.
pub fn resume_search(out_dir: &Path, settings: &RunSettings) -> Result<SearchSummary> {
    let cfg = SearchConfig::from_toml_file(&out_dir.join(CONFIG_FILE))
        .with_context(|| format!("{} is not a search run directory", out_dir.display()))?;
    run_search(&cfg, out_dir, settings)
}

fn run_search(cfg: &SearchConfig, out_dir: &Path, settings: &RunSettings) -> Result<SearchSummary> {
    let space = SearchSpace::resolve(&cfg.space).with_context(|| format!("loading search space `{}`", cfg.space))?;
    let latency = LatencySource::from_config(&cfg.latency, &cfg.precisions)?;
    if latency.unit() == LatencyUnit::Instructions && cfg.constraints.max_latency_ms.is_some() {
        bail!(
            "latency target `{}` counts instructions (an emulator), so max_latency_ms does not apply; drop it",
            latency.target_name()
        );
    }
    let evaluator = make_evaluator(&cfg.evaluator)?;
    let mut strategy_settings = StrategySettings::defaults_for(cfg.strategy);
    if let Some(p) = cfg.population {
        strategy_settings.population = p;
    }
    let mut strategy = make_strategy(cfg.strategy, &strategy_settings);
    let cache_path = settings.latency_cache.clone().unwrap_or_else(|| out_dir.join("latency_cache.jsonl"));
    let mut cache = LatencyCache::open(&cache_path)?;
    let (mut journal, previous) = Journal::open(&out_dir.join(JOURNAL_FILE))?;
    let mut replay: VecDeque<CandidateRecord> = previous.into();
    let replayed = replay.len();
    let mut loop_state = Loop {
        cfg,
        space: &space,
        latency: &latency,
        evaluator: evaluator.as_ref(),
        cache: &mut cache,
        work_dir: out_dir.join("work"),
    };
    let candidates = CandidateSpace::new(&space, &cfg.precisions);
    let mut rng = SeededRng::new(cfg.seed);
    let mut records: Vec<CandidateRecord> = Vec::new();
    let bar = progress_bar(settings.progress, cfg.budget as u64);
    let max_proposals = cfg.budget.saturating_mul(50).max(1000);
    while used_budget(&records) < cfg.budget {
        if records.len() >= max_proposals {
            bail!("{} proposals without filling the budget: the constraints reject almost everything", records.len());
        }
        let candidate = strategy.propose(&candidates, &mut rng);
        let hash = candidate.genome.content_hash();
        let record = match replay.pop_front() {
            Some(r) if r.hash == hash && r.precision == candidate.precision && r.seq == records.len() => r,
            Some(r) => bail!(
                "journal record {} is candidate {} ({}) but this run proposes {candidate}: the run directory does not match its config",
                r.seq,
                r.hash,
                r.precision
            ),
            None => {
                let r = loop_state.evaluate(records.len(), candidate.clone())?;
                journal.append(&r)?;
                r
            }
        };
        strategy.observe(&candidate, record.feasible.then_some(record.objectives.as_deref()).flatten());
        if record.status != CandidateStatus::Rejected {
            bar.inc(1);
        }
        records.push(record);
        bar.set_message(progress_message(&records));
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir(&loop_state.work_dir);
    let front = report::write_reports(out_dir, cfg, &records)?;
    Ok(SearchSummary {
        out_dir: out_dir.to_path_buf(),
        evaluated: records.iter().filter(|r| r.status == CandidateStatus::Evaluated).count(),
        rejected: records.iter().filter(|r| r.status == CandidateStatus::Rejected).count(),
        failed: records.iter().filter(|r| r.status == CandidateStatus::Failed).count(),
        replayed,
        front,
        stage_medians: stage_medians(&records),
    })
}

fn stage_medians(records: &[CandidateRecord]) -> StageTimes {
    let evaluated: Vec<&StageTimes> =
        records.iter().filter(|r| r.status == CandidateStatus::Evaluated).map(|r| &r.times).collect();
    let median = |f: fn(&StageTimes) -> f64| {
        let mut v: Vec<f64> = evaluated.iter().map(|t| f(t)).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    StageTimes {
        build_emit_ms: median(|t| t.build_emit_ms),
        compile_ms: median(|t| t.compile_ms),
        measure_ms: median(|t| t.measure_ms),
        evaluate_ms: median(|t| t.evaluate_ms),
    }
}

fn used_budget(records: &[CandidateRecord]) -> usize {
    records.iter().filter(|r| r.status != CandidateStatus::Rejected).count()
}

struct Loop<'a> {
    cfg: &'a SearchConfig,
    space: &'a SearchSpace,
    latency: &'a LatencySource,
    evaluator: &'a dyn AccuracyEvaluator,
    cache: &'a mut LatencyCache,
    work_dir: PathBuf,
}

impl Loop<'_> {
    /// Runs one new candidate through the pipeline. Errors of the candidate itself become a
    /// `Failed` record; only errors of the run (journal, cache, disk) are returned.
    fn evaluate(&mut self, seq: usize, candidate: Candidate) -> Result<CandidateRecord> {
        let mut record = CandidateRecord {
            seq,
            hash: candidate.genome.content_hash(),
            genome: candidate.genome,
            precision: candidate.precision,
            status: CandidateStatus::Failed,
            feasible: false,
            macs: 0,
            params: 0,
            peak_activation_bytes: 0,
            latency: None,
            accuracy: None,
            objectives: None,
            model_sha256: None,
            error: None,
            times: StageTimes::default(),
        };
        if let Err(e) = self.space.contains(&record.genome) {
            record.error = Some(format!("{e:#}"));
            return Ok(record);
        }
        match self.pipeline(&mut record) {
            Ok(()) => {}
            Err(e) if e.is::<RunError>() => return Err(e),
            Err(e) => {
                record.status = CandidateStatus::Failed;
                record.error = Some(format!("{e:#}"));
            }
        }
        Ok(record)
    }

    fn pipeline(&mut self, record: &mut CandidateRecord) -> Result<()> {
        let t0 = Instant::now();
        let graph = record.genome.build()?;
        let cost = CostReport::analyze(&graph)?;
        record.macs = cost.macs;
        record.params = cost.params;
        record.peak_activation_bytes = cost.peak_activation_bytes;
        if let Some(violation) = screen(&self.cfg.constraints, &cost) {
            record.status = CandidateStatus::Rejected;
            record.error = Some(violation);
            return Ok(());
        }
        let bn = if record.precision.is_f32() { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
        let emitted = emit_genome(&record.genome, self.cfg.weight_seed, bn)?;
        let deployed = quantize_for_target(&emitted.onnx, record.precision, &self.latency.target_name())
            .with_context(|| format!("quantizing to {}", record.precision))?;
        let sha = hex_sha256(&deployed);
        record.model_sha256 = Some(sha.clone());
        record.times.build_emit_ms = ms_since(t0);

        let key =
            CacheKey { model_sha256: sha, target: self.latency.target_name(), precision: record.precision.to_string() };
        let latency = match self.cache.get(&key) {
            Some(l) => l.clone(),
            None => {
                let model = if self.latency.needs_model() {
                    let t = Instant::now();
                    let m = CompiledModel::from_onnx_bytes(&deployed, &record.hash, &RunOptions::default())
                        .context("compiling with tract")?;
                    record.times.compile_ms = ms_since(t);
                    Some(m)
                } else {
                    None
                };
                let t = Instant::now();
                let l = self.latency.measure(&record.genome, &deployed, model.as_ref()).context("measuring latency")?;
                record.times.measure_ms = ms_since(t);
                self.cache.insert(key, l.clone()).map_err(RunError::wrap)?;
                l
            }
        };
        record.latency = Some(latency.clone());

        let t = Instant::now();
        let workdir = self.work_dir.join(&record.hash);
        std::fs::create_dir_all(&workdir)
            .map_err(|e| RunError::wrap(anyhow::Error::new(e).context(format!("creating {}", workdir.display()))))?;
        let onnx_path = workdir.join("model.onnx");
        let arch_json_path = workdir.join("genome.json");
        write_atomic(&onnx_path, &emitted.onnx).map_err(RunError::wrap)?;
        write_atomic(&arch_json_path, record.genome.to_json().as_bytes()).map_err(RunError::wrap)?;
        let ctx = EvalContext {
            genome: &record.genome,
            graph: &graph,
            onnx: &emitted.onnx,
            onnx_path: &onnx_path,
            arch_json_path: &arch_json_path,
            workdir: &workdir,
        };
        let scored = self.evaluator.evaluate(&ctx).with_context(|| format!("evaluator {}", self.evaluator.name()));
        record.times.evaluate_ms = ms_since(t);
        if scored.as_ref().map_or(true, |s| s.trained_onnx.is_none()) {
            let _ = std::fs::remove_dir_all(&workdir);
        }
        let accuracy = scored?.accuracy;
        record.accuracy = Some(accuracy);
        record.objectives = Some(
            self.cfg
                .objectives
                .iter()
                .map(|o| match o {
                    Objective::Accuracy => -accuracy,
                    Objective::Latency => latency.median,
                    Objective::Params => cost.params as f64,
                    Objective::Macs => cost.macs as f64,
                    Objective::PeakMemory => cost.peak_activation_bytes as f64,
                })
                .collect(),
        );
        record.status = CandidateStatus::Evaluated;
        record.feasible = self.cfg.constraints.max_latency_ms.map_or(true, |max| latency.median <= max);
        if !record.feasible {
            record.error = Some(format!("latency {:.4} ms exceeds max_latency_ms", latency.median));
        }
        Ok(())
    }
}

/// An error of the run itself (disk, journal, cache), as opposed to one candidate's.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
struct RunError(anyhow::Error);

impl RunError {
    fn wrap(e: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(RunError(e))
    }
}

/// The first cost-model constraint `cost` violates, described.
pub fn screen(c: &Constraints, cost: &CostReport) -> Option<String> {
    let checks = [
        ("params", c.max_params, cost.params),
        ("MACs", c.max_macs, cost.macs),
        ("peak activation bytes", c.max_peak_activation_bytes, cost.peak_activation_bytes),
    ];
    checks
        .iter()
        .find(|(_, max, value)| max.is_some_and(|m| *value > m))
        .map(|(what, max, value)| format!("{what} {value} exceeds the limit {}", max.unwrap_or_default()))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn progress_bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

fn progress_message(records: &[CandidateRecord]) -> String {
    let feasible: Vec<&CandidateRecord> = records.iter().filter(|r| r.feasible).collect();
    let best = feasible.iter().filter_map(|r| r.accuracy).fold(f64::NAN, f64::max);
    let front = report::front_of(records).len();
    format!(
        "best accuracy {best:.3} | front {front} | rejected {}",
        records.iter().filter(|r| r.status == CandidateStatus::Rejected).count()
    )
}
