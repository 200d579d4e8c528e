//! f32 → f16 conversion of an emitted model: weights stored as FLOAT16, compute in f16.

use std::collections::HashSet;

use half::f16;
use onnx_protobuf::{attribute_proto::AttributeType, tensor_proto::DataType, ModelProto, NodeProto, TensorProto};

use super::graph::{
    cast, check_ops, elem_type, malformed, name_unnamed_nodes, payload_bytes, rename, to_f16_type, GemmAttrs,
    TensorNames, PASS_THROUGH_OPS,
};
use super::QuantizeError;

/// Largest finite f16 value; larger magnitudes are clamped to it.
const F16_MAX: f32 = 65504.0;

/// How [`to_fp16`] treats the model's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fp16Options {
    /// Keep FLOAT graph inputs and outputs, with `Cast` nodes at the boundary (default);
    /// otherwise the interface itself becomes FLOAT16.
    pub keep_io_f32: bool,
    /// Mixed precision: the first and the last weighted node (`Conv`, `Gemm`, `MatMul` in
    /// graph order) keep f32 weights and compute, with `Cast`s around them. These layers see
    /// the raw input and produce the logits, where f16 rounding hurts most.
    pub keep_first_last_f32: bool,
}

impl Default for Fp16Options {
    fn default() -> Self {
        Fp16Options { keep_io_f32: true, keep_first_last_f32: false }
    }
}

/// What [`to_fp16`] changed. Byte counts are initializer payloads (`numel * element size`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Fp16Report {
    /// FLOAT initializers rewritten as FLOAT16.
    pub converted_tensors: usize,
    /// Weight values outside the finite f16 range, clamped to ±65504.
    pub clamped_values: usize,
    /// Nodes kept in f32 ([`Fp16Options::keep_first_last_f32`]).
    pub f32_nodes: usize,
    pub weight_bytes_before: usize,
    pub weight_bytes_after: usize,
}

