//! The search loop. One function per stage of a candidate: [`screen`] (cost model and
//! constraints), [`emit`] (weights and ONNX), [`quantize`] (the candidate's precision),
//! `measure` (latency, through the cache), `evaluate` (accuracy), then the record is
//! journaled; the loop around them proposes, replays and observes.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use edgenas_compiler::cost::{ArchFeatures, CostReport};
use edgenas_compiler::ir::Graph;
use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit, DeployError, EmittedModel};
use edgenas_runtime::{error_chain, stats, write_atomic, LatencyStats, LatencyUnit};
use edgenas_targets::Target;
use sha2::{Digest, Sha256};

use crate::cache::{CacheKey, LatencyCache};
use crate::candidate::{Candidate, CandidateSpace};
use crate::config::{Constraints, EvaluatorConfig, LatencyMode, Objective, SearchConfig};
use crate::evaluate::{make_evaluator, AccuracyEvaluator, AccuracyResult, EvalContext};
use crate::journal::{CandidateRecord, CandidateStatus, Journal, LatencyPrediction, StageTimes};
use crate::latency::{latency_source, LatencyInput, LatencySource, Probes};
use crate::observer::{Progress, SearchEvent, SearchObserver};
use crate::predictor::online::{OnlinePredictor, OPTIMISM_Z};
use crate::queue::{job_id, JobOutcome, MeasureJob, MeasureQueue};
use crate::strategy::{make_strategy, StrategySettings};
use crate::{report, BoxError, CandidateError, SearchError, Stage};

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
    /// Evaluated candidates whose latency was measured (or found in the latency cache);
    /// the others of a `predict-then-measure` run were only predicted.
    pub measured: usize,
    pub front: Vec<CandidateRecord>,
    /// Median wall time per stage over the evaluated candidates (cache hits measure 0).
    pub stage_medians: StageTimes,
    /// Failed candidates per stage, most frequent first.
    pub failures_by_stage: Vec<(Stage, usize)>,
    /// The error of the first failed candidate, if any.
    pub first_failure: Option<String>,
}

impl SearchSummary {
    /// Candidates that used budget: evaluated or failed.
    pub fn used(&self) -> usize {
        self.evaluated + self.failed
    }
}

/// A search run, configured and ready to start or resume. The evaluator and the latency
/// source are the config's built-ins unless the caller supplies its own.
///
/// ```no_run
/// use edgenas_search::{Search, SearchConfig};
///
/// let mut config = SearchConfig::default_run();
/// config.latency.target = "nb201-table:pixel3".into();
/// config.budget = 20;
/// let summary = Search::new(config).start("runs/doc".as_ref(), &mut ())?;
/// println!("{} candidates on the front", summary.front.len());
/// # Ok::<(), edgenas_search::SearchError>(())
/// ```
pub struct Search {
    config: SearchConfig,
    evaluator: Option<Box<dyn AccuracyEvaluator + Send + Sync>>,
    latency: Option<Box<dyn LatencySource + Send + Sync>>,
    latency_cache: Option<PathBuf>,
    queue: Option<Box<dyn MeasureQueue>>,
}

impl Search {
    /// A run of `config` with its built-in evaluator and latency source.
    pub fn new(config: SearchConfig) -> Self {
        Search { config, evaluator: None, latency: None, latency_cache: None, queue: None }
    }

    /// The run stored in `out_dir` (its `config.toml`), to [`Search::resume`].
    pub fn from_run_dir(out_dir: &Path) -> Result<Self, SearchError> {
        let path = out_dir.join(CONFIG_FILE);
        if !path.is_file() {
            return Err(SearchError::Config(format!(
                "{} is not a search run directory (no {CONFIG_FILE})",
                out_dir.display()
            )));
        }
        Ok(Search::new(SearchConfig::from_toml_file(&path)?))
    }

    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Scores candidates with `evaluator`; the config records it as `custom` by name.
    pub fn with_evaluator(mut self, evaluator: impl AccuracyEvaluator + Send + Sync + 'static) -> Self {
        self.config.evaluator = EvaluatorConfig::Custom { name: evaluator.name() };
        self.evaluator = Some(Box::new(evaluator));
        self
    }

