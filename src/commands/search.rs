//! `edgenas search`: a run of `edgenas_search::Search` from flags or a config file, with a
//! progress bar; exits non-zero when no candidate could be evaluated.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use edgenas_compiler::names::parse_name;
use edgenas_compiler::quantize::Precision;
use edgenas_farm::{FarmQueue, FarmSettings};
use edgenas_search::strategy::StrategyKind;
use edgenas_search::LatencyMode;
use edgenas_search::{EvaluatorConfig, Search, SearchConfig, SearchSummary};

use super::progress::SearchView;
use crate::cli::SearchArgs;

pub fn search(args: &SearchArgs) -> Result<()> {
    let mut view = SearchView::new(!args.quiet);
    let summary = if let Some(dir) = &args.resume {
        eprintln!("resuming the run in {}", dir.display());
        let mut search = Search::from_run_dir(dir)?;
        if let Some(cache) = &args.latency_cache {
            search = search.with_latency_cache(cache);
        }
        search = with_farm(search, args, dir)?;
        search.resume(dir, &mut view)?
    } else {
        let cfg = config_from_args(args)?;
        let out = args.out.clone().unwrap_or_else(default_out_dir);
        eprintln!("search: {} / {} / budget {} -> {}", cfg.space, cfg.strategy, cfg.budget, out.display());
        let mut search = Search::new(cfg);
        if let Some(cache) = &args.latency_cache {
            search = search.with_latency_cache(cache);
        }
        search = with_farm(search, args, &out)?;
        search.start(&out, &mut view)?
    };
    print_summary(&summary);
    if summary.failed > 0 {
        let stages: Vec<String> = summary.failures_by_stage.iter().map(|(s, n)| format!("{n} at {s}")).collect();
        eprintln!(
            "warning: {} of {} candidates failed ({}); first failure: {}",
            summary.failed,
            summary.used(),
            stages.join(", "),
            summary.first_failure.as_deref().unwrap_or("?")
        );
        eprintln!("         the journal has every error: {}/journal.jsonl", summary.out_dir.display());
    }
    if summary.evaluated == 0 && summary.failed > 0 {
        bail!("every candidate failed: nothing was measured and evaluated");
    }
    Ok(())
}

/// `search` measuring on the farm of `--queue`, when given.
fn with_farm(search: Search, args: &SearchArgs, run_dir: &std::path::Path) -> Result<Search> {
    let Some(url) = &args.queue else { return Ok(search) };
    let mut settings = FarmSettings::default();
    if let Some(n) = args.workers_min {
        settings.workers_min = n;
    }
    if let Some(s) = args.job_timeout_s {
        if !(s.is_finite() && s > 0.0) {
            bail!("--job-timeout-s must be a positive number of seconds, got {s}");
        }
        settings.visibility_timeout = std::time::Duration::from_secs_f64(s);
    }
    if let Some(n) = args.max_deliveries {
        if n == 0 {
            bail!("--max-deliveries must be at least 1");
        }
        settings.max_deliveries = n;
    }
    let run = edgenas_farm::run_id(run_dir)?;
    let queue = FarmQueue::connect(url, &run, settings)
        .with_context(|| format!("connecting to the device farm for run {run}"))?
        .with_observer(super::progress::farm_event);
    eprintln!("measuring on the farm at {} (run {run})", edgenas_farm::redact(url));
    Ok(search.with_queue(queue))
}

fn default_out_dir() -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    PathBuf::from(format!("runs/search-{secs}"))
}

