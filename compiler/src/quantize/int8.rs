//! int8 post-training quantization: per-channel symmetric int8 weights, per-tensor
//! asymmetric uint8 activations, int32 biases, emitted as QDQ or as QOperator ops.

use std::collections::{HashMap, HashSet};
use std::fmt;

use onnx_protobuf::{
    tensor_proto::DataType, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
};

use super::calibrate::{ActivationRange, ActivationRanges};
use super::graph::{check_ops, malformed, name_unnamed_nodes, numel, payload_bytes, GemmAttrs, TensorNames};
use super::QuantizeError;
use crate::onnx::proto::{attr_int, node, raw_tensor};

/// Ops an int8 rewrite accepts besides [`super::graph::COMMON_OPS`]: Conv, Gemm and MatMul
/// with constant weights are quantized; every other op runs in f32 between Dequantize and
/// Quantize nodes, and shape computations on integer tensors pass through untouched.
const INT8_EXTRA_OPS: &[&str] = super::graph::PASS_THROUGH_OPS;

/// Oldest opset with per-axis QuantizeLinear / DequantizeLinear.
const MIN_OPSET: i64 = 13;

/// How quantized layers are spelled in ONNX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[derive(strum::EnumString, strum::Display, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Int8Format {
    /// The f32 ops with QuantizeLinear → DequantizeLinear pairs on activations and
    /// DequantizeLinear on int8 weights: onnxruntime fuses these into integer kernels;
    /// tract runs them as f32 with fake quantization.
    Qdq,
    /// Integer ops: `QLinearConv` for convolutions, `MatMulInteger` (int32 accumulation,
    /// rescaled and biased in f32) for `Gemm` / `MatMul`. tract runs `QLinearConv` in int8 kernels.
    QOperator,
}

/// What [`to_int8`] quantizes and how it spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int8Options {
    pub format: Int8Format,
    /// Mixed precision: the first and the last weighted layer stay f32.
    pub keep_first_last_f32: bool,
    /// 7-bit weights (±63): onnxruntime's uint8 × int8 kernels on x86 CPUs without VNNI sum
    /// pairs of products in int16 and saturate with full-range weights; with 7 bits they
    /// cannot. Costs 1 bit of weight precision.
    pub reduce_range: bool,
    /// Integer-only: every activation is quantized, also the outputs of the ops between
    /// weighted layers (Add, pools, ReLU, BatchNormalization, shape ops) and the graph
    /// output, so no value stays float from input to output. What a microcontroller runs
    /// (`edgenas_compiler::mcu`); QDQ only.
    pub integer_only: bool,
}

/// Ops whose float outputs [`Int8Options::integer_only`] quantizes (the activations
/// between weighted layers); others (Shape, Constant, Gather on shapes) produce no
/// activation.
const ACTIVATION_OPS: &[&str] = &[
    "Relu",
    "Clip",
    "Add",
    "AveragePool",
    "MaxPool",
    "GlobalAveragePool",
    "Flatten",
    "BatchNormalization",
    "Identity",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Slice",
    "Pad",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Mul",
    "Div",
    "Softmax",
    "ReduceMean",
];

/// The kind of a quantized layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Conv,
    Gemm { trans_b: bool },
    MatMul,
}

/// One weighted node that is quantized, with the activations it reads and writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantizedLayer {
    /// The node's name (unnamed nodes get `<op>_<index>`).
    pub node: String,
    pub kind: LayerKind,
    /// Activation input (quantized per tensor).
    pub input: String,
    pub weight: String,
    pub bias: Option<String>,
    /// The tensor the layer's output is quantized at: the output of a following `Relu` /
    /// `Clip(0, hi)` when that is the node's only consumer (the activation is then absorbed
    /// by the quantization range), else the node's own output.
    pub output: String,
    /// The absorbed activation node, if any.
    pub fused_activation: Option<String>,
}

/// The layers a model's int8 rewrite quantizes, read from the model before calibration,
/// together with the checked model itself: [`Int8Plan::rewrite`] turns it into int8 models
/// once ranges are known, without checking or planning again.
#[derive(Clone)]
pub struct Int8Plan {
    /// The input model with every node named ([`Int8Plan::new`]).
    model: ModelProto,
    opts: Int8Options,
    layers: Vec<QuantizedLayer>,
    kept_f32: Vec<String>,
    /// With [`Int8Options::integer_only`]: the outputs of the other activation ops and the
    /// graph outputs, quantized too.
    other_activations: Vec<String>,
}

impl fmt::Debug for Int8Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Int8Plan")
            .field("opts", &self.opts)
            .field("layers", &self.layers)
            .field("kept_f32", &self.kept_f32)
            .finish_non_exhaustive()
    }
}

