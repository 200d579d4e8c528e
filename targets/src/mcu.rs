//! The microcontroller backend: firmware built from a model's generated C with the
//! project's own startup code and linker script (`targets/mcu/`), sized with
//! `arm-none-eabi-size`, and run under QEMU's system emulator (`mps2-an386` for the
//! Cortex-M4, `mps2-an500` for the Cortex-M7) with semihosting for input and output and
//! the instruction-counting TCG plugin for exact instructions per inference.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit};
use thiserror::Error;

use crate::process::error_chain;
use crate::qemu::{build_plugin, parse_counts, tail};
use crate::{run_command, DeviceArtifact, DeviceBackend, MeasureError, ProcessError, Target, TargetKind};

/// The harness sources every firmware is built with, as file name and contents.
pub const HARNESS_FILES: [(&str, &str); 4] = [
    ("main.c", include_str!("../mcu/main.c")),
    ("startup.c", include_str!("../mcu/startup.c")),
    ("semihosting.h", include_str!("../mcu/semihosting.h")),
    ("link.ld", include_str!("../mcu/link.ld")),
];

/// The model sources a firmware build compiles besides the harness.
const MODEL_SOURCES: [&str; 1] = ["model.c"];
/// Bytes added to the deepest call chain that gcc's `-fstack-usage` reports (libc's
/// memcpy/memset, which have no `.su` files, and the exception frame of a fault).
const STACK_MARGIN: usize = 256;
const COMPILE_TIMEOUT: Duration = Duration::from_secs(600);
/// A firmware run: instructions are counted, not timed, so only a hang hits this.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Why firmware could not be built.
#[derive(Debug, Error)]
pub enum FirmwareError {
    #[error("target `{target}` is of kind `{kind}`, not `mcu`")]
    NotMcu { target: String, kind: TargetKind },
    #[error("target `{target}` has no `linker` (the bare-metal C compiler, e.g. arm-none-eabi-gcc)")]
    NoCompiler { target: String },
    #[error("target `{target}` names no core: set `cpu` (gcc's -mcpu, e.g. \"cortex-m4\") in its descriptor")]
    NoCpu { target: String },
    #[error(
        "cannot run `{tool}`: {reason} (install the bare-metal Arm toolchain: `apt-get install \
         gcc-arm-none-eabi libnewlib-arm-none-eabi`, or run scripts/setup-cross.sh)"
    )]
    ToolMissing { tool: String, reason: String },
    #[error("compiling {file} for `{target}` failed:\n{stderr}")]
    Compile { target: String, file: String, stderr: String },
    #[error("linking the firmware for `{target}` failed:\n{stderr}")]
    Link { target: String, stderr: String },
    #[error("`{tool}` printed output that is not a size table: {output}")]
    BadSizeOutput { tool: String, output: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

/// Section sizes of a built ELF as `arm-none-eabi-size` prints them (Berkeley format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ElfSizes {
    pub text: u64,
    pub data: u64,
    pub bss: u64,
}

impl ElfSizes {
    /// Bytes in flash: code, constants and the initial values of `.data`.
    pub fn flash_bytes(&self) -> u64 {
        self.text + self.data
    }

    /// Bytes of RAM: `.data`, `.bss` (the arena among it) and the stack reservation.
    pub fn sram_bytes(&self) -> u64 {
        self.data + self.bss
    }
}

/// How to build one firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirmwareOptions {
    /// `Some(false)` builds the portable kernels of a model planned for the DSP ones (the
    /// comparison build); `None` keeps the model's own choice.
    pub dsp: Option<bool>,
    /// Counts every op separately (one counter window per op, `EDGENAS_PROFILE_LAYERS`).
    pub profile_layers: bool,
}

/// A built firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    pub elf: PathBuf,
    pub sizes: ElfSizes,
    /// The stack reserved: the deepest call chain of `-fstack-usage`, plus a margin.
    pub stack_bytes: usize,
}

