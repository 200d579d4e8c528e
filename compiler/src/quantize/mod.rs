//! Precision rewrites of emitted ONNX models (ONNX → ONNX, after [`crate::onnx::emit`]).
//!
//! Invariant: a rewrite either returns a complete model or an error, never a partly
//! converted one. Input models must use the op vocabulary [`crate::onnx::emit`] writes.

mod fp16;

pub use fp16::{to_fp16, Fp16Options, Fp16Report};

use thiserror::Error;

/// Why a model cannot be converted.
#[derive(Debug, Error)]
pub enum QuantizeError {
    #[error("initializer `{tensor}` holds NaN or infinite values")]
    NonFinite { tensor: String },
    #[error("unsupported ONNX op `{op}` at node `{node}`")]
    UnsupportedOp { op: String, node: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("malformed ONNX model at `{at}`: {reason}")]
    Malformed { at: String, reason: String },
    #[error(transparent)]
    Onnx(#[from] crate::onnx::OnnxError),
}
