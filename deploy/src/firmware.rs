//! Firmware for a microcontroller target (`edgenas compile --target cortex-m4`): an
//! integer-only int8 ONNX model becomes an [`McuModel`] (kernels, static memory plan,
//! generated C), is checked against the target's SRAM and flash before anything is built,
//! and is built with the project's QEMU harness into a firmware ELF whose `size` is the
//! final word on both limits.
//!
//! The firmware directory (assembled next to its destination and renamed into place, so a
//! failure leaves nothing behind):
//! - `model.h`, `model.c`, `edgenas_kernels.h`: the model, to copy into any firmware;
//! - `board/`: the QEMU harness (`main.c`, `startup.c`, `semihosting.h`, `link.ld`);
//! - `firmware.elf`: the harness and the model built for the target's QEMU board;
//! - `report.json`: the [`FirmwareReport`].

use std::fs;
use std::path::{Path, PathBuf};

use edgenas_compiler::mcu::{import_qdq_bytes, McuModel, MemoryReport};
use edgenas_runtime::{BenchConfig, LatencyStats};
use edgenas_targets::{
    build_firmware, write_harness, DeviceArtifact, DeviceBackend, ElfSizes, Firmware, FirmwareError, FirmwareOptions,
    McuBackend, Target, TargetKind,
};
use serde::Serialize;

use crate::bundle::Staging;
use crate::error::DeployError;

/// What the pre-build check adds to the arena: the stack (the deepest chain measured over
/// the mbconv-mcu and NB201 tests is under 700 B) and the harness's few globals.
pub const MIN_STACK_BYTES: usize = 1024;
/// Tensors or constants named in an error about a model that does not fit.
const LARGEST_SHOWN: usize = 3;

/// Lowers the integer-only QDQ model `onnx` for `target`: DSP kernels when the target's
/// features name `dsp`, weights pre-widened within its flash
/// ([`McuModel::lower_for_flash`]).
pub fn lower_for_mcu(onnx: &[u8], target: &Target) -> Result<McuModel, DeployError> {
    if target.kind != TargetKind::Mcu {
        return Err(DeployError::Invalid(format!("target `{}` is not a microcontroller (kind `mcu`)", target.name)));
    }
    let dsp = target.features.iter().any(|f| f == "dsp");
    let program = import_qdq_bytes(onnx).map_err(|source| DeployError::Mcu { target: target.name.clone(), source })?;
    let flash = target.flash_kib.unwrap_or(0) as usize * 1024;
    McuModel::lower_for_flash(program, dsp, flash)
        .map_err(|source| DeployError::Mcu { target: target.name.clone(), source })
}

fn listed(items: &[(String, usize)]) -> String {
    items.iter().map(|(name, bytes)| format!("`{name}` {bytes} B")).collect::<Vec<_>>().join(", ")
}

fn sram_limit(target: &Target) -> u64 {
    target.sram_kib.unwrap_or(0) * 1024
}

fn flash_limit(target: &Target) -> u64 {
    target.flash_kib.unwrap_or(0) * 1024
}

/// The pre-build check: the arena plus [`MIN_STACK_BYTES`] within `sram_kib`, the
/// constants within `flash_kib`. Both are lower bounds of what the built ELF needs, so a
/// model rejected here never fits; [`compile_firmware`] checks the ELF's own sizes after.
pub fn check_fits(model: &McuModel, target: &Target) -> Result<(), DeployError> {
    let sram = (model.memory.arena_bytes + MIN_STACK_BYTES) as u64;
    if sram > sram_limit(target) {
        return Err(DeployError::DoesNotFit {
            target: target.name.clone(),
            what: "SRAM",
            needed: sram,
            limit: sram_limit(target),
            detail: format!(
                "arena {} B + stack {} B; largest tensors: {}",
                model.memory.arena_bytes,
                MIN_STACK_BYTES,
                listed(&model.largest_tensors(LARGEST_SHOWN))
            ),
        });
    }
    let flash = model.memory.constant_bytes as u64;
    if flash > flash_limit(target) {
        return Err(DeployError::DoesNotFit {
            target: target.name.clone(),
            what: "flash",
            needed: flash,
            limit: flash_limit(target),
            detail: format!(
                "weights and constants; largest layers: {}",
                listed(&model.largest_constants(LARGEST_SHOWN))
            ),
        });
    }
    Ok(())
}

