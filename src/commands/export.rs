use anyhow::{bail, Result};
use edgenas_deploy::{emit_genome, BatchNormInit};

use super::{genome_from_source, write_file};
use crate::cli::ExportArgs;

pub fn export(args: &ExportArgs) -> Result<()> {
    let Some(genome) = genome_from_source(&args.source)? else {
        bail!("export needs an architecture: --arch ARCH.json, --nb201-index I or --nb201-arch STR");
    };
    let bn = if args.seeded_batchnorm { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
    let model = emit_genome(&genome, args.seed, bn)?;
    write_file(&args.out, &model.onnx)?;
    eprintln!("wrote {} ({} bytes, genome {})", args.out.display(), model.onnx.len(), genome.content_hash());
    Ok(())
}
