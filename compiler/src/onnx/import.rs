//! Import of ONNX models written in the IR's op vocabulary (ours, and PyTorch-style
//! exports of the same ops). Reads attributes field by field: never through
//! onnx-protobuf's attribute helper, which panics on malformed input.

use std::collections::HashMap;

use onnx_protobuf::{
    tensor_proto::DataType, tensor_shape_proto::dimension, type_proto, AttributeProto, Message, ModelProto, NodeProto,
    TensorProto,
};

use super::OnnxError;
use crate::ir::ops::{
    Activation, Add, BatchNorm, Conv, Flatten, GlobalAvgPool, Identity, Linear, Pool, PoolKind, ZeroConst,
};
use crate::ir::{Graph, GraphPatch, NodeId, Op, ParamTensor, TensorType};

/// A model read back into the IR.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub graph: Graph,
    pub opset: i64,
    pub producer: String,
    pub metadata: Vec<(String, String)>,
}

/// Parses ONNX protobuf bytes into a type-inferred IR graph with its weights.
pub fn import(bytes: &[u8]) -> Result<ImportedModel, OnnxError> {
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    let graph_proto = model.graph.as_ref().ok_or_else(|| OnnxError::Decode("model has no graph".into()))?;
    if graph_proto.node.is_empty() {
        return Err(OnnxError::Decode("graph has no nodes".into()));
    }
    let opset =
        model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(0, |o| o.version);
    let mut consts: HashMap<&str, ParamTensor> = HashMap::new();
    for t in &graph_proto.initializer {
        consts.insert(t.name.as_str(), read_f32(t)?);
    }
    let mut g = Graph::new();
    let mut values: HashMap<String, NodeId> = HashMap::new();
    for vi in &graph_proto.input {
        if consts.contains_key(vi.name.as_str()) {
            continue;
        }
        let shape = static_shape(vi)?;
        values.insert(vi.name.clone(), g.add_input(vi.name.clone(), TensorType::f32(shape)));
    }
    for (i, n) in graph_proto.node.iter().enumerate() {
        let name = if n.name.is_empty() { format!("{}_{i}", n.op_type) } else { n.name.clone() };
        let (op, params, data_inputs) = convert(n, &name, &consts)?;
        let mut producers = Vec::with_capacity(data_inputs.len());
        for input in &data_inputs {
            let id = match (values.get(*input), consts.get(*input)) {
                (Some(&id), _) => id,
                (None, Some(c)) if c.data.iter().all(|&v| v == 0.0) => {
                    let id = g.add_node(
                        input.to_string(),
                        Op::ZeroConst(ZeroConst { ty: TensorType::f32(c.shape.clone()) }),
                        &[],
                    );
                    values.insert(input.to_string(), id);
                    id
                }
                (None, Some(_)) => {
                    return Err(OnnxError::Unsupported(format!(
                        "node `{name}`: constant `{input}` used as a data input (only all-zero constants are supported)"
                    )))
                }
                (None, None) => {
                    return Err(OnnxError::Malformed {
                        at: name.clone(),
                        reason: format!("input `{input}` is not produced by any earlier node or graph input"),
                    })
                }
            };
            producers.push(id);
        }
        let output = n
            .output
            .first()
            .ok_or_else(|| OnnxError::Malformed { at: name.clone(), reason: "node has no output".into() })?;
        let id = g.add_node(name, op.clone(), &producers);
        if !params.is_empty() {
            GraphPatch::new().replace_op(id, op, params).apply(&mut g);
        }
        values.insert(output.clone(), id);
    }
    let outputs = graph_proto
        .output
        .iter()
        .map(|o| {
            values.get(&o.name).copied().ok_or_else(|| OnnxError::Malformed {
                at: o.name.clone(),
                reason: "graph output is not produced by any node".into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    g.set_outputs(outputs);
    g.infer_types()?;
    Ok(ImportedModel {
        graph: g,
        opset,
        producer: model.producer_name.clone(),
        metadata: model.metadata_props.iter().map(|e| (e.key.clone(), e.value.clone())).collect(),
    })
}

fn static_shape(vi: &onnx_protobuf::ValueInfoProto) -> Result<Vec<usize>, OnnxError> {
    let malformed = |reason: &str| OnnxError::Malformed { at: vi.name.clone(), reason: reason.to_string() };
    let Some(type_proto::Value::TensorType(t)) = vi.type_.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(malformed("graph input is not a tensor"));
    };
    if t.elem_type != DataType::FLOAT as i32 {
        return Err(OnnxError::Unsupported(format!(
            "input `{}` has element type {}, only float32 is supported",
            vi.name, t.elem_type
        )));
    }
    let shape = t.shape.as_ref().ok_or_else(|| malformed("graph input has no shape"))?;
    shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) if v > 0 => Ok(v as usize),
            _ => Err(OnnxError::Unsupported(format!(
                "input `{}` has a symbolic or unknown dimension; only static shapes are supported",
                vi.name
            ))),
        })
        .collect()
}

