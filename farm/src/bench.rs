//! `edgenas farm bench`: how a search's throughput scales with the farm's workers, and what
//! the farm costs per job, on a Redis the caller runs. Workers are threads of this process
//! measuring a stand-in device (`stand-in:<ms>:nb201-table:pixel3`: a fixed sleep and a
//! table latency), so they do not compete for this machine's cores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgenas_search::latency::latency_source;
use edgenas_search::strategy::StrategyKind;
use edgenas_search::{LatencyConfig, Search, SearchConfig, SearchError};

use crate::{FarmError, FarmEvent, FarmQueue, FarmSettings, Worker, WorkerSettings};

/// The table a stand-in device reports.
pub const STAND_IN_TABLE: &str = "nb201-table:pixel3";

/// Why a benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Farm(#[from] FarmError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("{what} {}", path.display())]
    Io { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
}

/// One row of [`throughput`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputRow {
    pub workers: usize,
    pub candidates: usize,
    pub wall: Duration,
    /// Candidates per minute.
    pub per_minute: f64,
    /// `per_minute` over the first row's.
    pub speedup: f64,
}

/// [`coordinator_overhead`]'s measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Overhead {
    pub jobs: usize,
    pub repeats: usize,
    /// Median wall time per candidate of the run in one process, ms.
    pub local_ms: f64,
    /// Median wall time per candidate of the same run through the farm, ms.
    pub farm_ms: f64,
    /// Median over every job of all farm runs of what the farm added to it: the time from
    /// submitting the job to having its answer, less the worker's measuring, ms
    /// ([`crate::FarmEvent::Answered`]).
    pub farm_added_ms: f64,
}

impl Overhead {
    /// What the farm adds per job: both round trips through Redis, the worker's reading of
    /// the job and writing of the answer, and the coordinator's bookkeeping (an upper
    /// bound on the coordinator's own share), ms.
    pub fn per_job_ms(&self) -> f64 {
        self.farm_ms - self.local_ms
    }
}

/// A random NB201 search of `budget` candidates on `target`, `parallel` in flight.
pub fn bench_config(target: &str, budget: usize, parallel: usize, seed: u64) -> SearchConfig {
    let mut cfg = SearchConfig::default_run();
    cfg.strategy = StrategyKind::Random;
    cfg.latency.target = target.into();
    cfg.budget = budget;
    cfg.parallel = parallel;
    cfg.seed = seed;
    cfg
}

/// Runs `budget` candidates through the farm at `url` with each count of `workers` (in
/// that order), every worker a thread measuring `stand-in:<stand_in_ms>:<table>`.
/// `progress` is told each row as it is done.
pub fn throughput(
    url: &str,
    workers: &[usize],
    stand_in_ms: u64,
    budget: usize,
    progress: &mut dyn FnMut(&ThroughputRow),
) -> Result<Vec<ThroughputRow>, BenchError> {
    let target = format!("stand-in:{stand_in_ms}:{STAND_IN_TABLE}");
    let mut rows: Vec<ThroughputRow> = Vec::new();
    for (i, &n) in workers.iter().enumerate() {
        let wall = farm_run(url, &target, budget, n.max(1), n.max(1) + 1, i as u64, None)?;
        let per_minute = budget as f64 / wall.as_secs_f64() * 60.0;
        let speedup = rows.first().map_or(1.0, |first| per_minute / first.per_minute);
        let row = ThroughputRow { workers: n, candidates: budget, wall, per_minute, speedup };
        progress(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// The same `jobs`-candidate run (a stand-in that takes no time) in one process and through
/// the farm at `url` with one worker, alternated `repeats` times; medians per candidate.
pub fn coordinator_overhead(url: &str, jobs: usize, repeats: usize) -> Result<Overhead, BenchError> {
    let target = format!("stand-in:0:{STAND_IN_TABLE}");
    let (mut local, mut farm) = (Vec::new(), Vec::new());
    let added = Arc::new(Mutex::new(Vec::new()));
    for r in 0..repeats.max(1) {
        let seed = 100 + r as u64;
        local.push(local_run(&target, jobs, seed)?.as_secs_f64() * 1e3 / jobs as f64);
        let wall = farm_run(url, &target, jobs, 1, 1, seed, Some(added.clone()))?;
        farm.push(wall.as_secs_f64() * 1e3 / jobs as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut added = added.lock().map(|a| a.clone()).unwrap_or_default();
    Ok(Overhead {
        jobs,
        repeats: repeats.max(1),
        local_ms: median(&mut local),
        farm_ms: median(&mut farm),
        farm_added_ms: median(&mut added),
    })
}

fn scratch_dir(label: &str) -> Result<std::path::PathBuf, BenchError> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let dir = std::env::temp_dir().join(format!("edgenas-farm-bench-{label}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| BenchError::Io { what: "creating", path: dir.clone(), source })?;
    Ok(dir)
}

fn local_run(target: &str, budget: usize, seed: u64) -> Result<Duration, BenchError> {
    let dir = scratch_dir("local")?;
    let started = Instant::now();
    let result = Search::new(bench_config(target, budget, 1, seed)).start(&dir.join("run"), &mut ());
    let wall = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(wall)
}

/// One farm run; what the farm added to each job (ms) is pushed to `added` when given.
fn farm_run(
    url: &str,
    target: &str,
    budget: usize,
    workers: usize,
    parallel: usize,
    seed: u64,
    added: Option<Arc<Mutex<Vec<f64>>>>,
) -> Result<Duration, BenchError> {
    let dir = scratch_dir("farm")?;
    let run = crate::run_id(&dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..workers {
        let config = LatencyConfig { target: target.into(), ..LatencyConfig::default() };
        let source = latency_source(&config)?;
        let mut settings = WorkerSettings::named(format!("bench-{run}-{i}"));
        settings.poll = Duration::from_millis(100);
        let mut worker = Worker::connect(url, target, source, settings)?;
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || worker.run(&stop, &mut |_| {})));
    }
    let settings = FarmSettings { workers_min: workers, poll: Duration::from_millis(100), ..FarmSettings::default() };
    let queue = FarmQueue::connect(url, &run, settings)?.with_observer(move |e| {
        if let (FarmEvent::Answered { round_trip, measuring, .. }, Some(added)) = (e, &added) {
            if let Ok(mut added) = added.lock() {
                added.push(round_trip.saturating_sub(*measuring).as_secs_f64() * 1e3);
            }
        }
    });
    let search = Search::new(bench_config(target, budget, parallel, seed)).with_queue(queue);
    let started = Instant::now();
    let result = search.start(&dir.join("run"), &mut ());
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            return Err(e.into());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(wall)
}
