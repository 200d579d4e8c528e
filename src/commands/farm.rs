//! `edgenas worker` and `edgenas farm status`: the device farm's worker and its view.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_farm::{FarmStatus, Worker, WorkerSettings};
use edgenas_search::latency::latency_source;
use edgenas_search::LatencyConfig;

use super::progress::worker_event;
use crate::cli::{FarmBenchArgs, FarmStatusArgs, WorkerArgs};

pub fn worker(args: &WorkerArgs) -> Result<()> {
    if !(args.heartbeat_s.is_finite() && args.heartbeat_s > 0.0) {
        bail!("--heartbeat-s must be a positive number of seconds, got {}", args.heartbeat_s);
    }
    let config =
        LatencyConfig { target: args.target.clone(), time_cap_ms: args.time_cap_ms, ..LatencyConfig::default() };
    let source = latency_source(&config).with_context(|| format!("setting up target `{}`", args.target))?;
    let mut settings = WorkerSettings::named(args.name.clone().unwrap_or_else(WorkerSettings::default_name));
    settings.heartbeat = Duration::from_secs_f64(args.heartbeat_s);
    settings.max_jobs = args.max_jobs;
    let mut worker = Worker::connect(&args.queue, &source.name(), source, settings)
        .with_context(|| format!("starting a worker of `{}`", args.target))?;
    let stop = AtomicBool::new(false);
    let summary = worker.run(&stop, &mut |e| worker_event(e)).context("serving farm jobs")?;
    println!("worker stopped: {} measured, {} failed, {} skipped", summary.measured, summary.failed, summary.skipped);
    Ok(())
}

pub fn status(args: &FarmStatusArgs) -> Result<()> {
    let status = FarmStatus::read(&args.queue).context("reading the farm's status")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!("workers ({} alive):", status.workers.len());
    for w in &status.workers {
        let job = w.job.as_deref().map(|j| format!(" {j}")).unwrap_or_default();
        println!("  {:<24} {:<28} {}{job}  ({} measured, {} failed)", w.name, w.target, w.state, w.measured, w.failed);
    }
    println!("targets:");
    println!("  {:<28} {:>8} {:>8} {:>6}", "target", "queued", "pending", "dead");
    for t in &status.targets {
        println!("  {:<28} {:>8} {:>8} {:>6}", t.target, t.queued, t.pending, t.dead);
    }
    if !status.dead_letters.is_empty() {
        println!("dead letters (newest first):");
        for d in &status.dead_letters {
            println!("  {} {}: {}", d.target, d.job, d.reason);
        }
    }
    Ok(())
}

pub fn bench(args: &FarmBenchArgs) -> Result<()> {
    if args.workers.is_empty() || args.workers.contains(&0) || args.budget == 0 || args.overhead_jobs == 0 {
        bail!("--workers needs counts of at least 1, --budget and --overhead-jobs at least 1");
    }
    println!(
        "throughput: {} candidates per run, stand-in device of {} ms per measurement, workers as threads",
        args.budget, args.stand_in_ms
    );
    println!("  {:>7} {:>9} {:>14} {:>8}", "workers", "wall s", "candidates/min", "speedup");
    edgenas_farm::bench::throughput(&args.queue, &args.workers, args.stand_in_ms, args.budget, &mut |row| {
        println!("  {:>7} {:>9.2} {:>14.1} {:>7.2}x", row.workers, row.wall.as_secs_f64(), row.per_minute, row.speedup)
    })
    .context("farm throughput benchmark")?;
    let o = edgenas_farm::bench::coordinator_overhead(&args.queue, args.overhead_jobs, args.repeats)
        .context("farm overhead benchmark")?;
    println!(
        "overhead: {} candidates, median of {}: {:.2} ms per candidate in one process, {:.2} ms through the farm \
         (1 worker, a stand-in of 0 ms): {:.2} ms per job; from submitting a job to its answer, less the \
         worker's measuring: median {:.2} ms",
        o.jobs,
        o.repeats,
        o.local_ms,
        o.farm_ms,
        o.per_job_ms(),
        o.farm_added_ms
    );
    Ok(())
}
