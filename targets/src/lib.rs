//! Device side of edgenas: target descriptors, the toolchain check, and the measurement
//! backends that turn a compiled model into [`LatencyStats`] on a target.
//!
//! Architecture invariant: this is the only crate allowed to spawn processes or talk to
//! devices (toolchain probes, cross builds, emulators, remote shells arrive here).
//! It is an API boundary: errors are [`TargetError`], [`MeasureError`] and
//! [`ProcessError`].

mod backend;
mod check;
mod descriptor;
mod error;
mod process;

pub use backend::{LocalBackend, MeasureBackend, MeasureError};
pub use check::{check_toolchain, check_toolchains, Requirement, ToolCheck, ToolchainReport};
pub use descriptor::{Target, TargetKind};
pub use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit};
pub use error::TargetError;
pub use process::{run_command, CommandOutcome, ProcessError};