/// The compiler flags of `target`'s core: `-mcpu`, Thumb, and the hard-float ABI with the
/// FPU its features name (soft float without one).
pub fn cpu_flags(target: &Target) -> Vec<String> {
    let cpu = target.mcu_cpu().unwrap_or_default();
    let mut flags = vec![format!("-mcpu={cpu}"), "-mthumb".to_string()];
    match target.features.iter().find(|f| f.starts_with("fpv")) {
        Some(fpu) => flags.extend(["-mfloat-abi=hard".to_string(), format!("-mfpu={fpu}")]),
        None => flags.push("-mfloat-abi=soft".to_string()),
    }
    flags
}

/// `arm-none-eabi-size` beside the target's compiler (`…-gcc` → `…-size`).
fn size_tool(compiler: &str) -> String {
    match compiler.strip_suffix("gcc") {
        Some(prefix) => format!("{prefix}size"),
        None => "arm-none-eabi-size".to_string(),
    }
}

/// Writes the harness ([`HARNESS_FILES`]) into `dir`.
pub fn write_harness(dir: &Path) -> Result<(), FirmwareError> {
    for (name, text) in HARNESS_FILES {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| FirmwareError::Io { what: "cannot write", path, source })?;
    }
    Ok(())
}

/// Builds the firmware of the model whose generated sources (`model.h`, `model.c`,
/// `edgenas_kernels.h`) lie in `model_dir`, with the harness in `harness_dir`, into
/// `build_dir`: every object with `-O2 -fno-ivopts -fstack-usage`, then a link whose stack is the
/// deepest call chain found plus [`STACK_MARGIN`] and whose FLASH and RAM are the target's
/// `flash_kib` and `sram_kib` (so a model over the limits fails to link, with the linker's
/// `region ... overflowed` message).
///
/// `-fno-ivopts`: with gcc 12.2 (Debian's arm-none-eabi) at plain `-O2`, the in-place
/// 2×2 average pool of NB201 architecture 7997 (op 49) computes wrong values under QEMU,
/// while the same code compiled alone, at `-O1`, `-Os` or without induction-variable
/// optimization is right; tests/mcu.rs checks every build against the reference bit for bit.
pub fn build_firmware(
    target: &Target,
    model_dir: &Path,
    harness_dir: &Path,
    build_dir: &Path,
    options: FirmwareOptions,
) -> Result<Firmware, FirmwareError> {
    if target.kind != TargetKind::Mcu {
        return Err(FirmwareError::NotMcu { target: target.name.clone(), kind: target.kind });
    }
    let cc = target.linker.clone().ok_or_else(|| FirmwareError::NoCompiler { target: target.name.clone() })?;
    if target.mcu_cpu().is_none() {
        return Err(FirmwareError::NoCpu { target: target.name.clone() });
    }
    std::fs::create_dir_all(build_dir).map_err(|source| FirmwareError::Io {
        what: "cannot create",
        path: build_dir.to_path_buf(),
        source,
    })?;
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|source| FirmwareError::Io {
            what: "cannot resolve",
            path: p.to_path_buf(),
            source,
        })
    };
    let (model_dir, harness_dir, build_dir) = (absolute(model_dir)?, absolute(harness_dir)?, absolute(build_dir)?);
    let (model_dir, harness_dir, build_dir) = (model_dir.as_path(), harness_dir.as_path(), build_dir.as_path());
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut common = cpu_flags(target);
    common.extend(
        [
            "-O2",
            "-fno-ivopts",
            "-std=gnu99",
            "-ffunction-sections",
            "-fdata-sections",
            "-fno-ipa-icf",
            "-Wall",
            "-Wextra",
        ]
        .map(String::from),
    );
    if let Some(dsp) = options.dsp {
        common.push(format!("-DEDGENAS_USE_DSP={}", u8::from(dsp)));
    }
    if options.profile_layers {
        common.push("-DEDGENAS_PROFILE_LAYERS".to_string());
    }
    common.extend([format!("-I{}", path(model_dir)), format!("-I{}", path(harness_dir))]);
    let sources: Vec<PathBuf> = MODEL_SOURCES
        .iter()
        .map(|f| model_dir.join(f))
        .chain(["main.c", "startup.c"].iter().map(|f| harness_dir.join(f)))
        .collect();
    let mut objects = Vec::new();
    for source in &sources {
        let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let object = build_dir.join(format!("{stem}.o"));
        let mut argv = vec![cc.clone()];
        argv.extend(common.iter().cloned());
        argv.extend(["-fstack-usage".to_string(), "-c".to_string(), path(source), "-o".to_string(), path(&object)]);
        let outcome = run_tool(&cc, &argv, build_dir)?;
        if !outcome.success() {
            return Err(FirmwareError::Compile {
                target: target.name.clone(),
                file: source.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                stderr: tail(&outcome.stderr),
            });
        }
        objects.push(object);
    }
    let stack_bytes = stack_estimate(build_dir)?;
    let elf = build_dir.join("firmware.elf");
    let kib = |k: Option<u64>| k.unwrap_or(0) * 1024;
    let mut argv = vec![cc.clone()];
    argv.extend(cpu_flags(target));
    argv.extend(["--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections"].map(String::from));
    argv.push(format!("-T{}", path(&harness_dir.join("link.ld"))));
    argv.push(format!("-Wl,--defsym=__flash_size={}", kib(target.flash_kib)));
    argv.push(format!("-Wl,--defsym=__ram_size={}", kib(target.sram_kib)));
    argv.push(format!("-Wl,--defsym=__stack_size={stack_bytes}"));
    argv.extend(objects.iter().map(|o| path(o)));
    argv.extend(["-o".to_string(), path(&elf)]);
    let outcome = run_tool(&cc, &argv, build_dir)?;
    if !outcome.success() {
        return Err(FirmwareError::Link { target: target.name.clone(), stderr: tail(&outcome.stderr) });
    }
    let sizes = elf_sizes(target, &elf)?;
    Ok(Firmware { elf, sizes, stack_bytes })
}

