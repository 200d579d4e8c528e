//! From an integer-only QDQ ONNX model (as `edgenas quantize --to int8 --integer-only`
//! writes it) to an [`Int8Program`].
//!
//! Every compute node must read activations through `DequantizeLinear` of an int8/uint8
//! tensor and write one that a `QuantizeLinear` consumes (directly, or through shape-only
//! nodes such as `Flatten` of a 1×1 map); weights are `DequantizeLinear` of int8
//! initializers with zero zero points. uint8 tensors become int8 by subtracting 128 from
//! values and zero points, which changes nothing they stand for.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{tensor_proto::DataType, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use protobuf::{Enum, Message};

use super::ops::{Int8Add, Int8AvgPool, Int8Conv, Int8DepthwiseConv, Int8MaxPool, Int8Requantize};
use super::program::{Hwc, Int8Op, Int8Program, Int8Tensor, QuantParams, TensorId, Window};
use super::McuError;
use edgenas_kernels::QuantizedMultiplier;

/// Ops that only relabel a 1×1 map's channels as a vector (or the reverse), followed to the
/// `QuantizeLinear` that quantizes their output.
const SHAPE_ONLY_OPS: [&str; 5] = ["Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze"];

/// Largest activation the importer accepts, in values.
const MAX_ACTIVATION: usize = 1 << 28;

/// Parses `bytes` as ONNX and imports it ([`import_qdq`]).
pub fn import_qdq_bytes(bytes: &[u8]) -> Result<Int8Program, McuError> {
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| McuError::Malformed(format!("not ONNX: {e}")))?;
    import_qdq(&model)
}

/// The integer program of `model`. Errors name the first node or tensor that keeps it from
/// being integer-only: [`McuError::FloatModel`] for a model without QuantizeLinear,
/// [`McuError::NotQuantized`] for a float activation, [`McuError::UnsupportedOp`].
pub fn import_qdq(model: &ModelProto) -> Result<Int8Program, McuError> {
    let graph = model.graph.as_ref().ok_or_else(|| McuError::Malformed("no graph".into()))?;
    if !graph.node.iter().any(|n| n.op_type == "QuantizeLinear") {
        return Err(McuError::FloatModel);
    }
    let mut importer = Importer::new(graph)?;
    for (index, n) in graph.node.iter().enumerate() {
        if importer.skipped.contains(&index) || matches!(n.op_type.as_str(), "QuantizeLinear" | "DequantizeLinear") {
            continue;
        }
        importer.node(n)?;
    }
    let program = importer.finish(graph)?;
    program.check()?;
    Ok(program)
}

/// A constant read from an initializer or a `Constant` node.
#[derive(Debug, Clone)]
struct Constant {
    dims: Vec<usize>,
    values: Vec<f64>,
}

/// What a `DequantizeLinear` output stands for.
#[derive(Debug, Clone)]
enum Dequantized {
    /// An activation: the name of the quantized tensor.
    Activation(String),
    /// A constant: integer values, scales and zero points (one each, or one per channel of
    /// `axis`).
    Constant { values: Constant, scales: Vec<f64>, zero_points: Vec<f64>, axis: usize },
}

struct Importer<'g> {
    nodes: &'g [NodeProto],
    constants: HashMap<String, Constant>,
    constant_types: HashMap<String, DataType>,
    /// Quantized activation name → its parameters (int8 convention).
    activation_params: HashMap<String, QuantParams>,
    /// Float tensor → the quantized tensors `QuantizeLinear` makes of it.
    quantized_as: HashMap<String, Vec<String>>,
    dequantized: HashMap<String, Dequantized>,
    consumers: HashMap<String, Vec<usize>>,
    /// Quantized activation name → program tensor.
    tensor_of: HashMap<String, TensorId>,
    tensors: Vec<Int8Tensor>,
    ops: Vec<Int8Op>,
    input: TensorId,
    /// Shape-only nodes already followed.
    skipped: HashSet<usize>,
}

