//! `edgenas proxy-corr`: how well each training-free proxy ranks NB201 architectures,
//! as Spearman's rank correlation with the table's test accuracy.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::{Nb201Genome, Nb201Table, NB201_SIZE};
use edgenas_compiler::space::Genome;
use serde::Serialize;

use crate::search::evaluate::{spearman, Nb201Dataset, ProxyEvaluator, ProxyKind, DEFAULT_NASWOT_BATCH};

/// Arguments of `edgenas proxy-corr`.
#[derive(Debug, clap::Args)]
pub struct ProxyCorrArgs {
    /// Distinct NB201 architectures to score, drawn uniformly.
    #[arg(long, default_value_t = 500)]
    pub sample: usize,
    /// Seed of the sample (NASWOT weights and inputs always use seed 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Accuracy column: cifar10, cifar100 or imagenet16.
    #[arg(long, default_value = "cifar10")]
    pub dataset: Nb201Dataset,
    /// NASWOT mini-batch size.
    #[arg(long, default_value_t = DEFAULT_NASWOT_BATCH)]
    pub batch: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct ProxyCorrelation {
    proxy: ProxyKind,
    spearman: f64,
    /// Mean wall time of one score.
    mean_ms: f64,
}

#[derive(Serialize)]
struct ProxyCorrReport {
    dataset: Nb201Dataset,
    sample: usize,
    seed: u64,
    batch: usize,
    correlations: Vec<ProxyCorrelation>,
    total_s: f64,
}

/// Scores `--sample` distinct uniformly drawn NB201 architectures with every proxy and prints
/// each proxy's Spearman correlation with the `--dataset` accuracy (progress on stderr).
pub fn proxy_corr(args: &ProxyCorrArgs) -> Result<()> {
    ensure!(
        (2..=NB201_SIZE).contains(&args.sample),
        "--sample must be between 2 and {NB201_SIZE}, got {}",
        args.sample
    );
    let start = Instant::now();
    let table = Nb201Table::builtin();
    let indices = distinct_indices(args.sample, args.seed);
    let accuracy: Vec<f64> = indices
        .iter()
        .map(|&i| table.row(i).map(|row| args.dataset.accuracy(row)).context("NB201 index outside the table"))
        .collect::<Result<_>>()?;
    let proxies: Vec<ProxyEvaluator> =
        ProxyKind::ALL.iter().map(|&kind| ProxyEvaluator { batch: args.batch, ..ProxyEvaluator::new(kind) }).collect();
    let mut scores = vec![Vec::with_capacity(indices.len()); proxies.len()];
    let mut time = vec![Duration::ZERO; proxies.len()];
    for (n, &index) in indices.iter().enumerate() {
        let genome = Genome::Nb201(Nb201Genome::from_index(index as i64)?);
        let graph = genome.build().with_context(|| format!("building NB201 architecture {index}"))?;
        for (p, proxy) in proxies.iter().enumerate() {
            let t = Instant::now();
            let score =
                proxy.score(&graph).with_context(|| format!("{} proxy of NB201 architecture {index}", proxy.kind))?;
            time[p] += t.elapsed();
            scores[p].push(score);
        }
        eprint!(
            "\rproxy-corr: {}/{} architectures scored ({:.0}s)",
            n + 1,
            indices.len(),
            start.elapsed().as_secs_f64()
        );
    }
    eprintln!();
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
    let report = ProxyCorrReport {
        dataset: args.dataset,
        sample: args.sample,
        seed: args.seed,
        batch: args.batch,
        correlations,
        total_s: start.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} NB201 architectures (seed {}), {} test accuracy, NASWOT batch {}:",
            report.sample, report.seed, report.dataset, report.batch
        );
        println!("  {:<8} {:>9} {:>12}", "proxy", "spearman", "ms/arch");
        for c in &report.correlations {
            println!("  {:<8} {:>9.4} {:>12.2}", c.proxy.name(), c.spearman, c.mean_ms);
        }
        println!("total {:.1}s", report.total_s);
    }
    Ok(())
}

/// `count` distinct indices of `0..NB201_SIZE`, uniformly, by a partial Fisher-Yates shuffle
/// driven by `SeededRng::new(seed)`.
pub(super) fn distinct_indices(count: usize, seed: u64) -> Vec<usize> {
    let mut rng = SeededRng::new(seed);
    let mut all: Vec<usize> = (0..NB201_SIZE).collect();
    for i in 0..count.min(NB201_SIZE) {
        let j = i + rng.below(NB201_SIZE - i);
        all.swap(i, j);
    }
    all.truncate(count);
    all
}
