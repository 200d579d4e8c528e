//! The microcontroller backend's benchmark: instructions per MAC by layer type with the
//! DSP kernels and the portable ones (Cortex-M4, per-op counter windows), the arena
//! against TFLite Micro's greedy-by-size placement and no reuse over random mbconv-mcu
//! architectures, and whole models (MobileNetV2-0.35 at 96×96 on the Cortex-M7, the
//! smallest-instruction sample on the Cortex-M4): flash, peak SRAM, instructions.
//!
//! ```text
//! cargo run --release --example mcu_benchmark -- [SAMPLES] [SEED]    (defaults 20, 0)
//! ```
//! Needs arm-none-eabi-gcc and qemu-system-arm (scripts/setup-cross.sh). Counts are exact
//! emulated instructions, not cycles or time.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use edgenas_compiler::mcu::{Int8Op, Kernel, McuModel};
use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::mbconv::MbconvGenome;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_deploy::firmware::{build_in, lower_for_mcu, write_sources, FirmwareReport};
use edgenas_deploy::{compile_firmware, emit_genome, quantize_for_target, BatchNormInit, FirmwareRequest};
use edgenas_targets::{FirmwareOptions, McuBackend, Target};

/// An NB201 cell of conv 3x3 and skip edges.
const NB201_DENSE: &str =
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";

fn int8(genome: &Genome, target: &Target) -> Result<Vec<u8>> {
    let emitted = emit_genome(genome, 0, BatchNormInit::Calibrated)?;
    Ok(quantize_for_target(&emitted.onnx, Precision::Int8, target)?)
}

/// Layer type of an op for the table: dense convolutions by kernel size, pointwise ones by
/// their number of input channels (the multiply-accumulates per requantized output).
fn layer_type(model: &McuModel, op: &Int8Op) -> String {
    match op {
        Int8Op::Conv(c) if op.kind(&model.program) == "conv" => {
            format!("conv {}x{}", c.window.kernel_h, c.window.kernel_w)
        }
        Int8Op::Conv(c) if op.kind(&model.program) == "pointwise" => match c.in_channels {
            0..32 => "pointwise, < 32 inputs".to_string(),
            32..96 => "pointwise, 32-95 inputs".to_string(),
            _ => "pointwise, >= 96 inputs".to_string(),
        },
        other => other.kind(&model.program).to_string(),
    }
}

/// Instructions and MACs of every op of `model`, built with `dsp`, one window per op; a
/// fused expand-depthwise pair counts as one "pointwise+depthwise (fused)" op.
fn per_op(model: &McuModel, target: &Target, backend: &McuBackend, dsp: bool) -> Result<Vec<(String, u64, u64)>> {
    let dir = tempfile::tempdir()?;
    write_sources(model, dir.path())?;
    let options = FirmwareOptions { dsp: Some(dsp), profile_layers: true };
    let firmware = build_in(model, target, dir.path(), &dir.path().join("build"), options)?;
    let run = backend.run(&firmware.elf, &[], 0, 1)?;
    let ops = &model.program.ops;
    anyhow::ensure!(run.windows.len() == ops.len(), "one window per op expected");
    let mut rows = Vec::new();
    for (i, (op, &n)) in ops.iter().zip(&run.windows).enumerate() {
        let macs = op.macs(&model.program);
        match model.schedule.ops[i].kernel {
            Kernel::Fused => {}
            Kernel::ExpandDepthwise => {
                let next = ops.get(i + 1).map_or(0, |o| o.macs(&model.program));
                let fused_window = run.windows.get(i + 1).copied().unwrap_or(0);
                rows.push(("pointwise+depthwise (fused)".to_string(), n + fused_window, macs + next));
            }
            _ => rows.push((layer_type(model, op), n, macs)),
        }
    }
    Ok(rows)
}