    /// Measures candidates with `source`; the config records it as `custom:<name>`.
    pub fn with_latency_source(mut self, source: impl LatencySource + Send + Sync + 'static) -> Self {
        self.config.latency.target = format!("custom:{}", source.name());
        self.latency = Some(Box::new(source));
        self
    }

    /// Keeps the latency cache in `path` (shared across runs) instead of the run directory.
    pub fn with_latency_cache(mut self, path: impl Into<PathBuf>) -> Self {
        self.latency_cache = Some(path.into());
        self
    }

    /// Sends every measurement to `queue` (workers elsewhere: a device farm) instead of
    /// making it in this process. Everything else stays here: proposals, accuracy, the
    /// journal and the reports. The queue is not part of the config, so a run may resume
    /// with or without one and gives the same journal.
    pub fn with_queue(mut self, queue: impl MeasureQueue + 'static) -> Self {
        self.queue = Some(Box::new(queue));
        self
    }

    /// Starts a new run in `out_dir`, which must not hold a journal yet.
    pub fn start(self, out_dir: &Path, observer: &mut dyn SearchObserver) -> Result<SearchSummary, SearchError> {
        self.config.validate()?;
        if out_dir.join(JOURNAL_FILE).exists() {
            return Err(SearchError::Config(format!(
                "{} already holds a search run: continue it with --resume {0}, or choose another --out",
                out_dir.display()
            )));
        }
        std::fs::create_dir_all(out_dir).map_err(SearchError::io("creating", out_dir))?;
        let path = out_dir.join(CONFIG_FILE);
        write_atomic(&path, self.config.to_toml()?.as_bytes())?;
        self.run(out_dir, observer)
    }

    /// Continues the run in `out_dir`: replays its journal and goes on where it stopped.
    /// The config must be the one stored there (as [`Search::from_run_dir`] reads it, with
    /// the same custom evaluator and latency source, if any).
    pub fn resume(self, out_dir: &Path, observer: &mut dyn SearchObserver) -> Result<SearchSummary, SearchError> {
        let stored = Search::from_run_dir(out_dir)?.config;
        if stored != self.config {
            return Err(SearchError::Config(format!(
                "{} was started with another config (evaluator `{}`, latency `{}`); resume it with the same one",
                out_dir.display(),
                evaluator_name(&stored.evaluator),
                stored.latency.target
            )));
        }
        self.run(out_dir, observer)
    }

