//! One file per subcommand; each takes its argument struct from [`crate::cli`].

mod bench;
mod bench_pipeline;
mod compile;
mod export;
mod info;
mod latency_corr;
mod nb201_bench;
mod proxy_corr;
mod quantize;
mod run_model;
mod search;
mod space;
mod targets;

use anyhow::Result;
pub use latency_corr::LatencyCorrArgs;
pub use proxy_corr::ProxyCorrArgs;

use crate::cli::{Cli, Command, SpaceCommand};

/// Executes a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Space(SpaceCommand::Sample(args)) => space::sample(&args),
        Command::Space(SpaceCommand::MobilenetV2(args)) => space::mobilenet_v2(&args),
        Command::Export(args) => export::export(&args),
        Command::Info(args) => info::info(&args),
        Command::Run(args) => run_model::run_model(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::BenchPipeline(args) => bench_pipeline::bench_pipeline(&args),
        Command::Nb201Bench(args) => nb201_bench::nb201_bench(&args),
        Command::Search(args) => search::search(&args),
        Command::ProxyCorr(args) => proxy_corr::proxy_corr(&args),
        Command::LatencyCorr(args) => latency_corr::latency_corr(&args),
        Command::Quantize(args) => quantize::quantize(&args),
        Command::Targets(args) => targets::targets(&args),
        Command::Compile(args) => compile::compile(&args),
    }
}
