//! Emission of a deployed graph, one file per op family.

mod activation;
mod binary;
mod conv;
mod linear;
mod norm;
mod pool;
mod shape;

use onnx_protobuf::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto};

use super::proto::{f32_tensor, f32_value_info, node};
use super::{OnnxError, IR_VERSION, OPSET};
use crate::ir::{Graph, Node, NodeId, Op, ParamTensor};

/// What goes into the model besides the graph.
#[derive(Debug, Clone, Default)]
pub struct EmitOptions {
    /// Graph name.
    pub name: String,
    /// `metadata_props` entries (e.g. the genome JSON and the weight seed).
    pub metadata: Vec<(String, String)>,
    /// Emit every BatchNorm in training mode: normalized by the mean and variance of the
    /// batch it sees (over axes 0, 2, 3), its running statistics ignored. Each BatchNorm's
    /// batch mean and biased variance are appended as graph outputs `<node>.batch_mean` and
    /// `<node>.batch_var` (shape `[1, C, 1, 1]`), after all other outputs, in execution order.
    /// For calibrating the statistics of seeded weights; never for deployment.
    pub batchnorm_batch_statistics: bool,
}

/// Emission of one op: appends nodes and initializers computing `node`'s output from the
/// tensors named `inputs` into the tensor named `output`.
trait EmitOnnx {
    fn emit(&self, node: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError>;
}

#[derive(Default)]
struct EmitCtx {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    has_relu6_bounds: bool,
    batch_statistics: bool,
    statistics_outputs: Vec<(String, Vec<usize>)>,
}

impl EmitCtx {
    fn push(&mut self, n: NodeProto) {
        self.nodes.push(n);
    }

    fn initializer(&mut self, name: String, param: &ParamTensor) -> String {
        self.initializers.push(f32_tensor(&name, &param.shape, &param.data));
        name
    }

    fn params(node: &Node, count: usize) -> Result<&[ParamTensor], OnnxError> {
        if node.params.len() < count {
            return Err(OnnxError::MissingWeights { node: node.name.clone(), op: node.op.name() });
        }
        Ok(&node.params)
    }
}

impl EmitOptions {
    /// Emits like [`emit`], then also exposes the tensors of `extra_outputs` as graph outputs,
    /// appended after the main outputs in the order given, each under its node's tensor name
    /// (for inspecting intermediate activations, e.g. training-free proxies). Each must be a
    /// node of `graph` computed by an ONNX node (not an input or a zero constant), listed
    /// once and not already a graph output; otherwise [`OnnxError::Unsupported`].
    pub fn emit_with_extra_outputs(&self, graph: &Graph, extra_outputs: &[NodeId]) -> Result<ModelProto, OnnxError> {
        emit_model(graph, self, extra_outputs)
    }
}

/// Emits a deployed graph (weights initialized, see [`crate::lower::lower`]) as an ONNX
/// model, nodes in the graph's execution order. Graph outputs are named `output` (or
/// `output_<i>` when there are several), inputs keep their node names.
pub fn emit(graph: &Graph, options: &EmitOptions) -> Result<ModelProto, OnnxError> {
    emit_model(graph, options, &[])
}

fn emit_model(graph: &Graph, options: &EmitOptions, extra_outputs: &[NodeId]) -> Result<ModelProto, OnnxError> {
    let mut g = graph.clone();
    g.infer_types()?;
    let order = g.execution_order()?;
    let outputs = g.outputs().to_vec();
    let tensor_name = |id| match outputs.iter().position(|&o| o == id) {
        Some(_) if outputs.len() == 1 => "output".to_string(),
        Some(i) => format!("output_{i}"),
        None => g.node(id).name.clone(),
    };
    let mut ctx = EmitCtx { batch_statistics: options.batchnorm_batch_statistics, ..EmitCtx::default() };
    let mut graph_inputs = Vec::new();
    for &id in &order {
        let n = g.node(id);
        let inputs: Vec<String> = g.inputs_of(id)?.into_iter().map(tensor_name).collect();
        let out = tensor_name(id);
        match &n.op {
            Op::Input(i) => graph_inputs.push(f32_value_info(&out, &i.ty.shape)),
            Op::Zero(_) | Op::ZeroConst(_) => {
                let ty = g.output_type(id).cloned().unwrap_or_else(|| crate::ir::TensorType::f32(vec![]));
                ctx.initializer(out, &ParamTensor::zeros(ty.shape));
            }
            Op::Identity(_) => ctx.push(node("Identity", &n.name, &[&inputs[0]], &out, vec![])),
            Op::Conv(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::BatchNorm(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::Activation(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::Add(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::Pool(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::GlobalAvgPool(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::Flatten(op) => op.emit(n, &inputs, &out, &mut ctx)?,
            Op::Linear(op) => op.emit(n, &inputs, &out, &mut ctx)?,
        }
    }
    let mut gp = GraphProto::new();
    gp.name = if options.name.is_empty() { "edgenas".into() } else { options.name.clone() };
    gp.node = ctx.nodes;
    gp.initializer = ctx.initializers;
    gp.input = graph_inputs;
    let mut exposed = outputs.clone();
    for &id in extra_outputs {
        if !order.contains(&id) {
            return Err(OnnxError::Unsupported(format!("extra output #{} is not a node of the graph", id.index())));
        }
        let n = g.node(id);
        let why = match &n.op {
            Op::Input(_) | Op::Zero(_) | Op::ZeroConst(_) => Some("is not computed by an ONNX node"),
            _ if outputs.contains(&id) => Some("is already a graph output"),
            _ if exposed.contains(&id) => Some("is listed twice"),
            _ => None,
        };
        if let Some(why) = why {
            return Err(OnnxError::Unsupported(format!("extra output `{}` ({}) {why}", n.name, n.op.name())));
        }
        exposed.push(id);
    }
    gp.output = exposed
        .iter()
        .map(|&o| f32_value_info(&tensor_name(o), &g.output_type(o).map(|t| t.shape.clone()).unwrap_or_default()))
        .chain(ctx.statistics_outputs.iter().map(|(name, shape)| f32_value_info(name, shape)))
        .collect();
    let mut model = ModelProto::new();
    model.ir_version = IR_VERSION;
    let mut opset = OperatorSetIdProto::new();
    opset.domain = String::new();
    opset.version = OPSET;
    model.opset_import = vec![opset];
    model.producer_name = "edgenas".into();
    model.producer_version = env!("CARGO_PKG_VERSION").into();
    model.metadata_props = options
        .metadata
        .iter()
        .map(|(k, v)| {
            let mut e = StringStringEntryProto::new();
            e.key = k.clone();
            e.value = v.clone();
            e
        })
        .collect();
    model.graph = Some(gp).into();
    Ok(model)
}
