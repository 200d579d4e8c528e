//! One file per subcommand; each takes its argument struct from [`crate::cli`], calls the
//! library and prints. `progress.rs` is the only place that draws on the terminal.

mod bench;
mod bench_pipeline;
mod compile;
mod export;
mod farm;
mod firmware;
mod info;
mod latency_corr;
mod nb201_bench;
mod predictor;
mod profile;
mod progress;
mod proxy_corr;
mod quantize;
mod run_model;
mod search;
mod space;
mod targets;

use anyhow::{Context, Result};
use edgenas_compiler::space::nb201::{Nb201Genome, Nb201Table};
use edgenas_compiler::space::Genome;

use crate::cli::{ArchSource, Cli, Command, FarmCommand, PredictorCommand, SpaceCommand};

/// Executes a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Space(SpaceCommand::Sample(args)) => space::sample(&args),
        Command::Space(SpaceCommand::MobilenetV2(args)) => space::mobilenet_v2(&args),
        Command::Export(args) => export::export(&args),
        Command::Info(args) => info::info(&args),
        Command::Run(args) => run_model::run_model(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Profile(args) => profile::profile(&args),
        Command::BenchPipeline(args) => bench_pipeline::bench_pipeline(&args),
        Command::Nb201Bench(args) => nb201_bench::nb201_bench(&args),
        Command::Predictor(PredictorCommand::Eval(args)) => predictor::eval(&args),
        Command::Predictor(PredictorCommand::Fit(args)) => predictor::fit(&args),
        Command::Search(args) => search::search(&args),
        Command::ProxyCorr(args) => proxy_corr::proxy_corr(&args),
        Command::LatencyCorr(args) => latency_corr::latency_corr(&args),
        Command::Quantize(args) => quantize::quantize(&args),
        Command::Targets(args) => targets::targets(&args),
        Command::Compile(args) => compile::compile(&args),
        Command::Worker(args) => farm::worker(&args),
        Command::Farm(FarmCommand::Status(args)) => farm::status(&args),
        Command::Farm(FarmCommand::Bench(args)) => farm::bench(&args),
    }
}

/// Reads the genome an [`ArchSource`] names; `None` when it names nothing.
fn genome_from_source(source: &ArchSource) -> Result<Option<Genome>> {
    if let Some(path) = &source.arch {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading genome file {}", path.display()))?;
        let genome =
            Genome::from_json(text.trim()).with_context(|| format!("parsing genome file {}", path.display()))?;
        return Ok(Some(genome));
    }
    if let Some(index) = source.nb201_index {
        return Ok(Some(Genome::Nb201(Nb201Genome::from_index(index)?)));
    }
    if let Some(arch) = &source.nb201_arch {
        let arch = arch.parse().context("parsing --nb201-arch")?;
        return Ok(Some(Genome::Nb201(Nb201Genome::from_arch(&arch))));
    }
    Ok(None)
}

/// The genome an [`ArchSource`] names, or NB201 arch 6111 (the bench default) when it
/// names nothing.
fn genome_or_default(source: &ArchSource) -> Result<Genome> {
    Ok(genome_from_source(source)?.unwrap_or_else(edgenas_deploy::pipeline::default_genome))
}

/// Writes `bytes` to `path` atomically, with the path in the error.
/// The NB201 table at `path`, or the shipped one.
fn nb201_table(path: Option<&std::path::Path>) -> Result<std::borrow::Cow<'static, Nb201Table>> {
    let Some(path) = path else { return Ok(std::borrow::Cow::Borrowed(Nb201Table::builtin())) };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the NB201 table {}", path.display()))?;
    let table = Nb201Table::from_csv(&text, &path.display().to_string())
        .with_context(|| format!("parsing the NB201 table {}", path.display()))?;
    Ok(std::borrow::Cow::Owned(table))
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    edgenas_runtime::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}