/// The values of a FLOAT initializer stored in `raw_data` (little-endian) or `float_data`,
/// checked against its dims. Other data types and external data are `Unsupported`.
pub(crate) fn read_f32(t: &TensorProto) -> Result<ParamTensor, OnnxError> {
    let malformed = |reason: String| OnnxError::Malformed { at: t.name.clone(), reason };
    if !t.external_data.is_empty() {
        return Err(OnnxError::Unsupported(format!("initializer `{}` uses external data", t.name)));
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| malformed(format!("negative dim {d}"))))
        .collect::<Result<_, _>>()?;
    let numel = crate::ir::element_count(&shape)
        .filter(|&n| n <= crate::ir::MAX_TENSOR_ELEMENTS)
        .ok_or_else(|| malformed(format!("shape {shape:?} holds more than 2^40 values")))?;
    if t.data_type != DataType::FLOAT as i32 {
        return Err(OnnxError::Unsupported(format!(
            "initializer `{}` has data type {}, only float32 is supported",
            t.name, t.data_type
        )));
    }
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        if Some(t.raw_data.len()) != numel.checked_mul(4) {
            return Err(malformed(format!(
                "raw_data has {} bytes, shape {:?} needs {}",
                t.raw_data.len(),
                shape,
                numel * 4
            )));
        }
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        t.float_data.clone()
    };
    if data.len() != numel {
        return Err(malformed(format!("{} values for shape {:?}", data.len(), shape)));
    }
    Ok(ParamTensor { shape, data })
}

struct Attrs<'a> {
    node: &'a str,
    list: &'a [AttributeProto],
}

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.list.iter().find(|a| a.name == name)
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<&[i64]> {
        self.get(name).map(|a| a.ints.as_slice())
    }
    fn unsupported(&self, what: String) -> OnnxError {
        OnnxError::Unsupported(format!("node `{}`: {what}", self.node))
    }
    /// A square 2-D window: `kernel_shape`, equal strides, equal pads, unit dilations.
    fn window(&self, kernel_from_weight: Option<usize>) -> Result<(usize, usize, usize), OnnxError> {
        let kernel = match (self.ints("kernel_shape"), kernel_from_weight) {
            (Some([a, b]), _) if a == b && *a > 0 => *a as usize,
            (None, Some(k)) => k,
            (k, _) => return Err(self.unsupported(format!("kernel_shape {k:?} is not a square 2-D window"))),
        };
        let stride = match self.ints("strides") {
            None => 1,
            Some([a, b]) if a == b && *a > 0 => *a as usize,
            Some(s) => return Err(self.unsupported(format!("strides {s:?} are not equal and positive"))),
        };
        let pad = match self.ints("pads") {
            None => 0,
            Some(p) if p.len() == 4 && p.iter().all(|&v| v == p[0] && v >= 0) => p[0] as usize,
            Some(p) => return Err(self.unsupported(format!("pads {p:?} are not symmetric"))),
        };
        if let Some(d) = self.ints("dilations") {
            if d.iter().any(|&v| v != 1) {
                return Err(self.unsupported(format!("dilations {d:?}")));
            }
        }
        if let Some(a) = self.get("auto_pad") {
            if !a.s.is_empty() && a.s != b"NOTSET" {
                return Err(self.unsupported("auto_pad".into()));
            }
        }
        if self.int("ceil_mode", 0) != 0 {
            return Err(self.unsupported("ceil_mode".into()));
        }
        Ok((kernel, stride, pad))
    }
}

type Converted<'n> = (Op, Vec<ParamTensor>, Vec<&'n str>);