impl<'g> Importer<'g> {
    fn new(graph: &'g GraphProto) -> Result<Self, McuError> {
        let mut constants = HashMap::new();
        let mut constant_types = HashMap::new();
        for t in &graph.initializer {
            constants.insert(t.name.clone(), read_constant(t)?);
            constant_types.extend(DataType::from_i32(t.data_type).map(|ty| (t.name.clone(), ty)));
        }
        for n in graph.node.iter().filter(|n| n.op_type == "Constant") {
            let value = n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
            match (value, n.output.first()) {
                (Some(t), Some(out)) => {
                    constants.insert(out.clone(), read_constant(t)?);
                    constant_types.extend(DataType::from_i32(t.data_type).map(|ty| (out.clone(), ty)));
                }
                _ => return Err(unsupported(n, "a Constant without a tensor `value`")),
            }
        }
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for input in &n.input {
                consumers.entry(input.clone()).or_default().push(i);
            }
        }
        let mut importer = Importer {
            nodes: &graph.node,
            constants,
            constant_types,
            activation_params: HashMap::new(),
            quantized_as: HashMap::new(),
            dequantized: HashMap::new(),
            consumers,
            tensor_of: HashMap::new(),
            tensors: Vec::new(),
            ops: Vec::new(),
            input: TensorId(0),
            skipped: HashSet::new(),
        };
        for n in graph.node.iter().filter(|n| n.op_type == "QuantizeLinear") {
            let [x, q] = [n.input.first(), n.output.first()].map(|s| s.cloned().unwrap_or_default());
            let params = importer.activation_quant(n)?;
            importer.activation_params.insert(q.clone(), params);
            importer.quantized_as.entry(x).or_default().push(q);
        }
        for n in graph.node.iter().filter(|n| n.op_type == "DequantizeLinear") {
            let (Some(x), Some(out)) = (n.input.first(), n.output.first()) else {
                return Err(unsupported(n, "a DequantizeLinear without input or output"));
            };
            let d = if importer.activation_params.contains_key(x) {
                Dequantized::Activation(x.clone())
            } else if let Some(values) = importer.constants.get(x) {
                let scales = importer.constant_input(n, 1)?.values;
                let zero_points = match n.input.get(2).filter(|s| !s.is_empty()) {
                    Some(_) => importer.constant_input(n, 2)?.values,
                    None => vec![0.0],
                };
                let axis = attr(n, "axis").map_or(1, |a| a.i);
                let axis = usize::try_from(axis).map_err(|_| unsupported(n, "a negative axis"))?;
                Dequantized::Constant { values: values.clone(), scales, zero_points, axis }
            } else {
                return Err(McuError::Unsupported {
                    node: n.name.clone(),
                    reason: format!(
                        "DequantizeLinear of `{x}`, which is neither a quantized activation nor a constant"
                    ),
                });
            };
            importer.dequantized.insert(out.clone(), d);
        }
        importer.input = importer.graph_input(graph)?;
        Ok(importer)
    }

    /// The program input: the quantized form of the one float graph input, [1, C, H, W].
    fn graph_input(&mut self, graph: &GraphProto) -> Result<TensorId, McuError> {
        let inputs: Vec<_> = graph.input.iter().filter(|i| !self.constants.contains_key(&i.name)).collect();
        let [input] = inputs.as_slice() else {
            return Err(McuError::Unsupported {
                node: String::new(),
                reason: format!("{} graph inputs (one image input is supported)", inputs.len()),
            });
        };
        let dims = value_dims(input).ok_or_else(|| McuError::Unsupported {
            node: String::new(),
            reason: format!("graph input `{}` has no fixed [1, C, H, W] shape", input.name),
        })?;
        let shape = match dims.as_slice() {
            [1, c, h, w] => Hwc::new(*h, *w, *c),
            _ => {
                return Err(McuError::Unsupported {
                    node: String::new(),
                    reason: format!("graph input `{}` has shape {dims:?}, not [1, C, H, W]", input.name),
                })
            }
        };
        check_size(&input.name, shape)?;
        let q = match self.quantized_as.get(&input.name).map(Vec::as_slice) {
            Some([q]) => q.clone(),
            _ if !graph_reads(graph, &input.name) => {
                return Err(McuError::Unsupported {
                    node: String::new(),
                    reason: format!(
                        "no node reads the graph input `{}`: the output does not depend on it (a constant \
                         network, e.g. an NB201 cell whose paths from the input are all `none`)",
                        input.name
                    ),
                })
            }
            _ => return Err(McuError::NotQuantized { tensor: input.name.clone() }),
        };
        Ok(self.new_tensor(&q, &input.name, shape))
    }

    fn new_tensor(&mut self, quantized: &str, name: &str, shape: Hwc) -> TensorId {
        let id = TensorId(self.tensors.len());
        let quant = self.activation_params[quantized];
        self.tensors.push(Int8Tensor { name: name.to_string(), quantized: quantized.to_string(), shape, quant });
        self.tensor_of.insert(quantized.to_string(), id);
        id
    }

    fn activation_quant(&self, n: &NodeProto) -> Result<QuantParams, McuError> {
        let scale = self.constant_input(n, 1)?;
        let zero_point = match n.input.get(2).filter(|s| !s.is_empty()) {
            Some(z) => Some((self.constant_input(n, 2)?, self.constant_type(z))),
            None => None,
        };
        let (Some(&scale), true) = (scale.values.first(), scale.values.len() == 1) else {
            return Err(unsupported(n, "a per-channel activation scale"));
        };
        let zero_point = match zero_point {
            None => -128.0,
            Some((z, ty)) if z.values.len() == 1 => match ty {
                Some(DataType::UINT8) => z.values[0] - 128.0,
                Some(DataType::INT8) => z.values[0],
                _ => return Err(unsupported(n, "an activation zero point that is neither uint8 nor int8")),
            },
            Some(_) => return Err(unsupported(n, "a per-channel activation zero point")),
        };
        if !(scale.is_finite() && scale > 0.0) {
            return Err(unsupported(n, &format!("activation scale {scale}")));
        }
        Ok(QuantParams { scale: scale as f32, zero_point: zero_point as i8 })
    }

    fn constant_type(&self, name: &str) -> Option<DataType> {
        self.constant_types.get(name).copied()
    }

    fn constant_input(&self, n: &NodeProto, i: usize) -> Result<Constant, McuError> {
        let name = n.input.get(i).filter(|s| !s.is_empty()).ok_or_else(|| unsupported(n, &format!("no input {i}")))?;
        self.constants.get(name).cloned().ok_or_else(|| McuError::Unsupported {
            node: n.name.clone(),
            reason: format!("input `{name}` must be a constant"),
        })
    }

    /// The program tensor a node reads as activation input `i`.
    fn activation_input(&self, n: &NodeProto, i: usize) -> Result<TensorId, McuError> {
        let name = n.input.get(i).filter(|s| !s.is_empty()).ok_or_else(|| unsupported(n, &format!("no input {i}")))?;
        match self.dequantized.get(name) {
            Some(Dequantized::Activation(q)) => {
                self.tensor_of.get(q).copied().ok_or_else(|| McuError::NotQuantized { tensor: name.clone() })
            }
            Some(Dequantized::Constant { .. }) => Err(McuError::Unsupported {
                node: n.name.clone(),
                reason: format!("input `{name}` is a constant where an activation is expected"),
            }),
            None if self.constants.contains_key(name) => Err(McuError::Unsupported {
                node: n.name.clone(),
                reason: format!(
                    "input `{name}` is a constant activation (e.g. an NB201 cell node whose inputs are all `none` \
                     folds to one); integer programs hold no constant activations"
                ),
            }),
            None => Err(McuError::NotQuantized { tensor: name.clone() }),
        }
    }

    /// The quantized tensor that holds output `out` of a node: the `QuantizeLinear` of it,
    /// or of the output of the shape-only nodes it goes through (those are marked skipped).
    fn quantized_output(&mut self, out: &str) -> Result<String, McuError> {
        let mut name = out.to_string();
        loop {
            if let Some(qs) = self.quantized_as.get(&name) {
                return match qs.as_slice() {
                    [q] => Ok(q.clone()),
                    _ => Err(McuError::Unsupported {
                        node: String::new(),
                        reason: format!("`{name}` is quantized {} times", qs.len()),
                    }),
                };
            }
            let consumers = self.consumers.get(&name).cloned().unwrap_or_default();
            match consumers.as_slice() {
                [c] if SHAPE_ONLY_OPS.contains(&self.nodes[*c].op_type.as_str()) => {
                    self.skipped.insert(*c);
                    name = self.nodes[*c].output.first().cloned().unwrap_or_default();
                }
                _ => return Err(McuError::NotQuantized { tensor: out.to_string() }),
            }
        }
    }

    /// The output tensor of node `n`, created with `shape`.
    fn output(&mut self, n: &NodeProto, shape: Hwc) -> Result<TensorId, McuError> {
        let out = n.output.first().filter(|s| !s.is_empty()).ok_or_else(|| unsupported(n, "no output"))?;
        check_size(out, shape)?;
        let q = self.quantized_output(out)?;
        if self.tensor_of.contains_key(&q) {
            return Err(McuError::Malformed(format!("`{q}` is written twice")));
        }
        Ok(self.new_tensor(&q, out, shape))
    }

    fn shape(&self, t: TensorId) -> Hwc {
        self.tensors[t.0].shape
    }

    fn quant(&self, t: TensorId) -> QuantParams {
        self.tensors[t.0].quant
    }

    fn node(&mut self, n: &NodeProto) -> Result<(), McuError> {
        let op = match n.op_type.as_str() {
            "Conv" => self.conv(n)?,
            "Gemm" | "MatMul" => self.fully_connected(n)?,
            "Add" => self.add(n)?,
            "AveragePool" | "GlobalAveragePool" => self.avg_pool(n)?,
            "MaxPool" => self.max_pool(n)?,
            "Relu" | "Clip" => self.clamp(n)?,
            "BatchNormalization" => self.batch_norm(n)?,
            op if SHAPE_ONLY_OPS.contains(&op) => self.shape_only(n)?,
            "Constant" => return Ok(()),
            op => return Err(McuError::UnsupportedOp { op: op.to_string(), node: n.name.clone() }),
        };
        if let Some(op) = op {
            self.ops.push(op);
        }
        Ok(())
    }

    /// A shape-only node between a `DequantizeLinear` and a `QuantizeLinear`: an alias when
    /// it keeps the values in place (a 1×1 map, or the identity) and the quantization, a
    /// requantize when only the quantization changes.
    fn shape_only(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let x = self.activation_input(n, 0)?;
        let shape = self.shape(x);
        if n.op_type != "Identity" && !(shape.h == 1 && shape.w == 1) {
            return Err(unsupported(
                n,
                &format!("{} of a {}×{} map (only 1×1 maps keep their layout)", n.op_type, shape.h, shape.w),
            ));
        }
        let out = n.output.first().cloned().unwrap_or_default();
        let q = self.quantized_output(&out)?;
        if self.activation_params[&q] == self.quant(x) {
            self.tensor_of.insert(q, x);
            return Ok(None);
        }
        let y = self.new_tensor(&q, &out, shape);
        Ok(Some(self.requantize_op(n, x, y, None)?))
    }

    fn requantize_op(
        &self,
        n: &NodeProto,
        x: TensorId,
        y: TensorId,
        bounds: Option<(f64, f64)>,
    ) -> Result<Int8Op, McuError> {
        let (qx, qy) = (self.quant(x), self.quant(y));
        let requant = multiplier(n, f64::from(qx.scale) / f64::from(qy.scale))?;
        let (act_min, act_max) = match bounds {
            Some((lo, hi)) => (quantize_bound(qy, lo), quantize_bound(qy, hi)),
            None => (i8::MIN, i8::MAX),
        };
        Ok(Int8Op::Requantize(Int8Requantize {
            name: n.name.clone(),
            input: x,
            output: y,
            requant,
            input_offset: -i32::from(qx.zero_point),
            output_offset: i32::from(qy.zero_point),
            act_min,
            act_max,
        }))
    }

    /// `Relu`, or `Clip` with constant bounds (inputs, or attributes before opset 11).
    fn clamp(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let x = self.activation_input(n, 0)?;
        let bounds = if n.op_type == "Relu" {
            (0.0, f64::INFINITY)
        } else {
            let bound = |i: usize, attr_name: &str, default: f64| -> Result<f64, McuError> {
                if n.input.get(i).is_some_and(|s| !s.is_empty()) {
                    let c = self.constant_input(n, i)?;
                    return c
                        .values
                        .first()
                        .copied()
                        .filter(|_| c.values.len() == 1)
                        .ok_or_else(|| unsupported(n, "a non-scalar bound"));
                }
                Ok(attr(n, attr_name).map_or(default, |a| f64::from(a.f)))
            };
            (bound(1, "min", f64::NEG_INFINITY)?, bound(2, "max", f64::INFINITY)?)
        };
        let y = self.output(n, self.shape(x))?;
        Ok(Some(self.requantize_op(n, x, y, Some(bounds))?))
    }

    /// Integer weights of a `DequantizeLinear` input, with per-output-channel scales along
    /// `channel_axis` (a per-tensor scale is repeated); zero points must be 0.
    fn weights(&self, n: &NodeProto, i: usize, channel_axis: usize) -> Result<(Constant, Vec<f64>), McuError> {
        let name = n.input.get(i).cloned().unwrap_or_default();
        match self.dequantized.get(&name) {
            Some(Dequantized::Constant { values, scales, zero_points, axis }) => {
                if zero_points.iter().any(|&z| z != 0.0) {
                    return Err(unsupported(n, "weights with non-zero zero points (asymmetric weights)"));
                }
                let channels = values.dims.get(channel_axis).copied().unwrap_or(0);
                let scales = match scales.as_slice() {
                    [s] => vec![*s; channels],
                    s if s.len() == channels && *axis == channel_axis => s.to_vec(),
                    _ => return Err(unsupported(n, "weight scales that are not per output channel")),
                };
                if scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(unsupported(n, "a non-positive weight scale"));
                }
                if values.values.iter().any(|v| !(-128.0..=127.0).contains(v)) {
                    return Err(unsupported(n, "weights outside int8"));
                }
                Ok((values.clone(), scales))
            }
            Some(Dequantized::Activation(_)) => Err(unsupported(n, "weights that are an activation")),
            None if self.constants.contains_key(&name) => Err(McuError::Unsupported {
                node: n.name.clone(),
                reason: "its weights are float (a layer kept in f32): every layer must be int8".into(),
            }),
            None => Err(unsupported(n, &format!("weights `{name}` that are not constant"))),
        }
    }

    /// int32 biases at scale `input scale · weight scale[c]`: a dequantized int32 bias
    /// (rescaled if its scale differs) or a float bias (quantized here).
    fn bias(&self, n: &NodeProto, i: usize, acc_scales: &[f64]) -> Result<Vec<i32>, McuError> {
        let Some(name) = n.input.get(i).filter(|s| !s.is_empty()) else {
            return Ok(vec![0; acc_scales.len()]);
        };
        let (reals, count): (Vec<f64>, usize) = match self.dequantized.get(name) {
            Some(Dequantized::Constant { values, scales, zero_points, .. }) => {
                let at = |v: &[f64], c: usize| if v.len() == 1 { v[0] } else { v.get(c).copied().unwrap_or(0.0) };
                let reals =
                    (0..values.values.len()).map(|c| (values.values[c] - at(zero_points, c)) * at(scales, c)).collect();
                (reals, values.values.len())
            }
            Some(Dequantized::Activation(_)) => return Err(unsupported(n, "a bias that is an activation")),
            None => {
                let c = self.constant_input(n, i)?;
                let len = c.values.len();
                (c.values, len)
            }
        };
        if count != acc_scales.len() {
            return Err(unsupported(n, &format!("{count} bias values for {} output channels", acc_scales.len())));
        }
        reals
            .iter()
            .zip(acc_scales)
            .map(|(r, s)| {
                let q = (r / s).round();
                if q.abs() > f64::from(i32::MAX) || !q.is_finite() {
                    Err(unsupported(n, "a bias beyond int32 at the accumulator scale"))
                } else {
                    Ok(q as i32)
                }
            })
            .collect()
    }

    fn conv(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let x = self.activation_input(n, 0)?;
        let (w, w_scales) = self.weights(n, 1, 0)?;
        let [oc, ic_per_group, kh, kw] = match w.dims.as_slice() {
            &[a, b, c, d] => [a, b, c, d],
            d => return Err(unsupported(n, &format!("a weight of shape {d:?}"))),
        };
        let xs = self.shape(x);
        let group = usize::try_from(attr(n, "group").map_or(1, |a| a.i)).unwrap_or(0);
        let window = window(n, Some((kh, kw)))?;
        let (h, wd) = window.output_size(xs.h, xs.w).ok_or_else(|| unsupported(n, "a window larger than its input"))?;
        let qx = self.quant(x);
        let acc_scales: Vec<f64> = w_scales.iter().map(|s| s * f64::from(qx.scale)).collect();
        let bias = self.bias(n, 2, &acc_scales)?;
        let y = self.output(n, Hwc::new(h, wd, oc))?;
        let qy = self.quant(y);
        let requant =
            acc_scales.iter().map(|s| multiplier(n, s / f64::from(qy.scale))).collect::<Result<Vec<_>, _>>()?;
        let wv: Vec<i8> = w.values.iter().map(|&v| v as i8).collect();
        let (input_offset, output_offset) = (-i32::from(qx.zero_point), i32::from(qy.zero_point));
        if group == 1 && ic_per_group == xs.c {
            let mut weights = vec![0i8; wv.len()];
            for o in 0..oc {
                for i in 0..xs.c {
                    for y in 0..kh {
                        for x in 0..kw {
                            weights[((o * kh + y) * kw + x) * xs.c + i] = wv[((o * xs.c + i) * kh + y) * kw + x];
                        }
                    }
                }
            }
            return Ok(Some(Int8Op::Conv(Int8Conv {
                name: n.name.clone(),
                input: x,
                output: y,
                window,
                in_channels: xs.c,
                out_channels: oc,
                weights,
                bias,
                requant,
                input_offset,
                output_offset,
                act_min: i8::MIN,
                act_max: i8::MAX,
            })));
        }
        if group == xs.c && oc == xs.c && ic_per_group == 1 {
            let mut weights = vec![0i8; wv.len()];
            for c in 0..oc {
                for y in 0..kh {
                    for x in 0..kw {
                        weights[(y * kw + x) * oc + c] = wv[(c * kh + y) * kw + x];
                    }
                }
            }
            return Ok(Some(Int8Op::DepthwiseConv(Int8DepthwiseConv {
                name: n.name.clone(),
                input: x,
                output: y,
                window,
                channels: oc,
                weights,
                bias,
                requant,
                input_offset,
                output_offset,
                act_min: i8::MIN,
                act_max: i8::MAX,
            })));
        }
        Err(unsupported(
            n,
            &format!("a grouped convolution (group {group}, {ic_per_group} of {} input channels per group)", xs.c),
        ))
    }

    /// `Gemm` (alpha = beta = 1, no transposed A) or `MatMul` with constant weights, on a
    /// vector: a 1×1 convolution of a 1×1 map.
    fn fully_connected(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let x = self.activation_input(n, 0)?;
        let xs = self.shape(x);
        if xs.h != 1 || xs.w != 1 {
            return Err(unsupported(n, &format!("{} of a {}×{} map", n.op_type, xs.h, xs.w)));
        }
        let float_attr = |name: &str| attr(n, name).map_or(1.0, |a| a.f);
        let trans_b = n.op_type == "Gemm" && attr(n, "transB").is_some_and(|a| a.i != 0);
        if n.op_type == "Gemm"
            && (float_attr("alpha") != 1.0 || float_attr("beta") != 1.0 || attr(n, "transA").is_some_and(|a| a.i != 0))
        {
            return Err(unsupported(n, "Gemm with alpha, beta or transA"));
        }
        let channel_axis = if trans_b { 0 } else { 1 };
        let (w, w_scales) = self.weights(n, 1, channel_axis)?;
        let (k, out) = match (w.dims.as_slice(), trans_b) {
            (&[o, k], true) => (k, o),
            (&[k, o], false) => (k, o),
            (d, _) => return Err(unsupported(n, &format!("a weight of shape {d:?}"))),
        };
        if k != xs.c {
            return Err(unsupported(n, &format!("a weight for {k} inputs on a vector of {}", xs.c)));
        }
        let qx = self.quant(x);
        let acc_scales: Vec<f64> = w_scales.iter().map(|s| s * f64::from(qx.scale)).collect();
        let bias = if n.op_type == "Gemm" { self.bias(n, 2, &acc_scales)? } else { vec![0; out] };
        let y = self.output(n, Hwc::new(1, 1, out))?;
        let qy = self.quant(y);
        let requant =
            acc_scales.iter().map(|s| multiplier(n, s / f64::from(qy.scale))).collect::<Result<Vec<_>, _>>()?;
        let weights: Vec<i8> = (0..out * k)
            .map(|i| {
                let (o, j) = (i / k, i % k);
                let v = if trans_b { w.values[o * k + j] } else { w.values[j * out + o] };
                v as i8
            })
            .collect();
        Ok(Some(Int8Op::Conv(Int8Conv {
            name: n.name.clone(),
            input: x,
            output: y,
            window: Window::square(1, 1, 0),
            in_channels: k,
            out_channels: out,
            weights,
            bias,
            requant,
            input_offset: -i32::from(qx.zero_point),
            output_offset: i32::from(qy.zero_point),
            act_min: i8::MIN,
            act_max: i8::MAX,
        })))
    }

    fn add(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let (a, b) = (self.activation_input(n, 0)?, self.activation_input(n, 1)?);
        if self.shape(a) != self.shape(b) {
            return Err(unsupported(
                n,
                &format!("Add of shapes {:?} and {:?} (no broadcasting)", self.shape(a), self.shape(b)),
            ));
        }
        let y = self.output(n, self.shape(a))?;
        let (qa, qb, qy) = (self.quant(a), self.quant(b), self.quant(y));
        let [a_requant, b_requant, output_requant] =
            Int8Add::multipliers(f64::from(qa.scale), f64::from(qb.scale), f64::from(qy.scale))
                .ok_or_else(|| unsupported(n, "scales no integer rescale can hold"))?;
        Ok(Some(Int8Op::Add(Int8Add {
            name: n.name.clone(),
            a,
            b,
            output: y,
            a_offset: -i32::from(qa.zero_point),
            b_offset: -i32::from(qb.zero_point),
            a_requant,
            b_requant,
            output_requant,
            output_offset: i32::from(qy.zero_point),
            act_min: i8::MIN,
            act_max: i8::MAX,
        })))
    }

    fn avg_pool(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let x = self.activation_input(n, 0)?;
        let xs = self.shape(x);
        let window = if n.op_type == "GlobalAveragePool" {
            Window { kernel_h: xs.h, kernel_w: xs.w, ..Window::square(1, 1, 0) }
        } else {
            window(n, None)?
        };
        let (h, w) = window.output_size(xs.h, xs.w).ok_or_else(|| unsupported(n, "a window larger than its input"))?;
        let y = self.output(n, Hwc::new(h, w, xs.c))?;
        let (qx, qy) = (self.quant(x), self.quant(y));
        let ratio = f64::from(qx.scale) / f64::from(qy.scale);
        let include_pad = attr(n, "count_include_pad").is_some_and(|a| a.i != 0);
        let counts: Vec<usize> =
            if include_pad || !window.has_padding() { vec![window.taps()] } else { (1..=window.taps()).collect() };
        let count_multipliers =
            counts.iter().map(|&c| multiplier(n, ratio / c as f64)).collect::<Result<Vec<_>, _>>()?;
        if include_pad && window.has_padding() {
            return Err(unsupported(n, "count_include_pad with padding"));
        }
        Ok(Some(Int8Op::AvgPool(Int8AvgPool {
            name: n.name.clone(),
            input: x,
            output: y,
            window,
            count_multipliers,
            input_offset: -i32::from(qx.zero_point),
            output_offset: i32::from(qy.zero_point),
            act_min: i8::MIN,
            act_max: i8::MAX,
        })))
    }

    fn max_pool(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        if n.output.len() > 1 && n.output[1..].iter().any(|o| !o.is_empty()) {
            return Err(unsupported(n, "MaxPool with an indices output"));
        }
        let x = self.activation_input(n, 0)?;
        let xs = self.shape(x);
        let window = window(n, None)?;
        let (h, w) = window.output_size(xs.h, xs.w).ok_or_else(|| unsupported(n, "a window larger than its input"))?;
        let y = self.output(n, Hwc::new(h, w, xs.c))?;
        let (qx, qy) = (self.quant(x), self.quant(y));
        Ok(Some(Int8Op::MaxPool(Int8MaxPool {
            name: n.name.clone(),
            input: x,
            output: y,
            window,
            requant: multiplier(n, f64::from(qx.scale) / f64::from(qy.scale))?,
            input_offset: -i32::from(qx.zero_point),
            output_offset: i32::from(qy.zero_point),
            act_min: i8::MIN,
            act_max: i8::MAX,
        })))
    }

    /// Inference-mode BatchNormalization on a quantized activation: a depthwise 1×1
    /// convolution with weight `γ / √(σ² + ε)` per channel (each exactly ±127 at its own
    /// scale) and bias `β − μ · γ / √(σ² + ε)`.
    fn batch_norm(&mut self, n: &NodeProto) -> Result<Option<Int8Op>, McuError> {
        let x = self.activation_input(n, 0)?;
        let xs = self.shape(x);
        let [gamma, beta, mean, var] = [1, 2, 3, 4].map(|i| self.constant_input(n, i));
        let [gamma, beta, mean, var] = [gamma?, beta?, mean?, var?];
        if [&gamma, &beta, &mean, &var].iter().any(|p| p.values.len() != xs.c) {
            return Err(unsupported(n, "parameters that are not one per channel"));
        }
        let eps = attr(n, "epsilon").map_or(1e-5, |a| f64::from(a.f));
        let a: Vec<f64> = (0..xs.c).map(|c| gamma.values[c] / (var.values[c] + eps).sqrt()).collect();
        let b: Vec<f64> = (0..xs.c).map(|c| beta.values[c] - mean.values[c] * a[c]).collect();
        if a.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(unsupported(n, "non-finite parameters"));
        }
        let w_scales: Vec<f64> = a.iter().map(|v| if *v == 0.0 { 1.0 } else { v.abs() / 127.0 }).collect();
        let weights: Vec<i8> = a.iter().map(|v| if *v == 0.0 { 0 } else { 127 * v.signum() as i8 }).collect();
        let qx = self.quant(x);
        let acc_scales: Vec<f64> = w_scales.iter().map(|s| s * f64::from(qx.scale)).collect();
        let bias = b
            .iter()
            .zip(&acc_scales)
            .map(|(b, s)| {
                let q = (b / s).round();
                (q.abs() <= f64::from(i32::MAX))
                    .then_some(q as i32)
                    .ok_or_else(|| unsupported(n, "a bias beyond int32"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let y = self.output(n, xs)?;
        let qy = self.quant(y);
        let requant =
            acc_scales.iter().map(|s| multiplier(n, s / f64::from(qy.scale))).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Int8Op::DepthwiseConv(Int8DepthwiseConv {
            name: n.name.clone(),
            input: x,
            output: y,
            window: Window::square(1, 1, 0),
            channels: xs.c,
            weights,
            bias,
            requant,
            input_offset: -i32::from(qx.zero_point),
            output_offset: i32::from(qy.zero_point),
            act_min: i8::MIN,
            act_max: i8::MAX,
        })))
    }

    fn finish(self, graph: &GraphProto) -> Result<Int8Program, McuError> {
        let [output] = graph.output.as_slice() else {
            return Err(McuError::Unsupported {
                node: String::new(),
                reason: format!("{} graph outputs (one is supported)", graph.output.len()),
            });
        };
        let id = match self.dequantized.get(&output.name) {
            Some(Dequantized::Activation(q)) => self.tensor_of.get(q).copied(),
            _ => None,
        };
        let output = id.ok_or_else(|| McuError::NotQuantized { tensor: output.name.clone() })?;
        Ok(Int8Program { tensors: self.tensors, ops: self.ops, input: self.input, output })
    }
}

