//! `edgenas compile`: a deployable bundle for one target (see `edgenas_deploy::bundle`).

use anyhow::{Context, Result};
use edgenas_deploy::{compile_bundle, BundleRequest};
use edgenas_targets::{Target, RUNNER_NAME};

use super::progress::DeployView;
use crate::cli::CompileArgs;

pub fn compile(args: &CompileArgs) -> Result<()> {
    let target = Target::resolve(&args.target).context("--target")?;
    let request = BundleRequest {
        model: &args.model,
        target: &target,
        descriptor: &args.target,
        profile: args.profile,
        out: &args.out,
        force: args.force,
    };
    let mut view = DeployView::default();
    let bundle = compile_bundle(&request, &mut |p| view.show(p))?;
    println!(
        "wrote {}: {} ({} bytes), {RUNNER_NAME} ({} bytes, {}), manifest.json, run.sh",
        bundle.out.display(),
        bundle.model_file,
        bundle.model_bytes,
        bundle.runner_bytes,
        bundle.triple
    );
    Ok(())
}