fn convert<'n>(n: &'n NodeProto, name: &str, consts: &HashMap<&str, ParamTensor>) -> Result<Converted<'n>, OnnxError> {
    let attrs = Attrs { node: name, list: &n.attribute };
    let arg = |i: usize| -> Result<&'n str, OnnxError> {
        n.input.get(i).map(String::as_str).filter(|s| !s.is_empty()).ok_or_else(|| OnnxError::Malformed {
            at: name.to_string(),
            reason: format!("{} needs input {i}", n.op_type),
        })
    };
    let constant = |i: usize| -> Result<ParamTensor, OnnxError> {
        let input = arg(i)?;
        consts.get(input).cloned().ok_or_else(|| {
            OnnxError::Unsupported(format!(
                "node `{name}`: input `{input}` of {} must be a constant initializer",
                n.op_type
            ))
        })
    };
    let bad_shape = |what: &str, shape: &[usize]| OnnxError::Malformed {
        at: name.to_string(),
        reason: format!("{what} has shape {shape:?}"),
    };
    Ok(match n.op_type.as_str() {
        "Conv" => {
            let w = constant(1)?;
            if w.shape.len() != 4 || w.shape[2] != w.shape[3] {
                return Err(bad_shape("Conv weight", &w.shape));
            }
            let groups = usize::try_from(attrs.int("group", 1))
                .ok()
                .filter(|&g| g > 0)
                .ok_or_else(|| attrs.unsupported("group must be positive".into()))?;
            let (kernel, stride, padding) = attrs.window(Some(w.shape[2]))?;
            let bias = n.input.get(2).is_some_and(|s| !s.is_empty());
            let in_channels = w.shape[1].checked_mul(groups).ok_or_else(|| {
                attrs.unsupported(format!("group {groups} times {} input channels overflows", w.shape[1]))
            })?;
            let conv = Conv { in_channels, out_channels: w.shape[0], kernel, stride, padding, groups, bias };
            let mut params = vec![w];
            if bias {
                params.push(constant(2)?);
            }
            (Op::Conv(conv), params, vec![arg(0)?])
        }
        "BatchNormalization" => {
            let params = (1..5).map(constant).collect::<Result<Vec<_>, _>>()?;
            let bn = BatchNorm { channels: params[0].data.len(), epsilon: attrs.float("epsilon", 1e-5) };
            (Op::BatchNorm(bn), params, vec![arg(0)?])
        }
        "Relu" => (Op::Activation(Activation::Relu), vec![], vec![arg(0)?]),
        "Clip" => {
            let bound = |i: usize, attr: &str, default: f32| -> Result<f32, OnnxError> {
                match n.input.get(i).filter(|s| !s.is_empty()) {
                    Some(_) => constant(i)?.data.first().copied().ok_or_else(|| bad_shape("Clip bound", &[0])),
                    None => Ok(attrs.float(attr, default)),
                }
            };
            let (lo, hi) = (bound(1, "min", f32::MIN)?, bound(2, "max", f32::MAX)?);
            let act = match (lo, hi) {
                (lo, hi) if lo == 0.0 && hi == 6.0 => Activation::Relu6,
                (lo, hi) if lo == 0.0 && hi == f32::MAX => Activation::Relu,
                _ => {
                    return Err(
                        attrs.unsupported(format!("Clip({lo}, {hi}): only Clip(0, 6) and Clip(0) are supported"))
                    )
                }
            };
            (Op::Activation(act), vec![], vec![arg(0)?])
        }
        "Add" => (Op::Add(Add), vec![], vec![arg(0)?, arg(1)?]),
        "AveragePool" | "MaxPool" => {
            let (kernel, stride, padding) = attrs.window(None)?;
            let kind = if n.op_type == "MaxPool" {
                PoolKind::Max
            } else {
                PoolKind::Avg { count_include_pad: attrs.int("count_include_pad", 0) != 0 }
            };
            (Op::Pool(Pool { kind, kernel, stride, padding }), vec![], vec![arg(0)?])
        }
        "GlobalAveragePool" => (Op::GlobalAvgPool(GlobalAvgPool), vec![], vec![arg(0)?]),
        "Flatten" => {
            if attrs.int("axis", 1) != 1 {
                return Err(attrs.unsupported("Flatten axis other than 1".into()));
            }
            (Op::Flatten(Flatten), vec![], vec![arg(0)?])
        }
        "Gemm" => {
            if attrs.int("transA", 0) != 0 || attrs.float("alpha", 1.0) != 1.0 || attrs.float("beta", 1.0) != 1.0 {
                return Err(attrs.unsupported("Gemm with transA, alpha or beta".into()));
            }
            let w = constant(1)?;
            if w.shape.len() != 2 {
                return Err(bad_shape("Gemm weight", &w.shape));
            }
            let w = if attrs.int("transB", 0) != 0 { w } else { transpose(&w) };
            let bias = n.input.get(2).is_some_and(|s| !s.is_empty());
            let linear = Linear { in_features: w.shape[1], out_features: w.shape[0], bias };
            let mut params = vec![w];
            if bias {
                let b = constant(2)?;
                if b.data.len() != linear.out_features {
                    return Err(bad_shape("Gemm bias", &b.shape));
                }
                params.push(ParamTensor::new(vec![linear.out_features], b.data));
            }
            (Op::Linear(linear), params, vec![arg(0)?])
        }
        "MatMul" => {
            let w = constant(1)?;
            if w.shape.len() != 2 {
                return Err(bad_shape("MatMul weight", &w.shape));
            }
            let w = transpose(&w);
            (
                Op::Linear(Linear { in_features: w.shape[1], out_features: w.shape[0], bias: false }),
                vec![w],
                vec![arg(0)?],
            )
        }
        "Identity" => (Op::Identity(Identity), vec![], vec![arg(0)?]),
        other => return Err(OnnxError::UnsupportedOp { op: other.to_string(), node: name.to_string() }),
    })
}

fn transpose(w: &ParamTensor) -> ParamTensor {
    let (r, c) = (w.shape[0], w.shape[1]);
    let data = (0..r * c).map(|k| w.data[(k % r) * c + k / r]).collect();
    ParamTensor::new(vec![c, r], data)
}
