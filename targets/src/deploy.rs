//! The model file a device runner loads for one ONNX model, and the runner features that
//! file needs: NNEF when tract can save the decluttered model, ONNX otherwise (int8 QDQ
//! graphs: tract has no NNEF serializer for QuantizeLinear / DequantizeLinear).

use edgenas_runtime::{nnef_registries, save_nnef, RuntimeError, ONNX_OPS_REGISTRY};

use crate::RunnerFeatures;

/// File name of an NNEF model in a bundle or a measurement directory.
pub const NNEF_FILE: &str = "model.nnef.tgz";
/// File name of an ONNX model in a bundle or a measurement directory.
pub const ONNX_FILE: &str = "model.onnx";
/// File name of an int8 program (`edgenas_kernels::Int8Program::to_bytes`), run by the
/// runner on the project's int8 ops.
pub const INT8_FILE: &str = "model.int8";

/// What goes to the device for one model.
pub struct DeviceModel {
    /// [`NNEF_FILE`], [`ONNX_FILE`] or [`INT8_FILE`]: the runner picks the loader by
    /// extension.
    pub file: &'static str,
    pub bytes: Vec<u8>,
    /// The runner build that loads `bytes`.
    pub features: RunnerFeatures,
    /// Why ONNX is shipped, when it is.
    pub fallback_reason: Option<String>,
    /// The tract operator registries the NNEF file names (empty for ONNX).
    pub registries: Vec<String>,
}

impl DeviceModel {
    /// `onnx` translated by tract for `input_shape` (or the shape the file declares) and
    /// saved as NNEF; when tract cannot serialize one of its operators, the ONNX bytes
    /// themselves, for a runner built with the `onnx` feature.
    ///
    /// This is the one decision of what a device runner loads and which runner features
    /// that needs; `compile`, `bench --target` and the search all go through it.
    ///
    /// Fails when tract cannot load `onnx` at all, or the saved archive does not read back.
    pub fn for_onnx(onnx: &[u8], input_shape: Option<&[usize]>) -> Result<Self, RuntimeError> {
        match save_nnef(onnx, input_shape) {
            Ok(bytes) => {
                let registries = nnef_registries(&bytes)?;
                let features =
                    RunnerFeatures { onnx: false, nnef_onnx_ops: registries.iter().any(|r| r == ONNX_OPS_REGISTRY) };
                Ok(DeviceModel { file: NNEF_FILE, bytes, features, fallback_reason: None, registries })
            }
            Err(RuntimeError::NnefSave(reason)) => {
                Ok(Self::onnx(onnx, format!("tract cannot save it as NNEF: {reason}")))
            }
            Err(e) => Err(e),
        }
    }

    /// An int8 program file (any runner build loads it).
    pub fn int8_program(bytes: Vec<u8>) -> Self {
        DeviceModel {
            file: INT8_FILE,
            bytes,
            features: RunnerFeatures { onnx: false, nnef_onnx_ops: false },
            fallback_reason: None,
            registries: vec![],
        }
    }

    /// The ONNX bytes shipped as they are, for `reason`.
    pub fn onnx(onnx: &[u8], reason: String) -> Self {
        DeviceModel {
            file: ONNX_FILE,
            bytes: onnx.to_vec(),
            features: RunnerFeatures { onnx: true, nnef_onnx_ops: false },
            fallback_reason: Some(reason),
            registries: vec![],
        }
    }
}
