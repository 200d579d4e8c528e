//! `edgenas profile`: the cost of each node of tract's plan, mapped to the ONNX layers.

use std::time::Duration;

use anyhow::{Context, Result};
use edgenas_deploy::{profile_model, quantize_for_target};
use edgenas_targets::Target;

use super::bench::model_bytes;
use super::progress::DeployView;
use crate::cli::ProfileArgs;

pub fn profile(args: &ProfileArgs) -> Result<()> {
    let target = Target::resolve(&args.target).context("--target")?;
    let (label, onnx) = model_bytes(args.model.as_deref(), &args.source, args.precision)?;
    let onnx = match args.precision {
        Some(precision) => quantize_for_target(&onnx, precision, &target)
            .with_context(|| format!("quantizing {label} to {precision}"))?,
        None => onnx,
    };
    let mut view = DeployView::default();
    let report = profile_model(&label, &onnx, &target, args.runs, Duration::from_millis(args.time_cap_ms), &mut |p| {
        view.show(p)
    })
    .with_context(|| format!("profiling {label} on {}", target.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