/// Converts an f32 model in the [`crate::onnx::emit`] op vocabulary to f16 compute.
///
/// Every FLOAT initializer becomes FLOAT16 (written through `raw_data`, little-endian);
/// values beyond ±65504 are clamped and counted. `Gemm` is rewritten as `MatMul` (+ `Add`
/// for the bias), with a constant `B` pre-transposed when `transB = 1`, because tract's
/// f16 `Gemm` with bias does not translate. FLOAT graph inputs/outputs and `value_info`
/// become FLOAT16, unless [`Fp16Options::keep_io_f32`]: then the interface stays FLOAT and
/// `Cast` nodes convert at the boundary (the f16 tensors are renamed, the graph's
/// input/output names are kept). With [`Fp16Options::keep_first_last_f32`] the first and
/// last weighted nodes stay f32 (weights, compute and, with f32 I/O, the boundary they touch).
///
/// Errors: NaN/Inf in an initializer → [`QuantizeError::NonFinite`]; an op outside the
/// vocabulary → [`QuantizeError::UnsupportedOp`]; a `Gemm` with `transA`, `alpha` or `beta`
/// other than the defaults, or `transB = 1` on a non-constant `B` →
/// [`QuantizeError::Unsupported`]. On error no model is returned.
pub fn to_fp16(model: &ModelProto, opts: &Fp16Options) -> Result<(ModelProto, Fp16Report), QuantizeError> {
    let mut out = model.clone();
    let graph = out.graph.as_mut().ok_or_else(|| malformed("model", "no graph"))?;
    check_ops(graph, PASS_THROUGH_OPS)?;
    let mut names = TensorNames::of(graph);
    name_unnamed_nodes(graph, &mut names);
    let kept: HashSet<String> = if opts.keep_first_last_f32 { first_last_weighted(graph) } else { HashSet::new() };
    let kept_weights: HashSet<String> =
        graph.node.iter().filter(|n| kept.contains(&n.name)).flat_map(|n| n.input.iter().cloned()).collect();
    for n in graph.node.iter().filter(|n| !kept.contains(&n.name)) {
        if let Some(shared) = n.input.iter().find(|i| kept_weights.contains(*i) && is_initializer(graph, i)) {
            return Err(QuantizeError::Unsupported(format!(
                "initializer `{shared}` is shared between an f32 node and node `{}`",
                n.name
            )));
        }
    }
    let mut report = Fp16Report {
        weight_bytes_before: graph.initializer.iter().map(payload_bytes).sum::<Result<usize, _>>()?,
        ..Fp16Report::default()
    };

    let mut weights: Vec<(TensorProto, Option<Vec<f32>>)> = Vec::new();
    for t in graph.initializer.drain(..) {
        let values = if t.data_type == DataType::FLOAT as i32 && !kept_weights.contains(&t.name) {
            let v = crate::onnx::read_f32(&t)?.data;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(QuantizeError::NonFinite { tensor: t.name.clone() });
            }
            Some(v)
        } else if t.data_type == DataType::FLOAT as i32 {
            if crate::onnx::read_f32(&t)?.data.iter().any(|x| !x.is_finite()) {
                return Err(QuantizeError::NonFinite { tensor: t.name.clone() });
            }
            None
        } else {
            None
        };
        weights.push((t, values));
    }

    let mut nodes = Vec::with_capacity(graph.node.len());
    let mut transposed_away = Vec::new();
    for n in graph.node.drain(..) {
        if n.op_type != "Gemm" || kept.contains(&n.name) {
            nodes.push(n);
            continue;
        }
        let gemm = GemmAttrs::read(&n)?;
        if gemm.alpha != 1.0 || gemm.beta != 1.0 || gemm.trans_a != 0 {
            return Err(QuantizeError::Unsupported(format!(
                "Gemm `{}` with alpha={}, beta={}, transA={} (only the defaults are rewritten)",
                n.name, gemm.alpha, gemm.beta, gemm.trans_a
            )));
        }
        if n.input.len() < 2 || n.input.len() > 3 || n.output.len() != 1 {
            return Err(malformed(&n.name, "Gemm needs 2 or 3 inputs and 1 output"));
        }
        let mut b = n.input[1].clone();
        if gemm.trans_b != 0 {
            let (t, values) = weights.iter().find(|(t, v)| t.name == b && v.is_some()).ok_or_else(|| {
                QuantizeError::Unsupported(format!("Gemm `{}`: transB=1 on non-constant `{b}`", n.name))
            })?;
            let values = values.as_ref().expect("filtered on is_some");
            let [rows, cols] = t.dims[..] else {
                return Err(malformed(&t.name, "Gemm B is not 2-D"));
            };
            let (rows, cols) = (rows as usize, cols as usize);
            let data: Vec<f32> = (0..rows * cols).map(|k| values[(k % rows) * cols + k / rows]).collect();
            let mut tt = TensorProto::new();
            tt.name = names.fresh(&format!("{b}.t"));
            tt.dims = vec![cols as i64, rows as i64];
            tt.data_type = DataType::FLOAT as i32;
            transposed_away.push(b);
            b = tt.name.clone();
            weights.push((tt, Some(data)));
        }
        let output = n.output[0].clone();
        let bias = n.input.get(2).filter(|c| !c.is_empty()).cloned();
        let mut matmul = NodeProto::new();
        matmul.op_type = "MatMul".into();
        matmul.name = n.name.clone();
        matmul.input = vec![n.input[0].clone(), b];
        match bias {
            None => {
                matmul.output = vec![output];
                nodes.push(matmul);
            }
            Some(c) => {
                let product = names.fresh(&format!("{output}.matmul"));
                matmul.output = vec![product.clone()];
                nodes.push(matmul);
                let mut add = NodeProto::new();
                add.op_type = "Add".into();
                add.name = names.fresh(&format!("{}.add_bias", n.name));
                add.input = vec![product, c];
                add.output = vec![output];
                nodes.push(add);
            }
        }
    }
    let still_used: HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.input.iter())
        .chain(graph.output.iter().map(|o| &o.name))
        .map(|s| s.as_str())
        .collect();
    weights.retain(|(t, _)| !transposed_away.contains(&t.name) || still_used.contains(t.name.as_str()));

    for (mut t, values) in weights {
        if let Some(values) = values {
            store_f16(&mut t, &values, &mut report.clamped_values);
            report.converted_tensors += 1;
        }
        graph.initializer.push(t);
    }
    for n in nodes.iter_mut().filter(|n| n.op_type == "Constant") {
        report.converted_tensors += constant_to_f16(n, &mut report.clamped_values)?;
    }
    graph.node = nodes;

    for vi in &mut graph.value_info {
        to_f16_type(vi);
    }
    let constants: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let graph_inputs: HashSet<String> = graph.input.iter().map(|vi| vi.name.clone()).collect();
    let graph_outputs: HashSet<String> = graph.output.iter().map(|vi| vi.name.clone()).collect();
    let f32_boundary = |name: &str, set: &HashSet<String>| opts.keep_io_f32 && set.contains(name);
    if !kept.is_empty() {
        let mut nodes = Vec::with_capacity(graph.node.len() + 2 * kept.len());
        for mut n in graph.node.drain(..) {
            if !kept.contains(&n.name) {
                nodes.push(n);
                continue;
            }
            for input in n.input.iter_mut() {
                if input.is_empty() || constants.contains(input) || f32_boundary(input, &graph_inputs) {
                    continue;
                }
                let widened = names.fresh(&format!("{input}.f32"));
                nodes.push(cast(&names.fresh(&format!("{input}.to_f32")), input, &widened, DataType::FLOAT));
                *input = widened;
            }
            let mut narrowing = Vec::new();
            for output in n.output.iter_mut() {
                if f32_boundary(output, &graph_outputs) {
                    continue;
                }
                let wide = names.fresh(&format!("{output}.f32"));
                narrowing.push(cast(&names.fresh(&format!("{output}.to_f16")), &wide, output, DataType::FLOAT16));
                *output = wide;
            }
            nodes.push(n);
            nodes.append(&mut narrowing);
        }
        graph.node = nodes;
        report.f32_nodes = kept.len();
    }
    let kept_outputs: HashSet<String> =
        graph.node.iter().filter(|n| kept.contains(&n.name)).flat_map(|n| n.output.iter().cloned()).collect();
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    for vi in &mut graph.input {
        if constants.contains(&vi.name) || !opts.keep_io_f32 {
            to_f16_type(vi);
        } else if elem_type(vi) == Some(DataType::FLOAT as i32) {
            let renamed = names.fresh(&format!("{}.f16", vi.name));
            let mut used = false;
            for n in graph.node.iter_mut().filter(|n| !kept.contains(&n.name)) {
                used |= n.input.contains(&vi.name);
                rename(&mut n.input, &vi.name, &renamed);
            }
            if !used {
                continue;
            }
            head.push(cast(&names.fresh(&format!("{}.to_f16", vi.name)), &vi.name, &renamed, DataType::FLOAT16));
        }
    }
    let input_names: HashSet<String> = graph.input.iter().map(|vi| vi.name.clone()).collect();
    for vi in &mut graph.output {
        if !opts.keep_io_f32 {
            to_f16_type(vi);
        } else if kept_outputs.contains(&vi.name) {
            let renamed = names.fresh(&format!("{}.f16", vi.name));
            let mut used = false;
            for n in graph.node.iter_mut().filter(|n| !kept.contains(&n.name)) {
                used |= n.input.contains(&vi.name);
                rename(&mut n.input, &vi.name, &renamed);
            }
            if used {
                tail.push(cast(&names.fresh(&format!("{}.to_f16", vi.name)), &vi.name, &renamed, DataType::FLOAT16));
            }
        } else if elem_type(vi) == Some(DataType::FLOAT as i32) {
            if input_names.contains(&vi.name) || constants.contains(&vi.name) {
                return Err(QuantizeError::Unsupported(format!(
                    "graph output `{}` is an input or an initializer",
                    vi.name
                )));
            }
            let renamed = names.fresh(&format!("{}.f16", vi.name));
            for n in &mut graph.node {
                rename(&mut n.input, &vi.name, &renamed);
                rename(&mut n.output, &vi.name, &renamed);
            }
            tail.push(cast(&names.fresh(&format!("{}.to_f32", vi.name)), &renamed, &vi.name, DataType::FLOAT));
        }
    }
    head.append(&mut graph.node);
    head.append(&mut tail);
    graph.node = head;

    report.weight_bytes_after = graph.initializer.iter().map(payload_bytes).sum::<Result<usize, _>>()?;
    Ok((out, report))
}

