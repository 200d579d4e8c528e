//! `edgenas compile`: a deployable bundle for one target (see `edgenas_deploy::bundle`), or
//! firmware for a microcontroller (see `edgenas_deploy::firmware`).

use anyhow::{Context, Result};
use edgenas_deploy::{compile_bundle, compile_firmware, emit_genome, BatchNormInit, BundleRequest, FirmwareRequest};
use edgenas_targets::{Target, TargetKind, RUNNER_NAME};

use super::firmware::{int8_model, print_report};
use super::genome_from_source;
use super::progress::DeployView;
use crate::cli::CompileArgs;

pub fn compile(args: &CompileArgs) -> Result<()> {
    let target = Target::resolve(&args.target).context("--target")?;
    if target.kind == TargetKind::Mcu {
        return compile_mcu(args, &target);
    }
    let emitted_dir = tempfile::tempdir().context("creating a temporary directory")?;
    let model = match (&args.model, genome_from_source(&args.source)?) {
        (Some(_), Some(_)) => anyhow::bail!("give either an ONNX model or an architecture, not both"),
        (Some(path), None) => path.clone(),
        (None, None) => anyhow::bail!("give an ONNX model or an architecture (--arch, --nb201-index, --nb201-arch)"),
        (None, Some(genome)) => {
            let path = emitted_dir.path().join("model.onnx");
            let emitted = emit_genome(&genome, 0, BatchNormInit::Seeded)?;
            std::fs::write(&path, &emitted.onnx).with_context(|| format!("writing {}", path.display()))?;
            path
        }
    };
    let request = BundleRequest {
        model: &model,
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

fn compile_mcu(args: &CompileArgs, target: &Target) -> Result<()> {
    let (label, onnx) = int8_model(args.model.as_deref(), &args.source, target)?;
    let request = FirmwareRequest { onnx: &onnx, target, out: &args.out, force: args.force };
    let report = compile_firmware(&request).with_context(|| format!("compiling {label} for {}", target.name))?;
    let out = args.out.display();
    println!("wrote {out}: model.h, model.c, edgenas_kernels.h, board/ (QEMU harness), firmware.elf, report.json");
    print_report(&report);
    println!("run it:          edgenas bench --target {} {}", args.target, bench_source(args));
    println!(
        "real board:      make -f examples/mcu-stm32/Makefile MODEL_DIR={out} BOARD=stm32f4 (see examples/mcu-stm32/README.md)"
    );
    Ok(())
}

fn bench_source(args: &CompileArgs) -> String {
    match (&args.model, &args.source) {
        (Some(path), _) => path.display().to_string(),
        (None, s) if s.nb201_index.is_some() => format!("--nb201-index {}", s.nb201_index.unwrap_or_default()),
        (None, s) if s.arch.is_some() => {
            format!("--arch {}", s.arch.as_deref().map(|p| p.display().to_string()).unwrap_or_default())
        }
        (None, s) => format!("--nb201-arch '{}'", s.nb201_arch.clone().unwrap_or_default()),
    }
}