impl Int8Plan {
    /// Checks the model and finds the quantizable layers: `Conv` with a constant 4-D weight
    /// (and optional constant bias), `Gemm` (alpha = beta = 1, transA = 0) and `MatMul` with a
    /// constant 2-D `B`. Other weighted nodes stay f32. Unnamed nodes get `<op>_<index>`.
    /// The plan keeps a copy of the model and `opts`; `opts.format` does not change the plan
    /// ([`Int8Plan::rewrite`] takes the format).
    ///
    /// Errors: no graph, opset < 13, an op outside the supported set
    /// ([`QuantizeError::UnsupportedOp`]), a NaN/Inf initializer ([`QuantizeError::NonFinite`]).
    pub fn new(model: &ModelProto, opts: &Int8Options) -> Result<Self, QuantizeError> {
        let mut model = model.clone();
        let graph = model.graph.as_mut().ok_or_else(|| malformed("model", "no graph"))?;
        check_model(&model.opset_import, graph)?;
        let mut names = TensorNames::of(graph);
        name_unnamed_nodes(graph, &mut names);
        let (layers, kept_f32) = plan_layers(graph, opts)?;
        let other_activations = if opts.integer_only { other_activations(graph, &layers) } else { Vec::new() };
        if opts.integer_only && opts.format != Int8Format::Qdq {
            return Err(QuantizeError::Unsupported("integer-only models are written as QDQ".into()));
        }
        Ok(Int8Plan { model, opts: *opts, layers, kept_f32, other_activations })
    }

    pub fn layers(&self) -> &[QuantizedLayer] {
        &self.layers
    }

    /// Weighted nodes left in f32 by [`Int8Options::keep_first_last_f32`].
    pub fn kept_f32(&self) -> &[String] {
        &self.kept_f32
    }

    /// The activation tensors calibration must give ranges for: every layer's input and
    /// output, each once, in graph order.
    pub fn calibration_tensors(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.layers
            .iter()
            .flat_map(|l| [l.input.clone(), l.output.clone()])
            .chain(self.other_activations.iter().cloned())
            .filter(|t| seen.insert(t.clone()))
            .collect()
    }

    /// Quantizes the planned layers with activation ranges from calibration, spelled in `format`
    /// (the plan's own [`Int8Options::format`] is not used here). May be called any number of
    /// times, e.g. once per format; each call returns a fresh model.
    ///
    /// Weights: int8, symmetric per output channel (scale = max |w| / 127, or / 63 with
    /// [`Int8Options::reduce_range`]; zero point 0).
    /// Activations: uint8 per tensor ([`ActivationQuant::from_range`]). Biases: int32 at scale
    /// `input scale * weight scale` of their channel. Float graph inputs and outputs keep their
    /// names and types; every float tensor the rewrite keeps keeps its name too, so the f32 and
    /// the int8 model can be compared tensor by tensor.
    ///
    /// Errors: a missing range for a tensor of [`Int8Plan::calibration_tensors`]
    /// ([`QuantizeError::MissingRange`]), a non-finite or inverted range, a weight shared between
    /// layers, an initializer of an unknown data type. On error no model is returned.
    pub fn rewrite(
        &self,
        ranges: &ActivationRanges,
        format: Int8Format,
    ) -> Result<(ModelProto, Int8Report), QuantizeError> {
        let mut out = self.model.clone();
        let graph = out.graph.as_mut().expect("Int8Plan::new checked the graph");
        let names = TensorNames::of(graph);
        let weight_bytes_before = graph.initializer.iter().map(payload_bytes).sum::<Result<usize, _>>()?;

        let mut quant = HashMap::new();
        let mut activations = Vec::new();
        for t in self.calibration_tensors() {
            let range = *ranges.get(&t).ok_or_else(|| QuantizeError::MissingRange { tensor: t.clone() })?;
            if !range.min.is_finite() || !range.max.is_finite() || range.min > range.max {
                return Err(QuantizeError::Unsupported(format!("range of `{t}` is [{}, {}]", range.min, range.max)));
            }
            let q = ActivationQuant::from_range(range);
            activations.push(QuantizedTensor {
                name: t.clone(),
                min: range.min,
                max: range.max,
                scale: q.scale,
                zero_point: q.zero_point,
            });
            quant.insert(t, q);
        }

        if self.opts.integer_only && format != Int8Format::Qdq {
            return Err(QuantizeError::Unsupported("integer-only models are written as QDQ".into()));
        }
        let mut rewriter = Rewriter::new(graph, names, quant, format, self.opts.reduce_range);
        rewriter.quantize_also = self.other_activations.iter().cloned().collect();
        rewriter.integer_only = self.opts.integer_only;
        let by_node: HashMap<&str, &QuantizedLayer> = self.layers.iter().map(|l| (l.node.as_str(), l)).collect();
        let absorbed: HashSet<&str> = self.layers.iter().filter_map(|l| l.fused_activation.as_deref()).collect();
        let nodes = std::mem::take(&mut rewriter.graph_nodes);
        for n in nodes {
            if let Some(layer) = by_node.get(n.name.as_str()) {
                rewriter.layer(n, layer)?;
            } else if !absorbed.contains(n.name.as_str()) {
                rewriter.float_node(n)?;
            }
        }
        rewriter.finish()?;
        let clamped_bias_values = rewriter.clamped_bias_values;
        let (nodes, initializers) = (rewriter.nodes, rewriter.initializers);
        graph.node = nodes;
        graph.initializer = initializers;
        graph.value_info.clear();
        let weight_bytes_after = graph.initializer.iter().map(payload_bytes).sum::<Result<usize, _>>()?;
        let report = Int8Report {
            format,
            layers: self.layers.clone(),
            kept_f32: self.kept_f32.clone(),
            activations,
            clamped_bias_values,
            weight_bytes_before,
            weight_bytes_after,
        };
        Ok((out, report))
    }
}