    fn run(self, out_dir: &Path, observer: &mut dyn SearchObserver) -> Result<SearchSummary, SearchError> {
        let cfg = &self.config;
        cfg.validate()?;
        let space = SearchSpace::resolve(&cfg.space)
            .map_err(|source| SearchError::Space { space: cfg.space.clone(), source })?;
        let latency = match self.latency {
            Some(source) => source,
            None => latency_source(&cfg.latency)?,
        };
        if latency.unit() == LatencyUnit::Instructions && cfg.constraints.max_latency_ms.is_some() {
            return Err(SearchError::Config(format!(
                "latency target `{}` counts instructions (an emulator), so max_latency_ms does not apply; drop it",
                latency.name()
            )));
        }
        let evaluator = match self.evaluator {
            Some(evaluator) => evaluator,
            None => make_evaluator(&cfg.evaluator)?,
        };
        let candidates = CandidateSpace::new(&space, &cfg.precisions)?;
        let host = Target::host();
        let quantization_target = latency.quantization_target().unwrap_or(&host).clone();
        if quantization_target.kind == edgenas_targets::TargetKind::Mcu && cfg.precisions != [Precision::Int8] {
            return Err(SearchError::Config(format!(
                "target `{}` is a microcontroller, which runs integer-only int8 models: set precisions = [\"int8\"] \
                 (the CLI implies it)",
                quantization_target.name
            )));
        }
        let probes = Probes {
            space: &space,
            weight_seed: cfg.weight_seed,
            target: &quantization_target,
            precisions: &cfg.precisions,
        };
        let mut queue = self.queue;
        match queue.as_mut() {
            Some(q) => q.start(&latency.name()).map_err(|source| SearchError::Queue { name: q.name(), source })?,
            None => latency
                .prepare(&probes, &mut |p| observer.event(&SearchEvent::Deploy(p)))
                .map_err(|source| SearchError::Latency { name: latency.name(), source })?,
        }

        let cache_path = self.latency_cache.clone().unwrap_or_else(|| out_dir.join("latency_cache.jsonl"));
        let cache = LatencyCache::open(&cache_path)?;
        let (mut journal, previous) = Journal::open(&out_dir.join(JOURNAL_FILE))?;
        let mut replay: VecDeque<CandidateRecord> = previous.into();
        let replayed = replay.len();
        observer.event(&SearchEvent::Started { out_dir, budget: cfg.budget, replaying: replayed });

        let mut strategy_settings = StrategySettings::defaults_for(cfg.strategy);
        if let Some(p) = cfg.population {
            strategy_settings.population = p;
        }
        strategy_settings.latency_limit = cfg.constraints.max_latency_ms;
        let mut strategy = make_strategy(cfg.strategy, &strategy_settings);
        let mut pipeline = Pipeline {
            cfg,
            space: &space,
            latency: latency.as_ref(),
            evaluator: evaluator.as_ref(),
            cache,
            target: &quantization_target,
            work_dir: out_dir.join("work"),
        };
        let mut rng = SeededRng::new(cfg.seed);
        let mut records: Vec<CandidateRecord> = Vec::new();
        let predict_then_measure = cfg.latency.mode == LatencyMode::PredictThenMeasure;
        let mut predictor = OnlinePredictor::new(candidates.encoding_len());
        let max_proposals = cfg.budget.saturating_mul(50).max(1000);
        let mut slots: VecDeque<Slot> = VecDeque::new();
        loop {
            while slots.len() < cfg.parallel
                && used_budget(&records) + slots.iter().filter(|s| s.uses_budget()).count() < cfg.budget
            {
                let seq = records.len() + slots.len();
                if seq >= max_proposals {
                    return Err(SearchError::Exhausted { proposals: seq });
                }
                let candidate = strategy.propose(&candidates, &mut rng);
                let slot = match replay.pop_front() {
                    Some(r)
                        if r.hash == candidate.genome.content_hash()
                            && r.precision == candidate.precision
                            && r.seq == seq =>
                    {
                        Slot::Decided { candidate, record: r, replayed: true }
                    }
                    Some(r) => {
                        return Err(SearchError::Replay {
                            seq: r.seq,
                            journaled: format!("{} ({})", r.hash, r.precision),
                            proposed: candidate.to_string(),
                        })
                    }
                    None => {
                        let front: Vec<Vec<f64>> =
                            report::front_of(&records).iter().filter_map(|r| r.objectives.clone()).collect();
                        let screen_with = predict_then_measure.then_some((&predictor, &front[..]));
                        match pipeline.prepare(seq, candidate.clone(), screen_with)? {
                            Prepared::Decided(record) => Slot::Decided { candidate, record, replayed: false },
                            Prepared::Awaiting(awaiting) => match queue.as_mut() {
                                None => {
                                    let record = pipeline.measure_here(*awaiting, observer)?;
                                    Slot::Decided { candidate, record, replayed: false }
                                }
                                Some(q) => {
                                    let job = pipeline.send(q.as_mut(), &awaiting)?;
                                    Slot::Sent { candidate, awaiting, job }
                                }
                            },
                        }
                    }
                };
                slots.push_back(slot);
            }
            while let Some(Slot::Sent { .. }) = slots.front() {
                let Some(q) = queue.as_mut() else { unreachable!("a job was sent without a queue") };
                let outcome = q.next_outcome().map_err(|source| SearchError::Queue { name: q.name(), source })?;
                pipeline.resolve(&mut slots, outcome)?;
            }
            let Some(Slot::Decided { candidate, record, replayed }) = slots.pop_front() else { break };
            if !replayed {
                journal.append(&record)?;
            }
            if let (true, Some(latency)) = (predict_then_measure, record.latency.as_ref()) {
                if let Ok(graph) = record.genome.build() {
                    if let Some(row) = predictor_row(&space, &cfg.precisions, &record.genome, record.precision, &graph)
                    {
                        predictor.add(row, latency.median);
                    }
                }
            }
            strategy.measured(&candidate, record.objectives.as_deref(), record.latency.as_ref().map(|l| l.median));
            strategy.observe(&candidate, record.feasible.then_some(record.objectives.as_deref()).flatten());
            records.push(record);
            let progress = progress_of(&records, cfg.budget);
            observer.event(&SearchEvent::Candidate { record: &records[records.len() - 1], replayed, progress });
        }
        let _ = std::fs::remove_dir(&pipeline.work_dir);
        let front = report::write_reports(out_dir, cfg, &records, &quantization_target)?;
        let summary = summarize(out_dir, &records, replayed, front);
        observer.event(&SearchEvent::Finished(&summary));
        Ok(summary)
    }
}

