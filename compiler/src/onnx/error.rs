use thiserror::Error;

use crate::ir::IrError;

/// Why a graph cannot be emitted or an ONNX file cannot be imported.
#[derive(Debug, Error)]
pub enum OnnxError {
    #[error("node `{node}` ({op}) has no weights: lower the graph with a seed first")]
    MissingWeights { node: String, op: &'static str },
    #[error("cannot encode ONNX model: {0}")]
    Encode(String),
    #[error("not a valid ONNX model ({0})")]
    Decode(String),
    #[error("unsupported ONNX op `{op}` at node `{node}`")]
    UnsupportedOp { op: String, node: String },
    #[error("unsupported ONNX model: {0}")]
    Unsupported(String),
    #[error("malformed ONNX model at `{at}`: {reason}")]
    Malformed { at: String, reason: String },
    #[error(transparent)]
    Ir(#[from] IrError),
}
