//! ONNX graph helpers shared by the precision rewrites.

use std::collections::HashSet;

use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, NodeProto, TensorProto,
    ValueInfoProto,
};
use protobuf::Enum;

use super::QuantizeError;

/// Ops every precision rewrite accepts; each rewrite's supported set is these plus its own.
pub(super) const COMMON_OPS: [&str; 12] = [
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

/// Ops a precision rewrite passes through as they are (beside [`COMMON_OPS`]): shape and
/// data-movement ops, whose integer inputs (shapes, axes, indices) stay untouched, and the
/// element-wise activations and reductions PyTorch exports of torchvision models use.
pub(super) const PASS_THROUGH_OPS: &[&str] = &[
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Slice",
    "Pad",
    "Shape",
    "Gather",
    "Constant",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Mul",
    "Div",
    "Softmax",
    "ReduceMean",
];

/// Accepts a graph whose nodes are all in the default ONNX domain and in [`COMMON_OPS`] or
/// `extra`; else [`QuantizeError::UnsupportedOp`] for the first node that is not.
pub(super) fn check_ops(graph: &onnx_protobuf::GraphProto, extra: &[&str]) -> Result<(), QuantizeError> {
    for n in &graph.node {
        let default_domain = n.domain.is_empty() || n.domain == "ai.onnx";
        let op = n.op_type.as_str();
        if !default_domain || !(COMMON_OPS.contains(&op) || extra.contains(&op)) {
            return Err(QuantizeError::UnsupportedOp { op: n.op_type.clone(), node: n.name.clone() });
        }
    }
    Ok(())
}

/// `Gemm` attributes, each read from its own field after checking the attribute's type.
pub(super) struct GemmAttrs {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: i64,
    pub trans_b: i64,
}

impl GemmAttrs {
    pub fn read(n: &NodeProto) -> Result<Self, QuantizeError> {
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
pub(super) struct TensorNames(HashSet<String>);

impl TensorNames {
    pub fn of(graph: &onnx_protobuf::GraphProto) -> Self {
        let mut set = HashSet::new();
        for n in &graph.node {
            set.extend(n.input.iter().chain(&n.output).chain(std::iter::once(&n.name)).cloned());
        }
        set.extend(graph.initializer.iter().map(|t| t.name.clone()));
        set.extend(graph.input.iter().chain(&graph.output).chain(&graph.value_info).map(|v| v.name.clone()));
        TensorNames(set)
    }

    pub fn fresh(&mut self, base: &str) -> String {
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

pub(super) fn cast(name: &str, input: &str, output: &str, to: DataType) -> NodeProto {
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

pub(super) fn rename(names: &mut [String], from: &str, to: &str) {
    for s in names.iter_mut().filter(|s| *s == from) {
        *s = to.to_string();
    }
}

pub(super) fn elem_type(vi: &ValueInfoProto) -> Option<i32> {
    match vi.type_.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t.elem_type),
        _ => None,
    }
}

pub(super) fn to_f16_type(vi: &mut ValueInfoProto) {
    if let Some(type_proto::Value::TensorType(t)) = vi.type_.as_mut().and_then(|ty| ty.value.as_mut()) {
        if t.elem_type == DataType::FLOAT as i32 {
            t.elem_type = DataType::FLOAT16 as i32;
        }
    }
}

pub(super) fn numel(t: &TensorProto) -> Result<usize, QuantizeError> {
    t.dims.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)).ok_or_else(|| malformed(&t.name, "bad dims"))
    })
}

pub(super) fn payload_bytes(t: &TensorProto) -> Result<usize, QuantizeError> {
    let size = match DataType::from_i32(t.data_type) {
        Some(DataType::FLOAT | DataType::INT32 | DataType::UINT32) => 4,
        Some(DataType::FLOAT16 | DataType::BFLOAT16 | DataType::INT16 | DataType::UINT16) => 2,
        Some(DataType::DOUBLE | DataType::INT64 | DataType::UINT64) => 8,
        Some(DataType::INT8 | DataType::UINT8 | DataType::BOOL) => 1,
        _ => return Err(QuantizeError::Unsupported(format!("initializer `{}` of data type {}", t.name, t.data_type))),
    };
    Ok(numel(t)? * size)
}

pub(super) fn malformed(at: &str, reason: &str) -> QuantizeError {
    QuantizeError::Malformed { at: at.to_string(), reason: reason.to_string() }
}

/// Gives every node without a name a fresh one (`<op>_<i>`), so nodes can be told apart by name.
pub(super) fn name_unnamed_nodes(graph: &mut onnx_protobuf::GraphProto, names: &mut TensorNames) {
    for (i, n) in graph.node.iter_mut().enumerate() {
        if n.name.is_empty() {
            n.name = names.fresh(&format!("{}_{i}", n.op_type));
        }
    }
}
