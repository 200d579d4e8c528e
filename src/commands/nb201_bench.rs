use anyhow::Result;

use crate::cli::Nb201BenchArgs;

pub fn nb201_bench(_args: &Nb201BenchArgs) -> Result<()> {
    anyhow::bail!("nb201-bench is being written")
}