/// Quantization parameters of one activation tensor: `x ≈ (q - zero_point) * scale`, `q` in uint8.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ActivationQuant {
    pub scale: f32,
    pub zero_point: u8,
}

impl ActivationQuant {
    /// Asymmetric uint8 parameters covering `range` widened to include 0 (so that 0, zero
    /// padding and ReLU's floor are exact). A range that is a single point gets scale 1.
    pub fn from_range(range: ActivationRange) -> Self {
        let (lo, hi) = (range.min.min(0.0), range.max.max(0.0));
        let scale = (hi - lo) / 255.0;
        if scale.is_nan() || scale <= f32::MIN_POSITIVE || !scale.is_finite() {
            return ActivationQuant { scale: 1.0, zero_point: 0 };
        }
        let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
        ActivationQuant { scale, zero_point }
    }
}

/// One quantized activation tensor in the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantizedTensor {
    pub name: String,
    pub min: f32,
    pub max: f32,
    pub scale: f32,
    pub zero_point: u8,
}

/// What [`Int8Plan::rewrite`] did. Byte counts are initializer payloads (`numel * element size`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Int8Report {
    pub format: Int8Format,
    pub layers: Vec<QuantizedLayer>,
    /// Weighted nodes left in f32 (mixed precision).
    pub kept_f32: Vec<String>,
    pub activations: Vec<QuantizedTensor>,
    /// Bias values beyond the int32 range at their scale, clamped.
    pub clamped_bias_values: usize,
    pub weight_bytes_before: usize,
    pub weight_bytes_after: usize,
}

/// Plans and rewrites in one go: `Int8Plan::new(model, opts)?.rewrite(ranges, opts.format)`.
///
/// Errors: as [`Int8Plan::new`] and [`Int8Plan::rewrite`].
pub fn to_int8(
    model: &ModelProto,
    ranges: &ActivationRanges,
    opts: &Int8Options,
) -> Result<(ModelProto, Int8Report), QuantizeError> {
    Int8Plan::new(model, opts)?.rewrite(ranges, opts.format)
}

/// The weighted layers of `model` the int8 planner quantizes (`Conv`, `Gemm`, `MatMul` with
/// constant weights, an absorbable `Relu` / `Clip(0, hi)` folded in), as `(node, output
/// tensor)` in graph order, whatever the model's opset and its other ops: the layers a
/// per-layer fidelity report looks at for every precision. Unnamed nodes are named
/// `<op>_<index>`, as every rewrite names them.
pub fn weighted_layers(model: &ModelProto) -> Result<Vec<(String, String)>, QuantizeError> {
    let mut graph = model.graph.as_ref().ok_or_else(|| malformed("model", "no graph"))?.clone();
    let mut names = TensorNames::of(&graph);
    name_unnamed_nodes(&mut graph, &mut names);
    let opts =
        Int8Options { format: Int8Format::Qdq, keep_first_last_f32: false, reduce_range: false, integer_only: false };
    let (layers, _) = plan_layers(&graph, &opts)?;
    Ok(layers.into_iter().map(|l| (l.node, l.output)).collect())
}

fn check_model(opset_import: &[OperatorSetIdProto], graph: &GraphProto) -> Result<(), QuantizeError> {
    let opset = opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(0, |o| o.version);
    if opset < MIN_OPSET {
        return Err(QuantizeError::Unsupported(format!("opset {opset}: int8 needs opset {MIN_OPSET} or newer")));
    }
    check_ops(graph, INT8_EXTRA_OPS)?;
    for t in &graph.initializer {
        if t.data_type == DataType::FLOAT as i32 && crate::onnx::read_f32(t)?.data.iter().any(|v| !v.is_finite()) {
            return Err(QuantizeError::NonFinite { tensor: t.name.clone() });
        }
    }
    Ok(())
}

