//! The deploy rewrite rules. Each looks at one node and returns a [`GraphPatch`].

use crate::ir::ops::{Conv, Linear, ZeroConst};
use crate::ir::{Graph, GraphPatch, NodeId, Op, ParamTensor, Rewrite};

/// `Identity(x)` → `x` (NB201 skip_connect).
pub struct EliminateIdentity;

impl Rewrite for EliminateIdentity {
    fn name(&self) -> &'static str {
        "eliminate-identity"
    }
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch> {
        if !matches!(graph.node(node).op, Op::Identity(_)) {
            return None;
        }
        let x = *graph.inputs_of(node).ok()?.first()?;
        Some(GraphPatch::new().shunt(node, x).remove(node))
    }
}

/// `Add(x, 0)` and `Add(0, x)` → `x`.
pub struct FoldZeroAdd;

impl Rewrite for FoldZeroAdd {
    fn name(&self) -> &'static str {
        "fold-zero-add"
    }
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch> {
        if !matches!(graph.node(node).op, Op::Add(_)) {
            return None;
        }
        let inputs = graph.inputs_of(node).ok()?;
        let keep = match (graph.node(inputs[0]).op.is_zero(), graph.node(inputs[1]).op.is_zero()) {
            (true, _) => inputs[1],
            (false, true) => inputs[0],
            (false, false) => return None,
        };
        Some(GraphPatch::new().shunt(node, keep).remove(node))
    }
}

/// NB201 `none` edge → a zero constant with no inputs, so its producer can become dead.
pub struct ZeroToConstant;

impl Rewrite for ZeroToConstant {
    fn name(&self) -> &'static str {
        "zero-to-constant"
    }
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch> {
        if !matches!(graph.node(node).op, Op::Zero(_)) {
            return None;
        }
        let ty = graph.output_type(node)?.clone();
        Some(GraphPatch::new().replace_op(node, Op::ZeroConst(ZeroConst { ty }), Vec::new()).detach_inputs(node))
    }
}

/// An op that maps zeros to zeros (activations, pools, bias-free conv and linear, flatten),
/// fed only by zeros → a zero constant of its output type.
pub struct PropagateZero;

impl Rewrite for PropagateZero {
    fn name(&self) -> &'static str {
        "propagate-zero"
    }
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch> {
        let op = &graph.node(node).op;
        let maps_zero_to_zero = match op {
            Op::Activation(_) | Op::Pool(_) | Op::GlobalAvgPool(_) | Op::Flatten(_) => true,
            Op::Conv(Conv { bias, .. }) | Op::Linear(Linear { bias, .. }) => !bias,
            _ => false,
        };
        if !maps_zero_to_zero {
            return None;
        }
        let inputs = graph.inputs_of(node).ok()?;
        if !inputs.iter().all(|&i| graph.node(i).op.is_zero()) {
            return None;
        }
        let ty = graph.output_type(node)?.clone();
        Some(GraphPatch::new().replace_op(node, Op::ZeroConst(ZeroConst { ty }), Vec::new()).detach_inputs(node))
    }
}

/// `BatchNorm(Conv(x))` → `Conv'(x)` with scale and shift folded into weight and bias,
/// when the Conv feeds nothing else. Without weights only the structure changes.
pub struct FoldBatchNorm;

impl Rewrite for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold-batchnorm"
    }
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch> {
        let Op::BatchNorm(bn) = &graph.node(node).op else { return None };
        let conv_id = *graph.inputs_of(node).ok()?.first()?;
        let conv_node = graph.node(conv_id);
        let Op::Conv(conv) = &conv_node.op else { return None };
        if graph.consumers(conv_id).len() != 1 || graph.outputs().contains(&conv_id) {
            return None;
        }
        let folded = Conv { bias: true, ..conv.clone() };
        let params = match (conv_node.params.as_slice(), graph.node(node).params.as_slice()) {
            ([], []) => Vec::new(),
            (conv_params, [gamma, beta, mean, var]) if !conv_params.is_empty() => {
                fold(conv_params, &gamma.data, &beta.data, &mean.data, &var.data, bn.epsilon)
            }
            _ => return None,
        };
        Some(GraphPatch::new().replace_op(conv_id, Op::Conv(folded), params).shunt(node, conv_id).remove(node))
    }
}

fn fold(conv: &[ParamTensor], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f32) -> Vec<ParamTensor> {
    let weight = &conv[0];
    let out = weight.shape[0];
    let per_out = weight.data.len() / out;
    let scale: Vec<f32> = (0..out).map(|o| gamma[o] / (var[o] + eps).sqrt()).collect();
    let w: Vec<f32> = weight.data.iter().enumerate().map(|(i, v)| v * scale[i / per_out]).collect();
    let b: Vec<f32> = (0..out)
        .map(|o| {
            let b0 = conv.get(1).map_or(0.0, |b| b.data[o]);
            (b0 - mean[o]) * scale[o] + beta[o]
        })
        .collect();
    vec![ParamTensor::new(weight.shape.clone(), w), ParamTensor::new(vec![out], b)]
}

/// Removes nodes whose output nobody reads (graph inputs are kept).
pub struct RemoveDeadNodes;

impl Rewrite for RemoveDeadNodes {
    fn name(&self) -> &'static str {
        "remove-dead-nodes"
    }
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch> {
        let dead = !matches!(graph.node(node).op, Op::Input(_))
            && graph.consumers(node).is_empty()
            && !graph.outputs().contains(&node);
        dead.then(|| GraphPatch::new().remove(node))
    }
}
