use anyhow::{bail, Result};

use crate::cli::ExportArgs;
use crate::pipeline::{emit_genome, genome_from_source, write_atomic, BatchNormInit};

pub fn export(args: &ExportArgs) -> Result<()> {
    let Some(genome) = genome_from_source(&args.source)? else {
        bail!("export needs an architecture: --arch ARCH.json, --nb201-index I or --nb201-arch STR");
    };
    let bn = if args.seeded_batchnorm { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
    let model = emit_genome(&genome, args.seed, bn)?;
    write_atomic(&args.out, &model.onnx)?;
    eprintln!("wrote {} ({} bytes, genome {})", args.out.display(), model.onnx.len(), genome.content_hash());
    Ok(())
}