/// The quantized layers and the weighted nodes kept in f32, in graph order.
fn plan_layers(graph: &GraphProto, opts: &Int8Options) -> Result<(Vec<QuantizedLayer>, Vec<String>), QuantizeError> {
    let initializers: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let constants: HashSet<&str> = initializers
        .keys()
        .copied()
        .chain(graph.node.iter().filter(|n| n.op_type == "Constant").flat_map(|n| n.output.iter().map(String::as_str)))
        .collect();
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            consumers.entry(i.as_str()).or_default().push(n);
        }
    }
    let float_weight = |name: &str, rank: usize| {
        initializers.get(name).is_some_and(|t| t.data_type == DataType::FLOAT as i32 && t.dims.len() == rank)
    };
    let mut layers = Vec::new();
    for n in &graph.node {
        let (Some(x), Some(w), [y]) = (n.input.first(), n.input.get(1), n.output.as_slice()) else { continue };
        if constants.contains(x.as_str()) {
            continue;
        }
        let bias = n.input.get(2).filter(|b| !b.is_empty()).cloned();
        let kind = match n.op_type.as_str() {
            "Conv" if float_weight(w, 4) => LayerKind::Conv,
            "Gemm" if float_weight(w, 2) => {
                let g = GemmAttrs::read(n)?;
                if g.alpha != 1.0 || g.beta != 1.0 || g.trans_a != 0 {
                    continue;
                }
                LayerKind::Gemm { trans_b: g.trans_b != 0 }
            }
            "MatMul" if float_weight(w, 2) && bias.is_none() => LayerKind::MatMul,
            _ => continue,
        };
        let out_channels = output_channels(initializers[w.as_str()], kind);
        if let Some(b) = &bias {
            let ok = initializers
                .get(b.as_str())
                .is_some_and(|t| t.data_type == DataType::FLOAT as i32 && numel(t).is_ok_and(|n| n == out_channels));
            if !ok {
                continue;
            }
        }
        let fused = match consumers.get(y.as_str()).map(Vec::as_slice) {
            Some([act]) if kind == LayerKind::Conv && !graph_outputs.contains(y.as_str()) => {
                absorbable_activation(act, &initializers).then(|| act.name.clone())
            }
            _ => None,
        };
        let output = match &fused {
            Some(_) => consumers[y.as_str()][0].output[0].clone(),
            None => y.clone(),
        };
        layers.push(QuantizedLayer {
            node: n.name.clone(),
            kind,
            input: x.clone(),
            weight: w.clone(),
            bias,
            output,
            fused_activation: fused,
        });
    }
    let mut kept_f32 = Vec::new();
    if opts.keep_first_last_f32 && !layers.is_empty() {
        let last = layers.pop().map(|l| l.node);
        if !layers.is_empty() {
            kept_f32.push(layers.remove(0).node);
        }
        kept_f32.extend(last);
    }
    Ok((layers, kept_f32))
}

/// The float activations an integer-only rewrite quantizes besides the layers' inputs and
/// outputs: outputs of [`ACTIVATION_OPS`] nodes (not absorbed into a layer) that read an
/// activation, and the graph outputs, in graph order.
fn other_activations(graph: &GraphProto, layers: &[QuantizedLayer]) -> Vec<String> {
    let absorbed: HashSet<&str> = layers.iter().filter_map(|l| l.fused_activation.as_deref()).collect();
    let layer_nodes: HashSet<&str> = layers.iter().map(|l| l.node.as_str()).collect();
    let constants: HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(graph.node.iter().filter(|n| n.op_type == "Constant").flat_map(|n| n.output.iter().map(String::as_str)))
        .collect();
    let mut out: Vec<String> = graph
        .node
        .iter()
        .filter(|n| !absorbed.contains(n.name.as_str()) && !layer_nodes.contains(n.name.as_str()))
        .filter(|n| ACTIVATION_OPS.contains(&n.op_type.as_str()))
        .filter(|n| n.input.first().is_some_and(|x| !constants.contains(x.as_str())))
        .flat_map(|n| n.output.iter().take(1).cloned())
        .collect();
    let inputs: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    out.extend(graph.output.iter().map(|o| o.name.clone()).filter(|o| !inputs.contains(o.as_str())));
    let mut seen = HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out
}

/// `Relu`, or `Clip` with a constant `min` of 0: both are exactly the saturation of a
/// uint8 output whose range starts at 0.
fn absorbable_activation(act: &NodeProto, initializers: &HashMap<&str, &TensorProto>) -> bool {
    match act.op_type.as_str() {
        "Relu" => act.output.len() == 1,
        "Clip" => {
            let min = act.input.get(1).and_then(|m| initializers.get(m.as_str()));
            act.output.len() == 1
                && min.is_some_and(|t| crate::onnx::read_f32(t).is_ok_and(|p| p.data.len() == 1 && p.data[0] == 0.0))
        }
        _ => false,
    }
}

