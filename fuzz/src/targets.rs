//! The fuzz targets: each runs one reader (and what consumes its result) on raw bytes and
//! says whether the input was accepted. Any error is a fine outcome; a panic is a bug.

use edgenas_compiler::cost::CostReport;
use edgenas_compiler::onnx;
use edgenas_compiler::quantize::{to_fp16, weighted_layers, Fp16Options, Int8Format, Int8Options, Int8Plan};
use edgenas_compiler::space::Genome;
use edgenas_runtime::parse_npy_f32;
use edgenas_targets::Target;
use onnx_protobuf::{Message, ModelProto};

use crate::seeds;

/// A reader under fuzzing.
pub struct FuzzTarget {
    pub name: &'static str,
    /// Reads text: numbers are mutated as text too.
    pub text: bool,
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Runs the reader; `true` when it accepted the input.
    pub run: fn(&[u8]) -> bool,
}

/// Every target, by name: `onnx`, `npy`, `genome`, `target`, `mcu`.
pub const TARGETS: [FuzzTarget; 5] = [
    FuzzTarget { name: "onnx", text: false, seeds: seeds::onnx_models, run: onnx_model },
    FuzzTarget { name: "npy", text: false, seeds: seeds::npy_arrays, run: npy_array },
    FuzzTarget { name: "genome", text: true, seeds: seeds::genomes, run: genome_json },
    FuzzTarget { name: "target", text: true, seeds: seeds::targets, run: target_toml },
    FuzzTarget { name: "mcu", text: false, seeds: seeds::mcu_models, run: mcu_model },
];

/// Largest program the `mcu` target also interprets (MACs), so one input stays fast.
const MCU_REFERENCE_MACS: u64 = 1 << 22;

/// Flash of the lowering with DSP kernels (an STM32F4's), so that weights get widened.
const FUZZ_FLASH_BYTES: usize = 1 << 20;

/// The microcontroller importer, both lowerings (kernels, memory plan, C) and, for small
/// programs, the reference interpreter on an all-zero input.
fn mcu_model(bytes: &[u8]) -> bool {
    let Ok(program) = edgenas_compiler::mcu::import_qdq_bytes(bytes) else { return false };
    let input = vec![0i8; program.input_tensor().shape.len()];
    if program.macs() <= MCU_REFERENCE_MACS {
        let _ = edgenas_compiler::mcu::run_reference(&program, &input);
    }
    edgenas_compiler::mcu::McuModel::lower_for_flash(program.clone(), true, FUZZ_FLASH_BYTES).is_ok()
        && edgenas_compiler::mcu::McuModel::lower(program, false).is_ok()
}

/// The importer into the IR and the cost analysis of what it imports; the int8 and fp16
/// planners on the same bytes (they read any op vocabulary). Accepted when any of them
/// accepts the model (the importer refuses quantized models by design).
fn onnx_model(bytes: &[u8]) -> bool {
    let imported = onnx::import(bytes).is_ok_and(|m| {
        let params = m.graph.node_ids().map(|n| m.graph.node(n).op.def().trainable_params()).sum();
        CostReport::of_deployed(&m.graph, params).is_ok()
    });
    let Ok(model) = ModelProto::parse_from_bytes(bytes) else { return imported };
    let layers = weighted_layers(&model).is_ok();
    let opts =
        Int8Options { format: Int8Format::Qdq, keep_first_last_f32: true, reduce_range: false, integer_only: false };
    let planned = Int8Plan::new(&model, &opts).map(|plan| plan.calibration_tensors()).is_ok();
    let halved = to_fp16(&model, &Fp16Options { keep_io_f32: true, keep_first_last_f32: true }).is_ok();
    imported || (layers && (planned || halved))
}

fn npy_array(bytes: &[u8]) -> bool {
    parse_npy_f32(bytes).is_ok()
}

/// A genome, its graph and the cost analysis of the graph.
fn genome_json(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    let Ok(genome) = Genome::from_json(text) else { return false };
    let _ = genome.content_hash();
    match genome.build() {
        Ok(graph) => CostReport::analyze(&graph).is_ok(),
        Err(_) => false,
    }
}

fn target_toml(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    match Target::from_toml(text, "fuzz.toml") {
        Ok(target) => {
            let _ = (target.unit(), target.measurement(), target.emulator_sysroot());
            true
        }
        Err(_) => false,
    }
}