/// One int8 tensor at the model's boundary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundaryTensor {
    pub name: String,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub scale: f32,
    pub zero_point: i8,
}

/// What a firmware build measured about a model: `report.json` of a firmware directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirmwareReport {
    pub target: String,
    pub cpu: String,
    pub dsp: bool,
    pub ops: usize,
    pub macs: u64,
    pub input: BoundaryTensor,
    pub output: BoundaryTensor,
    /// The arena and the two baselines of the same buffers.
    pub memory: MemoryReport,
    /// The stack the firmware reserves (`-fstack-usage`'s deepest chain plus a margin).
    pub stack_bytes: usize,
    /// `arm-none-eabi-size` of `firmware.elf`.
    pub elf: ElfSizes,
    /// `elf.data + elf.bss`: the arena, the harness's input and output buffers, the stack.
    pub sram_bytes: u64,
    /// `elf.text + elf.data`: code, weights and constants.
    pub flash_bytes: u64,
    pub sram_limit_bytes: u64,
    pub flash_limit_bytes: u64,
}

impl FirmwareReport {
    fn new(model: &McuModel, target: &Target, firmware: &Firmware) -> Self {
        let boundary = |t: &edgenas_compiler::mcu::Int8Tensor| BoundaryTensor {
            name: t.name.clone(),
            h: t.shape.h,
            w: t.shape.w,
            c: t.shape.c,
            scale: t.quant.scale,
            zero_point: t.quant.zero_point,
        };
        FirmwareReport {
            target: target.name.clone(),
            cpu: target.mcu_cpu().unwrap_or_default(),
            dsp: model.schedule.dsp,
            ops: model.program.ops.len(),
            macs: model.program.macs(),
            input: boundary(model.program.input_tensor()),
            output: boundary(model.program.output_tensor()),
            memory: model.memory,
            stack_bytes: firmware.stack_bytes,
            elf: firmware.sizes,
            sram_bytes: firmware.sizes.sram_bytes(),
            flash_bytes: firmware.sizes.flash_bytes(),
            sram_limit_bytes: sram_limit(target),
            flash_limit_bytes: flash_limit(target),
        }
    }
}

/// Writes `model`'s sources into `dir` and the harness into `dir/board`.
pub fn write_sources(model: &McuModel, dir: &Path) -> Result<(), DeployError> {
    for (name, text) in &model.sources.files {
        let path = dir.join(name);
        fs::write(&path, text).map_err(DeployError::io("writing", &path))?;
    }
    let board = dir.join("board");
    fs::create_dir_all(&board).map_err(DeployError::io("creating", &board))?;
    write_harness(&board).map_err(|source| DeployError::Firmware { target: "harness".into(), source })
}

/// Builds the firmware of `model` (sources already in `dir`, see [`write_sources`]) into
/// `build_dir`; a link that overflows FLASH or RAM is [`DeployError::DoesNotFit`].
pub fn build_in(
    model: &McuModel,
    target: &Target,
    dir: &Path,
    build_dir: &Path,
    options: FirmwareOptions,
) -> Result<Firmware, DeployError> {
    match build_firmware(target, dir, &dir.join("board"), build_dir, options) {
        Ok(firmware) => Ok(firmware),
        Err(FirmwareError::Link { stderr, .. }) if stderr.contains("overflowed") => {
            let region = if stderr.contains("`FLASH'") { "flash" } else { "SRAM" };
            let limit = if region == "flash" { flash_limit(target) } else { sram_limit(target) };
            Err(DeployError::DoesNotFit {
                target: target.name.clone(),
                what: region,
                needed: limit + overflow_bytes(&stderr),
                limit,
                detail: format!(
                    "the built firmware (arena {} B, constants {} B); largest tensors: {}; largest layers: {}",
                    model.memory.arena_bytes,
                    model.memory.constant_bytes,
                    listed(&model.largest_tensors(LARGEST_SHOWN)),
                    listed(&model.largest_constants(LARGEST_SHOWN))
                ),
            })
        }
        Err(source) => Err(DeployError::Firmware { target: target.name.clone(), source }),
    }
}

