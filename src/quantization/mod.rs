//! Lower-precision models, measured rather than assumed: calibration inputs, activation
//! ranges measured with tract, the compiler's precision rewrites, and the fidelity of the
//! result against the f32 model (`edgenas quantize`, and quantized search candidates).

mod calibration;
mod fidelity;

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgenas_compiler::onnx;
use edgenas_compiler::quantize::{
    to_fp16, CalibrationMethod, Fp16Options, Fp16Report, Int8Format, Int8Options, Int8Plan, Int8Report, RangeCollector,
};
use edgenas_runtime::{CompiledModel, RunOptions, TensorF32};
use onnx_protobuf::{Message, ModelProto};
use serde::Serialize;

pub use calibration::{CalibrationSet, CalibrationSource, HELD_OUT_EVERY};
pub use fidelity::{compare, layer_sqnr, sqnr_db, Fidelity, FidelityAccumulator, LayerSqnr};

/// The numeric precision a model is deployed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    #[default]
    F32,
    F16,
    /// f16 with the first and last weighted layers in f32.
    F16Mixed,
    Int8,
    /// int8 with the first and last weighted layers in f32.
    Int8Mixed,
}

impl Precision {
    pub const ALL: [Precision; 5] =
        [Precision::F32, Precision::F16, Precision::F16Mixed, Precision::Int8, Precision::Int8Mixed];

    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// int8 or int8-mixed.
    pub fn is_int8(self) -> bool {
        matches!(self, Precision::Int8 | Precision::Int8Mixed)
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::F16Mixed => "f16-mixed",
            Precision::Int8 => "int8",
            Precision::Int8Mixed => "int8-mixed",
        }
    }

    fn is_mixed(self) -> bool {
        matches!(self, Precision::F16Mixed | Precision::Int8Mixed)
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Precision::ALL.iter().map(|p| p.name()).collect();
            format!("unknown precision `{s}` (expected one of {})", names.join(", "))
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// int8 layout to emit; `Auto` picks the one measured fastest on the target
/// ([`auto_format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    Fixed(Int8Format),
    Auto,
}

impl FromStr for FormatChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(FormatChoice::Auto),
            _ => s.parse().map(FormatChoice::Fixed).map_err(|e| format!("{e} or auto")),
        }
    }
}