fn run_tool(tool: &str, argv: &[String], cwd: &Path) -> Result<crate::CommandOutcome, FirmwareError> {
    run_command(argv, Some(cwd), COMPILE_TIMEOUT)
        .map_err(|e| FirmwareError::ToolMissing { tool: tool.to_string(), reason: error_chain(&e) })
}

/// The deepest call chain of the firmware from gcc's `.su` files in `build_dir`: reset
/// handler + main + `edgenas_invoke` + the largest op function (kernels are inlined into
/// the op functions), plus [`STACK_MARGIN`], rounded up to 8.
fn stack_estimate(build_dir: &Path) -> Result<usize, FirmwareError> {
    let entries = std::fs::read_dir(build_dir).map_err(|source| FirmwareError::Io {
        what: "cannot read",
        path: build_dir.to_path_buf(),
        source,
    })?;
    let (mut chain, mut deepest_op, mut layer_hooks) = (0usize, 0usize, 0usize);
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "su") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| FirmwareError::Io {
            what: "cannot read",
            path: path.clone(),
            source,
        })?;
        for line in text.lines() {
            let mut fields = line.split('\t');
            let (Some(place), Some(bytes)) = (fields.next(), fields.next()) else { continue };
            let function = place.rsplit(':').next().unwrap_or_default();
            let bytes: usize = bytes.trim().parse().unwrap_or(0);
            match function {
                "edgenas_reset" | "main" | "edgenas_invoke" => chain += bytes,
                "edgenas_layer_begin" | "edgenas_layer_end" | "edgenas_inference_begin" => {
                    layer_hooks = layer_hooks.max(bytes)
                }
                f if f.starts_with("edgenas_op") => deepest_op = deepest_op.max(bytes),
                _ => {}
            }
        }
    }
    Ok((chain + deepest_op.max(layer_hooks) + STACK_MARGIN).div_ceil(8) * 8)
}