fn output_channels(w: &TensorProto, kind: LayerKind) -> usize {
    let axis = weight_axis(kind);
    w.dims.get(axis).and_then(|&d| usize::try_from(d).ok()).unwrap_or(0)
}

/// The axis of the weight tensor that indexes output channels.
fn weight_axis(kind: LayerKind) -> usize {
    match kind {
        LayerKind::Conv | LayerKind::Gemm { trans_b: true } => 0,
        LayerKind::Gemm { trans_b: false } | LayerKind::MatMul => 1,
    }
}

/// Per-channel symmetric int8 weights along `axis`: values and one scale per channel.
struct Int8Weights {
    values: Vec<i8>,
    scales: Vec<f32>,
}

fn quantize_weights(values: &[f32], dims: &[usize], axis: usize, qmax: f32) -> Int8Weights {
    let channels = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let mut absmax = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = channel_of(i);
        absmax[c] = absmax[c].max(v.abs());
    }
    let scales: Vec<f32> = absmax.iter().map(|&m| if m > 0.0 { m / qmax } else { 1.0 }).collect();
    let values =
        values.iter().enumerate().map(|(i, v)| (v / scales[channel_of(i)]).round().clamp(-qmax, qmax) as i8).collect();
    Int8Weights { values, scales }
}

/// The direction of a linear (de)quantization node.
#[derive(Clone, Copy)]
enum Linear {
    Quantize,
    Dequantize,
}

/// Builds the rewritten node and initializer lists.
struct Rewriter {
    graph_nodes: Vec<NodeProto>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    originals: HashMap<String, TensorProto>,
    names: TensorNames,
    quant: HashMap<String, ActivationQuant>,
    format: Int8Format,
    reduce_range: bool,
    /// Float tensor → its uint8 tensor.
    quantized: HashMap<String, String>,
    /// Activation → names of its scale and zero-point initializers.
    parameter_names: HashMap<String, (String, String)>,
    /// Tensors some node reads.
    consumed: HashSet<String>,
    /// Float tensor → its fake-quantized (Q → DQ) view, for QDQ layer inputs.
    fake_quantized: HashMap<String, String>,
    /// Float tensors produced so far (graph inputs, constants, f32 node outputs).
    float_available: HashSet<String>,
    graph_inputs: Vec<String>,
    graph_outputs: Vec<String>,
    clamped_bias_values: usize,
    /// Outputs of float nodes to quantize ([`Int8Options::integer_only`]).
    quantize_also: HashSet<String>,
    integer_only: bool,
}

impl Rewriter {
    fn new(
        graph: &mut GraphProto,
        names: TensorNames,
        quant: HashMap<String, ActivationQuant>,
        format: Int8Format,
        reduce_range: bool,
    ) -> Self {
        let originals: HashMap<String, TensorProto> =
            graph.initializer.drain(..).map(|t| (t.name.clone(), t)).collect();
        let graph_inputs: Vec<String> = graph.input.iter().map(|v| v.name.clone()).collect();
        let float_available = graph_inputs.iter().chain(originals.keys()).cloned().collect();
        let consumed = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
        Rewriter {
            graph_nodes: std::mem::take(&mut graph.node),
            nodes: Vec::new(),
            initializers: Vec::new(),
            originals,
            names,
            quant,
            format,
            reduce_range,
            quantized: HashMap::new(),
            parameter_names: HashMap::new(),
            consumed,
            fake_quantized: HashMap::new(),
            float_available,
            graph_inputs,
            graph_outputs: graph.output.iter().map(|v| v.name.clone()).collect(),
            clamped_bias_values: 0,
            quantize_also: HashSet::new(),
            integer_only: false,
        }
    }

    fn params(&self, tensor: &str) -> Result<ActivationQuant, QuantizeError> {
        self.quant.get(tensor).copied().ok_or_else(|| QuantizeError::MissingRange { tensor: tensor.to_string() })
    }

    /// Scale and zero-point initializers of an activation, named after it, made once.
    fn scale_and_zero_point(&mut self, tensor: &str) -> Result<(String, String), QuantizeError> {
        if let Some(pair) = self.parameter_names.get(tensor) {
            return Ok(pair.clone());
        }
        let q = self.params(tensor)?;
        let (s, z) = (self.names.fresh(&format!("{tensor}.scale")), self.names.fresh(&format!("{tensor}.zero_point")));
        self.initializers.push(raw_tensor(&s, &[], DataType::FLOAT, q.scale.to_le_bytes().to_vec()));
        self.initializers.push(raw_tensor(&z, &[], DataType::UINT8, vec![q.zero_point]));
        self.parameter_names.insert(tensor.to_string(), (s.clone(), z.clone()));
        Ok((s, z))
    }