fn unsupported(n: &NodeProto, reason: &str) -> McuError {
    McuError::Unsupported { node: n.name.clone(), reason: format!("{} with {reason}", n.op_type) }
}

fn attr<'n>(n: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn multiplier(n: &NodeProto, real: f64) -> Result<QuantizedMultiplier, McuError> {
    QuantizedMultiplier::from_real(real).ok_or_else(|| unsupported(n, &format!("a rescale factor of {real}")))
}

/// `real` in `q` units, saturated to int8 (±∞ give the int8 ends).
fn quantize_bound(q: QuantParams, real: f64) -> i8 {
    let v = (real / f64::from(q.scale)).round() + f64::from(q.zero_point);
    v.clamp(-128.0, 127.0) as i8
}

fn check_size(name: &str, shape: Hwc) -> Result<(), McuError> {
    let len = shape.h.checked_mul(shape.w).and_then(|v| v.checked_mul(shape.c));
    match len {
        Some(l) if l > 0 && l <= MAX_ACTIVATION => Ok(()),
        _ => Err(McuError::Unsupported {
            node: String::new(),
            reason: format!("activation `{name}` of {}×{}×{} values", shape.h, shape.w, shape.c),
        }),
    }
}

/// The 2-D window of a Conv or pool: `kernel_shape` (or the weight's), strides, pads
/// (`[top, left, bottom, right]`), unit dilations, no auto_pad or ceil_mode.
fn window(n: &NodeProto, weight_kernel: Option<(usize, usize)>) -> Result<Window, McuError> {
    let ints =
        |name: &str| attr(n, name).map(|a| a.ints.iter().map(|&v| usize::try_from(v).ok()).collect::<Option<Vec<_>>>());
    let pair = |name: &str, default: [usize; 2]| -> Result<[usize; 2], McuError> {
        match ints(name) {
            None => Ok(default),
            Some(Some(v)) if v.len() == 2 => Ok([v[0], v[1]]),
            Some(_) => Err(unsupported(n, &format!("{name} that are not two non-negative numbers"))),
        }
    };
    let [kh, kw] = match (ints("kernel_shape"), weight_kernel) {
        (None, Some((h, w))) => [h, w],
        (Some(Some(v)), k) if v.len() == 2 && k.is_none_or(|(h, w)| v == [h, w]) => [v[0], v[1]],
        _ => return Err(unsupported(n, "a kernel_shape that is not 2-D")),
    };
    let [sh, sw] = pair("strides", [1, 1])?;
    let pads = match ints("pads") {
        None => [0; 4],
        Some(Some(v)) if v.len() == 4 => [v[0], v[1], v[2], v[3]],
        Some(_) => return Err(unsupported(n, "pads that are not four non-negative numbers")),
    };
    if pair("dilations", [1, 1])? != [1, 1] {
        return Err(unsupported(n, "dilations"));
    }
    if attr(n, "auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET") {
        return Err(unsupported(n, "auto_pad"));
    }
    if attr(n, "ceil_mode").is_some_and(|a| a.i != 0) {
        return Err(unsupported(n, "ceil_mode"));
    }
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > 64 || kw > 64 || pads.iter().any(|&p| p >= kh.max(kw)) {
        return Err(unsupported(n, &format!("kernel {kh}×{kw}, strides {sh}×{sw}, pads {pads:?}")));
    }
    Ok(Window {
        kernel_h: kh,
        kernel_w: kw,
        stride_h: sh,
        stride_w: sw,
        pad_top: pads[0],
        pad_left: pads[1],
        pad_bottom: pads[2],
        pad_right: pads[3],
    })
}

