//! Which engine runs an int8 model, on this host and on a target.
//!
//! Two engines run int8 models outside microcontrollers: tract's own QDQ path (it folds
//! the weights' DequantizeLinear into f32 constants, so its convolutions run in f32 with
//! quantize/dequantize passes around them; docs/QUANTIZATION.md measures it slower than
//! f32 everywhere) and the project's int8 ops inside tract (`edgenas_runtime::int8`: an
//! integer-only model imported as an `Int8Program`, convolutions on the int8 kernels of
//! `edgenas_kernels::fast`). The project's ops need an integer-only model (every
//! activation quantized), which `quantize_for_target` makes for the targets whose engine
//! they are.

use edgenas_compiler::mcu::import_qdq_bytes;
use edgenas_runtime::{CompiledModel, RunOptions};
use edgenas_targets::{DeviceModel, Target, TargetKind};
use serde::Serialize;

use crate::error::{DeployError, Step};

/// What runs a model's int8 layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Int8Engine {
    /// tract's ONNX import (QDQ or QOperator as written).
    Tract,
    /// The project's int8 ops inside tract, from the integer-only program.
    EdgenasOps,
    /// Generated C on a microcontroller.
    Firmware,
}

/// The engine that runs int8 models for `target`: the generated firmware on a
/// microcontroller, the project's ops everywhere else (in this process, and in the device
/// runner, which loads int8 programs).
pub fn int8_engine(target: &Target) -> Int8Engine {
    match target.kind {
        TargetKind::Mcu => Int8Engine::Firmware,
        TargetKind::Host | TargetKind::LinuxCross => Int8Engine::EdgenasOps,
    }
}

/// What a device runner loads for `onnx`: the int8 program of an integer-only model, else
/// what [`DeviceModel::for_onnx`] decides (NNEF, or ONNX for graphs NNEF cannot hold).
pub fn device_model(onnx: &[u8], input_shape: Option<&[usize]>) -> Result<DeviceModel, DeployError> {
    match import_qdq_bytes(onnx) {
        Ok(program) => Ok(DeviceModel::int8_program(program.to_bytes())),
        Err(_) => DeviceModel::for_onnx(onnx, input_shape).step("preparing the model for the device"),
    }
}

/// [`compile_on_host`] for the ONNX file `path` (tensors stored as external data are
/// looked up next to it when tract loads it).
pub fn compile_file_on_host(path: &std::path::Path) -> Result<(CompiledModel, Int8Engine), DeployError> {
    let bytes = std::fs::read(path).map_err(DeployError::io("reading", path))?;
    let label = path.display().to_string();
    match import_qdq_bytes(&bytes) {
        Ok(program) => Ok((
            CompiledModel::from_int8_program(&program, &label)
                .step(format!("planning {label} on the project's int8 ops"))?,
            Int8Engine::EdgenasOps,
        )),
        Err(_) => Ok((
            CompiledModel::from_onnx_path(path, &RunOptions::default()).step(format!("loading {label}"))?,
            Int8Engine::Tract,
        )),
    }
}

/// Loads `onnx` to run in this process, with the engine it calls for: an integer-only int8
/// model runs on the project's int8 ops; any other model (f32, f16, int8 with float
/// layers left, ops the integer program does not have, or bytes that are not ONNX, which
/// tract then names) through tract's ONNX import.
pub fn compile_on_host(label: &str, onnx: &[u8]) -> Result<(CompiledModel, Int8Engine), DeployError> {
    match import_qdq_bytes(onnx) {
        Ok(program) => {
            let model = CompiledModel::from_int8_program(&program, label)
                .step(format!("planning {label} on the project's int8 ops"))?;
            Ok((model, Int8Engine::EdgenasOps))
        }
        Err(_) => {
            let model =
                CompiledModel::from_onnx_bytes(onnx, label, &RunOptions::default()).step(format!("loading {label}"))?;
            Ok((model, Int8Engine::Tract))
        }
    }
}