    /// Pushes a `QuantizeLinear` / `DequantizeLinear` node reading `[x, scale, zero_point]`
    /// and writing `output`, named `<tensor>.quantize` / `<tensor>.dequantize`.
    fn push_linear(
        &mut self,
        op: Linear,
        tensor: &str,
        inputs: [&str; 3],
        output: &str,
        attributes: Vec<AttributeProto>,
    ) {
        let (op_type, suffix) = match op {
            Linear::Quantize => ("QuantizeLinear", "quantize"),
            Linear::Dequantize => ("DequantizeLinear", "dequantize"),
        };
        let name = self.names.fresh(&format!("{tensor}.{suffix}"));
        self.nodes.push(node(op_type, &name, &inputs, output, attributes));
    }

    /// The int32 initializer `<bias>.quantized` holding `values`; returns its name.
    fn int32_bias(&mut self, bias: &str, values: &[i32]) -> String {
        let q = self.names.fresh(&format!("{bias}.quantized"));
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(raw_tensor(&q, &[values.len()], DataType::INT32, bytes));
        q
    }

    /// The uint8 tensor of float activation `t`, quantizing it here if needed.
    fn quantized_input(&mut self, t: &str) -> Result<String, QuantizeError> {
        if let Some(q) = self.quantized.get(t) {
            return Ok(q.clone());
        }
        let (s, z) = self.scale_and_zero_point(t)?;
        let source = self.float_input(t)?;
        let q = self.names.fresh(&format!("{t}.quantized"));
        self.push_linear(Linear::Quantize, t, [&source, &s, &z], &q, vec![]);
        self.quantized.insert(t.to_string(), q.clone());
        Ok(q)
    }

    /// The float value of activation `t`, dequantizing it (under its own name) if only its
    /// uint8 tensor exists.
    fn float_input(&mut self, t: &str) -> Result<String, QuantizeError> {
        if t.is_empty() || self.float_available.contains(t) {
            return Ok(t.to_string());
        }
        let q = self.quantized.get(t).cloned().ok_or_else(|| malformed(t, "used before it is produced"))?;
        let (s, z) = self.scale_and_zero_point(t)?;
        self.push_linear(Linear::Dequantize, t, [&q, &s, &z], t, vec![]);
        self.float_available.insert(t.to_string());
        Ok(t.to_string())
    }

    /// The fake-quantized f32 view of activation `t` (QDQ layer inputs).
    fn fake_quantized_input(&mut self, t: &str) -> Result<String, QuantizeError> {
        if let Some(v) = self.fake_quantized.get(t) {
            return Ok(v.clone());
        }
        let q = self.quantized_input(t)?;
        let (s, z) = self.scale_and_zero_point(t)?;
        let view = self.names.fresh(&format!("{t}.dequantized"));
        self.push_linear(Linear::Dequantize, t, [&q, &s, &z], &view, vec![]);
        self.fake_quantized.insert(t.to_string(), view.clone());
        Ok(view)
    }

    fn float_node(&mut self, mut n: NodeProto) -> Result<(), QuantizeError> {
        for i in n.input.iter_mut() {
            *i = self.float_input(i)?;
        }
        self.keep_used_initializers(&n);
        let quantized: Vec<(usize, String)> = n
            .output
            .iter()
            .enumerate()
            .filter(|(_, o)| self.quantize_also.contains(*o))
            .map(|(i, o)| (i, o.clone()))
            .collect();
        for (i, o) in &quantized {
            n.output[*i] = self.names.fresh(&format!("{o}.f32"));
        }
        let raw: Vec<String> = quantized.iter().map(|(i, _)| n.output[*i].clone()).collect();
        self.float_available.extend(n.output.iter().cloned());
        self.nodes.push(n);
        for ((_, o), raw) in quantized.iter().zip(raw) {
            self.quantize_as(o, &raw)?;
        }
        Ok(())
    }

    /// Quantizes float tensor `raw` as activation `t` (its range and parameters) and makes
    /// `t` the dequantized value.
    fn quantize_as(&mut self, t: &str, raw: &str) -> Result<(), QuantizeError> {
        let (s, z) = self.scale_and_zero_point(t)?;
        let q = self.names.fresh(&format!("{t}.quantized"));
        self.push_linear(Linear::Quantize, t, [raw, &s, &z], &q, vec![]);
        self.quantized.insert(t.to_string(), q);
        self.float_input(t)?;
        Ok(())
    }

    fn keep_used_initializers(&mut self, n: &NodeProto) {
        for i in &n.input {
            if let Some(t) = self.originals.remove(i) {
                self.initializers.push(t);
            }
        }
    }

    fn original(&self, name: &str) -> Result<&TensorProto, QuantizeError> {
        self.originals
            .get(name)
            .ok_or_else(|| QuantizeError::Unsupported(format!("weight `{name}` is shared between layers")))
    }

