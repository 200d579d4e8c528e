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
use edgenas_kernels::fast::Isa;
use edgenas_runtime::{CompiledModel, RunOptions, RuntimeError};
use edgenas_targets::{DeviceModel, Measurement, Target};
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

/// The engine that runs int8 models for `target`, as measured (docs/QUANTIZATION.md):
/// the generated firmware on a microcontroller; the project's int8 ops where their fast
/// kernels exist — this host when it has AVX2 or the dot product
/// (`edgenas_kernels::fast::Isa::detect`), an x86-64 device, an aarch64 device whose
/// descriptor lists `dotprod`; tract's QDQ path elsewhere (an aarch64 core without the dot
/// product, 32-bit Arm), where the project's kernels do not beat it yet.
pub fn int8_engine(target: &Target) -> Int8Engine {
    let arch = target.triple.split('-').next().unwrap_or_default();
    match target.measurement() {
        Measurement::Microcontroller => Int8Engine::Firmware,
        Measurement::Local if Isa::detect() != Isa::Baseline => Int8Engine::EdgenasOps,
        Measurement::Local => Int8Engine::Tract,
        _ if arch == "x86_64" => Int8Engine::EdgenasOps,
        _ if arch == "aarch64" && target.features.iter().any(|f| f == "dotprod") => Int8Engine::EdgenasOps,
        _ => Int8Engine::Tract,
    }
}

/// What a runner on `target` loads for `onnx`: the int8 program of an integer-only model
/// where [`int8_engine`] is the project's ops, else what [`DeviceModel::for_onnx`] decides
/// (NNEF, or ONNX for graphs NNEF cannot hold).
pub fn device_model(onnx: &[u8], target: &Target, input_shape: Option<&[usize]>) -> Result<DeviceModel, DeployError> {
    let program = (int8_engine(target) == Int8Engine::EdgenasOps).then(|| import_qdq_bytes(onnx).ok()).flatten();
    match program {
        Some(program) => Ok(DeviceModel::int8_program(program.to_bytes())),
        None => DeviceModel::for_onnx(onnx, input_shape).step("preparing the model for the device"),
    }
}

/// [`compile_on_host`] for the ONNX file `path` (tensors stored as external data are
/// looked up next to it when tract loads it).
pub fn compile_file_on_host(path: &std::path::Path) -> Result<(CompiledModel, Int8Engine), DeployError> {
    let bytes = std::fs::read(path).map_err(DeployError::io("reading", path))?;
    compile_with(&path.display().to_string(), &bytes, || CompiledModel::from_onnx_path(path, &RunOptions::default()))
}

/// Loads `onnx` to run in this process, with the engine it calls for: an integer-only int8
/// model runs on the project's int8 ops; any other model (f32, f16, int8 with float
/// layers left, ops the integer program does not have, or bytes that are not ONNX, which
/// tract then names) through tract's ONNX import.
pub fn compile_on_host(label: &str, onnx: &[u8]) -> Result<(CompiledModel, Int8Engine), DeployError> {
    compile_with(label, onnx, || CompiledModel::from_onnx_bytes(onnx, label, &RunOptions::default()))
}

/// The choice both loaders make: the project's int8 ops when `bytes` imports as an integer
/// program, else tract through `load_onnx`.
fn compile_with(
    label: &str,
    bytes: &[u8],
    load_onnx: impl FnOnce() -> Result<CompiledModel, RuntimeError>,
) -> Result<(CompiledModel, Int8Engine), DeployError> {
    match import_qdq_bytes(bytes) {
        Ok(program) => {
            let model = CompiledModel::from_int8_program(&program, label)
                .step(format!("planning {label} on the project's int8 ops"))?;
            Ok((model, Int8Engine::EdgenasOps))
        }
        Err(_) => Ok((load_onnx().step(format!("loading {label}"))?, Int8Engine::Tract)),
    }
}
