//! Device side of edgenas: target descriptors and the measurement backends that turn a
//! compiled model into [`LatencyStats`] on a target.
//!
//! Architecture invariant: this is the only crate allowed to spawn processes or talk to
//! devices (cross builds, emulators, remote shells arrive here with the targets issue).
//! It is an API boundary: errors are [`MeasureError`].

mod backend;
mod descriptor;
mod process;

pub use backend::{LocalBackend, MeasureBackend, MeasureError};
pub use descriptor::{Target, TargetKind};
pub use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit};
pub use process::{run_command, CommandOutcome, ProcessError};