fn evaluator_name(e: &EvaluatorConfig) -> String {
    match e {
        EvaluatorConfig::Nb201Table { dataset } => format!("nb201-table:{dataset}"),
        EvaluatorConfig::Proxy { proxy } => format!("proxy:{proxy}"),
        EvaluatorConfig::Command { argv, .. } => format!("command:{}", argv.first().map_or("", String::as_str)),
        EvaluatorConfig::Custom { name } => format!("custom:{name}"),
    }
}

fn summarize(
    out_dir: &Path,
    records: &[CandidateRecord],
    replayed: usize,
    front: Vec<CandidateRecord>,
) -> SearchSummary {
    let count = |s: CandidateStatus| records.iter().filter(|r| r.status == s).count();
    let mut failures_by_stage: Vec<(Stage, usize)> = Vec::new();
    for stage in records.iter().filter(|r| r.status == CandidateStatus::Failed).filter_map(|r| r.failed_stage) {
        match failures_by_stage.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, n)) => *n += 1,
            None => failures_by_stage.push((stage, 1)),
        }
    }
    failures_by_stage.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    SearchSummary {
        out_dir: out_dir.to_path_buf(),
        evaluated: count(CandidateStatus::Evaluated),
        rejected: count(CandidateStatus::Rejected),
        failed: count(CandidateStatus::Failed),
        replayed,
        measured: records.iter().filter(|r| r.status == CandidateStatus::Evaluated && r.latency.is_some()).count(),
        front,
        stage_medians: stage_medians(records),
        failures_by_stage,
        first_failure: records.iter().find(|r| r.status == CandidateStatus::Failed).and_then(|r| r.error.clone()),
    }
}

fn progress_of(records: &[CandidateRecord], budget: usize) -> Progress {
    let best_accuracy = records.iter().filter(|r| r.feasible).filter_map(|r| r.accuracy).fold(f64::NAN, f64::max);
    Progress {
        used: used_budget(records),
        budget,
        rejected: records.iter().filter(|r| r.status == CandidateStatus::Rejected).count(),
        failed: records.iter().filter(|r| r.status == CandidateStatus::Failed).count(),
        best_accuracy,
        front: report::front_of(records).len(),
    }
}

fn stage_medians(records: &[CandidateRecord]) -> StageTimes {
    let evaluated: Vec<&StageTimes> =
        records.iter().filter(|r| r.status == CandidateStatus::Evaluated).map(|r| &r.times).collect();
    let median = |f: fn(&StageTimes) -> f64| {
        let v: Vec<f64> = evaluated.iter().map(|t| f(t)).collect();
        stats::median(&v).unwrap_or(0.0)
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

/// What every stage of one run shares.
struct Pipeline<'a> {
    cfg: &'a SearchConfig,
    space: &'a SearchSpace,
    latency: &'a (dyn LatencySource + Send + Sync),
    evaluator: &'a (dyn AccuracyEvaluator + Send + Sync),
    cache: LatencyCache,
    target: &'a Target,
    work_dir: PathBuf,
}

/// A proposed candidate in the window of a run: decided (evaluated, rejected, failed or
/// replayed from the journal) or waiting for the latency of a job sent to the queue.
/// Slots are told to the strategy and journaled in proposal order only. (At most
/// `parallel` exist, so the unboxed record costs nothing worth a box.)
#[allow(clippy::large_enum_variant)]
enum Slot {
    Decided { candidate: Candidate, record: CandidateRecord, replayed: bool },
    Sent { candidate: Candidate, awaiting: Box<AwaitingLatency>, job: String },
}

impl Slot {
    fn uses_budget(&self) -> bool {
        match self {
            Slot::Decided { record, .. } => record.status != CandidateStatus::Rejected,
            Slot::Sent { .. } => true,
        }
    }
}

/// What [`Pipeline::prepare`] leaves of a candidate.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    Decided(CandidateRecord),
    Awaiting(Box<AwaitingLatency>),
}