    fn layer(&mut self, n: NodeProto, layer: &QuantizedLayer) -> Result<(), QuantizeError> {
        let w = self.original(&layer.weight)?;
        let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
        let axis = weight_axis(layer.kind);
        let qmax = if self.reduce_range { 63.0 } else { 127.0 };
        let weights = quantize_weights(&crate::onnx::read_f32(w)?.data, &dims, axis, qmax);
        let bias = match &layer.bias {
            Some(b) => Some(crate::onnx::read_f32(self.original(b)?)?.data),
            None => None,
        };
        self.originals.remove(&layer.weight);
        if let Some(b) = &layer.bias {
            self.originals.remove(b);
        }
        let x_scale = self.params(&layer.input)?.scale;
        let bias_q = bias.map(|b| {
            b.iter()
                .zip(&weights.scales)
                .map(|(v, ws)| {
                    let q = (f64::from(*v) / (f64::from(x_scale) * f64::from(*ws))).round();
                    if q.abs() > i32::MAX as f64 {
                        self.clamped_bias_values += 1;
                    }
                    q.clamp(i32::MIN as f64, i32::MAX as f64) as i32
                })
                .collect::<Vec<i32>>()
        });
        match (self.format, layer.kind) {
            (Int8Format::Qdq, _) => self.qdq_layer(n, layer, &dims, weights, bias_q),
            (Int8Format::QOperator, LayerKind::Conv) => self.qlinear_conv(n, layer, &dims, weights, bias_q),
            (Int8Format::QOperator, _) => self.matmul_integer(n, layer, &dims, weights, bias_q),
        }
    }

    fn weight_initializers(&mut self, layer: &QuantizedLayer, dims: &[usize], weights: &Int8Weights) -> [String; 3] {
        let q = self.names.fresh(&format!("{}.quantized", layer.weight));
        let s = self.names.fresh(&format!("{}.scale", layer.weight));
        let z = self.names.fresh(&format!("{}.zero_point", layer.weight));
        let channels = weights.scales.len();
        self.initializers.push(raw_tensor(&q, dims, DataType::INT8, weights.values.iter().map(|&v| v as u8).collect()));
        self.initializers.push(raw_tensor(&s, &[channels], DataType::FLOAT, le_bytes_f32(&weights.scales)));
        self.initializers.push(raw_tensor(&z, &[channels], DataType::INT8, vec![0; channels]));
        [q, s, z]
    }

    fn qdq_layer(
        &mut self,
        mut n: NodeProto,
        layer: &QuantizedLayer,
        dims: &[usize],
        weights: Int8Weights,
        bias_q: Option<Vec<i32>>,
    ) -> Result<(), QuantizeError> {
        let x = self.fake_quantized_input(&layer.input)?;
        let [wq, ws, wz] = self.weight_initializers(layer, dims, &weights);
        let axis = weight_axis(layer.kind) as i64;
        let w_view = self.names.fresh(&format!("{}.dequantized", layer.weight));
        self.push_linear(Linear::Dequantize, &layer.weight, [&wq, &ws, &wz], &w_view, vec![attr_int("axis", axis)]);
        n.input[0] = x;
        n.input[1] = w_view;
        if let (Some(b), Some(bq)) = (&layer.bias, bias_q) {
            let x_scale = self.params(&layer.input)?.scale;
            let channels = bq.len();
            let scales: Vec<f32> = weights.scales.iter().map(|s| s * x_scale).collect();
            let q = self.int32_bias(b, &bq);
            let (s, z) = (self.names.fresh(&format!("{b}.scale")), self.names.fresh(&format!("{b}.zero_point")));
            self.initializers.push(raw_tensor(&s, &[channels], DataType::FLOAT, le_bytes_f32(&scales)));
            self.initializers.push(raw_tensor(&z, &[channels], DataType::INT32, vec![0; 4 * channels]));
            let view = self.names.fresh(&format!("{b}.dequantized"));
            self.push_linear(Linear::Dequantize, b, [&q, &s, &z], &view, vec![attr_int("axis", 0)]);
            n.input[2] = view;
        }
        let quantize_output =
            self.integer_only || layer.fused_activation.is_some() || self.consumed.contains(&layer.output);
        if !quantize_output {
            self.float_available.extend(n.output.iter().cloned());
            self.nodes.push(n);
            return Ok(());
        }
        let raw = self.names.fresh(&format!("{}.f32", layer.output));
        n.output[0] = raw.clone();
        self.nodes.push(n);
        self.quantize_as(&layer.output, &raw)
    }