/// Section sizes of `elf` from `arm-none-eabi-size` (Berkeley format).
pub fn elf_sizes(target: &Target, elf: &Path) -> Result<ElfSizes, FirmwareError> {
    let tool = size_tool(target.linker.as_deref().unwrap_or("arm-none-eabi-gcc"));
    let argv = vec![tool.clone(), elf.to_string_lossy().into_owned()];
    let outcome = run_command(&argv, None, COMPILE_TIMEOUT)
        .map_err(|e| FirmwareError::ToolMissing { tool: tool.clone(), reason: error_chain(&e) })?;
    let bad = || FirmwareError::BadSizeOutput { tool: tool.clone(), output: tail(&outcome.stdout) };
    if !outcome.success() {
        return Err(bad());
    }
    let row = outcome.stdout.lines().nth(1).ok_or_else(bad)?;
    let numbers: Vec<u64> =
        row.split_whitespace().take(3).map(|v| v.parse()).collect::<Result<_, _>>().map_err(|_| bad())?;
    match numbers[..] {
        [text, data, bss] => Ok(ElfSizes { text, data, bss }),
        _ => Err(bad()),
    }
}

/// One firmware run: the instruction count of every counted window and the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McuRun {
    pub windows: Vec<u64>,
    pub output: Vec<u8>,
}

/// Runs firmware under the target's system emulator and counts its instructions.
///
/// One run is `EMULATOR[0] -plugin PLUGIN,out=COUNTS EMULATOR[1..] ELF` in a fresh
/// directory holding `input.bin` and `runs.bin` (warm-up and measured inference counts);
/// the firmware writes `output.bin` there. The emulator argv of the built-in targets uses
/// `-icount shift=0` and semihosting.
#[derive(Debug, Clone)]
pub struct McuBackend {
    target: Box<Target>,
    cache_dir: PathBuf,
}

impl McuBackend {
    /// Measured inferences per run at most: counts are exact.
    pub const MAX_REPEAT: usize = 3;

    /// A backend for `target` (kind `mcu` with an emulator), caching the plugin in
    /// `crate::cache_dir()/qemu`.
    pub fn new(target: Target) -> Result<Self, MeasureError> {
        let problem = if target.kind != TargetKind::Mcu {
            Some(format!("the microcontroller backend measures targets of kind `mcu`, not `{}`", target.kind))
        } else if !matches!(&target.emulator, Some(argv) if !argv.is_empty()) {
            Some("no `emulator` (a QEMU system emulator argv ending in `-kernel`) to run the firmware under".into())
        } else {
            None
        };
        match problem {
            Some(reason) => Err(MeasureError::Unavailable { target: target.name, reason }),
            None => Ok(McuBackend { target: Box::new(target), cache_dir: crate::cache_dir().join("qemu") }),
        }
    }

