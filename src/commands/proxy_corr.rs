//! `edgenas proxy-corr`: how well each training-free proxy ranks NB201 architectures (see
//! `edgenas_search::correlation::proxy_corr`).

use anyhow::Result;
use edgenas_search::correlation::{proxy_corr as run_proxy_corr, ProxyCorrConfig};

use crate::cli::ProxyCorrArgs;

pub fn proxy_corr(args: &ProxyCorrArgs) -> Result<()> {
    let cfg = ProxyCorrConfig { sample: args.sample, seed: args.seed, dataset: args.dataset, batch: args.batch };
    let start = std::time::Instant::now();
    let report = run_proxy_corr(&cfg, &mut |done, of| {
        eprint!("\rproxy-corr: {done}/{of} architectures scored ({:.0}s)", start.elapsed().as_secs_f64());
    })?;
    eprintln!();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} NB201 architectures (seed {}), {} test accuracy, NASWOT batch {}:",
        report.sample, report.seed, report.dataset, report.batch
    );
    println!("  {:<8} {:>9} {:>12}", "proxy", "spearman", "ms/arch");
    for c in &report.correlations {
        println!("  {:<8} {:>9.4} {:>12.2}", c.proxy.to_string(), c.spearman, c.mean_ms);
    }
    println!("total {:.1}s", report.total_s);
    Ok(())
}
