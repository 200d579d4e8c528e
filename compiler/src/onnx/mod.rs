//! ONNX side of the compiler: emission of deployed graphs as `ModelProto` (opset 17)
//! and import of the same op vocabulary back into the IR.
//!
//! Invariant: every model [`emit`] returns passes `onnx.checker.check_model(full_check=True)`
//! (tested against the real checker in tests/peer_onnx.rs).

mod emit;
mod error;
mod import;
mod outputs;
pub(crate) mod proto;

pub use emit::{emit, EmitOptions};
pub use error::OnnxError;
pub(crate) use import::read_f32;
pub use import::{import, ImportedModel};
pub use outputs::expose_tensors;

use onnx_protobuf::{Message, ModelProto};

/// ONNX operator set version of emitted models.
pub const OPSET: i64 = 17;
/// ONNX IR version of emitted models (ONNX 1.13+, opset 17).
pub const IR_VERSION: i64 = 8;

/// Serializes a model to protobuf bytes.
pub fn to_bytes(model: &ModelProto) -> Result<Vec<u8>, OnnxError> {
    model.write_to_bytes().map_err(|e| OnnxError::Encode(e.to_string()))
}
