//! What `compile`, `bench` and `info` share for microcontroller targets: the int8 model
//! to lower (a file, or an architecture quantized on the way) and the report's lines.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use edgenas_compiler::quantize::Precision;
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit, FirmwareReport};
use edgenas_targets::Target;

use super::genome_from_source;
use crate::cli::ArchSource;

/// The integer-only int8 ONNX model for `target` and its label: the file as given (it must
/// be int8 already), or the architecture emitted with calibrated BatchNorm and quantized
/// as `search` quantizes its candidates.
pub fn int8_model(model: Option<&Path>, source: &ArchSource, target: &Target) -> Result<(String, Vec<u8>)> {
    match (model, genome_from_source(source)?) {
        (Some(_), Some(_)) => anyhow::bail!("give either an ONNX model or an architecture, not both"),
        (Some(path), None) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok((path.display().to_string(), bytes))
        }
        (None, genome) => {
            ensure!(
                genome.is_some(),
                "give an int8 ONNX model or an architecture (--arch, --nb201-index, --nb201-arch)"
            );
            let genome = genome.unwrap_or_else(edgenas_deploy::pipeline::default_genome);
            let emitted = emit_genome(&genome, 0, BatchNormInit::Calibrated)?;
            let label = format!("genome {} ({})", genome.content_hash(), genome.space_name());
            let int8 = quantize_for_target(&emitted.onnx, Precision::Int8, target)
                .with_context(|| format!("quantizing {label} to integer-only int8"))?;
            Ok((label, int8))
        }
    }
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// The report as lines for people.
pub fn print_report(r: &FirmwareReport) {
    let m = &r.memory;
    println!("target:          {} ({}, {} kernels)", r.target, r.cpu, if r.dsp { "DSP" } else { "portable" });
    println!(
        "model:           {} ops, {:.2} M MACs, input {}x{}x{} int8 (scale {}, zero point {}), output {}x{}x{}",
        r.ops,
        r.macs as f64 / 1e6,
        r.input.h,
        r.input.w,
        r.input.c,
        r.input.scale,
        r.input.zero_point,
        r.output.h,
        r.output.w,
        r.output.c
    );
    println!(
        "peak SRAM:       {} of {} (arena {} incl. scratch {}, stack {}, rest of .data/.bss {})",
        kib(r.sram_bytes),
        kib(r.sram_limit_bytes),
        kib(m.arena_bytes as u64),
        kib(m.largest_scratch_bytes as u64),
        kib(r.stack_bytes as u64),
        kib(r.sram_bytes.saturating_sub((m.arena_bytes + r.stack_bytes) as u64))
    );
    println!(
        "flash:           {} of {} (constants {}, code and the rest {})",
        kib(r.flash_bytes),
        kib(r.flash_limit_bytes),
        kib(m.constant_bytes as u64),
        kib(r.flash_bytes.saturating_sub(m.constant_bytes as u64))
    );
    println!(
        "arena vs baselines: edgenas {} B, greedy-by-size {} B ({:.2}x), no reuse {} B ({:.2}x)",
        m.arena_bytes,
        m.greedy_by_size_bytes,
        m.arena_bytes as f64 / m.greedy_by_size_bytes.max(1) as f64,
        m.no_reuse_bytes,
        m.arena_bytes as f64 / m.no_reuse_bytes.max(1) as f64
    );
    println!("elf (arm-none-eabi-size): text {} data {} bss {}", r.elf.text, r.elf.data, r.elf.bss);
}