/// Rewrites `t` to hold `values` as FLOAT16 in `raw_data`, magnitudes beyond ±65504
/// clamped (and counted in `clamped`).
fn store_f16(t: &mut TensorProto, values: &[f32], clamped: &mut usize) {
    t.float_data.clear();
    t.raw_data = values
        .iter()
        .flat_map(|&v| {
            if v.abs() > F16_MAX {
                *clamped += 1;
            }
            f16::from_f32(v.clamp(-F16_MAX, F16_MAX)).to_le_bytes()
        })
        .collect();
    t.data_type = DataType::FLOAT16 as i32;
}

/// A `Constant` node's FLOAT value (`value`, `value_float` or `value_floats`) as a FLOAT16
/// `value` tensor; integer constants (shapes, axes) are left as they are. Returns the
/// number of tensors converted (0 or 1).
fn constant_to_f16(n: &mut NodeProto, clamped: &mut usize) -> Result<usize, QuantizeError> {
    let mut converted = 0;
    for a in &mut n.attribute {
        let values = match a.name.as_str() {
            "value" => match a.t.as_ref() {
                Some(t) if t.data_type == DataType::FLOAT as i32 => crate::onnx::read_f32(t)?,
                _ => continue,
            },
            "value_float" => crate::ir::ParamTensor { shape: vec![], data: vec![a.f] },
            "value_floats" => crate::ir::ParamTensor { shape: vec![a.floats.len()], data: a.floats.clone() },
            _ => continue,
        };
        if values.data.iter().any(|v| !v.is_finite()) {
            return Err(QuantizeError::NonFinite { tensor: format!("{} (Constant)", n.name) });
        }
        let mut t = TensorProto::new();
        t.name = n.output.first().cloned().unwrap_or_default();
        t.dims = values.shape.iter().map(|&d| d as i64).collect();
        store_f16(&mut t, &values.data, clamped);
        a.name = "value".into();
        a.type_ = AttributeType::TENSOR.into();
        a.f = 0.0;
        a.floats.clear();
        a.t = Some(t).into();
        converted += 1;
    }
    Ok(converted)
}

/// Names of the first and the last node with a constant weight (`Conv`, `Gemm`, `MatMul`).
fn first_last_weighted(graph: &onnx_protobuf::GraphProto) -> HashSet<String> {
    let weighted: Vec<&NodeProto> = graph
        .node
        .iter()
        .filter(|n| matches!(n.op_type.as_str(), "Conv" | "Gemm" | "MatMul"))
        .filter(|n| n.input.get(1).is_some_and(|w| is_initializer(graph, w)))
        .collect();
    weighted.first().into_iter().chain(weighted.last()).map(|n| n.name.clone()).collect()
}

fn is_initializer(graph: &onnx_protobuf::GraphProto, name: &str) -> bool {
    graph.initializer.iter().any(|t| t.name == name)
}
