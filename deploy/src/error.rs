use std::path::PathBuf;

use edgenas_compiler::ir::IrError;
use edgenas_compiler::onnx::OnnxError;
use edgenas_compiler::quantize::QuantizeError;
use edgenas_compiler::space::SpaceError;
use edgenas_runtime::RuntimeError;
use edgenas_targets::{BuildError, MeasureError, TargetError};
use thiserror::Error;

/// Why a model could not be emitted, quantized, bundled or measured. Each variant names the
/// step that failed; the source says why (print the chain, as `{:#}` of `anyhow` does).
#[derive(Debug, Error)]
pub enum DeployError {
    /// The genome does not describe a buildable network.
    #[error("building the graph of genome {genome}")]
    Genome { genome: String, source: SpaceError },
    /// A graph step (weights, lowering, a rebatch) failed.
    #[error("{step}")]
    Ir { step: String, source: IrError },
    /// Writing or reading ONNX failed.
    #[error("{step}")]
    Onnx { step: String, source: OnnxError },
    /// tract could not load or run a model.
    #[error("{step}")]
    Runtime { step: String, source: RuntimeError },
    /// The precision rewrite refused the model.
    #[error("{step}")]
    Quantize { step: String, source: QuantizeError },
    /// The target descriptor cannot be used.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The runner could not be built for the target.
    #[error("building the runner for `{target}`")]
    Build { target: String, source: BuildError },
    /// The measurement on the target failed.
    #[error(transparent)]
    Measure(#[from] MeasureError),
    /// The model cannot run as an integer program on the microcontroller.
    #[error("lowering the model for microcontroller `{target}`")]
    Mcu { target: String, source: edgenas_compiler::mcu::McuError },
    /// The firmware could not be built.
    #[error("building the firmware for `{target}`")]
    Firmware { target: String, source: edgenas_targets::FirmwareError },
    /// The model needs more SRAM or flash than the target has.
    #[error("the model does not fit `{target}`: {what} {needed} B over the limit of {limit} B ({detail})")]
    DoesNotFit { target: String, what: &'static str, needed: u64, limit: u64, detail: String },
    /// Reading or writing a file failed.
    #[error("{what} {}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    /// The request cannot be carried out as given; the message says why.
    #[error("{0}")]
    Invalid(String),
}

/// Names the step a lower-level error happened in: `result.step("compiling with tract")?`.
pub(crate) trait Step<T> {
    fn step(self, step: impl Into<String>) -> Result<T, DeployError>;
}

macro_rules! step_for {
    ($error:ty, $variant:ident) => {
        impl<T> Step<T> for Result<T, $error> {
            fn step(self, step: impl Into<String>) -> Result<T, DeployError> {
                self.map_err(|source| DeployError::$variant { step: step.into(), source })
            }
        }
    };
}

step_for!(RuntimeError, Runtime);
step_for!(OnnxError, Onnx);
step_for!(QuantizeError, Quantize);
step_for!(IrError, Ir);

impl DeployError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DeployError {
        let path = path.into();
        move |source| DeployError::Io { what, path, source }
    }
}