/// A candidate that passed every stage before `measure`, with what the later stages need.
struct AwaitingLatency {
    record: CandidateRecord,
    graph: Graph,
    cost: CostReport,
    emitted: EmittedModel,
    deployed: Vec<u8>,
    key: CacheKey,
    /// Scored already (a `predict-then-measure` run scores before measuring).
    accuracy: Option<f64>,
}

impl Pipeline<'_> {
    /// Runs a new candidate through the stages before `measure`, and through the rest when
    /// its latency is cached or not needed. A stage's [`CandidateError`] becomes a `Failed`
    /// record; only errors of the run itself (cache, disk) are returned.
    fn prepare(
        &mut self,
        seq: usize,
        candidate: Candidate,
        screen_with: Option<(&OnlinePredictor, &[Vec<f64>])>,
    ) -> Result<Prepared, SearchError> {
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
            failed_stage: None,
            latency_prediction: None,
            times: StageTimes::default(),
        };
        let awaiting = match self.before_measure(&mut record, screen_with)? {
            Ok(Some(awaiting)) => awaiting,
            Ok(None) => return Ok(Prepared::Decided(record)),
            Err(e) => return Ok(Prepared::Decided(failed(record, e))),
        };
        match self.cache.get(&awaiting.key) {
            Some(latency) => {
                let latency = latency.clone();
                Ok(Prepared::Decided(self.finish(*awaiting, Ok(latency))?))
            }
            None => Ok(Prepared::Awaiting(awaiting)),
        }
    }

    /// Measures `awaiting` with the run's own latency source, then finishes it.
    fn measure_here(
        &mut self,
        mut awaiting: AwaitingLatency,
        observer: &mut dyn SearchObserver,
    ) -> Result<CandidateRecord, SearchError> {
        let input = LatencyInput {
            genome: &awaiting.record.genome,
            precision: awaiting.record.precision,
            onnx: &awaiting.deployed,
        };
        let latency =
            measure(self.latency, &mut self.cache, awaiting.key.clone(), &input, &mut awaiting.record.times, observer)?;
        self.finish(awaiting, latency)
    }

    /// Sends the measurement of `awaiting` to `queue`; returns the job id.
    fn send(&self, queue: &mut dyn MeasureQueue, awaiting: &AwaitingLatency) -> Result<String, SearchError> {
        let id = job_id(&awaiting.key);
        let job = MeasureJob {
            id: &id,
            target: &awaiting.key.target,
            genome: &awaiting.record.genome,
            precision: awaiting.record.precision,
            model: &awaiting.deployed,
            model_sha256: &awaiting.key.model_sha256,
        };
        queue.submit(&job).map_err(|source| SearchError::Queue { name: queue.name(), source })?;
        Ok(id)
    }

    /// Finishes every slot waiting for `outcome`'s job (a duplicate model in the window
    /// waits for the same job); an outcome no slot waits for is ignored.
    fn resolve(&mut self, slots: &mut VecDeque<Slot>, outcome: JobOutcome) -> Result<(), SearchError> {
        for i in 0..slots.len() {
            if !matches!(&slots[i], Slot::Sent { job, .. } if *job == outcome.id) {
                continue;
            }
            let Some(Slot::Sent { candidate, mut awaiting, .. }) = slots.remove(i) else { continue };
            let latency = match &outcome.result {
                Ok(m) => {
                    awaiting.record.times.compile_ms = m.compile_ms;
                    awaiting.record.times.measure_ms = m.measure_ms;
                    let measured =
                        Candidate { genome: awaiting.record.genome.clone(), precision: awaiting.record.precision };
                    if self.cache.get(&awaiting.key).is_none() {
                        self.cache.insert(awaiting.key.clone(), m.latency.clone(), &measured)?;
                    }
                    Ok(m.latency.clone())
                }
                Err(reason) => Err(CandidateError::new(Stage::Measure, BoxError::from(reason.clone()))),
            };
            let record = self.finish(*awaiting, latency)?;
            slots.insert(i, Slot::Decided { candidate, record, replayed: false });
        }
        Ok(())
    }

    /// The stages before `measure`: `Ok(None)` when the record is decided already
    /// (rejected, or only predicted in a `predict-then-measure` run).
    fn before_measure(
        &mut self,
        record: &mut CandidateRecord,
        screen_with: Option<(&OnlinePredictor, &[Vec<f64>])>,
    ) -> Result<Result<Option<Box<AwaitingLatency>>, CandidateError>, SearchError> {
        let t0 = Instant::now();
        let (graph, cost) = match screen(self.space, &self.cfg.constraints, record) {
            Ok(Some(screened)) => screened,
            Ok(None) => return Ok(Ok(None)),
            Err(e) => return Ok(Err(e)),
        };
        let emitted = match emit(&record.genome, record.precision, self.cfg.weight_seed) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        let deployed = match quantize(&emitted, record.precision, self.target) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        match exceeds_mcu_memory(&deployed, self.target) {
            Ok(None) => {}
            Ok(Some(violation)) => {
                record.status = CandidateStatus::Rejected;
                record.error = Some(violation);
                record.times.build_emit_ms = ms_since(t0);
                return Ok(Ok(None));
            }
            Err(e) => return Ok(Err(e)),
        }
        let sha = hex_sha256(&deployed);
        record.model_sha256 = Some(sha.clone());
        record.times.build_emit_ms = ms_since(t0);

        let key = CacheKey { model_sha256: sha, target: self.latency.name(), precision: record.precision.to_string() };
        let mut accuracy = None;
        if let Some((predictor, front)) = screen_with.filter(|_| self.cache.get(&key).is_none()) {
            let t = Instant::now();
            let scored = evaluate(self.evaluator, &self.work_dir, &record.hash, &record.genome, &graph, &emitted.onnx)?;
            record.times.evaluate_ms = ms_since(t);
            let acc = match scored {
                Ok(result) => result.accuracy,
                Err(e) => return Ok(Err(e)),
            };
            accuracy = Some(acc);
            let row = predictor_row(self.space, &self.cfg.precisions, &record.genome, record.precision, &graph);
            if let Some(p) = row.and_then(|row| predictor.predict(&row)) {
                let optimistic = p.lower(OPTIMISM_Z);
                let limit = self.cfg.constraints.max_latency_ms;
                let best_case = objectives(&self.cfg.objectives, acc, optimistic, &cost);
                let skipped = if limit.is_some_and(|max| optimistic > max) {
                    Some(format!("predicted {:.4} (at best {optimistic:.4}) exceeds max_latency_ms", p.value()))
                } else if front.iter().any(|f| dominates(f, &best_case)) {
                    Some(format!(
                        "predicted {:.4} (at best {optimistic:.4}): dominated by the measured front",
                        p.value()
                    ))
                } else {
                    None
                };
                record.latency_prediction = Some(LatencyPrediction {
                    median: p.value(),
                    log_std: p.log_std,
                    measured: skipped.is_none(),
                    skipped,
                });
                if record.latency_prediction.as_ref().is_some_and(|l| !l.measured) {
                    record.accuracy = Some(acc);
                    record.objectives = Some(objectives(&self.cfg.objectives, acc, p.value(), &cost));
                    record.status = CandidateStatus::Evaluated;
                    record.feasible = limit.is_none_or(|max| p.value() <= max);
                    return Ok(Ok(None));
                }
            }
        }
        let record = record.clone();
        Ok(Ok(Some(Box::new(AwaitingLatency { record, graph, cost, emitted, deployed, key, accuracy }))))
    }

    /// The stages after `measure`, given the measurement (or its failure).
    fn finish(
        &mut self,
        awaiting: AwaitingLatency,
        latency: Result<LatencyStats, CandidateError>,
    ) -> Result<CandidateRecord, SearchError> {
        let AwaitingLatency { mut record, graph, cost, emitted, accuracy, .. } = awaiting;
        let latency = match latency {
            Ok(l) => l,
            Err(e) => match e.source.downcast_ref::<DeployError>() {
                Some(fit @ DeployError::DoesNotFit { .. }) => {
                    record.status = CandidateStatus::Rejected;
                    record.error = Some(format!("{fit} (found by the firmware build)"));
                    return Ok(record);
                }
                _ => return Ok(failed(record, e)),
            },
        };
        record.latency = Some(latency.clone());
        let accuracy = match accuracy {
            Some(a) => a,
            None => {
                let t = Instant::now();
                let scored =
                    evaluate(self.evaluator, &self.work_dir, &record.hash, &record.genome, &graph, &emitted.onnx)?;
                record.times.evaluate_ms = ms_since(t);
                match scored {
                    Ok(result) => result.accuracy,
                    Err(e) => return Ok(failed(record, e)),
                }
            }
        };
        record.accuracy = Some(accuracy);
        record.objectives = Some(objectives(&self.cfg.objectives, accuracy, latency.median, &cost));
        record.status = CandidateStatus::Evaluated;
        record.feasible = self.cfg.constraints.max_latency_ms.is_none_or(|max| latency.median <= max);
        if !record.feasible {
            record.error = Some(format!("latency {:.4} ms exceeds max_latency_ms", latency.median));
        }
        Ok(record)
    }
}

