//! Lower-precision models, measured rather than assumed: calibration inputs, activation
//! ranges measured with tract, the compiler's precision rewrites, and the fidelity of the
//! result against the f32 model (`edgenas quantize`, and quantized search candidates).

mod calibration;
mod fidelity;

use std::str::FromStr;
use std::time::Instant;

use edgenas_compiler::onnx;
pub use edgenas_compiler::quantize::Precision;
use edgenas_compiler::quantize::{
    to_fp16, weighted_layers, CalibrationMethod, Fp16Options, Fp16Report, Int8Format, Int8Options, Int8Plan,
    Int8Report, RangeCollector,
};
use edgenas_runtime::{CompiledModel, RunOptions, TensorF32};
use edgenas_targets::Target;
use onnx_protobuf::{Message, ModelProto};
use serde::Serialize;

pub use calibration::{CalibrationSet, CalibrationSource, HELD_OUT_EVERY};
pub use fidelity::{compare, layer_sqnr, sqnr_db, Fidelity, FidelityAccumulator, LayerSqnr};

use crate::error::{DeployError, Step};

/// int8 layout to emit; `Auto` picks the one measured fastest on the target
/// ([`auto_format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    Fixed(Int8Format),
    Auto,
}

impl FromStr for FormatChoice {
    type Err = String;

    /// `qdq`, `qoperator` or `auto`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(FormatChoice::Auto),
            _ => s
                .parse()
                .map(FormatChoice::Fixed)
                .map_err(|_| format!("unknown int8 format `{s}` (expected qdq, qoperator or auto)")),
        }
    }
}

/// The int8 layout that runs fastest under tract on `target`, by the architecture of its
/// triple, as measured for docs/QUANTIZATION.md: on x86_64 by wall clock
/// (`benches/quantized_latency.py`), on aarch64 and armv7 by instructions per inference
/// under QEMU (`edgenas bench --target`). QDQ everywhere so far: tract runs per-channel
/// QLinearConv through a slow generic path. Takes the resolved target, so a descriptor file
/// (a custom or remote board) decides by its triple like a built-in.
pub fn auto_format(target: &Target) -> Result<Int8Format, DeployError> {
    let arch = target.triple.split('-').next().unwrap_or_default();
    match arch {
        "x86_64" | "aarch64" | "armv7" | "thumbv7em" => Ok(Int8Format::Qdq),
        other => Err(DeployError::Invalid(format!(
            "no int8 format measured for `{other}` (target `{}`) yet: pass --format qdq or qoperator",
            target.name
        ))),
    }
}

/// Whether int8 models for `target` must be integer-only: microcontrollers run no float
/// between layers (kind `mcu`, the generated-C backend). (Where the project's int8 ops run
/// int8, [`quantize_for_target`] makes `int8` integer-only as well; `edgenas quantize`
/// does so only when asked, `--integer-only`.)
pub fn integer_only_for(target: &Target) -> bool {
    target.kind == edgenas_targets::TargetKind::Mcu
}

/// Everything [`quantize_model`] needs besides the model.
#[derive(Debug, Clone)]
pub struct QuantizeRequest {
    pub precision: Precision,
    /// fp16 only: keep FLOAT graph inputs and outputs.
    pub keep_io_f32: bool,
    pub format: Int8Format,
    /// int8 only: 7-bit weights ([`Int8Options::reduce_range`]).
    pub reduce_range: bool,
    /// int8 only: quantize every activation ([`Int8Options::integer_only`]), as a
    /// microcontroller needs ([`integer_only_for`]).
    pub integer_only: bool,
    pub method: CalibrationMethod,
    pub calibration: CalibrationSource,
    /// Compute the fidelity report (runs both models on every calibration input).
    pub fidelity: bool,
}

/// Sizes before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeReport {
    pub file_bytes_before: usize,
    pub file_bytes_after: usize,
    pub weight_bytes_before: usize,
    pub weight_bytes_after: usize,
}

/// The fidelity part of a [`QuantizeReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FidelityReport {
    /// On the inputs the ranges were measured on.
    pub calibration: Fidelity,
    /// On the held-out inputs.
    pub held_out: Fidelity,
    /// Per-layer output SQNR on the held-out inputs (int8: measured on the QDQ form with
    /// the same ranges, where every layer output exists as a float tensor).
    pub layers: Vec<LayerSqnr>,
}

/// What the precision rewrite did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RewriteReport {
    Fp16(Fp16Report),
    Int8(Int8Report),
}

/// The report `edgenas quantize --report` writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantizeReport {
    pub precision: Precision,
    pub format: Option<Int8Format>,
    pub calibration_method: Option<String>,
    pub calibration_source: String,
    pub calibration_inputs: usize,
    pub held_out_inputs: usize,
    pub size: SizeReport,
    pub fidelity: Option<FidelityReport>,
    pub rewrite: RewriteReport,
    /// Wall time of the whole quantization (calibration included, fidelity excluded).
    pub quantize_seconds: f64,
}

