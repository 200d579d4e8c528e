//! `edgenas proxy-corr` as a standalone program: Spearman correlation of the NASWOT,
//! params and MACs proxies with NB201 test accuracy on a uniform sample of architectures.
//! It compiles the subcommand's own source, so it measures exactly what the CLI does.
//!
//! Run: `cargo run --release --example proxy_corr -- --sample 500 --dataset cifar10`

use clap::Parser;

mod search {
    pub use edgenas::search::*;
}

#[path = "../src/commands/proxy_corr.rs"]
mod proxy_corr;

#[derive(Parser)]
#[command(name = "proxy_corr")]
struct Cli {
    #[command(flatten)]
    args: proxy_corr::ProxyCorrArgs,
}

fn main() -> anyhow::Result<()> {
    proxy_corr::proxy_corr(&Cli::parse().args)
}