    fn qlinear_conv(
        &mut self,
        n: NodeProto,
        layer: &QuantizedLayer,
        dims: &[usize],
        weights: Int8Weights,
        bias_q: Option<Vec<i32>>,
    ) -> Result<(), QuantizeError> {
        let x = self.quantized_input(&layer.input)?;
        let (xs, xz) = self.scale_and_zero_point(&layer.input)?;
        let [wq, ws, wz] = self.weight_initializers(layer, dims, &weights);
        let (ys, yz) = self.scale_and_zero_point(&layer.output)?;
        let mut inputs = vec![x, xs, xz, wq, ws, wz, ys, yz];
        if let (Some(b), Some(bq)) = (&layer.bias, bias_q) {
            inputs.push(self.int32_bias(b, &bq));
        }
        let y = self.names.fresh(&format!("{}.quantized", layer.output));
        let mut conv = n;
        conv.op_type = "QLinearConv".into();
        conv.input = inputs;
        conv.output = vec![y.clone()];
        self.nodes.push(conv);
        self.quantized.insert(layer.output.clone(), y);
        Ok(())
    }

    fn matmul_integer(
        &mut self,
        n: NodeProto,
        layer: &QuantizedLayer,
        dims: &[usize],
        weights: Int8Weights,
        bias_q: Option<Vec<i32>>,
    ) -> Result<(), QuantizeError> {
        let x = self.quantized_input(&layer.input)?;
        let (_, xz) = self.scale_and_zero_point(&layer.input)?;
        let x_scale = self.params(&layer.input)?.scale;
        let (k, cols) = match layer.kind {
            LayerKind::Gemm { trans_b: true } => (dims[1], dims[0]),
            _ => (dims[0], dims[1]),
        };
        let values: Vec<u8> = match layer.kind {
            LayerKind::Gemm { trans_b: true } => {
                (0..k * cols).map(|i| weights.values[(i % cols) * k + i / cols] as u8).collect()
            }
            _ => weights.values.iter().map(|&v| v as u8).collect(),
        };
        let wq = self.names.fresh(&format!("{}.quantized", layer.weight));
        let wz = self.names.fresh(&format!("{}.zero_point", layer.weight));
        self.initializers.push(raw_tensor(&wq, &[k, cols], DataType::INT8, values));
        self.initializers.push(raw_tensor(&wz, &[], DataType::INT8, vec![0]));
        let acc = self.names.fresh(&format!("{}.int32", layer.output));
        self.nodes.push(node("MatMulInteger", &n.name, &[&x, &wq, &xz, &wz], &acc, vec![]));
        let acc_f = self.names.fresh(&format!("{}.int32_f32", layer.output));
        self.nodes.push(super::graph::cast(
            &self.names.fresh(&format!("{}.to_f32", n.name)),
            &acc,
            &acc_f,
            DataType::FLOAT,
        ));
        let scale = self.names.fresh(&format!("{}.rescale", n.name));
        let scales: Vec<f32> = weights.scales.iter().map(|s| s * x_scale).collect();
        self.initializers.push(raw_tensor(&scale, &[cols], DataType::FLOAT, le_bytes_f32(&scales)));
        let output = &n.output[0];
        match (&layer.bias, bias_q) {
            (Some(b), Some(bq)) => {
                let scaled = self.names.fresh(&format!("{output}.unbiased"));
                self.nodes.push(node(
                    "Mul",
                    &self.names.fresh(&format!("{}.rescale", n.name)),
                    &[&acc_f, &scale],
                    &scaled,
                    vec![],
                ));
                let bias_values: Vec<f32> = bq.iter().zip(&scales).map(|(&q, s)| q as f32 * s).collect();
                let bias = self.names.fresh(&format!("{b}.int32_rounded"));
                self.initializers.push(raw_tensor(&bias, &[cols], DataType::FLOAT, le_bytes_f32(&bias_values)));
                self.nodes.push(node(
                    "Add",
                    &self.names.fresh(&format!("{}.add_bias", n.name)),
                    &[&scaled, &bias],
                    output,
                    vec![],
                ));
            }
            _ => self.nodes.push(node(
                "Mul",
                &self.names.fresh(&format!("{}.rescale", n.name)),
                &[&acc_f, &scale],
                output,
                vec![],
            )),
        }
        self.float_available.insert(output.clone());
        Ok(())
    }

    fn finish(&mut self) -> Result<(), QuantizeError> {
        let outputs = self.graph_outputs.clone();
        for o in &outputs {
            if self.graph_inputs.contains(o) {
                continue;
            }
            self.float_input(o)?;
        }
        let mut leftover: Vec<TensorProto> = self.originals.drain().map(|(_, t)| t).collect();
        leftover.sort_by(|a, b| a.name.cmp(&b.name));
        let used: HashSet<&str> = self.nodes.iter().flat_map(|n| n.input.iter().map(String::as_str)).collect();
        leftover.retain(|t| used.contains(t.name.as_str()) || self.graph_inputs.contains(&t.name));
        self.initializers.extend(leftover);
        Ok(())
    }
}

fn le_bytes_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