/// `region `RAM' overflowed by N bytes` → N (0 when the linker did not say).
fn overflow_bytes(stderr: &str) -> u64 {
    stderr
        .split("overflowed by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What [`compile_firmware`] builds, for which target, and where.
#[derive(Debug, Clone)]
pub struct FirmwareRequest<'a> {
    /// An integer-only int8 QDQ model (`edgenas quantize --to int8 --integer-only`).
    pub onnx: &'a [u8],
    pub target: &'a Target,
    /// The firmware directory to create.
    pub out: &'a Path,
    /// Replace `out` if it exists.
    pub force: bool,
}

/// Builds the firmware directory `request` describes (see the module documentation).
///
/// Errors: a target that is not a microcontroller, an existing `out` without `force`, a
/// model that is not integer-only int8 or has an op the backend lacks, a model over the
/// target's SRAM or flash ([`DeployError::DoesNotFit`], naming the largest tensors or
/// layers), a missing or failing `arm-none-eabi-gcc`. Nothing is left at `out` then.
pub fn compile_firmware(request: &FirmwareRequest<'_>) -> Result<FirmwareReport, DeployError> {
    let target = request.target;
    if request.out.exists() && !request.force {
        return Err(DeployError::Invalid(format!(
            "{} already exists: remove it or pass --force to replace it",
            request.out.display()
        )));
    }
    let model = lower_for_mcu(request.onnx, target)?;
    check_fits(&model, target)?;
    let staging = Staging::new(request.out)?;
    write_sources(&model, staging.path())?;
    let build_dir = tempfile::Builder::new()
        .prefix("edgenas-firmware-build-")
        .tempdir()
        .map_err(DeployError::io("creating a build directory in", std::env::temp_dir()))?;
    let firmware = build_in(&model, target, staging.path(), build_dir.path(), FirmwareOptions::default())?;
    let elf = staging.path().join("firmware.elf");
    fs::copy(&firmware.elf, &elf).map_err(DeployError::io("copying the firmware to", &elf))?;
    let report = FirmwareReport::new(&model, target, &Firmware { elf: elf.clone(), ..firmware });
    let json = serde_json::to_string_pretty(&report).map_err(|e| DeployError::Invalid(e.to_string()))?;
    let report_path = staging.path().join("report.json");
    fs::write(&report_path, json + "\n").map_err(DeployError::io("writing", &report_path))?;
    staging.commit(request.force)?;
    Ok(report)
}

/// Measures int8 models on one microcontroller target the way a search measures its
/// candidates: lowered, checked against the limits (before any build), built into a
/// scratch directory and run under the target's QEMU board, in instructions.
pub struct McuMeasurer {
    target: Target,
    backend: McuBackend,
    bench: BenchConfig,
    scratch: tempfile::TempDir,
}

/// One model measured on a microcontroller.
#[derive(Debug, Clone, PartialEq)]
pub struct McuMeasurement {
    pub latency: LatencyStats,
    pub report: FirmwareReport,
}

impl McuMeasurer {
    pub fn new(target: Target, bench: BenchConfig) -> Result<Self, DeployError> {
        let backend = McuBackend::new(target.clone())?;
        let scratch = tempfile::Builder::new()
            .prefix("edgenas-mcu-")
            .tempdir()
            .map_err(DeployError::io("creating a scratch directory in", std::env::temp_dir()))?;
        Ok(McuMeasurer { target, backend, bench, scratch })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Measures the integer-only model `onnx` (input all zeros: the instruction count of
    /// these kernels does not depend on the values). The firmware fits once it links: the
    /// linker script's FLASH and RAM are the target's limits ([`build_in`]).
    pub fn measure(&self, onnx: &[u8]) -> Result<McuMeasurement, DeployError> {
        let model = lower_for_mcu(onnx, &self.target)?;
        check_fits(&model, &self.target)?;
        let dir = tempfile::Builder::new()
            .prefix("model-")
            .tempdir_in(self.scratch.path())
            .map_err(DeployError::io("creating a directory in", self.scratch.path()))?;
        write_sources(&model, dir.path())?;
        let build = dir.path().join("build");
        let firmware = build_in(&model, &self.target, dir.path(), &build, FirmwareOptions::default())?;
        let report = FirmwareReport::new(&model, &self.target, &firmware);
        let artifact = DeviceArtifact { runner: firmware.elf.clone(), model: PathBuf::new(), input: None };
        let latency = self.backend.measure(&artifact, &self.bench)?;
        Ok(McuMeasurement { latency, report })
    }
}
