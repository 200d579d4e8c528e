//! `edgenas latency-corr`: how the latency sources rank NB201 architectures against each
//! other (Spearman's rank correlation): host wall clock, instruction counts on a cross
//! target, and the device columns of the NB201 table.
//!
//! Every measurement is appended to `<out>/measurements.jsonl` as soon as it is made, so a
//! killed run loses at most the one in flight and the same command resumes it (measuring
//! again only what is missing or failed).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use edgenas_compiler::space::nb201::{Nb201Genome, NB201_SIZE};
use edgenas_compiler::space::Genome;
use edgenas_runtime::{CompiledModel, LatencyUnit, RunOptions};
use serde::{Deserialize, Serialize};

use super::proxy_corr::distinct_indices;
use crate::pipeline::{emit_genome, write_atomic, BatchNormInit};
use crate::quantization::Precision;
use crate::search::config::LatencyConfig;
use crate::search::evaluate::spearman;
use crate::search::journal::Journal;
use crate::search::latency::LatencySource;

const JOURNAL_FILE: &str = "measurements.jsonl";
const REPORT_FILE: &str = "latency-corr.json";
const TABLE_FILE: &str = "latencies.csv";

/// Arguments of `edgenas latency-corr`.
#[derive(Debug, clap::Args)]
pub struct LatencyCorrArgs {
    /// Distinct NB201 architectures, drawn uniformly.
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// Seed of the sample (weights always use seed 0, as `search` does).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Latency sources, as `search --target` spells them: `host`, a cross target
    /// (`aarch64-linux`, ...), `nb201-table:<device>`.
    #[arg(long, value_delimiter = ',', default_value = "host,aarch64-linux,nb201-table:pixel3")]
    pub sources: Vec<String>,
    /// Measurement time cap per architecture on the host, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub time_cap_ms: u64,
    /// Output directory; a directory holding measurements from an earlier run is resumed.
    #[arg(long, default_value = "runs/latency-corr")]
    pub out: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
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

#[derive(Debug, Serialize)]
struct SourceSummary {
    source: String,
    unit: LatencyUnit,
    measured: usize,
    failed: usize,
}

#[derive(Debug, Serialize)]
struct PairCorrelation {
    a: String,
    b: String,
    spearman: f64,
    /// Architectures both sources measured.
    n: usize,
}

#[derive(Debug, Serialize)]
struct LatencyCorrReport {
    sample: usize,
    seed: u64,
    sources: Vec<SourceSummary>,
    correlations: Vec<PairCorrelation>,
}

/// Measures `--sample` NB201 architectures with every source (one source after the other,
/// so host timings never share the CPU with an emulator), then writes the per-pair Spearman
/// correlations to `<out>/latency-corr.json` and the values to `<out>/latencies.csv`.
pub fn latency_corr(args: &LatencyCorrArgs) -> Result<()> {
    ensure!(
        (2..=NB201_SIZE).contains(&args.sample),
        "--sample must be between 2 and {NB201_SIZE}, got {}",
        args.sample
    );
    ensure!(args.sources.len() >= 2, "--sources needs at least two sources to correlate");
    if let Some(dup) = args.sources.iter().enumerate().find(|(i, s)| args.sources[..*i].contains(s)) {
        anyhow::bail!("--sources names `{}` twice", dup.1);
    }
    let sources = args
        .sources
        .iter()
        .map(|name| {
            let cfg = LatencyConfig { target: name.clone(), time_cap_ms: args.time_cap_ms, ..LatencyConfig::default() };
            LatencySource::from_config(&cfg, &[Precision::F32]).with_context(|| format!("latency source `{name}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let (mut journal, previous) = Journal::<Measurement>::open(&args.out.join(JOURNAL_FILE))?;
    let mut done: HashMap<(usize, String), Measurement> =
        previous.into_iter().filter(|m| m.median.is_some()).map(|m| ((m.index, m.source.clone()), m)).collect();
    let indices = distinct_indices(args.sample, args.seed);
    let already = indices.iter().flat_map(|&i| args.sources.iter().map(move |s| (i, s.clone())));
    let resumed = already.filter(|key| done.contains_key(key)).count();
    if resumed > 0 {
        eprintln!(
            "latency-corr: resuming, {resumed} of {} measurements already in {}",
            indices.len() * args.sources.len(),
            args.out.display()
        );
    }

    let start = Instant::now();
    for (source_name, source) in args.sources.iter().zip(&sources) {
        let todo: Vec<usize> =
            indices.iter().copied().filter(|&i| !done.contains_key(&(i, source_name.clone()))).collect();
        if todo.is_empty() {
            continue;
        }
        for (n, &index) in todo.iter().enumerate() {
            let measured = measure(source, index);
            let measurement = Measurement {
                index,
                source: source_name.clone(),
                unit: source.unit(),
                median: measured.as_ref().ok().copied(),
                error: measured.err().map(|e| format!("{e:#}")),
            };
            if let Some(error) = &measurement.error {
                eprintln!("\nlatency-corr: NB201 {index} on {source_name} failed: {error}");
            }
            journal.append(&measurement)?;
            done.insert((index, source_name.clone()), measurement);
            eprint!("\rlatency-corr: {source_name} {}/{} ({:.0}s)", n + 1, todo.len(), start.elapsed().as_secs_f64());
        }
        eprintln!();
    }

    let report = correlate(args, &indices, &done);
    write_table(&args.out.join(TABLE_FILE), &args.sources, &indices, &done)?;
    let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
    write_atomic(&args.out.join(REPORT_FILE), format!("{text}\n").as_bytes())?;
    if args.json {
        println!("{text}");
    } else {
        print_report(&report, &args.out);
    }
    Ok(())
}

/// The median latency of NB201 architecture `index` by `source`.
fn measure(source: &LatencySource, index: usize) -> Result<f64> {
    let genome = Genome::Nb201(Nb201Genome::from_index(index as i64)?);
    let emitted = emit_genome(&genome, 0, BatchNormInit::Seeded)?;
    let model = if source.needs_model() {
        let label = format!("NB201 {index}");
        Some(CompiledModel::from_onnx_bytes(&emitted.onnx, &label, &RunOptions::default()).context("compiling")?)
    } else {
        None
    };
    Ok(source.measure(&genome, &emitted.onnx, model.as_ref())?.median)
}

fn correlate(
    args: &LatencyCorrArgs,
    indices: &[usize],
    done: &HashMap<(usize, String), Measurement>,
) -> LatencyCorrReport {
    let value = |index: usize, source: &String| done.get(&(index, source.clone())).and_then(|m| m.median);
    let sources = args
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
    for (i, a) in args.sources.iter().enumerate() {
        for b in &args.sources[i + 1..] {
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
    LatencyCorrReport { sample: args.sample, seed: args.seed, sources, correlations }
}

/// `index,<source>,...`: one row per architecture, empty where a measurement failed.
fn write_table(
    path: &Path,
    sources: &[String],
    indices: &[usize],
    done: &HashMap<(usize, String), Measurement>,
) -> Result<()> {
    let mut csv = format!("nb201_index,{}\n", sources.join(","));
    for &index in indices {
        let cells: Vec<String> = sources
            .iter()
            .map(|s| done.get(&(index, s.clone())).and_then(|m| m.median).map_or(String::new(), |v| v.to_string()))
            .collect();
        csv.push_str(&format!("{index},{}\n", cells.join(",")));
    }
    write_atomic(path, csv.as_bytes())
}

fn print_report(report: &LatencyCorrReport, out: &Path) {
    println!("{} NB201 architectures (seed {}):", report.sample, report.seed);
    for s in &report.sources {
        let unit = match s.unit {
            LatencyUnit::Ms => "ms",
            LatencyUnit::Instructions => "instructions",
        };
        println!("  {:<24} {unit:<12} {} measured, {} failed", s.source, s.measured, s.failed);
    }
    println!("Spearman rank correlation:");
    for c in &report.correlations {
        println!("  {:<24} {:<24} {:>8.4}  (n = {})", c.a, c.b, c.spearman, c.n);
    }
    println!("values: {}; report: {}", out.join(TABLE_FILE).display(), out.join(REPORT_FILE).display());
}
