//! Device side of edgenas: target descriptors, the toolchain check, the runner build, what
//! a runner loads for a model, and the measurement backends that turn a model into
//! [`LatencyStats`] on a target.
//!
//! Architecture invariant: this is the only crate allowed to spawn processes or talk to
//! devices (toolchain probes, cross builds, emulators, remote shells arrive here).
//! It is an API boundary: errors are [`TargetError`], [`MeasureError`], [`BuildError`] and
//! [`ProcessError`].

mod backend;
mod build;
mod check;
mod deploy;
mod descriptor;
mod device;
mod error;
mod mcu;
mod process;
mod qemu;
mod remote;
mod runner_source;

use std::path::PathBuf;

pub use backend::{LocalBackend, MeasureBackend, MeasureError};
pub use build::{
    build_runner, build_runner_with, toolchain_versions, BuildError, BuildProgress, RunnerBuild, RunnerFeatures,
    RunnerProfile, ToolchainVersions, RUNNER_NAME,
};
pub use check::{check_toolchain, check_toolchains, Requirement, ToolCheck, ToolchainReport};
pub use deploy::{DeviceModel, INT8_FILE, NNEF_FILE, ONNX_FILE};
pub use descriptor::{Measurement, Target, TargetKind};
pub use device::{device_backend, DeviceArtifact, DeviceBackend, BEGIN_MARKER, END_MARKER};
pub use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit};
pub use error::TargetError;
pub use mcu::{
    build_firmware, cpu_flags, elf_sizes, write_harness, ElfSizes, Firmware, FirmwareError, FirmwareOptions,
    McuBackend, McuRun, HARNESS_FILES,
};
pub use process::{run_command, run_command_with, timeout_from_secs, CommandOutcome, ProcessError, MAX_TIMEOUT};
pub use qemu::{QemuTools, QemuUserBackend};
pub use remote::{AttemptReport, RemoteBackend, RemoteCommands, RemoteStep};

/// Environment variable naming the cache directory ([`cache_dir`]).
pub const CACHE_DIR_ENV: &str = "EDGENAS_CACHE_DIR";

/// Where edgenas keeps what it builds for targets: the unpacked runner sources, the cargo
/// target directory of runner builds, the emulator helpers. `$EDGENAS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/edgenas`, else `$HOME/.cache/edgenas`, else `edgenas-cache` in the
/// system's temporary directory. Nothing in it is needed twice: deleting it costs one
/// rebuild.
pub fn cache_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    env(CACHE_DIR_ENV)
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("edgenas")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("edgenas")))
        .unwrap_or_else(|| std::env::temp_dir().join("edgenas-cache"))
}