fn whole_model(label: &str, onnx: &[u8], target: &Target, backend: &McuBackend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("fw");
    let report: FirmwareReport = compile_firmware(&FirmwareRequest { onnx, target, out: &out, force: false })
        .with_context(|| format!("compiling {label}"))?;
    let run = backend.run(&out.join("firmware.elf"), &[], 0, 1)?;
    let instructions = run.windows.first().copied().unwrap_or(0);
    println!(
        "{label} on {}: flash {} B, peak SRAM {} B (arena {} B; greedy-by-size {} B), {} instructions per \
         inference, {:.3} M MACs, {:.3} instructions/MAC",
        target.name,
        report.flash_bytes,
        report.sram_bytes,
        report.memory.arena_bytes,
        report.memory.greedy_by_size_bytes,
        instructions,
        report.macs as f64 / 1e6,
        instructions as f64 / report.macs as f64
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let samples: usize = args.first().map(|s| s.parse()).transpose().context("SAMPLES")?.unwrap_or(20);
    let seed: u64 = args.get(1).map(|s| s.parse()).transpose().context("SEED")?.unwrap_or(0);
    let m4 = Target::builtin("cortex-m4").context("built-in cortex-m4")?;
    let m7 = Target::builtin("cortex-m7").context("built-in cortex-m7")?;
    let (backend4, backend7) = (McuBackend::new(m4.clone())?, McuBackend::new(m7.clone())?);
    let space = SearchSpace::resolve("mbconv-mcu")?;
    let mut rng = SeededRng::new(seed);

    let mut by_type: BTreeMap<(String, bool), (u64, u64)> = BTreeMap::new();
    let mut ratios_greedy = Vec::new();
    let mut ratios_none = Vec::new();
    let mut smallest: Option<(u64, Genome, Vec<u8>)> = None;
    for i in 0..samples {
        let genome = space.sample(&mut rng);
        let onnx = int8(&genome, &m4)?;
        let model = lower_for_mcu(&onnx, &m4)?;
        let m = &model.memory;
        ratios_greedy.push(m.arena_bytes as f64 / m.greedy_by_size_bytes as f64);
        ratios_none.push(m.arena_bytes as f64 / m.no_reuse_bytes as f64);
        let mut total_dsp = 0;
        for dsp in [true, false] {
            for (kind, n, macs) in per_op(&model, &m4, &backend4, dsp)? {
                let e = by_type.entry((kind, dsp)).or_default();
                e.0 += n;
                e.1 += macs;
                if dsp {
                    total_dsp += n;
                }
            }
        }
        eprintln!(
            "sample {i}: {}: arena {} B, greedy {} B, no reuse {} B, {total_dsp} instructions (DSP)",
            genome.content_hash(),
            m.arena_bytes,
            m.greedy_by_size_bytes,
            m.no_reuse_bytes
        );
        if smallest.as_ref().is_none_or(|(n, _, _)| total_dsp < *n) {
            smallest = Some((total_dsp, genome, onnx));
        }
    }
    println!("\ninstructions per MAC on cortex-m4 over {samples} mbconv-mcu samples (seed {seed}), by layer type:");
    println!("{:<28} {:>12} {:>12} {:>14}", "layer type", "DSP", "portable", "MACs");
    let kinds: Vec<String> = by_type.keys().filter(|(_, dsp)| *dsp).map(|(k, _)| k.clone()).collect();
    for kind in kinds {
        let (dsp_n, macs) = by_type[&(kind.clone(), true)];
        let (port_n, _) = by_type[&(kind.clone(), false)];
        if macs == 0 {
            println!("{kind:<28} {:>12} {:>12} {:>14}  (instructions, no MACs)", dsp_n, port_n, 0);
        } else {
            println!(
                "{kind:<28} {:>12.3} {:>12.3} {:>14}",
                dsp_n as f64 / macs as f64,
                port_n as f64 / macs as f64,
                macs
            );
        }
    }
    // Dense 3x3 convolutions with 16-64 channels: an NB201 cell whose edges are all
    // conv 3x3 or skip, small enough for the M4's flash; and on an M4 with 2 MiB of flash
    // (STM32F429-class), where the DSP kernels' weights are pre-widened.
    let nb201 = Genome::Nb201(Nb201Genome::from_arch(&NB201_DENSE.parse()?));
    let mut m4_2mib = m4.clone();
    m4_2mib.name = "cortex-m4-2mib".to_string();
    m4_2mib.flash_kib = Some(2048);
    for target in [&m4, &m4_2mib] {
        let model = lower_for_mcu(&int8(&nb201, target)?, target)?;
        let wide = model.schedule.ops.iter().filter(|s| s.wide_weights).count();
        for dsp in [true, false] {
            let (mut n, mut macs) = (0, 0);
            for (kind, count, m) in per_op(&model, target, &backend4, dsp)? {
                if kind == "conv 3x3" {
                    n += count;
                    macs += m;
                }
            }
            println!(
                "nb201 {NB201_DENSE} on {}: conv 3x3 (16-64 channels) {:.3} instructions/MAC ({}, {macs} MACs, \
                 {wide} convolutions with widened weights)",
                target.name,
                n as f64 / macs as f64,
                if dsp { "DSP" } else { "portable" }
            );
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let worst = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "\narena / greedy-by-size: mean {:.3}, worst {:.3}; arena / no reuse: mean {:.3}, worst {:.3}",
        mean(&ratios_greedy),
        worst(&ratios_greedy),
        mean(&ratios_none),
        worst(&ratios_none)
    );
    println!();
    let mbv2 = Genome::Mbconv(MbconvGenome::mobilenet_v2(0.35, 96, 10));
    whole_model("MobileNetV2-0.35-96", &int8(&mbv2, &m7)?, &m7, &backend7)?;
    if let Some((_, genome, onnx)) = smallest {
        whole_model(&format!("mbconv-mcu sample {}", genome.content_hash()), &onnx, &m4, &backend4)?;
    }
    Ok(())
}
