use anyhow::{bail, Result};

use crate::cli::ExportArgs;
use crate::pipeline::{emit_genome, genome_from_source, write_atomic};

pub fn export(args: &ExportArgs) -> Result<()> {
    let Some(genome) = genome_from_source(&args.source)? else {
        bail!("export needs an architecture: --arch ARCH.json, --nb201-index I or --nb201-arch STR");
    };
    let model = emit_genome(&genome, args.seed)?;
    write_atomic(&args.out, &model.onnx)?;
    eprintln!("wrote {} ({} bytes, genome {})", args.out.display(), model.onnx.len(), genome.content_hash());
    Ok(())
}