fn value_dims(v: &onnx_protobuf::ValueInfoProto) -> Option<Vec<usize>> {
    use onnx_protobuf::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(t)) = &v.type_.as_ref()?.value else { return None };
    t.shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(n)) if n > 0 => usize::try_from(n).ok(),
            _ => None,
        })
        .collect()
}

/// A constant of a numeric type as f64 values (float, int8, uint8, int32, int64).
fn read_constant(t: &TensorProto) -> Result<Constant, McuError> {
    let malformed = |reason: String| McuError::Malformed(format!("initializer `{}`: {reason}", t.name));
    if !t.external_data.is_empty() {
        return Err(malformed("external data".into()));
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| malformed(format!("dim {d}"))))
        .collect::<Result<_, _>>()?;
    let numel = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= crate::ir::MAX_TENSOR_ELEMENTS)
        .ok_or_else(|| malformed(format!("shape {dims:?}")))?;
    let raw = &t.raw_data;
    let from_raw = |size: usize| -> Result<Vec<&[u8]>, McuError> {
        if Some(raw.len()) != numel.checked_mul(size) {
            return Err(malformed(format!("{} bytes for {numel} values", raw.len())));
        }
        Ok(raw.chunks_exact(size).collect())
    };
    let values: Vec<f64> = match DataType::from_i32(t.data_type) {
        Some(DataType::FLOAT) if !raw.is_empty() => {
            from_raw(4)?.iter().map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        Some(DataType::FLOAT) => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        Some(DataType::INT8) if !raw.is_empty() => raw.iter().map(|&b| f64::from(b as i8)).collect(),
        Some(DataType::UINT8) if !raw.is_empty() => raw.iter().map(|&b| f64::from(b)).collect(),
        Some(DataType::INT8 | DataType::UINT8 | DataType::INT32) if raw.is_empty() => {
            t.int32_data.iter().map(|&v| f64::from(v)).collect()
        }
        Some(DataType::INT32) => {
            from_raw(4)?.iter().map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        Some(DataType::INT64) if !raw.is_empty() => {
            from_raw(8)?.iter().map(|c| i64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8])) as f64).collect()
        }
        Some(DataType::INT64) => t.int64_data.iter().map(|&v| v as f64).collect(),
        _ => return Err(malformed(format!("data type {}", t.data_type))),
    };
    if values.len() != numel {
        return Err(malformed(format!("{} values for shape {dims:?}", values.len())));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(malformed("NaN or infinite values".into()));
    }
    Ok(Constant { dims, values })
}

/// Whether any node of `graph` reads `tensor`.
fn graph_reads(graph: &GraphProto, tensor: &str) -> bool {
    graph.node.iter().any(|n| n.input.iter().any(|i| i == tensor))
}
