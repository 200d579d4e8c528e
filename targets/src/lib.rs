//! Device side of edgenas: target descriptors, the toolchain check, and the measurement
//! backends that turn a compiled model into [`LatencyStats`] on a target.
//!
//! Architecture invariant: this is the only crate allowed to spawn processes or talk to
//! devices (toolchain probes, cross builds, emulators, remote shells arrive here).
//! It is an API boundary: errors are [`TargetError`], [`MeasureError`] and
//! [`ProcessError`].

mod backend;
mod build;
mod check;
mod descriptor;
mod device;
mod error;
mod process;
mod qemu;
mod remote;

pub use backend::{LocalBackend, MeasureBackend, MeasureError};
pub use build::{
    build_runner, build_runner_with, toolchain_versions, BuildError, RunnerBuild, RunnerFeatures, RunnerProfile,
    ToolchainVersions, RUNNER_NAME,
};
pub use check::{check_toolchain, check_toolchains, Requirement, ToolCheck, ToolchainReport};
pub use descriptor::{Target, TargetKind};
pub use device::{DeviceArtifact, DeviceBackend, BEGIN_MARKER, END_MARKER};
pub use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit};
pub use error::TargetError;
pub use process::{run_command, CommandOutcome, ProcessError};
pub use qemu::{QemuTools, QemuUserBackend};
pub use remote::{AttemptReport, RemoteBackend, RemoteCommands, RemoteStep};