    /// Runs `elf` on `input` (`warmup` unmeasured, then `repeat` measured inferences; with a
    /// firmware built with `profile_layers`, one window per op of every inference).
    pub fn run(&self, elf: &Path, input: &[u8], warmup: u32, repeat: u32) -> Result<McuRun, MeasureError> {
        let name = self.target.name.clone();
        let unavailable = |reason: String| MeasureError::Unavailable { target: name.clone(), reason };
        let failed = |reason: String| MeasureError::Failed { target: name.clone(), attempts: 1, reason };
        let plugin = build_plugin(&self.cache_dir, &name)?;
        let dir = tempfile::Builder::new()
            .prefix("edgenas-mcu-run-")
            .tempdir()
            .map_err(|e| unavailable(format!("cannot create a temporary directory: {e}")))?;
        let write = |file: &str, bytes: &[u8]| {
            std::fs::write(dir.path().join(file), bytes).map_err(|e| unavailable(format!("cannot write {file}: {e}")))
        };
        if !input.is_empty() {
            write("input.bin", input)?;
        }
        let runs: Vec<u8> = warmup.to_le_bytes().into_iter().chain(repeat.to_le_bytes()).collect();
        write("runs.bin", &runs)?;
        let counts = dir.path().join("counts.txt");
        let emulator = self.target.emulator.clone().unwrap_or_default();
        let mut argv = vec![emulator[0].clone()];
        let as_arg = |p: &Path| p.to_string_lossy().into_owned();
        let (plugin_arg, counts_arg) = (as_arg(&plugin), as_arg(&counts));
        if plugin_arg.contains(',') || counts_arg.contains(',') {
            return Err(unavailable(format!("{plugin_arg} or {counts_arg} contains a comma, which qemu splits on")));
        }
        argv.extend(["-plugin".to_string(), format!("{plugin_arg},out={counts_arg}")]);
        argv.extend(emulator[1..].iter().cloned());
        let elf = std::path::absolute(elf).map_err(|e| unavailable(format!("{}: {e}", elf.display())))?;
        argv.push(as_arg(&elf));
        let outcome = run_command(&argv, Some(dir.path()), RUN_TIMEOUT).map_err(|e| match e {
            ProcessError::Spawn { .. } => {
                unavailable(format!("cannot start the emulator (install qemu-system-arm): {}", error_chain(&e)))
            }
            e => failed(error_chain(&e)),
        })?;
        let stderr = format!("{}{}", outcome.stdout, outcome.stderr);
        if !outcome.success() {
            let what = match (outcome.timed_out, outcome.status) {
                (true, _) => format!("timed out after {RUN_TIMEOUT:?}"),
                (false, Some(code)) => format!("exited with status {code}"),
                (false, None) => "was killed by a signal".to_string(),
            };
            return Err(failed(format!("the firmware under emulation {what}:\n{}", tail(&stderr))));
        }
        let text = std::fs::read_to_string(&counts)
            .map_err(|e| failed(format!("the counting plugin left no counts file ({e}):\n{}", tail(&stderr))))?;
        let counts = parse_counts(&text).map_err(|e| failed(format!("unusable counts file: {e}")))?;
        let output = std::fs::read(dir.path().join("output.bin"))
            .map_err(|e| failed(format!("the firmware wrote no output.bin ({e}):\n{}", tail(&stderr))))?;
        Ok(McuRun { windows: counts.windows, output })
    }
}

impl DeviceBackend for McuBackend {
    fn target(&self) -> &Target {
        &self.target
    }

    /// `artifact.runner` is the firmware ELF (the model is compiled into it) and
    /// `artifact.input` a raw int8 input of the model's input size (zeros without one;
    /// `artifact.model` is not read). Warm-up `min(config.warmup, 1)`, measured runs
    /// `config.min_runs` clamped to `1..=MAX_REPEAT`; the result is in instructions.
    fn measure(&self, artifact: &DeviceArtifact, config: &BenchConfig) -> Result<LatencyStats, MeasureError> {
        let name = self.target.name.clone();
        let failed = |reason: String| MeasureError::Failed { target: name.clone(), attempts: 1, reason };
        let input = match &artifact.input {
            Some(path) => std::fs::read(path).map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?,
            None => Vec::new(),
        };
        let warmup = config.warmup.min(1);
        let repeat = config.min_runs.clamp(1, Self::MAX_REPEAT);
        let run = self.run(&artifact.runner, &input, warmup as u32, repeat as u32)?;
        if run.windows.len() != warmup + repeat {
            return Err(failed(format!(
                "counted {} inference window(s), expected {}",
                run.windows.len(),
                warmup + repeat
            )));
        }
        let samples: Vec<f64> = run.windows[warmup..].iter().map(|&c| c as f64).collect();
        LatencyStats::from_samples(LatencyUnit::Instructions, &samples, warmup, config.spread_target)
            .ok_or_else(|| failed("no valid instruction count".to_string()))
    }
}
