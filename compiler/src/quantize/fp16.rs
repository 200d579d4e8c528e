//! f32 → f16 conversion of an emitted model: weights stored as FLOAT16, compute in f16.

use std::collections::HashSet;

use half::f16;
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, ModelProto, NodeProto,
    TensorProto, ValueInfoProto,
};
use protobuf::Enum;

use super::QuantizeError;

/// Largest finite f16 value; larger magnitudes are clamped to it.
const F16_MAX: f32 = 65504.0;

/// Ops [`to_fp16`] accepts: the vocabulary of [`crate::onnx::emit`].
const SUPPORTED_OPS: [&str; 12] = [
    "Conv",
    "Gemm",
    "MatMul",
    "Relu",
    "Clip",
    "Add",
    "AveragePool",
    "MaxPool",
    "GlobalAveragePool",
    "Flatten",
    "BatchNormalization",
    "Identity",
];

/// How [`to_fp16`] treats the model's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fp16Options {
    /// Keep FLOAT graph inputs and outputs, with `Cast` nodes at the boundary (default);
    /// otherwise the interface itself becomes FLOAT16.
    pub keep_io_f32: bool,
}

impl Default for Fp16Options {
    fn default() -> Self {
        Fp16Options { keep_io_f32: true }
    }
}

/// What [`to_fp16`] changed. Byte counts are initializer payloads (`numel * element size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Fp16Report {
    /// FLOAT initializers rewritten as FLOAT16.
    pub converted_tensors: usize,
    /// Weight values outside the finite f16 range, clamped to ±65504.
    pub clamped_values: usize,
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
/// input/output names are kept).
///
/// Errors: NaN/Inf in an initializer → [`QuantizeError::NonFinite`]; an op outside the
/// vocabulary → [`QuantizeError::UnsupportedOp`]; a `Gemm` with `transA`, `alpha` or `beta`
/// other than the defaults, or `transB = 1` on a non-constant `B` →
/// [`QuantizeError::Unsupported`]. On error no model is returned.
pub fn to_fp16(model: &ModelProto, opts: &Fp16Options) -> Result<(ModelProto, Fp16Report), QuantizeError> {
    let mut out = model.clone();
    let graph = out.graph.as_mut().ok_or_else(|| malformed("model", "no graph"))?;
    for n in &graph.node {
        let default_domain = n.domain.is_empty() || n.domain == "ai.onnx";
        if !default_domain || !SUPPORTED_OPS.contains(&n.op_type.as_str()) {
            return Err(QuantizeError::UnsupportedOp { op: n.op_type.clone(), node: n.name.clone() });
        }
    }
    let mut report = Fp16Report {
        weight_bytes_before: graph.initializer.iter().map(payload_bytes).sum::<Result<usize, _>>()?,
        ..Fp16Report::default()
    };

    let mut names = TensorNames::of(graph);
    let mut weights: Vec<(TensorProto, Option<Vec<f32>>)> = Vec::new();
    for t in graph.initializer.drain(..) {
        let values = if t.data_type == DataType::FLOAT as i32 {
            let v = crate::onnx::read_f32(&t)?.data;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(QuantizeError::NonFinite { tensor: t.name.clone() });
            }
            Some(v)
        } else {
            None
        };
        weights.push((t, values));
    }

    let mut nodes = Vec::with_capacity(graph.node.len());
    let mut transposed_away = Vec::new();
    for n in graph.node.drain(..) {
        if n.op_type != "Gemm" {
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
            t.float_data.clear();
            t.raw_data = values
                .iter()
                .flat_map(|&v| {
                    if v.abs() > F16_MAX {
                        report.clamped_values += 1;
                    }
                    f16::from_f32(v.clamp(-F16_MAX, F16_MAX)).to_le_bytes()
                })
                .collect();
            t.data_type = DataType::FLOAT16 as i32;
            report.converted_tensors += 1;
        }
        graph.initializer.push(t);
    }
    graph.node = nodes;

    for vi in &mut graph.value_info {
        to_f16_type(vi);
    }
    let constants: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    for vi in &mut graph.input {
        if constants.contains(&vi.name) || !opts.keep_io_f32 {
            to_f16_type(vi);
        } else if elem_type(vi) == Some(DataType::FLOAT as i32) {
            let renamed = names.fresh(&format!("{}.f16", vi.name));
            for n in &mut graph.node {
                rename(&mut n.input, &vi.name, &renamed);
            }
            head.push(cast(&names.fresh(&format!("{}.to_f16", vi.name)), &vi.name, &renamed, DataType::FLOAT16));
        }
    }
    let input_names: HashSet<String> = graph.input.iter().map(|vi| vi.name.clone()).collect();
    for vi in &mut graph.output {
        if !opts.keep_io_f32 {
            to_f16_type(vi);
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

/// `Gemm` attributes, each read from its own field after checking the attribute's type.
struct GemmAttrs {
    alpha: f32,
    beta: f32,
    trans_a: i64,
    trans_b: i64,
}

impl GemmAttrs {
    fn read(n: &NodeProto) -> Result<Self, QuantizeError> {
        let mut g = GemmAttrs { alpha: 1.0, beta: 1.0, trans_a: 0, trans_b: 0 };
        for a in &n.attribute {
            let ty = a.type_.enum_value();
            let at = || format!("{}.{}", n.name, a.name);
            match (a.name.as_str(), ty) {
                ("alpha", Ok(AttributeType::FLOAT)) => g.alpha = a.f,
                ("beta", Ok(AttributeType::FLOAT)) => g.beta = a.f,
                ("transA", Ok(AttributeType::INT)) => g.trans_a = a.i,
                ("transB", Ok(AttributeType::INT)) => g.trans_b = a.i,
                ("alpha" | "beta" | "transA" | "transB", _) => return Err(malformed(&at(), "wrong attribute type")),
                _ => return Err(malformed(&at(), "unknown Gemm attribute")),
            }
        }
        Ok(g)
    }
}

/// Every tensor name in the graph, to make inserted names unique.
struct TensorNames(HashSet<String>);

impl TensorNames {
    fn of(graph: &onnx_protobuf::GraphProto) -> Self {
        let mut set = HashSet::new();
        for n in &graph.node {
            set.extend(n.input.iter().chain(&n.output).chain(std::iter::once(&n.name)).cloned());
        }
        set.extend(graph.initializer.iter().map(|t| t.name.clone()));
        set.extend(graph.input.iter().chain(&graph.output).chain(&graph.value_info).map(|v| v.name.clone()));
        TensorNames(set)
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.0.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

fn cast(name: &str, input: &str, output: &str, to: DataType) -> NodeProto {
    let mut attr = AttributeProto::new();
    attr.name = "to".into();
    attr.type_ = AttributeType::INT.into();
    attr.i = to as i64;
    let mut n = NodeProto::new();
    n.op_type = "Cast".into();
    n.name = name.to_string();
    n.input = vec![input.to_string()];
    n.output = vec![output.to_string()];
    n.attribute = vec![attr];
    n
}

fn rename(names: &mut [String], from: &str, to: &str) {
    for s in names.iter_mut().filter(|s| *s == from) {
        *s = to.to_string();
    }
}

fn elem_type(vi: &ValueInfoProto) -> Option<i32> {
    match vi.type_.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t.elem_type),
        _ => None,
    }
}

fn to_f16_type(vi: &mut ValueInfoProto) {
    if let Some(type_proto::Value::TensorType(t)) = vi.type_.as_mut().and_then(|ty| ty.value.as_mut()) {
        if t.elem_type == DataType::FLOAT as i32 {
            t.elem_type = DataType::FLOAT16 as i32;
        }
    }
}

fn numel(t: &TensorProto) -> Result<usize, QuantizeError> {
    t.dims.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)).ok_or_else(|| malformed(&t.name, "bad dims"))
    })
}

fn payload_bytes(t: &TensorProto) -> Result<usize, QuantizeError> {
    let size = match DataType::from_i32(t.data_type) {
        Some(DataType::FLOAT | DataType::INT32 | DataType::UINT32) => 4,
        Some(DataType::FLOAT16 | DataType::BFLOAT16 | DataType::INT16 | DataType::UINT16) => 2,
        Some(DataType::DOUBLE | DataType::INT64 | DataType::UINT64) => 8,
        Some(DataType::INT8 | DataType::UINT8 | DataType::BOOL) => 1,
        _ => return Err(QuantizeError::Unsupported(format!("initializer `{}` of data type {}", t.name, t.data_type))),
    };
    Ok(numel(t)? * size)
}

fn malformed(at: &str, reason: &str) -> QuantizeError {
    QuantizeError::Malformed { at: at.to_string(), reason: reason.to_string() }
}