/// `record` marked failed by `e`.
fn failed(mut record: CandidateRecord, e: CandidateError) -> CandidateRecord {
    record.status = CandidateStatus::Failed;
    record.error = Some(e.chain());
    record.failed_stage = Some(e.stage);
    record
}

/// Stage 1: the genome is in the space, its graph builds and its cost passes the
/// cost-model constraints. `Ok(None)` marks the record rejected (no budget used).
pub fn screen(
    space: &SearchSpace,
    constraints: &Constraints,
    record: &mut CandidateRecord,
) -> Result<Option<(Graph, CostReport)>, CandidateError> {
    space.contains(&record.genome).map_err(|e| CandidateError::new(Stage::Screen, e))?;
    let graph = record.genome.build().map_err(|e| CandidateError::new(Stage::Screen, e))?;
    let cost = CostReport::analyze(&graph).map_err(|e| CandidateError::new(Stage::Screen, e))?;
    record.macs = cost.macs;
    record.params = cost.params;
    record.peak_activation_bytes = cost.peak_activation_bytes;
    if let Some(violation) = violated_constraint(constraints, &cost) {
        record.status = CandidateStatus::Rejected;
        record.error = Some(violation);
        return Ok(None);
    }
    Ok(Some((graph, cost)))
}

/// For a microcontroller `target`, the memory limit the deployed model's plan exceeds
/// (its arena plus the least stack within `sram_kib`, its constants within `flash_kib`),
/// described; checked before any firmware is built. `None` for other targets and for
/// models that fit. A model that cannot be lowered at all is an error of stage quantize.
pub fn exceeds_mcu_memory(deployed: &[u8], target: &Target) -> Result<Option<String>, CandidateError> {
    if target.kind != edgenas_targets::TargetKind::Mcu {
        return Ok(None);
    }
    let model = edgenas_deploy::firmware::lower_for_mcu(deployed, target)
        .map_err(|e| CandidateError::new(Stage::Quantize, e))?;
    match edgenas_deploy::firmware::check_fits(&model, target) {
        Ok(()) => Ok(None),
        Err(e @ DeployError::DoesNotFit { .. }) => Ok(Some(e.to_string())),
        Err(e) => Err(CandidateError::new(Stage::Quantize, e)),
    }
}