/// A quantized model with its report.
pub struct QuantizedModel {
    pub onnx: Vec<u8>,
    pub report: QuantizeReport,
}

/// Quantizes the f32 ONNX model `f32_onnx` as `request` says; `progress` gets one line per
/// stage. Errors name the problem (malformed model, unsupported op, NaN weights, bad
/// calibration data); nothing is written anywhere.
pub fn quantize_model(
    f32_onnx: &[u8],
    request: &QuantizeRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<QuantizedModel, DeployError> {
    let start = Instant::now();
    let model = ModelProto::parse_from_bytes(f32_onnx)
        .map_err(|e| DeployError::Invalid(format!("not a valid ONNX model ({e})")))?;
    let reference = CompiledModel::from_onnx_bytes(f32_onnx, "f32 model", &RunOptions::default())
        .step("compiling the f32 model with tract")?;
    let set = CalibrationSet::load(&request.calibration, reference.input_shape())?;
    let mixed = request.precision.is_mixed();
    let (quantized, rewrite, qdq_twin, layer_tensors) = match request.precision {
        Precision::F32 => return Err(DeployError::Invalid("precision f32 needs no quantization".into())),
        Precision::F16 | Precision::F16Mixed => {
            let opts = Fp16Options { keep_io_f32: request.keep_io_f32, keep_first_last_f32: mixed };
            let (q, report) = to_fp16(&model, &opts).step("converting to fp16")?;
            let layers = weighted_layers(&model).step("finding the weighted layers")?;
            (q, RewriteReport::Fp16(report), None, layers)
        }
        Precision::Int8 | Precision::Int8Mixed => {
            let opts = Int8Options {
                format: request.format,
                keep_first_last_f32: mixed,
                reduce_range: request.reduce_range,
                integer_only: request.integer_only,
            };
            let plan = Int8Plan::new(&model, &opts).step("planning int8 quantization")?;
            if plan.layers().is_empty() {
                return Err(DeployError::Invalid(
                    "the model has no Conv, Gemm or MatMul with constant weights to quantize".into(),
                ));
            }
            let mut collector = RangeCollector::new(request.method, plan.calibration_tensors());
            progress(&format!(
                "calibrating {} activations on {} inputs ({})",
                collector.tensors().len(),
                set.calibration.len(),
                request.method
            ));
            collect_ranges(&model, &set.calibration, &mut collector)?;
            let ranges = collector.ranges().step("calibration")?;
            let (q, report) = plan.rewrite(&ranges, request.format).step("quantizing to int8")?;
            let twin = match request.format {
                Int8Format::Qdq => None,
                Int8Format::QOperator => {
                    Some(plan.rewrite(&ranges, Int8Format::Qdq).step("quantizing the QDQ twin")?.0)
                }
            };
            let layers = plan.layers().iter().map(|l| (l.node.clone(), l.output.clone())).collect();
            (q, RewriteReport::Int8(report), twin, layers)
        }
    };
    let onnx = onnx::to_bytes(&quantized).step("serializing the quantized model")?;
    let quantize_seconds = start.elapsed().as_secs_f64();
    let fidelity = if request.fidelity {
        progress("measuring fidelity against the f32 model");
        let q = CompiledModel::from_onnx_bytes(&onnx, "quantized model", &RunOptions::default())
            .step("compiling the quantized model with tract")?;
        let calibration = compare(&reference, &q, &set.calibration)?;
        let held_out = compare(&reference, &q, &set.held_out)?;
        let twin = qdq_twin.as_ref().unwrap_or(&quantized);
        let layers = per_layer(&model, twin, &layer_tensors, &set.held_out)?;
        Some(FidelityReport { calibration, held_out, layers })
    } else {
        None
    };
    let (weight_bytes_before, weight_bytes_after, format) = match &rewrite {
        RewriteReport::Fp16(r) => (r.weight_bytes_before, r.weight_bytes_after, None),
        RewriteReport::Int8(r) => (r.weight_bytes_before, r.weight_bytes_after, Some(r.format)),
    };
    let int8 = format.is_some();
    let report = QuantizeReport {
        precision: request.precision,
        format,
        calibration_method: int8.then(|| request.method.to_string()),
        calibration_source: request.calibration.describe(),
        calibration_inputs: set.calibration.len(),
        held_out_inputs: set.held_out.len(),
        size: SizeReport {
            file_bytes_before: f32_onnx.len(),
            file_bytes_after: onnx.len(),
            weight_bytes_before,
            weight_bytes_after,
        },
        fidelity,
        rewrite,
        quantize_seconds,
    };
    Ok(QuantizedModel { onnx, report })
}

/// Synthetic calibration inputs per quantized search candidate.
pub const SEARCH_CALIBRATION_INPUTS: usize = 8;

/// A search candidate's f32 model in `precision`, laid out for `target` ([`auto_format`]):
/// minmax ranges on [`SEARCH_CALIBRATION_INPUTS`] N(0,1) inputs, no fidelity report (the
/// search measures latency; `edgenas quantize` reports fidelity). f32 comes back unchanged.
pub fn quantize_for_target(f32_onnx: &[u8], precision: Precision, target: &Target) -> Result<Vec<u8>, DeployError> {
    if precision == Precision::F32 {
        return Ok(f32_onnx.to_vec());
    }
    let request = QuantizeRequest {
        precision,
        keep_io_f32: true,
        format: if precision.is_int8() { auto_format(target)? } else { Int8Format::Qdq },
        reduce_range: false,
        integer_only: match crate::int8_engine(target) {
            crate::Int8Engine::Firmware => precision.is_int8(),
            crate::Int8Engine::EdgenasOps => precision == Precision::Int8,
            crate::Int8Engine::Tract => false,
        },
        method: CalibrationMethod::MinMax,
        calibration: CalibrationSource::Synthetic { count: SEARCH_CALIBRATION_INPUTS, seed: 0 },
        fidelity: false,
    };
    Ok(quantize_model(f32_onnx, &request, &mut |_| {})?.onnx)
}

/// Runs the f32 model on every calibration input with the collector's tensors exposed.
fn collect_ranges(model: &ModelProto, inputs: &[TensorF32], collector: &mut RangeCollector) -> Result<(), DeployError> {
    let graph = model.graph.as_ref().ok_or_else(|| DeployError::Invalid("the model has no graph".into()))?;
    let graph_inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    let mut output_names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let exposed: Vec<String> = collector
        .tensors()
        .iter()
        .filter(|t| !graph_inputs.contains(&t.as_str()) && !output_names.contains(t))
        .cloned()
        .collect();
    let probe = onnx::expose_tensors(model, &exposed).step("exposing the calibrated tensors")?;
    output_names.extend(exposed);
    let bytes = onnx::to_bytes(&probe).step("serializing the calibration probe")?;
    let probe = CompiledModel::from_onnx_bytes(&bytes, "calibration probe", &RunOptions::default())
        .step("compiling the calibration probe with tract")?;
    let sources: Vec<Option<usize>> =
        collector.tensors().iter().map(|t| output_names.iter().position(|o| o == t)).collect();
    for _ in 0..collector.passes() {
        for (i, x) in inputs.iter().enumerate() {
            let outputs = probe.run(x).step(format!("running calibration input {i}"))?;
            for (k, source) in sources.iter().enumerate() {
                let values = match source {
                    Some(o) => {
                        &outputs
                            .get(*o)
                            .ok_or_else(|| {
                                DeployError::Invalid("the calibration probe returned too few outputs".into())
                            })?
                            .data
                    }
                    None => &x.data,
                };
                collector.observe(k, values).step("calibration")?;
            }
        }
        collector.finish_pass();
    }
    Ok(())
}

fn per_layer(
    model: &ModelProto,
    quantized: &ModelProto,
    layers: &[(String, String)],
    inputs: &[TensorF32],
) -> Result<Vec<LayerSqnr>, DeployError> {
    let outputs: Vec<&str> =
        model.graph.as_ref().map(|g| g.output.iter().map(|o| o.name.as_str()).collect()).unwrap_or_default();
    let layers: Vec<(String, String)> =
        layers.iter().filter(|(_, t)| !outputs.contains(&t.as_str())).cloned().collect();
    let tensors: Vec<String> = layers.iter().map(|(_, t)| t.clone()).collect();
    let compile = |m: &ModelProto, label: &str| -> Result<CompiledModel, DeployError> {
        let probe = onnx::expose_tensors(m, &tensors).step(format!("exposing the layers of the {label}"))?;
        let bytes = onnx::to_bytes(&probe).step(format!("serializing the {label}"))?;
        CompiledModel::from_onnx_bytes(&bytes, label, &RunOptions::default()).step(format!("compiling the {label}"))
    };
    let reference = compile(model, "f32 layer probe")?;
    let quantized = compile(quantized, "quantized layer probe")?;
    layer_sqnr(&reference, &quantized, inputs, &layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_format_follows_the_target_architecture() {
        for target in ["host", "aarch64-linux", "aarch64-a76-linux", "armv7-linux", "cortex-m4", "cortex-m7"] {
            let target = Target::resolve(target).unwrap();
            assert_eq!(auto_format(&target).unwrap(), Int8Format::Qdq, "{}", target.name);
        }
        let mut riscv = Target::host();
        riscv.triple = "riscv32imc-unknown-none-elf".into();
        let err = auto_format(&riscv).unwrap_err().to_string();
        assert!(err.contains("no int8 format measured for `riscv32imc`"), "{err}");
        let mut custom = Target::host();
        custom.name = "my-box".into();
        assert_eq!(auto_format(&custom).unwrap(), Int8Format::Qdq, "a descriptor's own name is never resolved again");
    }

    #[test]
    fn format_choices_parse() {
        assert_eq!("auto".parse(), Ok(FormatChoice::Auto));
        assert_eq!("qoperator".parse(), Ok(FormatChoice::Fixed(Int8Format::QOperator)));
        assert!("qlinear".parse::<FormatChoice>().unwrap_err().contains("qdq, qoperator or auto"));
    }
}