/// The int8 layout that runs fastest under tract on `target` (a built-in name or a
/// descriptor file), by the architecture of its triple, as measured for
/// docs/QUANTIZATION.md: on x86_64 by wall clock (`benches/quantized_latency.py`), on
/// aarch64 and armv7 by instructions per inference under QEMU (`edgenas bench --target`).
/// QDQ everywhere so far: tract runs per-channel QLinearConv through a slow generic path.
pub fn auto_format(target: &str) -> Result<Int8Format> {
    let resolved = edgenas_targets::Target::resolve(target).with_context(|| format!("int8 format for `{target}`"))?;
    let arch = resolved.triple.split('-').next().unwrap_or_default();
    match arch {
        "x86_64" | "aarch64" | "armv7" => Ok(Int8Format::Qdq),
        other => bail!(
            "no int8 format measured for `{other}` (target `{}`) yet: pass --format qdq or qoperator",
            resolved.name
        ),
    }
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
) -> Result<QuantizedModel> {
    let start = Instant::now();
    let model = ModelProto::parse_from_bytes(f32_onnx).map_err(|e| anyhow::anyhow!("not a valid ONNX model ({e})"))?;
    let reference = CompiledModel::from_onnx_bytes(f32_onnx, "f32 model", &RunOptions::default())
        .context("compiling the f32 model with tract")?;
    let set = CalibrationSet::load(&request.calibration, reference.input_shape())?;
    let mixed = request.precision.is_mixed();
    let (quantized, rewrite, qdq_twin, layer_tensors) = match request.precision {
        Precision::F32 => bail!("precision f32 needs no quantization"),
        Precision::F16 | Precision::F16Mixed => {
            let opts = Fp16Options { keep_io_f32: request.keep_io_f32, keep_first_last_f32: mixed };
            let (q, report) = to_fp16(&model, &opts).context("converting to fp16")?;
            let layers = layer_outputs(&model)?;
            (q, RewriteReport::Fp16(report), None, layers)
        }
        Precision::Int8 | Precision::Int8Mixed => {
            let opts =
                Int8Options { format: request.format, keep_first_last_f32: mixed, reduce_range: request.reduce_range };
            let plan = Int8Plan::new(&model, &opts).context("planning int8 quantization")?;
            if plan.layers().is_empty() {
                bail!("the model has no Conv, Gemm or MatMul with constant weights to quantize");
            }
            let mut collector = RangeCollector::new(request.method, plan.calibration_tensors());
            progress(&format!(
                "calibrating {} activations on {} inputs ({})",
                collector.tensors().len(),
                set.calibration.len(),
                request.method
            ));
            collect_ranges(&model, &set.calibration, &mut collector)?;
            let ranges = collector.ranges().context("calibration")?;
            let (q, report) = plan.rewrite(&ranges, request.format).context("quantizing to int8")?;
            let twin = match request.format {
                Int8Format::Qdq => None,
                Int8Format::QOperator => {
                    Some(plan.rewrite(&ranges, Int8Format::Qdq).context("quantizing the QDQ twin")?.0)
                }
            };
            let layers = plan.layers().iter().map(|l| (l.node.clone(), l.output.clone())).collect();
            (q, RewriteReport::Int8(report), twin, layers)
        }
    };
    let onnx = onnx::to_bytes(&quantized)?;
    let quantize_seconds = start.elapsed().as_secs_f64();
    let fidelity = if request.fidelity {
        progress("measuring fidelity against the f32 model");
        let q = CompiledModel::from_onnx_bytes(&onnx, "quantized model", &RunOptions::default())
            .context("compiling the quantized model with tract")?;
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
pub fn quantize_for_target(f32_onnx: &[u8], precision: Precision, target: &str) -> Result<Vec<u8>> {
    if precision == Precision::F32 {
        return Ok(f32_onnx.to_vec());
    }
    let request = QuantizeRequest {
        precision,
        keep_io_f32: true,
        format: if precision.is_int8() { auto_format(target)? } else { Int8Format::Qdq },
        reduce_range: false,
        method: CalibrationMethod::MinMax,
        calibration: CalibrationSource::Synthetic { count: SEARCH_CALIBRATION_INPUTS, seed: 0 },
        fidelity: false,
    };
    Ok(quantize_model(f32_onnx, &request, &mut |_| {})?.onnx)
}

/// Runs the f32 model on every calibration input with the collector's tensors exposed.
fn collect_ranges(model: &ModelProto, inputs: &[TensorF32], collector: &mut RangeCollector) -> Result<()> {
    let graph = model.graph.as_ref().context("the model has no graph")?;
    let graph_inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    let mut output_names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let exposed: Vec<String> = collector
        .tensors()
        .iter()
        .filter(|t| !graph_inputs.contains(&t.as_str()) && !output_names.contains(t))
        .cloned()
        .collect();
    let probe = onnx::expose_tensors(model, &exposed)?;
    output_names.extend(exposed);
    let probe = CompiledModel::from_onnx_bytes(&onnx::to_bytes(&probe)?, "calibration probe", &RunOptions::default())
        .context("compiling the calibration probe with tract")?;
    let sources: Vec<Option<usize>> =
        collector.tensors().iter().map(|t| output_names.iter().position(|o| o == t)).collect();
    for _ in 0..collector.passes() {
        for (i, x) in inputs.iter().enumerate() {
            let outputs = probe.run(x).with_context(|| format!("running calibration input {i}"))?;
            for (k, source) in sources.iter().enumerate() {
                let values = match source {
                    Some(o) => &outputs.get(*o).context("the calibration probe returned too few outputs")?.data,
                    None => &x.data,
                };
                collector.observe(k, values)?;
            }
        }
        collector.finish_pass();
    }
    Ok(())
}

/// `(node, output tensor)` of every weighted layer the int8 planner sees, for fp16's
/// per-layer report.
fn layer_outputs(model: &ModelProto) -> Result<Vec<(String, String)>> {
    let opts = Int8Options { format: Int8Format::Qdq, keep_first_last_f32: false, reduce_range: false };
    let plan = Int8Plan::new(model, &opts)?;
    Ok(plan.layers().iter().map(|l| (l.node.clone(), l.output.clone())).collect())
}

fn per_layer(
    model: &ModelProto,
    quantized: &ModelProto,
    layers: &[(String, String)],
    inputs: &[TensorF32],
) -> Result<Vec<LayerSqnr>> {
    let outputs: Vec<&str> =
        model.graph.as_ref().map(|g| g.output.iter().map(|o| o.name.as_str()).collect()).unwrap_or_default();
    let layers: Vec<(String, String)> =
        layers.iter().filter(|(_, t)| !outputs.contains(&t.as_str())).cloned().collect();
    let tensors: Vec<String> = layers.iter().map(|(_, t)| t.clone()).collect();
    let compile = |m: &ModelProto, label: &str| -> Result<CompiledModel> {
        let probe = onnx::expose_tensors(m, &tensors)?;
        CompiledModel::from_onnx_bytes(&onnx::to_bytes(&probe)?, label, &RunOptions::default())
            .with_context(|| format!("compiling the {label}"))
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
        for target in ["host", "aarch64-linux", "aarch64-a76-linux", "armv7-linux"] {
            assert_eq!(auto_format(target).unwrap(), Int8Format::Qdq, "{target}");
        }
        let mcu = auto_format("cortex-m4").unwrap_err();
        assert!(format!("{mcu:#}").contains("no int8 format measured for `thumbv7em`"), "{mcu:#}");
        let unknown = auto_format("no-such-board").unwrap_err();
        assert!(format!("{unknown:#}").contains("no-such-board"), "{unknown:#}");
    }
}