/// The config file (or the built-in default run) with every given flag applied on top.
fn config_from_args(a: &SearchArgs) -> Result<SearchConfig> {
    let mut cfg = match &a.config {
        Some(path) => SearchConfig::from_toml_file(path)?,
        None => SearchConfig::default_run(),
    };
    if let Some(v) = &a.space {
        cfg.space = v.clone();
    }
    if let Some(v) = &a.strategy {
        cfg.strategy = StrategyKind::parse(v)?;
    }
    if let Some(v) = a.budget {
        cfg.budget = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.population {
        cfg.population = Some(v);
    }
    if let Some(v) = a.max_latency_ms {
        cfg.constraints.max_latency_ms = Some(v);
    }
    if let Some(v) = a.max_params {
        cfg.constraints.max_params = Some(v);
    }
    if let Some(v) = a.max_macs {
        cfg.constraints.max_macs = Some(v);
    }
    if let Some(v) = a.max_peak_activation_bytes {
        cfg.constraints.max_peak_activation_bytes = Some(v);
    }
    if let Some(v) = &a.target {
        cfg.latency.target = v.clone();
    }
    if let Some(v) = &a.latency {
        cfg.latency.mode = LatencyMode::parse(v)?;
    }
    if let Some(v) = a.time_cap_ms {
        cfg.latency.time_cap_ms = v;
    }
    match (a.parallel, a.queue.as_ref()) {
        (Some(n), _) => cfg.parallel = n,
        (None, Some(_)) => cfg.parallel = a.workers_min.unwrap_or(1).max(1),
        (None, None) => {}
    }
    if let Some(v) = &a.precisions {
        cfg.precisions = v
            .iter()
            .map(|p| parse_name::<Precision>("precision", p))
            .collect::<Result<_, _>>()
            .context("--precisions")?;
    }
    if a.precisions.is_none() && is_microcontroller(&cfg.latency.target) {
        cfg.precisions = vec![Precision::Int8];
    }
    if let Some(kind) = &a.evaluator {
        cfg.evaluator = match kind.as_str() {
            "nb201-table" => {
                EvaluatorConfig::Nb201Table { dataset: a.dataset.clone().unwrap_or_else(|| "cifar10".into()) }
            }
            "proxy" => EvaluatorConfig::Proxy { proxy: a.proxy.clone().unwrap_or_else(|| "naswot".into()) },
            "command" => {
                let line = a.command.as_deref().context("--evaluator command needs --command \"PROGRAM ARGS...\"")?;
                EvaluatorConfig::Command {
                    argv: line.split_whitespace().map(String::from).collect(),
                    timeout_s: a.command_timeout_s.unwrap_or(3600.0),
                }
            }
            other => bail!("unknown evaluator `{other}`: use nb201-table, proxy or command"),
        };
    }
    cfg.validate()?;
    Ok(cfg)
}

fn print_summary(s: &SearchSummary) {
    println!(
        "evaluated {} candidates ({} failed), rejected {} over a cost constraint or the target's memory{}",
        s.evaluated + s.failed,
        s.failed,
        s.rejected,
        if s.replayed > 0 { format!(", {} replayed from the journal", s.replayed) } else { String::new() }
    );
    if s.measured < s.evaluated {
        println!(
            "latency measured for {} of {} evaluated candidates; the others were predicted and could not enter the front",
            s.measured, s.evaluated
        );
    }
    println!("Pareto front ({} candidates):", s.front.len());
    println!("  {:<18} {:>10} {:>12} {:>12} {:>10}", "hash", "accuracy", "latency", "MACs", "params");
    for r in &s.front {
        let l = r.latency.as_ref();
        println!(
            "  {:<18} {:>10.3} {:>12.4} {:>12} {:>10}",
            r.hash,
            r.accuracy.unwrap_or(f64::NAN),
            l.map_or(f64::NAN, |l| l.median),
            r.macs,
            r.params
        );
    }
    let t = &s.stage_medians;
    println!(
        "median per candidate: build+emit {:.1} ms, compile {:.1} ms, measure {:.1} ms, evaluate {:.1} ms",
        t.build_emit_ms, t.compile_ms, t.measure_ms, t.evaluate_ms
    );
    println!("run directory: {} (candidates.csv, pareto.csv, pareto.json, pareto.svg, front/)", s.out_dir.display());
}

/// Whether `target` names a microcontroller descriptor (int8 is then implied).
fn is_microcontroller(target: &str) -> bool {
    edgenas_targets::Target::resolve(target).is_ok_and(|t| t.kind == edgenas_targets::TargetKind::Mcu)
}
