//! `edgenas latency-corr`: Spearman correlations between latency sources over sampled NB201
//! architectures (see `edgenas_search::correlation::latency_corr`), resumable.

use anyhow::Result;
use edgenas_search::correlation::{
    latency_corr as run_latency_corr, latency_corr_files, CorrProgress, LatencyCorrConfig,
};

use super::progress::DeployView;
use crate::cli::LatencyCorrArgs;

pub fn latency_corr(args: &LatencyCorrArgs) -> Result<()> {
    let cfg = LatencyCorrConfig {
        sample: args.sample,
        seed: args.seed,
        sources: args.sources.clone(),
        time_cap_ms: args.time_cap_ms,
        out: args.out.clone(),
    };
    let start = std::time::Instant::now();
    let mut view = DeployView::default();
    let report = run_latency_corr(&cfg, &mut |p| match p {
        CorrProgress::Resuming { done, total } => {
            eprintln!("latency-corr: resuming, {done} of {total} measurements already in {}", args.out.display())
        }
        CorrProgress::Measured { source, index, done, todo, error } => {
            if let Some(error) = error {
                eprintln!("\nlatency-corr: NB201 {index} on {source} failed: {error}");
            }
            eprint!("\rlatency-corr: {source} {done}/{todo} ({:.0}s)", start.elapsed().as_secs_f64());
            if done == todo {
                eprintln!();
            }
        }
        CorrProgress::Deploy(p) => view.show(p),
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{} NB201 architectures (seed {}):", report.sample, report.seed);
    for s in &report.sources {
        println!("  {:<24} {:<12} {} measured, {} failed", s.source, s.unit.to_string(), s.measured, s.failed);
    }
    println!("Spearman rank correlation:");
    for c in &report.correlations {
        println!("  {:<24} {:<24} {:>8.4}  (n = {})", c.a, c.b, c.spearman, c.n);
    }
    let (table, json) = latency_corr_files(&args.out);
    println!("values: {}; report: {}", table.display(), json.display());
    Ok(())
}