/// The first cost-model constraint `cost` violates, described.
pub fn violated_constraint(c: &Constraints, cost: &CostReport) -> Option<String> {
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

/// Stage 2: seeded weights and ONNX; BatchNorm calibrated for precisions that need
/// meaningful activation ranges (f16 and int8), seeded for f32.
pub fn emit(genome: &Genome, precision: Precision, weight_seed: u64) -> Result<EmittedModel, CandidateError> {
    let bn = if precision.is_f32() { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
    emit_genome(genome, weight_seed, bn).map_err(|e| CandidateError::new(Stage::Emit, e))
}

/// Stage 3: the emitted model in the candidate's precision, laid out for `target`.
pub fn quantize(emitted: &EmittedModel, precision: Precision, target: &Target) -> Result<Vec<u8>, CandidateError> {
    quantize_for_target(&emitted.onnx, precision, target).map_err(|e| CandidateError::new(Stage::Quantize, e))
}

/// Stage 4: latency from the cache, or measured by `source` and cached. The outer error is
/// the run's (the cache file), the inner one the candidate's.
fn measure(
    source: &(dyn LatencySource + Send + Sync),
    cache: &mut LatencyCache,
    key: CacheKey,
    input: &LatencyInput<'_>,
    times: &mut StageTimes,
    observer: &mut dyn SearchObserver,
) -> Result<Result<LatencyStats, CandidateError>, SearchError> {
    if let Some(l) = cache.get(&key) {
        return Ok(Ok(l.clone()));
    }
    let t = Instant::now();
    let measured = match source.measure(input, &mut |p| observer.event(&SearchEvent::Deploy(p))) {
        Ok(m) => m,
        Err(e) => return Ok(Err(CandidateError::new(Stage::Measure, e))),
    };
    times.compile_ms = measured.compile.as_secs_f64() * 1e3;
    times.measure_ms = ms_since(t) - times.compile_ms;
    let candidate = Candidate { genome: input.genome.clone(), precision: input.precision };
    cache.insert(key, measured.latency.clone(), &candidate)?;
    Ok(Ok(measured.latency))
}

/// Stage 5: accuracy from the evaluator, which sees the emitted f32 model and the genome
/// as files in a work directory of the candidate's own (kept when the evaluator left a
/// trained model there; not written for evaluators that use no files). The outer error is the run's (the work directory).
fn evaluate(
    evaluator: &(dyn AccuracyEvaluator + Send + Sync),
    work_dir: &Path,
    hash: &str,
    genome: &Genome,
    graph: &Graph,
    onnx: &[u8],
) -> Result<Result<AccuracyResult, CandidateError>, SearchError> {
    let workdir = work_dir.join(hash);
    let onnx_path = workdir.join("model.onnx");
    let arch_json_path = workdir.join("genome.json");
    let files = evaluator.uses_files();
    if files {
        std::fs::create_dir_all(&workdir).map_err(SearchError::io("creating", &workdir))?;
        write_atomic(&onnx_path, onnx)?;
        write_atomic(&arch_json_path, genome.to_json().as_bytes())?;
    }
    let ctx =
        EvalContext { genome, graph, onnx, onnx_path: &onnx_path, arch_json_path: &arch_json_path, workdir: &workdir };
    let scored = evaluator.evaluate(&ctx);
    if files && scored.as_ref().map_or(true, |s| s.trained_onnx.is_none()) {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    Ok(scored.map_err(|e| {
        let e: crate::BoxError = format!("evaluator {}: {}", evaluator.name(), error_chain(e.as_ref())).into();
        CandidateError::new(Stage::Evaluate, e)
    }))
}

fn objectives(objectives: &[Objective], accuracy: f64, latency: f64, cost: &CostReport) -> Vec<f64> {
    objectives
        .iter()
        .map(|o| match o {
            Objective::Accuracy => -accuracy,
            Objective::Latency => latency,
            Objective::Params => cost.params as f64,
            Objective::Macs => cost.macs as f64,
            Objective::PeakMemory => cost.peak_activation_bytes as f64,
        })
        .collect()
}

/// Whether `a` is at least as good as `b` in every (minimized) objective and better in one.
fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// The latency predictor's input row of a candidate: its IR features in its precision,
/// then its encoding in the space.
fn predictor_row(
    space: &SearchSpace,
    precisions: &[Precision],
    genome: &Genome,
    precision: Precision,
    graph: &Graph,
) -> Option<Vec<f64>> {
    let mut row = ArchFeatures::of_architecture(graph, precision).ok()?.values();
    let candidates = CandidateSpace::new(space, precisions).ok()?;
    row.extend(candidates.encode(&Candidate { genome: genome.clone(), precision }).ok()?);
    Some(row)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
