use anyhow::{Context, Result};
use edgenas_runtime::{read_npy_f32, write_npy_f32};

use crate::cli::RunArgs;

pub fn run_model(args: &RunArgs) -> Result<()> {
    let (model, _) = edgenas_deploy::compile_file_on_host(&args.model)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let input = read_npy_f32(&args.input).with_context(|| format!("reading input {}", args.input.display()))?;
    let outputs = model.run(&input).with_context(|| format!("running {}", args.model.display()))?;
    let first = outputs.first().context("the model produced no output")?;
    write_npy_f32(&args.output, first).with_context(|| format!("writing {}", args.output.display()))?;
    if outputs.len() > 1 {
        eprintln!("note: the model has {} outputs; wrote the first", outputs.len());
    }
    eprintln!("wrote {} with shape {:?}", args.output.display(), first.shape);
    Ok(())
}
