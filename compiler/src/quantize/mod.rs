//! Precision rewrites of ONNX models (ONNX → ONNX): fp16, and int8 post-training
//! quantization with activation ranges from calibration.
//!
//! Invariant: a rewrite either returns a complete model or an error, never a partly
//! converted one. Input models use the op vocabulary [`crate::onnx::emit`] writes, plus the
//! few ops common exporters add (see each rewrite's supported set).

mod calibrate;
mod fp16;
mod graph;
mod int8;
mod precision;

pub use calibrate::{ActivationRange, ActivationRanges, CalibrationMethod, RangeCollector, DEFAULT_PERCENTILE};
pub use fp16::{to_fp16, Fp16Options, Fp16Report};
pub use int8::{
    to_int8, weighted_layers, ActivationQuant, Int8Format, Int8Options, Int8Plan, Int8Report, LayerKind,
    QuantizedLayer, QuantizedTensor,
};
pub use precision::Precision;

use thiserror::Error;

/// Why a model cannot be converted.
#[derive(Debug, Error)]
pub enum QuantizeError {
    #[error("initializer `{tensor}` holds NaN or infinite values")]
    NonFinite { tensor: String },
    #[error("unsupported ONNX op `{op}` at node `{node}`")]
    UnsupportedOp { op: String, node: String },
    #[error("activation `{tensor}` took NaN or infinite values during calibration")]
    NonFiniteActivation { tensor: String },
    #[error("no calibration range for activation `{tensor}`")]
    MissingRange { tensor: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("malformed ONNX model at `{at}`: {reason}")]
    Malformed { at: String, reason: String },
    #[error(transparent)]
    Onnx(#[from] crate::onnx::OnnxError),
}
